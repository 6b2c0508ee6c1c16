-- gold.track_popularity: one row per catalogue track per ds.
CREATE TABLE IF NOT EXISTS gold.track_popularity (
    track_id                  STRING NOT NULL,
    artist_id                 STRING NOT NULL,
    track_plays_1d            BIGINT,
    track_plays_7d            BIGINT,
    track_plays_28d           BIGINT,
    track_listeners_28d       BIGINT,
    track_skip_rate_28d       DOUBLE,
    track_completion_rate_28d DOUBLE,
    track_editorial_now       BIGINT,   -- 1 if in an editorial playlist on ds
    track_age_days            BIGINT,   -- days since release (null when unknown)
    track_energy              DOUBLE,
    track_tempo               DOUBLE,
    track_valence             DOUBLE,
    event_timestamp           TIMESTAMP NOT NULL,
    created_timestamp         TIMESTAMP NOT NULL,
    ds                        STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
