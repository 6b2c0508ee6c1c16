-- silver.user_controls: what each listener asked of their playlist.
CREATE TABLE IF NOT EXISTS silver.user_controls (
    user_id              STRING NOT NULL,
    novelty              DOUBLE,          -- 0 familiar .. 1 new
    locked_artist_ids    ARRAY<STRING>,
    locked_eras          ARRAY<STRING>,
    seed_track_ids       ARRAY<STRING>,
    excluded_artist_ids  ARRAY<STRING>,
    ds                   STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
