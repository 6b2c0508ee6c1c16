-- gold.reranker_evaluation: per validation listener, how the model trained on
-- ds ranks their candidates against what they played next (labels in (T, ds]).
-- The audit reads it to compare quality across listener groups.
CREATE TABLE IF NOT EXISTS gold.reranker_evaluation (
    user_id                 STRING NOT NULL,
    model_version           STRING NOT NULL,
    n_candidates            BIGINT,
    n_relevant              BIGINT,
    ndcg_at_10              DOUBLE,   -- the trained reranker
    recall_at_10            DOUBLE,
    baseline_ndcg_at_10     DOUBLE,   -- candidates ordered by ALS score, then popularity
    baseline_recall_at_10   DOUBLE,
    ds                      STRING NOT NULL
) USING DELTA PARTITIONED BY (ds);
