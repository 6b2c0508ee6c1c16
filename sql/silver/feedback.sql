-- silver.feedback: explicit listener feedback of one logical date.
CREATE TABLE IF NOT EXISTS silver.feedback (
    user_id   STRING NOT NULL,
    track_id  STRING NOT NULL,
    ts        TIMESTAMP NOT NULL,
    action    STRING NOT NULL,    -- like, save, add_to_playlist, ban, unban
    ds        STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
