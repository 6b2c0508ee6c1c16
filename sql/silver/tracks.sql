-- silver.tracks: the catalogue snapshot valid on ds.
CREATE TABLE IF NOT EXISTS silver.tracks (
    track_id      STRING NOT NULL,
    isrc          STRING,
    title         STRING,
    artist_id     STRING NOT NULL,
    album_id      STRING,
    label_id      STRING,
    release_date  DATE,
    duration_ms   BIGINT,
    genre         STRING,
    tempo         DOUBLE,   -- BPM
    energy        DOUBLE,   -- 0..1
    valence       DOUBLE,   -- 0..1
    danceability  DOUBLE,   -- 0..1
    acousticness  DOUBLE,   -- 0..1
    key           INT,      -- pitch class 0..11
    mode          INT,      -- 1 major, 0 minor
    loudness      DOUBLE,   -- dB
    ds            STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
