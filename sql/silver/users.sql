-- silver.users: listener snapshot valid on ds. A user whose deletion request
-- is in force keeps only user_id and deletion_requested_at.
CREATE TABLE IF NOT EXISTS silver.users (
    user_id                  STRING NOT NULL,
    signup_date              DATE,
    country                  STRING,
    tier                     STRING,    -- free, premium
    age_band                 STRING,
    personalisation_consent  BOOLEAN NOT NULL,
    audit_consent            BOOLEAN NOT NULL,
    deletion_requested_at    TIMESTAMP,
    is_deleted               BOOLEAN NOT NULL,   -- deletion requested on or before ds
    ds                       STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
