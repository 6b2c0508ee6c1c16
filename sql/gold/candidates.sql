-- gold.candidates: per consenting listener, the tracks worth ranking on ds,
-- one row per (user, track) with each generator's score and rank (null when
-- that generator did not propose the track).
CREATE TABLE IF NOT EXISTS gold.candidates (
    user_id     STRING NOT NULL,
    track_id    STRING NOT NULL,
    artist_id   STRING NOT NULL,
    genre       STRING,
    source      STRING NOT NULL,   -- the first generator that proposed it: als, popular
    n_sources   INT NOT NULL,
    als_score   DOUBLE,            -- implicit ALS predicted preference
    als_rank    INT,               -- 1 = best
    pop_score   DOUBLE,            -- plays over the last 7 days
    pop_rank    INT,
    ds          STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
