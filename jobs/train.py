"""Train: the XGBoost reranker (``rank:ndcg``, one group per listener).

Training set, for anchor date T = ds - h (h = model.label_horizon_days):

* rows: the candidates of T;
* features: each generator's score and rank, plus Feast's ``reranker_v1``
  FeatureService retrieved point-in-time at T + 1 day 00:00 UTC (the moment
  T's features were known), so nothing from after T leaks in;
* relevance (graded): 0 = not played or only skipped in (T, ds];
  1 = at least one completed play; 2 = completed and liked, saved or added.

Only listeners with a relevant and a non-relevant candidate are learnt from,
at most ``model.max_training_listeners`` of them (a hash sample beyond that),
and only their candidates go to Feast. They are split by a hash of their id
into training and validation; the model stops early on validation NDCG@10 and
is compared with the ALS order on the same validation listeners. The promotion gate makes the new model current
only if it beats the current one on the same validation set by the configured
margin.
"""

from __future__ import annotations

import hashlib
import heapq

import numpy as np
import pandas as pd

CANDIDATE_FEATURES = ("als_score", "als_rank", "coli_score", "coli_rank", "content_score", "content_rank",
                      "genre_pop_score", "genre_pop_rank", "new_score", "new_rank", "pop_score", "pop_rank",
                      "n_sources")


def labels(events, feedback, start: str, end: str):
    """Relevance per (user, track) from what listeners did in [start, end]."""
    from pyspark.sql import functions as F
    played = (events.where((F.col("ds") >= start) & (F.col("ds") <= end))
              .groupBy("user_id", "track_id").agg(F.max(F.col("completed").cast("int")).alias("completed")))
    liked = (feedback.where((F.col("ds") >= start) & (F.col("ds") <= end)
                            & F.col("action").isin("like", "save", "add_to_playlist"))
             .select("user_id", "track_id").distinct().withColumn("liked", F.lit(1)))
    return (played.join(liked, ["user_id", "track_id"], "left")
            .withColumn("relevance", (F.col("completed")
                                      + F.when(F.col("completed") == 1, F.coalesce(F.col("liked"), F.lit(0)))
                                      .otherwise(0)).cast("int"))
            .select("user_id", "track_id", "relevance"))


def in_validation(user_id: str, share: float) -> bool:
    h = int(hashlib.sha256(user_id.encode()).hexdigest()[:8], 16)
    return (h % 10_000) < share * 10_000


def sample_rank(user_id: str) -> int:
    """A listener's place in the training sample: a hash of the id, salted
    apart from the validation split's so the two choices are independent."""
    return int(hashlib.sha256(f"training-sample:{user_id}".encode()).hexdigest()[:16], 16)


def learnable_listeners(cands, lab) -> list[str]:
    """The listeners a ranker can learn from: among their candidates at least one
    relevant and one not (sorted ids; Spark DataFrames of candidates and labels)."""
    from pyspark.sql import functions as F
    rel = F.coalesce(F.col("relevance"), F.lit(0))
    per = (cands.select("user_id", "track_id").join(lab, ["user_id", "track_id"], "left")
           .groupBy("user_id").agg(F.max(rel).alias("hi"), F.min(rel).alias("lo"))
           .where((F.col("hi") > 0) & (F.col("lo") == 0)))
    return sorted(r["user_id"] for r in per.select("user_id").collect())


def sample_listeners(user_ids: list[str], max_listeners: int | None) -> list[str]:
    """At most ``max_listeners`` of ``user_ids``: those with the smallest
    ``sample_rank``, whatever order they come in (sorted ids)."""
    if max_listeners is None or len(user_ids) <= max_listeners:
        return sorted(user_ids)
    return sorted(heapq.nsmallest(max_listeners, user_ids, key=sample_rank))


def feature_columns(frame: pd.DataFrame) -> list[str]:
    """Candidate scores plus every numeric reranker_v1 feature present."""
    from pandas.api.types import is_numeric_dtype
    from setlist.features.repo import VIEWS, view_fields
    feast_cols = [f for v in VIEWS for f in view_fields(v)]
    return [c for c in (*CANDIDATE_FEATURES, *feast_cols) if c in frame.columns and is_numeric_dtype(frame[c])]


def fit(train: pd.DataFrame, valid: pd.DataFrame, features: list[str], params: dict, seed: int):
    import xgboost as xgb
    params = dict(params)
    stop = params.pop("early_stopping_rounds", None)
    model = xgb.XGBRanker(objective="rank:ndcg", tree_method="hist", eval_metric="ndcg@10",
                          random_state=seed, n_jobs=2, early_stopping_rounds=stop, **params)
    model.fit(train[features], train["relevance"], qid=train["qid"],
              eval_set=[(valid[features], valid["relevance"])], eval_qid=[valid["qid"]], verbose=False)
    return model


