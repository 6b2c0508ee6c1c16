-- gold.track_popularity: one row per catalogue track per ds.
CREATE TABLE IF NOT EXISTS gold.track_popularity (
    track_id                   STRING NOT NULL,
    artist_id                  STRING NOT NULL,
    track_plays_1d             BIGINT,
    track_plays_7d             BIGINT,
    track_plays_28d            BIGINT,
    track_listeners_1d         BIGINT,   -- distinct listeners
    track_listeners_7d         BIGINT,   -- distinct listeners
    track_listeners_28d        BIGINT,   -- distinct listeners
    track_skip_rate_28d        DOUBLE,
    track_completion_rate_28d  DOUBLE,
    track_editorial_now        BIGINT,   -- 1 if on an editorial playlist on ds
    track_age_days             BIGINT,   -- days since release; null when unknown
    track_tempo                DOUBLE,
    track_energy               DOUBLE,
    track_valence              DOUBLE,
    track_danceability         DOUBLE,
    track_acousticness         DOUBLE,
    event_timestamp            TIMESTAMP NOT NULL,   -- ds + 1 day 00:00 UTC: when the values are known
    created_timestamp          TIMESTAMP NOT NULL,
    ds                         STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
