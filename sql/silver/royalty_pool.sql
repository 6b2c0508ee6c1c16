-- silver.royalty_pool: net revenue to distribute per period, country and tier.
CREATE TABLE IF NOT EXISTS silver.royalty_pool (
    period       STRING NOT NULL,          -- YYYY-MM
    country      STRING NOT NULL,
    tier         STRING NOT NULL,
    currency     STRING NOT NULL,
    net_revenue  DECIMAL(18,2) NOT NULL,
    ds           STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
