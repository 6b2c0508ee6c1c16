"""Audit: who tonight's playlists expose, whom the model serves well, and how
much of each artist's listening the platform drives.

Reads ``gold.playlists`` of ds (and earlier runs), the catalogue, listening,
the reranker's per-listener evaluation, candidates and governance overrides,
each at the Delta version recorded in ``inputs`` so the report can be
reproduced by time travel. Every metric is aggregated on Spark; only
aggregates (one row per track, artist, label, group or arm) reach the driver.
The definitions live in the docstrings of ``setlist.governance.metrics``,
``popularity``, ``fairness``, ``influence``, ``experiments`` and
``overrides``.

Writes ``reports/<ds>/audit.json`` (schema ``AUDIT_SCHEMA_VERSION``),
``governance.html`` and one CSV per main table, then applies the policy: a
``fail`` verdict fails the stage (and the DAG run) after the report is
written, naming the metric, its value and the threshold.

Groups with fewer than ``policy.min_group_size`` (k) listeners (artists, for
artist groups) are suppressed everywhere: reported as suppressed, never with
values.
"""

from __future__ import annotations

import json

import pandas as pd

AUDIT_SCHEMA_VERSION = "2.0"
TREND_RUNS = 14
TREND_METRICS = {
    "exposure.artist_gini": "Gini of artist exposure",
    "popularity_bias.tail_lift": "Tail lift",
    "popularity_bias.aplt": "APLT (share of long-tail tracks per list)",
    "popularity_bias.track_coverage": "Catalogue coverage (tracks)",
    "fairness.min_group_ndcg_ratio": "Worst / best listener-group NDCG",
    "influence.artists.this_week.algorithmic_share": "Algorithmic share of plays",
}


def _exposure(ctx, read, playlists, tracks):
    from pyspark.sql import functions as F
    from setlist.governance import metrics
    artists = read("silver", "artists")
    labels = read("silver", "labels")
    by_track = metrics.exposure(playlists, "track_id")
    by_artist = (artists.select("artist_id", "name", "label_id", "country", "self_declared_gender",
                                "attributes_consent")
                 .join(by_track.join(tracks.select("track_id", "artist_id"), "track_id")
                       .groupBy("artist_id").agg(F.sum("exposure").alias("exposure"),
                                                 F.sum("impressions").alias("impressions")),
                       "artist_id", "left")
                 .fillna(0, ["exposure", "impressions"])).toPandas()
    label_info = labels.select("label_id", "name", "kind").toPandas()
    by_label = (by_artist.groupby("label_id", as_index=False)[["exposure", "impressions"]].sum()
                .merge(label_info, on="label_id", how="left"))
    total = float(by_artist["exposure"].sum())
    by_artist["share"] = metrics.shares(by_artist["exposure"])
    by_label["share"] = metrics.shares(by_label["exposure"])
    by_artist = by_artist.sort_values(["exposure", "artist_id"], ascending=[False, True]).reset_index(drop=True)
    by_label = by_label.sort_values(["exposure", "label_id"], ascending=[False, True]).reset_index(drop=True)
    kind = (by_label.groupby("kind")["exposure"].sum() / (total or 1)).round(6).to_dict()
    catalogue_kind = (tracks.join(labels.select("label_id", "kind"), "label_id", "left").groupBy("kind").count()
                      .toPandas().set_index("kind")["count"])
    catalogue_kind = (catalogue_kind / catalogue_kind.sum()).round(6).to_dict()
    by_track = (tracks.select("track_id", "title", "artist_id", "label_id").join(by_track, "track_id", "left")
                .fillna(0, ["exposure", "impressions"]).toPandas())
    by_track["share"] = metrics.shares(by_track["exposure"])
    by_track = by_track.sort_values(["exposure", "track_id"], ascending=[False, True]).reset_index(drop=True)
    track_values = by_track["exposure"]
    artist_c, label_c = metrics.concentration(by_artist["exposure"]), metrics.concentration(by_label["exposure"])
    summary = {
        "position_weight": "1/log2(1+position)",
        "total_exposure": round(total, 6),
        "playlists": int(playlists.select("user_id").distinct().count()),
        "artists_in_catalogue": int(len(by_artist)),
        "artists_exposed": int((by_artist["exposure"] > 0).sum()),
        "artist_gini": artist_c["gini"], "label_gini": label_c["gini"],
        "top_artist_share": round(float(by_artist["share"].max() if len(by_artist) else 0), 6),
        "artists": artist_c, "labels": label_c, "tracks": metrics.concentration(track_values),
        "share_by_label_kind": kind,
        "catalogue_share_by_label_kind": catalogue_kind,
        "lorenz_artists": metrics.lorenz(by_artist["exposure"]),
        "top_artists": by_artist.head(20)[["artist_id", "name", "exposure", "share"]].round(6).to_dict("records"),
        "top_labels": by_label.head(20)[["label_id", "name", "kind", "exposure", "share"]].round(6).to_dict("records"),
    }
    return summary, by_track, by_artist, by_label, label_info


