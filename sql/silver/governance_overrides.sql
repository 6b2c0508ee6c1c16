-- silver.governance_overrides: suppress / demote / boost decisions, always disclosed.
CREATE TABLE IF NOT EXISTS silver.governance_overrides (
    target_type   STRING NOT NULL,   -- artist | track
    target_id     STRING NOT NULL,
    action        STRING NOT NULL,   -- suppress, demote, boost
    reason        STRING NOT NULL,
    start_ds      DATE NOT NULL,
    end_ds        DATE NOT NULL,
    requested_by  STRING,
    ds            STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
