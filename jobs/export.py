"""Export: one bundle per label with plays, exposure and a pro-rata revenue split.

Revenue (month to date): for each royalty pool (period, country, tier), the
pool's net revenue is split across artists in proportion to their qualifying
plays (ms_played >= pipeline.min_play_ms) by listeners of that country and
tier from the first day of the period through ds.

Rounding rule (largest remainder, to the cent): every artist first gets their
exact share rounded down to the cent; the cents left over go one each to the
artists with the largest remainders (ties: artist_id ascending). The splits of
one pool therefore sum exactly to the pool, across all labels. A pool with no
qualifying plays is reported as unallocated, never spread.

Each bundle has a manifest with every file's row count and SHA-256;
``setlist export verify DIR`` re-checks them. The stage fails unless the sum
over all bundles equals the platform totals (plays, exposure, revenue per pool).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timezone
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pandas as pd

CENT = Decimal("0.01")


class ReconciliationError(RuntimeError):
    pass


def largest_remainder(total: Decimal, weights: dict, quantum: Decimal = CENT) -> dict:
    """Split ``total`` over ``weights`` (non-negative ints) so the parts sum to ``total`` exactly."""
    total = Decimal(total)
    w_sum = sum(weights.values())
    if w_sum == 0:
        return {k: Decimal("0").quantize(quantum) for k in weights}
    exact = {k: total * Decimal(w) / Decimal(w_sum) for k, w in weights.items()}
    floor = {k: v.quantize(quantum, rounding=ROUND_DOWN) for k, v in exact.items()}
    left = int(((total - sum(floor.values())) / quantum).to_integral_value())
    order = sorted(weights, key=lambda k: (-(exact[k] - floor[k]), k))
    for k in order[:left]:
        floor[k] += quantum
    return floor


def pro_rata(plays: pd.DataFrame, pools: pd.DataFrame) -> pd.DataFrame:
    """plays: (period, country, tier, artist_id, plays); pools: (period, country, tier,
    currency, net_revenue as Decimal). One row per (pool, artist) with the amount."""
    rows = []
    keys = ["period", "country", "tier"]
    for _, pool in pools.sort_values(keys).iterrows():
        sel = plays[(plays["period"] == pool["period"]) & (plays["country"] == pool["country"])
                    & (plays["tier"] == pool["tier"])]
        weights = {a: int(n) for a, n in zip(sel["artist_id"], sel["plays"])}
        split = largest_remainder(pool["net_revenue"], weights)
        pool_plays = sum(weights.values())
        for artist, amount in sorted(split.items()):
            rows.append({**{k: pool[k] for k in keys}, "currency": pool["currency"], "artist_id": artist,
                         "qualifying_plays": weights[artist], "pool_plays": pool_plays,
                         "pool_net_revenue": pool["net_revenue"], "pro_rata_amount": amount})
    cols = [*keys, "currency", "artist_id", "qualifying_plays", "pool_plays", "pool_net_revenue", "pro_rata_amount"]
    return pd.DataFrame(rows, columns=cols)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def write_table(df: pd.DataFrame, directory: Path, name: str) -> list[dict]:
    """CSV and Parquet of one table (money as exact decimal strings)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    out = df.copy()
    for c in out.columns:
        if len(out) and isinstance(out[c].iloc[0], Decimal):
            out[c] = out[c].map(lambda d: f"{d:.2f}")
    csv_path, pq_path = directory / f"{name}.csv", directory / f"{name}.parquet"
    out.to_csv(csv_path, index=False, lineterminator="\n", float_format="%.6f")
    pq.write_table(pa.Table.from_pandas(out, preserve_index=False), pq_path, compression="snappy")
    return [{"file": p.name, "rows": int(len(out)), "sha256": sha256(p)} for p in (csv_path, pq_path)]


