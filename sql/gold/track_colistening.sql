-- gold.track_colistening: each track's top-k neighbours by co-occurrence in sessions;
-- score = co_sessions / sqrt(sessions_i * sessions_j), rank 1 = best.
CREATE TABLE IF NOT EXISTS gold.track_colistening (
    track_id           STRING NOT NULL,
    neighbour_id       STRING NOT NULL,
    co_sessions        BIGINT,
    score              DOUBLE,
    rank               INT,
    event_timestamp    TIMESTAMP NOT NULL,   -- ds + 1 day 00:00 UTC: when the values are known
    created_timestamp  TIMESTAMP NOT NULL,
    ds                 STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