def validated_booster(model):
    """The booster the validation metrics describe. With early stopping the
    fit grows ``early_stopping_rounds`` trees past the best iteration; the
    scikit-learn wrapper's ``predict`` ignores them, the raw booster (what the
    model store keeps and scoring runs) would not. So the booster is cut to
    its best iteration: stored, gated and served as validated, and cheaper to score."""
    booster = model.get_booster()
    best = getattr(model, "best_iteration", None)
    if best is not None and best + 1 < booster.num_boosted_rounds():
        booster = booster[: best + 1]
    return booster


def mean_ndcg(frame: pd.DataFrame, scores) -> float:
    """Mean NDCG@10 over the listeners of ``frame`` (sorted as ``to_groups``
    leaves it) when its rows are ranked by ``scores``: the promotion gate's metric."""
    from setlist.governance.ranking import per_user
    return float(per_user(frame.assign(s=scores), {"s": "s"})["ndcg_s"].mean())


def to_groups(df: pd.DataFrame) -> pd.DataFrame:
    """Sort by user then track (stable qids) and attach integer qid per user."""
    df = df.sort_values(["user_id", "track_id"], kind="stable").reset_index(drop=True)
    df["qid"] = pd.factorize(df["user_id"])[0]
    return df


def baseline_score(df: pd.DataFrame) -> np.ndarray:
    """ALS score first; candidates only ALS did not propose rank below by popularity."""
    als = df["als_score"].fillna(-1e9).to_numpy()
    pop = df["pop_score"].fillna(0).to_numpy()
    return als + 1e-6 * pop / (1 + pop.max(initial=0))


def candidate_recall(cands, lab) -> dict:
    """Share of the relevant (user, track) pairs of the label window that each
    generator (and all of them together) proposed, over listeners with candidates."""
    from pyspark.sql import functions as F
    from setlist.jobs.candidates import SCORE_COLS
    pos = lab.where(F.col("relevance") > 0).join(cands.select("user_id").distinct(), "user_id", "left_semi")
    joined = pos.join(cands, ["user_id", "track_id"], "left")
    aggs = [F.count("*").alias("relevant"), F.count("source").alias("combined")]
    aggs += [F.count(score).alias(src) for src, (score, _) in SCORE_COLS.items()]
    row = joined.agg(*aggs).first().asDict()
    total = row.pop("relevant")
    return {"relevant_pairs": total, **{k: round(v / total, 6) if total else None for k, v in row.items()}}


def training_frame(ctx, anchor: str):
    """Candidates of ``anchor`` joined to labels and point-in-time Feast features."""
    from setlist import featurestore
    lake, ds = ctx.lake, ctx.ds
    cands = lake.read("gold", "candidates", ds=anchor)
    events = lake.read("silver", "listening_events", ds_range=(ctx.shift(-30), ds))
    feedback = lake.read("silver", "feedback", ds_range=(ctx.shift(-30), ds))
    lab = labels(events, feedback, _next(anchor), ds).cache()
    ctx.stats["candidate_recall"] = candidate_recall(cands, lab)
    # Only the listeners the ranker can learn from go to the driver and Feast (tier s: 1.9M of 3.3M
    # candidate rows), and at most model.max_training_listeners of them, so the weekly job's memory
    # stays bounded (tier m: 33M candidate rows, which pandas could not hold here).
    cap = ctx.config.model.max_training_listeners
    usable = learnable_listeners(cands, lab)
    chosen = sample_listeners(usable, cap)
    ctx.stats["training_listeners"] = {"usable": len(usable), "chosen": len(chosen), "max": cap}
    ctx.log(f"training listeners: {len(chosen):,} of {len(usable):,} with a relevant and a non-relevant candidate"
            + (f" (model.max_training_listeners {cap:,})" if cap is not None and len(usable) > cap else ""))
    # Their candidates are read straight from the Delta files and joined to the labelled pairs in
    # pandas (tier s: 3-4 s against 11-15 s for the join on Spark and its transfer).
    entity = lake.read_pandas("gold", "candidates", ds=anchor, isin=("user_id", chosen)).drop(
        columns=["ds", "source"]).merge(lab.toPandas(), on=["user_id", "track_id"], how="left",
                                        validate="one_to_one")
    lab.unpersist()
    entity["relevance"] = entity["relevance"].fillna(0).astype("int32")
    entity["event_timestamp"] = featurestore.day_end(anchor)
    return featurestore.historical(featurestore.applied_store(ctx.config), entity)


def _next(ds: str) -> str:
    from datetime import date, timedelta
    return (date.fromisoformat(ds) + timedelta(days=1)).isoformat()


