-- gold.user_artist_affinity: one row per (consenting listener, artist played in the window).
CREATE TABLE IF NOT EXISTS gold.user_artist_affinity (
    user_id                  STRING NOT NULL,
    artist_id                STRING NOT NULL,
    ua_plays_28d             BIGINT,
    ua_share_28d             DOUBLE,   -- the artist's share of the listener's plays
    ua_skip_rate_28d         DOUBLE,
    ua_days_since_last_play  BIGINT,   -- 0 = played on ds
    event_timestamp          TIMESTAMP NOT NULL,   -- ds + 1 day 00:00 UTC: when the values are known
    created_timestamp        TIMESTAMP NOT NULL,
    ds                       STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
