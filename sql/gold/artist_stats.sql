-- gold.artist_stats: one row per artist per ds.
CREATE TABLE IF NOT EXISTS gold.artist_stats (
    artist_id                 STRING NOT NULL,
    artist_listeners_7d       BIGINT,
    artist_listeners_prev_7d  BIGINT,   -- the 7 days before those
    artist_listeners_28d      BIGINT,
    artist_growth_7d          DOUBLE,   -- (7d - prev 7d) / max(prev 7d, 1)
    artist_career_years       BIGINT,   -- year(ds) - debut_year
    artist_emerging           BIGINT,   -- 1 = debuted within emerging_debut_years and <= emerging_max_listener_pct of listeners
    artist_label_kind         STRING,   -- major, independent, self_released
    event_timestamp           TIMESTAMP NOT NULL,   -- ds + 1 day 00:00 UTC: when the values are known
    created_timestamp         TIMESTAMP NOT NULL,
    ds                        STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
