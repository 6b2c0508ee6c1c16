"""Audit: who tonight's playlists expose, and whom the model serves well.

Reads gold.playlists, the catalogue and the reranker's per-listener
evaluation; aggregates on Spark; hands only per-artist / per-group aggregates
to the driver for Gini, Lorenz and fairlearn. Writes
``reports/<ds>/audit.json``, ``governance.html`` and CSVs, then applies the
policy: a ``fail`` verdict fails the stage after the report is written.

Listener groups with fewer than ``policy.min_group_size`` listeners are
suppressed (reported as suppressed, never with values).
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

AUDIT_SCHEMA_VERSION = "1.0"
LISTENER_GROUPS = ("age_band", "country", "tier", "activity_level")


def quality_by_group(evaluation: pd.DataFrame, attribute: str, min_size: int) -> dict:
    """fairlearn MetricFrame of mean NDCG@10 / recall@10 per group of ``attribute``.

    One row per validation listener: y_true carries their NDCG@10, y_pred their
    recall@10, so the group metric is the listeners' mean of each. Groups below
    ``min_size`` listeners are suppressed and excluded from difference/ratio.
    """
    from fairlearn.metrics import MetricFrame
    df = evaluation.dropna(subset=["ndcg_at_10"]).copy()
    df[attribute] = df[attribute].fillna("unknown").astype(str)
    sizes = df[attribute].value_counts()
    kept = sizes[sizes >= min_size].index
    groups = {g: {"listeners": int(n), "suppressed": True} for g, n in sizes.items() if g not in kept}
    result = {"attribute": attribute, "min_group_size": min_size, "groups": groups}
    df = df[df[attribute].isin(kept)]
    if df.empty:
        result.update(difference=None, ratio=None)
        return result
    mf = MetricFrame(
        metrics={"ndcg@10": lambda t, p: float(np.mean(t)), "recall@10": lambda t, p: float(np.mean(p))},
        y_true=df["ndcg_at_10"].to_numpy(), y_pred=df["recall_at_10"].fillna(0).to_numpy(),
        sensitive_features=df[attribute])
    for g, row in mf.by_group.iterrows():
        groups[str(g)] = {"listeners": int(sizes[g]), "suppressed": False,
                          "ndcg@10": round(float(row["ndcg@10"]), 6), "recall@10": round(float(row["recall@10"]), 6)}
    diff, ratio = mf.difference(), mf.ratio()
    result.update(difference={k: round(float(v), 6) for k, v in diff.items()},
                  ratio={k: round(float(v), 6) for k, v in ratio.items()})
    result["groups"] = dict(sorted(groups.items()))
    return result


def run(ctx) -> dict:
    from pyspark.sql import functions as F
    from setlist.governance import metrics, policy, report

    lake, ds, k = ctx.lake, ctx.ds, ctx.config.policy.min_group_size
    reads = [("gold", "playlists"), ("silver", "tracks"), ("silver", "artists"), ("silver", "labels"),
             ("silver", "users"), ("gold", "reranker_evaluation"), ("gold", "user_profile_long")]
    inputs = {f"{layer}.{t}": lake.version(layer, t) for layer, t in reads}
    playlists = lake.read("gold", "playlists", ds=ds)
    tracks = lake.read("silver", "tracks", ds=ds)
    artists = lake.read("silver", "artists", ds=ds)
    labels = lake.read("silver", "labels", ds=ds)

    by_track = metrics.exposure(playlists, "track_id")
    by_artist = (artists.select("artist_id", "name", "label_id")
                 .join(by_track.join(tracks.select("track_id", "artist_id"), "track_id")
                       .groupBy("artist_id").agg(F.sum("exposure").alias("exposure"),
                                                 F.sum("impressions").alias("impressions")),
                       "artist_id", "left")
                 .fillna(0, ["exposure", "impressions"])).toPandas()
    by_label = (by_artist.groupby("label_id", as_index=False)[["exposure", "impressions"]].sum()
                .merge(labels.select("label_id", "name", "kind").toPandas(), on="label_id", how="left"))
    total = float(by_artist["exposure"].sum())
    by_artist["share"] = metrics.shares(by_artist["exposure"])
    by_label["share"] = metrics.shares(by_label["exposure"])
    by_artist = by_artist.sort_values(["exposure", "artist_id"], ascending=[False, True])
    by_label = by_label.sort_values(["exposure", "label_id"], ascending=[False, True])
    kind = (by_label.groupby("kind")["exposure"].sum() / (total or 1)).round(6).to_dict()
    catalogue_kind = (tracks.join(labels.select("label_id", "kind"), "label_id", "left").groupBy("kind").count()
                      .toPandas().set_index("kind")["count"])
    catalogue_kind = (catalogue_kind / catalogue_kind.sum()).round(6).to_dict()
    exposure = {
        "position_weight": "1/log2(1+position)",
        "total_exposure": round(total, 6),
        "playlists": int(playlists.select("user_id").distinct().count()),
        "artists_in_catalogue": int(len(by_artist)),
        "artists_exposed": int((by_artist["exposure"] > 0).sum()),
        "artist_gini": round(metrics.gini(by_artist["exposure"]), 6),
        "label_gini": round(metrics.gini(by_label["exposure"]), 6),
        "top_artist_share": round(float(by_artist["share"].max() if len(by_artist) else 0), 6),
        "share_by_label_kind": kind,
        "catalogue_share_by_label_kind": catalogue_kind,
        "lorenz_artists": metrics.lorenz(by_artist["exposure"]),
        "top_artists": by_artist.head(20)[["artist_id", "name", "exposure", "share"]].round(6).to_dict("records"),
        "top_labels": by_label.head(20)[["label_id", "name", "kind", "exposure", "share"]].round(6).to_dict("records"),
    }

    fairness = {"listener_groups": {}, "min_group_ndcg_ratio": None, "evaluation_ds": None}
    if lake.exists("gold", "reranker_evaluation"):
        parts = [p for p in lake.partitions("gold", "reranker_evaluation") if p <= ds]
        if parts:
            ev_ds = parts[-1]
            users = lake.read("silver", "users", ds=ds).select("user_id", "age_band", "country", "tier")
            act = lake.read("gold", "user_profile_long", ds=ds).select("user_id", F.col("lt_plays").alias("user_plays_28d"))
            ev = (lake.read("gold", "reranker_evaluation", ds=ev_ds).join(users, "user_id", "left")
                  .join(act, "user_id", "left")).toPandas()
            ev["activity_level"] = pd.qcut(ev["user_plays_28d"].rank(method="first"), 3,
                                           labels=["light", "medium", "heavy"]).astype(str) if len(ev) >= 3 else "unknown"
            groups = {a: quality_by_group(ev, a, k) for a in LISTENER_GROUPS}
            ratios = [g["ratio"]["ndcg@10"] for g in groups.values() if g.get("ratio")]
            fairness = {"evaluation_ds": ev_ds, "listener_groups": groups,
                        "min_group_ndcg_ratio": round(min(ratios), 6) if ratios else None,
                        "overall_ndcg@10": round(float(ev["ndcg_at_10"].mean()), 6),
                        "listeners_evaluated": int(len(ev))}
    audit = {"schema_version": AUDIT_SCHEMA_VERSION, "ds": ds, "min_group_size": k,
             "exposure": exposure, "fairness": fairness, "inputs": inputs}
    pol = policy.load_policies(ctx.config.policy.file)
    audit["policy"] = {"verdicts": policy.evaluate(audit, pol)}
    out_dir = ctx.config.reports_dir(ds)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "audit.json").write_text(json.dumps(audit, indent=2, sort_keys=True, default=str))
    by_artist.round(6).to_csv(out_dir / "exposure_by_artist.csv", index=False)
    by_label.round(6).to_csv(out_dir / "exposure_by_label.csv", index=False)
    report.write_governance_html(audit, out_dir / "governance.html")
    ctx.log(f"report: {out_dir / 'governance.html'}")
    verdicts = {v["metric"]: v["verdict"] for v in audit["policy"]["verdicts"]}
    policy.enforce(audit["policy"]["verdicts"])
    return {"rows_in": int(playlists.count()), "rows_out": len(by_artist) + len(by_label),
            "rows_quarantined": 0, "verdicts": verdicts, "report": str(out_dir / "governance.html")}
