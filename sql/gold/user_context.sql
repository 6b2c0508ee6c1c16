-- gold.user_context: when and on what each consenting listener plays (long window).
CREATE TABLE IF NOT EXISTS gold.user_context (
    user_id            STRING NOT NULL,
    ctx_top_hour       INT,   -- most frequent UTC hour, 0-23
    ctx_top_weekday    INT,   -- most frequent ISO weekday, 1 = Monday
    ctx_share_mobile   DOUBLE,   -- share of plays on mobile
    ctx_share_desktop  DOUBLE,   -- share of plays on desktop
    ctx_share_web      DOUBLE,   -- share of plays on web
    ctx_share_speaker  DOUBLE,   -- share of plays on speaker
    ctx_share_car      DOUBLE,   -- share of plays on car
    ctx_share_tv       DOUBLE,   -- share of plays on tv
    event_timestamp    TIMESTAMP NOT NULL,   -- ds + 1 day 00:00 UTC: when the values are known
    created_timestamp  TIMESTAMP NOT NULL,
    ds                 STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
