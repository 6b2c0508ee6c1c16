-- gold.playlists: tonight's ordered playlist per listener, with a reason per track.
-- Listeners without personalisation consent get the shared non-personalised
-- list (personalised = false); listeners with a deletion request get nothing.
CREATE TABLE IF NOT EXISTS gold.playlists (
    user_id         STRING NOT NULL,
    position        INT NOT NULL,      -- 1-based
    track_id        STRING NOT NULL,
    artist_id       STRING NOT NULL,
    label_id        STRING,
    score           DOUBLE,            -- reranker score (or fallback score), higher first
    source          STRING NOT NULL,   -- als, coli, content, genre_pop, new, popular, familiar, requested, explore, editorial
    reason          STRING NOT NULL,   -- shown to the listener; names only what they did or asked for
    arm             STRING NOT NULL,   -- experiment arm (control, fair, novelty_high, ...) or fallback
    propensity      DOUBLE NOT NULL,   -- probability this track was placed here: 1, or 1/|pool| for exploration
    transition_cost DOUBLE NOT NULL,   -- cost of the move from the previous track (0 at position 1)
    override        STRING,            -- "<action>: <reason>" when a governance override applied
    played_before   BOOLEAN,           -- the listener played it in the feature window (null for fallback)
    personalised    BOOLEAN NOT NULL,
    model_version   STRING,            -- null when ranked without a model
    ds              STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
