-- gold.user_genre_affinity: one row per (consenting listener, genre played in the window).
CREATE TABLE IF NOT EXISTS gold.user_genre_affinity (
    user_id                  STRING NOT NULL,
    genre                    STRING NOT NULL,
    ug_plays_28d             BIGINT,
    ug_share_28d             DOUBLE,
    ug_skip_rate_28d         DOUBLE,
    ug_days_since_last_play  BIGINT,
    event_timestamp          TIMESTAMP NOT NULL,   -- ds + 1 day 00:00 UTC: when the values are known
    created_timestamp        TIMESTAMP NOT NULL,
    ds                       STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