def run(ctx) -> dict:
    from setlist.governance.ranking import per_user
    from setlist.models import ModelStore

    m = ctx.config.model
    anchor = ctx.shift(-m.label_horizon_days)
    if anchor not in ctx.lake.partitions("gold", "candidates"):
        msg = (f"no candidates for the anchor date {anchor} (ds - {m.label_horizon_days} days): "
               f"nothing to learn from yet; run `setlist run candidates --ds {anchor}` to train, "
               f"the current model (if any) stays in use")
        ctx.log(msg)
        return {"status": "skipped", "reason": msg, "rows_in": 0, "rows_out": 0, "rows_quarantined": 0}
    ctx.log(f"building the training set: candidates of {anchor}, labels from {_next(anchor)}..{ctx.ds}")
    frame = to_groups(training_frame(ctx, anchor))
    usable = ctx.stats["training_listeners"]["usable"]
    is_valid = frame["user_id"].map(lambda u: in_validation(u, m.validation_share))
    train, valid = to_groups(frame[~is_valid]), to_groups(frame[is_valid])
    if train.empty or valid.empty:
        msg = f"too few listeners with a relevant candidate ({usable}) to train and validate"
        ctx.log(msg)
        return {"status": "skipped", "reason": msg, "rows_in": len(frame), "rows_out": 0, "rows_quarantined": 0}
    features = feature_columns(frame)
    ctx.log(f"XGBRanker on {len(train):,} rows / {train['qid'].nunique():,} listeners, "
            f"{len(features)} features; validating on {valid['qid'].nunique():,} listeners")
    model = fit(train, valid, features, m.xgb_params, m.seed)
    valid = valid.assign(model=model.predict(valid[features]), baseline=baseline_score(valid))
    per = per_user(valid, {"model": "model", "baseline": "baseline"})
    metrics = {
        "ndcg@10": round(float(per["ndcg_model"].mean()), 6),
        "recall@10": round(float(per["recall_model"].mean()), 6),
        "baseline_ndcg@10": round(float(per["ndcg_baseline"].mean()), 6),
        "baseline_recall@10": round(float(per["recall_baseline"].mean()), 6),
        "train_rows": int(len(train)), "valid_rows": int(len(valid)),
        "train_users": int(train["qid"].nunique()), "valid_users": int(valid["qid"].nunique()),
        "best_iteration": int(getattr(model, "best_iteration", m.xgb_params.get("n_estimators", 0)) or 0),
    }
    store = ModelStore(ctx.config.models_dir / "reranker")
    version = ctx.ds
    inputs = {f"{layer}/{t}": ctx.lake.version(layer, t) for layer, t in
              (("gold", "candidates"), ("silver", "listening_events"), ("silver", "feedback"),
               *(("gold", v) for v in ("user_profile_long", "user_profile_short", "user_context",
                                       "track_popularity", "artist_stats", "user_artist_affinity",
                                       "user_genre_affinity")))}
    by_group = metrics_by_group(ctx, per, ctx.config.policy.min_group_size)
    meta = {"version": version, "features": features, "metrics": metrics, "metrics_by_group": by_group,
            "candidate_recall": ctx.stats.get("candidate_recall"),
            "training_listeners": ctx.stats["training_listeners"],
            "training_window": {"anchor": anchor, "labels_from": _next(anchor), "labels_to": ctx.ds},
            "params": m.xgb_params, "table_versions": inputs}
    decision = store.save_and_gate(version, validated_booster(model), meta, valid, features,
                                   metric=lambda scores: mean_ndcg(valid, scores),
                                   margin=m.promotion_margin)
    ctx.log(f"model {version}: NDCG@10 {metrics['ndcg@10']:.4f} vs ALS order {metrics['baseline_ndcg@10']:.4f}; "
            f"{decision['decision']}")
    ev = per.rename(columns={"ndcg_model": "ndcg_at_10", "recall_model": "recall_at_10",
                             "ndcg_baseline": "baseline_ndcg_at_10", "recall_baseline": "baseline_recall_at_10"})
    ev["model_version"] = version
    from pyspark.sql import functions as F
    from setlist.contracts import conform
    sdf = ctx.spark.createDataFrame(ev)
    sdf = conform(sdf.withColumn("ds", F.lit(ctx.ds)), "gold", "reranker_evaluation").drop("ds")
    ctx.lake.write(sdf, "gold", "reranker_evaluation", ds=ctx.ds)
    return {"status": "trained", "rows_in": int(len(frame)), "rows_out": int(len(ev)), "rows_quarantined": 0,
            "metrics": metrics, "candidate_recall": ctx.stats.get("candidate_recall"),
            "promotion": decision, "model_dir": str(store.root / version)}


def metrics_by_group(ctx, per: pd.DataFrame, min_size: int) -> dict:
    """Mean validation NDCG@10 (reranker and ALS order) by listener group;
    groups under ``min_size`` listeners are suppressed."""
    users = ctx.lake.read("silver", "users", ds=ctx.ds).select("user_id", "age_band", "country", "tier").toPandas()
    df = per.merge(users, on="user_id", how="left")
    out = {}
    for attr in ("age_band", "country", "tier"):
        groups = {}
        for g, sub in df.groupby(df[attr].fillna("unknown")):
            if len(sub) < min_size:
                groups[str(g)] = {"listeners": int(len(sub)), "suppressed": True}
            else:
                groups[str(g)] = {"listeners": int(len(sub)), "suppressed": False,
                                  "ndcg@10": round(float(sub["ndcg_model"].mean()), 6),
                                  "baseline_ndcg@10": round(float(sub["ndcg_baseline"].mean()), 6)}
        out[attr] = groups
    return out
