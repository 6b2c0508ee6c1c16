-- silver.labels: label snapshot valid on ds.
CREATE TABLE IF NOT EXISTS silver.labels (
    label_id  STRING NOT NULL,
    name      STRING,
    kind      STRING NOT NULL,   -- major, independent, self_released
    ds        STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
