-- silver.artists: artist snapshot valid on ds. self_declared_gender is kept
-- only where attributes_consent is true (audit use only, in aggregate).
CREATE TABLE IF NOT EXISTS silver.artists (
    artist_id             STRING NOT NULL,
    name                  STRING,
    label_id              STRING,
    country               STRING,
    debut_year            INT,
    self_declared_gender  STRING,
    attributes_consent    BOOLEAN,
    ds                    STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
