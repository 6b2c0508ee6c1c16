-- silver.editorial_placements: editorial playlist positions with their validity (inclusive).
CREATE TABLE IF NOT EXISTS silver.editorial_placements (
    playlist_id  STRING NOT NULL,
    track_id     STRING NOT NULL,
    position     INT NOT NULL,
    start_ds     DATE NOT NULL,
    end_ds       DATE NOT NULL,
    ds           STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