def verify_bundle(directory) -> list[str]:
    """Problems found in a bundle (empty list = the bundle checks out)."""
    import pyarrow.parquet as pq
    directory = Path(directory)
    manifest_path = directory / "manifest.json"
    if not manifest_path.exists():
        return [f"{manifest_path} is missing"]
    manifest = json.loads(manifest_path.read_text())
    problems = []
    listed = set()
    for entry in manifest["files"]:
        p = directory / entry["file"]
        listed.add(entry["file"])
        if not p.exists():
            problems.append(f"{entry['file']}: listed in the manifest but missing")
            continue
        if sha256(p) != entry["sha256"]:
            problems.append(f"{entry['file']}: SHA-256 differs from the manifest (file changed)")
        if entry.get("rows") is not None:
            rows = (pq.read_metadata(p).num_rows if p.suffix == ".parquet"
                    else max(sum(1 for _ in open(p, encoding="utf-8")) - 1, 0) if p.suffix == ".csv" else None)
            if rows is not None and rows != entry["rows"]:
                problems.append(f"{entry['file']}: {rows} rows, manifest says {entry['rows']}")
    extra = sorted(f.name for f in directory.iterdir() if f.name not in listed | {"manifest.json"})
    problems += [f"{name}: present but not in the manifest" for name in extra]
    return problems


