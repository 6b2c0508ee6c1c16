-- silver.listening_events: typed, deduplicated, sessionised plays of one logical date.
-- Written by the clean stage; one partition per ds, replaced on re-run.
CREATE TABLE IF NOT EXISTS silver.listening_events (
    event_id      STRING NOT NULL,
    user_id       STRING NOT NULL,
    track_id      STRING NOT NULL,
    ts            TIMESTAMP NOT NULL,   -- UTC
    ms_played     BIGINT NOT NULL,
    reason_start  STRING,
    reason_end    STRING,
    skipped       BOOLEAN,
    shuffle       BOOLEAN,
    context_type  STRING NOT NULL,      -- editorial_playlist, algorithmic_playlist, ...
    context_id    STRING,
    source        STRING NOT NULL,      -- algorithmic | editorial | organic (from context_type)
    device        STRING,
    country       STRING,
    counts        BOOLEAN NOT NULL,     -- ms_played >= pipeline.min_play_ms: earns royalties
    completed     BOOLEAN NOT NULL,     -- counts and not skipped
    session_id    STRING NOT NULL,      -- sha2(user_id, first ts of session); 30-min gap rule
    ds            STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
