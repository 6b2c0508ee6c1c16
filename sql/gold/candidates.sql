-- gold.candidates: per consenting listener, the tracks worth ranking on ds,
-- one row per (user, track) with each generator's score and rank (null when
-- that generator did not propose the track). Generators: als, coli, content,
-- genre_pop, new, popular (see setlist.jobs.candidates).
CREATE TABLE IF NOT EXISTS gold.candidates (
    user_id     STRING NOT NULL,
    track_id    STRING NOT NULL,
    artist_id   STRING NOT NULL,
    genre       STRING,
    source      STRING NOT NULL,   -- the first generator that proposed it, in the order below
    n_sources   INT NOT NULL,      -- how many generators proposed it
    als_score        DOUBLE,       -- implicit ALS predicted preference
    als_rank         INT,          -- 1 = best
    coli_score       DOUBLE,       -- Σ co-listening score with the listener's recent tracks
    coli_rank        INT,
    coli_seed_track_id STRING,     -- the recently played track that contributed most
    content_score    DOUBLE,       -- minus the audio distance to the listener's taste centroid
    content_rank     INT,
    genre_pop_score  DOUBLE,       -- genre share × the track's plays in 7 days
    genre_pop_rank   INT,
    new_score        DOUBLE,       -- new release in a favourite genre: share × (plays + 1) / (age + 1)
    new_rank         INT,
    pop_score        DOUBLE,       -- plays over the last 7 days
    pop_rank         INT,
    ds          STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