def _listener_quality(ctx, read, lake, ds, k):
    from pyspark.sql import functions as F
    from setlist.governance import fairness
    parts = [p for p in lake.partitions("gold", "reranker_evaluation") if p <= ds] \
        if lake.exists("gold", "reranker_evaluation") else []
    if not parts:
        return {"evaluation_ds": None, "listener_groups": {}, "min_group_ndcg_ratio": None}
    ev_ds = parts[-1]
    users = read("silver", "users").select(
        "user_id", F.when(F.col("audit_consent"), F.col("age_band")).otherwise("not shared").alias("age_band"),
        "country", "tier")
    act = read("gold", "user_profile_long").select("user_id", F.col("lt_plays").alias("user_plays_28d"))
    ev = (lake.read("gold", "reranker_evaluation", ds=ev_ds).join(users, "user_id", "left")
          .join(act, "user_id", "left")).toPandas()
    if len(ev) >= 3:
        ev["activity_level"] = pd.qcut(ev["user_plays_28d"].rank(method="first"), 3,
                                       labels=["light", "medium", "heavy"]).astype(str)
    else:
        ev["activity_level"] = "unknown"
    groups = {a: fairness.quality_by_group(ev, a, k) for a in fairness.LISTENER_GROUPS}
    ratios = [g["ratio"]["ndcg@10"] for g in groups.values() if g.get("ratio")]
    return {"evaluation_ds": ev_ds, "listener_groups": groups,
            "min_group_ndcg_ratio": round(min(ratios), 6) if ratios else None,
            "overall_ndcg@10": round(float(ev["ndcg_at_10"].mean()), 6),
            "listeners_evaluated": int(len(ev))}


def _artist_fairness(read, by_artist: pd.DataFrame, catalogue: pd.DataFrame, label_info: pd.DataFrame, k: int):
    from setlist.governance import fairness
    merit = catalogue.groupby("artist_id", as_index=False)["plays"].sum().rename(columns={"plays": "merit"})
    stats = read("gold", "artist_stats").select("artist_id", "artist_emerging").toPandas()
    df = (by_artist[["artist_id", "exposure", "label_id", "country", "self_declared_gender", "attributes_consent"]]
          .merge(merit, on="artist_id", how="left").merge(stats, on="artist_id", how="left")
          .merge(label_info[["label_id", "kind"]], on="label_id", how="left"))
    df["merit"] = df["merit"].fillna(0)
    df["emerging"] = df["artist_emerging"].map({1: "emerging", 0: "established"}).fillna("unknown")
    df["label_kind"] = df["kind"].fillna("unknown")
    consented = df["attributes_consent"].fillna(False).astype(bool)
    df["self_declared_gender"] = df["self_declared_gender"].where(consented & df["self_declared_gender"].notna(),
                                                                  "not declared")
    groups = {a: fairness.exposure_fairness(df, a, k) for a in fairness.ARTIST_GROUPS}
    disparities = [g["disparity"] for g in groups.values() if g["disparity"] is not None]
    return groups, (round(min(disparities), 6) if disparities else None)


