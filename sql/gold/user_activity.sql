-- gold.user_activity: one row per consenting listener per ds, over the
-- trailing feature window (28 days by default) ending on ds.
-- event_timestamp = ds + 1 day 00:00 UTC: the moment the values are known.
CREATE TABLE IF NOT EXISTS gold.user_activity (
    user_id                 STRING NOT NULL,
    user_plays_28d          BIGINT,
    user_active_days_28d    BIGINT,
    user_sessions_28d       BIGINT,
    user_tracks_28d         BIGINT,    -- distinct tracks
    user_artists_28d        BIGINT,    -- distinct artists
    user_skip_rate_28d      DOUBLE,    -- skipped plays / plays
    user_completion_rate_28d DOUBLE,   -- completed plays / plays
    user_session_length_28d DOUBLE,    -- mean plays per session
    event_timestamp         TIMESTAMP NOT NULL,
    created_timestamp       TIMESTAMP NOT NULL,
    ds                      STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
