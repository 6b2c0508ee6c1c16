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
    source          STRING NOT NULL,   -- als, popular, editorial
    reason          STRING NOT NULL,   -- shown to the listener
    personalised    BOOLEAN NOT NULL,
    model_version   STRING,            -- null when ranked without a model
    ds              STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
