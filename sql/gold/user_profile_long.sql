-- gold.user_profile_long: long-term taste and habits of each consenting listener over
-- pipeline.feature_window_days (28) ending on ds.
CREATE TABLE IF NOT EXISTS gold.user_profile_long (
    user_id               STRING NOT NULL,
    lt_plays              BIGINT,   -- plays in the long window
    lt_active_days        BIGINT,   -- days with a play
    lt_sessions           BIGINT,
    lt_skip_rate          DOUBLE,   -- skipped plays / plays
    lt_completion_rate    DOUBLE,   -- completed plays / plays
    lt_novelty            DOUBLE,   -- distinct tracks / plays: share of first listens in the window
    lt_session_plays      DOUBLE,   -- mean plays per session
    lt_session_minutes    DOUBLE,   -- mean session length, minutes
    lt_weekend_share      DOUBLE,   -- share of plays on Saturday or Sunday (UTC)
    lt_share_night        DOUBLE,   -- share of plays in 00-06 UTC
    lt_share_morning      DOUBLE,   -- share of plays in 06-12 UTC
    lt_share_afternoon    DOUBLE,   -- share of plays in 12-18 UTC
    lt_share_evening      DOUBLE,   -- share of plays in 18-24 UTC
    lt_tempo_mean         DOUBLE,   -- taste centroid: mean tempo
    lt_tempo_std          DOUBLE,   -- spread: population std of tempo
    lt_energy_mean        DOUBLE,   -- taste centroid: mean energy
    lt_energy_std         DOUBLE,   -- spread: population std of energy
    lt_valence_mean       DOUBLE,   -- taste centroid: mean valence
    lt_valence_std        DOUBLE,   -- spread: population std of valence
    lt_danceability_mean  DOUBLE,   -- taste centroid: mean danceability
    lt_danceability_std   DOUBLE,   -- spread: population std of danceability
    lt_acousticness_mean  DOUBLE,   -- taste centroid: mean acousticness
    lt_acousticness_std   DOUBLE,   -- spread: population std of acousticness
    lt_top_genre          STRING,   -- most played genre (ties: first by name)
    lt_top_genre_share    DOUBLE,
    lt_genre_entropy      DOUBLE,   -- Shannon entropy of the genre mix, bits
    lt_top_artist         STRING,   -- most played artist_id
    lt_top_artist_share   DOUBLE,
    event_timestamp       TIMESTAMP NOT NULL,   -- ds + 1 day 00:00 UTC: when the values are known
    created_timestamp     TIMESTAMP NOT NULL,
    ds                    STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