def run(ctx) -> dict:
    from pyspark.sql import functions as F
    from setlist import __version__
    from setlist.governance.metrics import exposure as exposure_of

    lake, ds = ctx.lake, ctx.ds
    period = ds[:7]
    month_start = f"{period}-01"
    reads = [("silver", "listening_events"), ("silver", "tracks"), ("silver", "labels"), ("silver", "users"),
             ("silver", "royalty_pool"), ("gold", "playlists")]
    versions = {f"{layer}.{t}": lake.version(layer, t) for layer, t in reads}
    tracks = lake.read("silver", "tracks", ds=ds).select("track_id", "artist_id", "label_id")
    labels = lake.read("silver", "labels", ds=ds).toPandas()
    users = lake.read("silver", "users", ds=ds).select("user_id", "country", "tier")
    today = lake.read("silver", "listening_events", ds=ds).join(tracks, "track_id", "left")
    plays = (today.groupBy("label_id", "artist_id", "track_id")
             .pivot("source", ["algorithmic", "editorial", "organic"]).count().fillna(0).toPandas())
    for s in ("algorithmic", "editorial", "organic"):
        plays = plays.rename(columns={s: f"plays_{s}"})
    plays["plays_total"] = plays[["plays_algorithmic", "plays_editorial", "plays_organic"]].sum(axis=1)
    all_plays = int(plays["plays_total"].sum())
    plays["share_of_all_plays"] = plays["plays_total"] / all_plays if all_plays else 0.0
    expo = (exposure_of(lake.read("gold", "playlists", ds=ds)).join(tracks, "track_id", "left").toPandas())
    all_exposure = float(expo["exposure"].sum())
    expo["share_of_all_exposure"] = expo["exposure"] / all_exposure if all_exposure else 0.0
    month = (lake.read("silver", "listening_events", ds_range=(month_start, ds)).where(F.col("counts"))
             .select("user_id", "track_id")
             .join(users, "user_id", "left").join(tracks, "track_id", "left")
             .withColumn("period", F.lit(period))
             .groupBy("period", "country", "tier", "artist_id", "label_id").count()
             .withColumnRenamed("count", "plays").toPandas())
    pools = lake.read("silver", "royalty_pool", ds=ds).where(F.col("period") == period).toPandas()
    pools["net_revenue"] = pools["net_revenue"].map(lambda v: Decimal(str(v)).quantize(CENT))
    revenue = pro_rata(month, pools)
    artist_label = month.drop_duplicates("artist_id").set_index("artist_id")["label_id"]
    revenue["label_id"] = revenue["artist_id"].map(artist_label)

    out_root = ctx.config.exports_dir(ds)
    out_root.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")  # manifest metadata only
    totals = {"plays": 0, "exposure": 0.0, "revenue": {}}
    bundles = {}
    for label_id in sorted(labels["label_id"]):
        d = out_root / label_id
        d.mkdir(parents=True, exist_ok=True)
        for f in d.iterdir():
            f.unlink()
        lp = plays[plays["label_id"] == label_id].drop(columns=["label_id"]).sort_values(["artist_id", "track_id"])
        le = (expo[expo["label_id"] == label_id][["artist_id", "track_id", "exposure", "impressions",
                                                   "share_of_all_exposure"]].sort_values(["artist_id", "track_id"]))
        lr = revenue[revenue["label_id"] == label_id].drop(columns=["label_id"]).sort_values(
            ["period", "country", "tier", "artist_id"])
        files = write_table(lp, d, "plays") + write_table(le, d, "exposure") + write_table(lr, d, "revenue")
        name = labels.set_index("label_id").loc[label_id, "name"]
        summary = d / "summary.md"
        summary.write_text(label_summary(name, label_id, ds, period, lp, le, lr))
        files.append({"file": "summary.md", "rows": None, "sha256": sha256(summary)})
        manifest = {"label_id": label_id, "label_name": name, "ds": ds, "period": period,
                    "generated_at": generated, "setlist_version": __version__,
                    "delta_table_versions": versions, "files": sorted(files, key=lambda f: f["file"])}
        (d / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
        totals["plays"] += int(lp["plays_total"].sum())
        totals["exposure"] += float(le["exposure"].sum())
        for (p, c, t), amt in lr.groupby(["period", "country", "tier"])["pro_rata_amount"].sum().items():
            totals["revenue"][(p, c, t)] = totals["revenue"].get((p, c, t), Decimal(0)) + amt
        bundles[label_id] = {"plays": int(lp["plays_total"].sum()), "revenue_rows": int(len(lr))}
    reconcile(totals, all_plays, all_exposure, revenue, pools)
    ctx.log(f"exports/{ds}: {len(bundles)} label bundles, {all_plays:,} plays, reconciled")
    return {"rows_in": all_plays, "rows_out": int(len(plays) + len(expo) + len(revenue)), "rows_quarantined": 0,
            "bundles": len(bundles), "export_dir": str(out_root)}


def reconcile(totals: dict, all_plays: int, all_exposure: float, revenue: pd.DataFrame, pools: pd.DataFrame):
    problems = []
    if totals["plays"] != all_plays:
        problems.append(f"plays: bundles {totals['plays']} vs platform {all_plays}")
    if abs(totals["exposure"] - all_exposure) > 1e-6 * max(1.0, all_exposure):
        problems.append(f"exposure: bundles {totals['exposure']:.6f} vs platform {all_exposure:.6f}")
    for _, pool in pools.iterrows():
        key = (pool["period"], pool["country"], pool["tier"])
        allocated = totals["revenue"].get(key, Decimal(0))
        has_plays = ((revenue["period"] == key[0]) & (revenue["country"] == key[1]) & (revenue["tier"] == key[2])
                     & (revenue["qualifying_plays"] > 0)).any()
        if has_plays and allocated != pool["net_revenue"]:
            problems.append(f"revenue pool {key}: bundles {allocated} vs pool {pool['net_revenue']}")
    if problems:
        raise ReconciliationError("export does not reconcile with platform totals: " + "; ".join(problems)
                                  + ". No bundle should be sent; check artist→label mapping and the plays input.")


def label_summary(name, label_id, ds, period, plays, expo, revenue) -> str:
    money = revenue.groupby("currency")["pro_rata_amount"].sum() if len(revenue) else pd.Series(dtype=object)
    top = plays.groupby("artist_id")["plays_total"].sum().sort_values(ascending=False).head(10)
    lines = [f"# {name} ({label_id}) — Setlist export for {ds}", "",
             f"- plays on {ds}: **{int(plays['plays_total'].sum()):,}** "
             f"(algorithmic {int(plays['plays_algorithmic'].sum()):,}, editorial {int(plays['plays_editorial'].sum()):,}, "
             f"organic {int(plays['plays_organic'].sum()):,})",
             f"- playlist exposure on {ds}: **{expo['exposure'].sum():.2f}** position-weighted impressions "
             f"({100 * expo['share_of_all_exposure'].sum():.2f}% of all exposure)",
             f"- pro-rata revenue, {period} to date: " + (", ".join(f"**{v:.2f} {c}**" for c, v in money.items()) or "none"),
             "", "## Artists by plays", "", "| artist | plays |", "| --- | --- |",
             *[f"| {a} | {int(n):,} |" for a, n in top.items()], "",
             "Files: plays, exposure and revenue as CSV and Parquet; manifest.json lists each with its SHA-256.",
             "Revenue is a month-to-date pro-rata split, rounded by largest remainder to the cent.", ""]
    return "\n".join(lines)