def _trends(config, ds: str, current: dict) -> dict:
    """Key metrics of the previous TREND_RUNS audits (their audit.json) and tonight."""
    from setlist.governance.policy import lookup
    runs = []
    root = config.home / "reports"
    for d in sorted(p.name for p in root.iterdir() if p.is_dir() and p.name < ds)[-TREND_RUNS:]:
        f = root / d / "audit.json"
        if f.exists():
            runs.append((d, json.loads(f.read_text())))
    runs.append((ds, current))
    return {"runs": [d for d, _ in runs],
            "metrics": {m: {"label": label, "values": [lookup(a, m) for _, a in runs]}
                        for m, label in TREND_METRICS.items()}}


def run(ctx) -> dict:
    from pyspark.sql import functions as F
    from setlist.governance import experiments, influence, overrides, policy, popularity, report
    from setlist.governance.fairness import groups_table

    lake, ds, k = ctx.lake, ctx.ds, ctx.config.policy.min_group_size
    reads = [("gold", "playlists"), ("gold", "candidates"), ("gold", "track_popularity"), ("gold", "artist_stats"),
             ("gold", "reranker_evaluation"), ("gold", "user_profile_long"), ("silver", "tracks"),
             ("silver", "artists"), ("silver", "labels"), ("silver", "users"), ("silver", "listening_events"),
             ("silver", "governance_overrides")]
    inputs = {f"{layer}.{t}": lake.version(layer, t) for layer, t in reads}

    def read(layer, table, day=ds, **kw):
        return lake.read(layer, table, ds=day, version=inputs[f"{layer}.{table}"], **kw)

    playlists = read("gold", "playlists").cache()
    tracks = read("silver", "tracks")

    ctx.log("exposure")
    exposure, by_track, by_artist, by_label, label_info = _exposure(ctx, read, playlists, tracks)

    ctx.log("popularity bias")
    catalogue = (tracks.select("track_id", "artist_id")
                 .join(read("gold", "track_popularity").select("track_id", F.col("track_plays_28d").alias("plays")),
                       "track_id", "left").fillna(0, ["plays"]).toPandas())
    bias, buckets = popularity.popularity_bias(playlists, catalogue, n_artists=len(by_artist))

    ctx.log("fairness")
    fairness = _listener_quality(ctx, read, lake, ds, k)
    artist_groups, min_disparity = _artist_fairness(read, by_artist, catalogue, label_info, k)
    fairness["artist_groups"] = artist_groups
    fairness["min_artist_group_exposure_disparity"] = min_disparity

    ctx.log("influence")
    start_prev, _, _ = influence.weeks(ds)
    events = lake.read("silver", "listening_events", ds_range=(start_prev, ds),
                       version=inputs["silver.listening_events"])
    inf_artist = influence.influence(events, tracks, "artist_id", ds, k)
    inf_label = influence.influence(events, tracks, "label_id", ds, k)
    inf_artist = inf_artist.merge(by_artist[["artist_id", "name"]], on="artist_id", how="left")
    inf_label = inf_label.merge(label_info[["label_id", "name", "kind"]], on="label_id", how="left")
    influence_summary = {"definition": "share of counted plays (>= min_play_ms) by the context they started in; "
                                       "this week = 7 days ending on ds",
                         "artists": influence.summary(inf_artist, "artist_id"),
                         "labels": influence.summary(inf_label, "label_id")}

    ctx.log("experiments")
    earlier = [p for p in lake.partitions("gold", "playlists") if p < ds]
    if earlier:
        served_ds = earlier[-1]
        arms = read("gold", "playlists", day=served_ds).select("user_id", "arm").distinct()
        history = lake.read("silver", "listening_events",
                            ds_range=(experiments.previous_day(ds, 28), experiments.previous_day(ds)),
                            version=inputs["silver.listening_events"])
        arm_rows = experiments.arm_kpis(arms, read("silver", "listening_events"), history, k)
    else:
        served_ds, arm_rows = None, []
    experiments_out = {"playlists_ds": served_ds, "listening_ds": ds, "experiment": ctx.config.playlists.experiment,
                       "arms": arm_rows}

    ctx.log("overrides")
    names = {**dict(zip(by_artist["artist_id"], by_artist["name"])),
             **{r["track_id"]: r["title"] for r in tracks.select("track_id", "title").collect()}} \
        if read("silver", "governance_overrides").limit(1).count() else {}
    history_pl = {d: read("gold", "playlists", day=d) for d in earlier}
    ov = overrides.override_effects(read("silver", "governance_overrides"), playlists, read("gold", "candidates"),
                                    history_pl, names, ds)

    audit = {"schema_version": AUDIT_SCHEMA_VERSION, "ds": ds, "min_group_size": k,
             "exposure": exposure, "popularity_bias": bias, "fairness": fairness,
             "influence": influence_summary, "experiments": experiments_out,
             "overrides": {"in_force": int(len(ov)), "items": _records(ov)},
             "inputs": inputs}
    pol = policy.load_policies(ctx.config.policy.file or None)
    audit["policy"] = {"file": ctx.config.policy.file or "setlist.governance/policies.yaml",
                       "verdicts": policy.evaluate(audit, pol)}
    audit["trends"] = _trends(ctx.config, ds, audit)

    out_dir = ctx.config.reports_dir(ds)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "audit.json").write_text(json.dumps(audit, indent=2, sort_keys=True, default=str))
    csvs = {
        "exposure_by_track": by_track,
        "exposure_by_artist": by_artist.drop(columns=["self_declared_gender", "attributes_consent"]),
        "exposure_by_label": by_label,
        "popularity_buckets": buckets,
        "artist_group_fairness": groups_table(artist_groups),
        "listener_group_quality": groups_table(fairness["listener_groups"]),
        "influence_by_artist": inf_artist,
        "influence_by_label": inf_label,
        "experiment_kpis": _arm_table(arm_rows),
        "overrides": ov,
    }
    for name, df in csvs.items():
        df.round(6).to_csv(out_dir / f"{name}.csv", index=False)
    report.write_governance_html(audit, out_dir / "governance.html")
    playlists.unpersist()
    ctx.log(f"report: {out_dir / 'governance.html'}")
    verdicts = {v["metric"]: v["verdict"] for v in audit["policy"]["verdicts"]}
    policy.enforce(audit["policy"]["verdicts"], report=out_dir / "governance.html")
    return {"rows_in": int(exposure["playlists"]), "rows_out": sum(len(df) for df in csvs.values()),
            "rows_quarantined": 0, "verdicts": verdicts, "report": str(out_dir / "governance.html")}


def _records(df: pd.DataFrame) -> list[dict]:
    return [{k: (None if (not isinstance(v, (list, dict)) and pd.isna(v)) else v) for k, v in r.items()}
            for r in df.to_dict("records")]


def _arm_table(arms: list[dict]) -> pd.DataFrame:
    """One row per (arm, KPI) for the CSV."""
    from setlist.governance.experiments import KPIS
    rows = []
    for a in arms:
        base = {"arm": a["arm"], "listeners_served": a["listeners_served"],
                "listeners_with_plays": a["listeners_with_plays"], "suppressed": a["suppressed"]}
        if a["suppressed"]:
            rows.append(base)
            continue
        for kpi in KPIS:
            v = a[kpi]
            vs = v.get("vs_control", {})
            rows.append({**base, "kpi": kpi, "mean": v["mean"], "ci95_low": v["ci95"][0], "ci95_high": v["ci95"][1],
                         "difference_vs_control": vs.get("difference"),
                         "difference_ci95_low": vs.get("ci95", [None, None])[0],
                         "difference_ci95_high": vs.get("ci95", [None, None])[1],
                         "significant": vs.get("significant")})
    return pd.DataFrame(rows)
