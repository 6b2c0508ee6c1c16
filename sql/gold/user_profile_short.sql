-- gold.user_profile_short: the same signals over the last pipeline.short_window_days (7),
-- so the reranker can tell today's mood from long-term taste.
CREATE TABLE IF NOT EXISTS gold.user_profile_short (
    user_id               STRING NOT NULL,
    st_plays              BIGINT,   -- plays in the short window
    st_active_days        BIGINT,   -- days with a play
    st_sessions           BIGINT,
    st_skip_rate          DOUBLE,   -- skipped plays / plays
    st_completion_rate    DOUBLE,   -- completed plays / plays
    st_novelty            DOUBLE,   -- distinct tracks / plays: share of first listens in the window
    st_session_plays      DOUBLE,   -- mean plays per session
    st_session_minutes    DOUBLE,   -- mean session length, minutes
    st_weekend_share      DOUBLE,   -- share of plays on Saturday or Sunday (UTC)
    st_share_night        DOUBLE,   -- share of plays in 00-06 UTC
    st_share_morning      DOUBLE,   -- share of plays in 06-12 UTC
    st_share_afternoon    DOUBLE,   -- share of plays in 12-18 UTC
    st_share_evening      DOUBLE,   -- share of plays in 18-24 UTC
    st_tempo_mean         DOUBLE,   -- taste centroid: mean tempo
    st_tempo_std          DOUBLE,   -- spread: population std of tempo
    st_energy_mean        DOUBLE,   -- taste centroid: mean energy
    st_energy_std         DOUBLE,   -- spread: population std of energy
    st_valence_mean       DOUBLE,   -- taste centroid: mean valence
    st_valence_std        DOUBLE,   -- spread: population std of valence
    st_danceability_mean  DOUBLE,   -- taste centroid: mean danceability
    st_danceability_std   DOUBLE,   -- spread: population std of danceability
    st_acousticness_mean  DOUBLE,   -- taste centroid: mean acousticness
    st_acousticness_std   DOUBLE,   -- spread: population std of acousticness
    st_top_genre          STRING,   -- most played genre (ties: first by name)
    st_top_genre_share    DOUBLE,
    st_genre_entropy      DOUBLE,   -- Shannon entropy of the genre mix, bits
    st_top_artist         STRING,   -- most played artist_id
    st_top_artist_share   DOUBLE,
    event_timestamp       TIMESTAMP NOT NULL,   -- ds + 1 day 00:00 UTC: when the values are known
    created_timestamp     TIMESTAMP NOT NULL,
    ds                    STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
