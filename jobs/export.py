"""Export: one bundle per label with plays, exposure, revenue and pseudonymous listeners.

Two entry points write the same kind of bundle:

* ``run(ctx)`` (``setlist run export --ds D``): plays, exposure and listeners of
  the day D; revenue for D's month from its first day through D (month to date).
  Bundles go to ``<home>/exports/<D>/<label_id>/``.
* ``run_period(period, config)`` (``setlist export --period YYYY-MM``): every ds
  of the month present in ``silver.listening_events``, for plays, exposure,
  listeners and revenue alike. Bundles go to ``<home>/exports/<YYYY-MM>/<label_id>/``.

Attribution. A play belongs to the label in the ``label_id`` of its track in
the ``silver.tracks`` snapshot of the play's own ds (the latest snapshot on or
before that ds when the day has none). An artist who moved label within the
period therefore has the plays before the move in the old label's bundle and
the plays after it in the new one; a featured artist on another label changes
nothing, the track's ``label_id`` decides. Revenue is earned per payee =
(label_id, artist_id), so a moved artist's money is split the same way.
Exposure (gold.playlists) is attributed with the tracks snapshot of the
playlist's ds. Listeners' country and tier come from the ``silver.users``
snapshot of the play's ds the same way.

Bundles. Every label in a ``silver.labels`` snapshot of the window, or with
rows in it, gets a bundle; a label without plays gets one with empty tables.

Plays. ``plays`` counts every play (by source: algorithmic, editorial,
organic); ``qualifying_plays`` only the plays that earn: the silver ``counts``
flag (ms_played >= pipeline.min_play_ms), or ms_played >= export.min_play_ms
when that is set. Shares are of all plays / all exposure on the platform.

Exposure. Σ over playlist rows of 1/log2(1 + position) (governance.metrics),
summed in a fixed order so re-runs give identical floats.

Revenue, per royalty pool (period, country, tier, currency, net_revenue) from
the ``silver.royalty_pool`` snapshot of the window's last day. Only
qualifying plays by listeners of that country and tier earn (a listener with a
deletion request in force has no country or tier, so their plays earn nothing).

* Pro-rata: pool × the payee's plays / all plays in the pool.
* User-centric: the data has no per-listener payments, so every listener of
  the pool (a listener with at least one qualifying play in the pool in the
  window) pays an equal part of the pool: pool / listeners, rounded to the
  cent by largest remainder (ties: user id ascending). Each listener's payment
  is split over the payees they played in proportion to their qualifying
  plays, exactly (rational arithmetic), and summed per payee.
* Rounding rule (both methods, largest remainder to the cent): each payee
  first gets their exact share rounded down to the cent; the cents left over
  go one each to the payees with the largest remainders (ties: (label_id,
  artist_id) ascending). The splits of each pool therefore sum exactly to the
  pool across all labels, under each method. A pool with no qualifying plays
  is not spread: it is reported as unallocated in the stage's result.
* ``difference`` = user_centric_amount − pro_rata_amount. Money is written as
  exact decimal strings with two places.

Listeners. ``listeners.csv/.parquet`` has one row per listener of the label's
tracks in the window: ``listener`` = the first 16 bytes (32 hex digits) of
HMAC-SHA256(export.pseudonym_secret, label_id + ":" + user_id), so two labels
cannot join their files on listeners, and no raw user id is in any bundle.
``country`` and ``age_band`` are given only where that label's listeners in
the same (country, age_band) group number at least k =
policy.min_group_size; otherwise both are null and ``attributes_suppressed``
is true. Listeners with a deletion request in force are left out of this file
(their plays stay in the counts).

Trust. Every bundle has ``manifest.json`` (period, window, generation time,
Setlist version, the Delta table versions read, every file with row count
and SHA-256); ``setlist export verify DIR`` re-checks it. Before anything is
written the stage checks that the sum over all bundles equals the platform
totals (plays, exposure, pro-rata and user-centric revenue per pool) and fails
(ReconciliationError, nothing written) if it does not. A re-run writes
byte-identical files; only ``generated_at`` in the manifests changes.

Summary. ``summary.html`` (self-contained: a bar chart of the label's top
artists by plays as an embedded PNG, and tables) is the page to read first;
``summary.md`` says the same in plain text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import io
import json
import math
from datetime import date, datetime, timezone
from decimal import Decimal
from fractions import Fraction
from pathlib import Path

import pandas as pd

CENT = Decimal("0.01")
SOURCES = ("algorithmic", "editorial", "organic")
POOL_KEYS = ["period", "country", "tier"]
PAYEE = ["label_id", "artist_id"]


class ReconciliationError(RuntimeError):
    pass


# --- money --------------------------------------------------------------------
def _round_exact(total: Decimal, exact: dict, quantum: Decimal = CENT) -> dict:
    """Largest remainder on exact (Fraction) shares that sum to ``total``."""
    q = Fraction(quantum)
    units = {k: math.floor(v / q) for k, v in exact.items()}
    left = int(round((Fraction(total) - sum(units.values()) * q) / q))
    order = sorted(exact, key=lambda k: (-(exact[k] - units[k] * q), k))
    for k in order[:left]:
        units[k] += 1
    return {k: (Decimal(u) * quantum).quantize(quantum) for k, u in units.items()}


def largest_remainder(total: Decimal, weights: dict, quantum: Decimal = CENT) -> dict:
    """Split ``total`` over ``weights`` (non-negative ints or Fractions) so the parts sum to ``total`` exactly."""
    total = Decimal(total)
    w_sum = sum(Fraction(w) for w in weights.values())
    if w_sum == 0:
        return {k: Decimal("0").quantize(quantum) for k in weights}
    t = Fraction(total)
    return _round_exact(total, {k: t * Fraction(w) / w_sum for k, w in weights.items()}, quantum)


def _payee_cols(df: pd.DataFrame) -> list[str]:
    return [c for c in PAYEE if c in df.columns]


def _pool_rows(df: pd.DataFrame, pool) -> pd.DataFrame:
    return df[(df["period"] == pool["period"]) & (df["country"] == pool["country"]) & (df["tier"] == pool["tier"])]


def _key(row, cols):
    return tuple(row[c] for c in cols) if len(cols) > 1 else row[cols[0]]


def pro_rata(plays: pd.DataFrame, pools: pd.DataFrame) -> pd.DataFrame:
    """plays: (period, country, tier, [label_id,] artist_id, plays); pools: (period, country, tier,
    currency, net_revenue as Decimal). One row per (pool, payee) with the amount."""
    payee = _payee_cols(plays)
    rows = []
    for _, pool in pools.sort_values(POOL_KEYS).iterrows():
        sel = _pool_rows(plays, pool).groupby(payee, dropna=False)["plays"].sum().reset_index()
        weights = {_key(r, payee): int(r["plays"]) for _, r in sel.iterrows()}
        split = largest_remainder(pool["net_revenue"], weights)
        pool_plays = sum(weights.values())
        for k, amount in sorted(split.items()):
            ids = dict(zip(payee, k if len(payee) > 1 else (k,)))
            rows.append({**{c: pool[c] for c in POOL_KEYS}, "currency": pool["currency"], **ids,
                         "qualifying_plays": weights[k], "pool_plays": pool_plays,
                         "pool_net_revenue": pool["net_revenue"], "pro_rata_amount": amount})
    cols = [*POOL_KEYS, "currency", *payee, "qualifying_plays", "pool_plays", "pool_net_revenue", "pro_rata_amount"]
    return pd.DataFrame(rows, columns=cols)


def user_centric(listener_plays: pd.DataFrame, pools: pd.DataFrame) -> pd.DataFrame:
    """listener_plays: (period, country, tier, user_id, [label_id,] artist_id, plays) of qualifying
    plays. One row per (pool, payee) with the user-centric amount (see the module docstring)."""
    payee = _payee_cols(listener_plays)
    rows = []
    for _, pool in pools.sort_values(POOL_KEYS).iterrows():
        sel = _pool_rows(listener_plays, pool)
        sel = sel[sel["plays"] > 0]
        per_user = sel.groupby("user_id")["plays"].sum()
        payments = largest_remainder(pool["net_revenue"], {u: 1 for u in per_user.index})
        exact: dict = {}
        for r in sel.itertuples(index=False):
            k = tuple(getattr(r, c) for c in payee) if len(payee) > 1 else getattr(r, payee[0])
            exact[k] = exact.get(k, Fraction(0)) + (Fraction(payments[r.user_id]) * int(r.plays)
                                                   / int(per_user[r.user_id]))
        split = _round_exact(pool["net_revenue"], exact) if exact else {}
        for k, amount in sorted(split.items()):
            ids = dict(zip(payee, k if len(payee) > 1 else (k,)))
            rows.append({**{c: pool[c] for c in POOL_KEYS}, "currency": pool["currency"], **ids,
                         "pool_listeners": int(len(per_user)), "user_centric_amount": amount})
    cols = [*POOL_KEYS, "currency", *payee, "pool_listeners", "user_centric_amount"]
    return pd.DataFrame(rows, columns=cols)


def revenue_split(listener_plays: pd.DataFrame, pools: pd.DataFrame) -> pd.DataFrame:
    """Pro-rata and user-centric side by side per (pool, payee), with the difference (uc − pr)."""
    payee = _payee_cols(listener_plays)
    agg = listener_plays.groupby([*POOL_KEYS, *payee], dropna=False)["plays"].sum().reset_index()
    pr = pro_rata(agg, pools)
    uc = user_centric(listener_plays, pools)
    keys = [*POOL_KEYS, "currency", *payee]
    out = pr.merge(uc, on=keys, how="outer")
    zero = Decimal("0.00")
    for c in ("pro_rata_amount", "user_centric_amount"):
        out[c] = out[c].map(lambda v: v if isinstance(v, Decimal) else zero)
    for c in ("qualifying_plays", "pool_plays", "pool_listeners"):
        out[c] = out[c].fillna(0).astype("int64")
    out["difference"] = [u - p for u, p in zip(out["user_centric_amount"], out["pro_rata_amount"])]
    cols = [*keys, "qualifying_plays", "pool_plays", "pool_listeners", "pool_net_revenue",
            "pro_rata_amount", "user_centric_amount", "difference"]
    return out[cols].sort_values(keys).reset_index(drop=True)


# --- listeners --------------------------------------------------------------------
def pseudonym(secret: str, label_id: str, user_id: str) -> str:
    """First 16 bytes (32 hex digits) of HMAC-SHA256(secret, label_id:user_id)."""
    return hmac.new(secret.encode(), f"{label_id}:{user_id}".encode(), hashlib.sha256).hexdigest()[:32]


def listeners_table(per_listener: pd.DataFrame, label_id: str, secret: str, k: int) -> pd.DataFrame:
    """per_listener: (user_id, country, age_band, plays, qualifying_plays) for one label."""
    cols = ["listener", "country", "age_band", "attributes_suppressed", "plays", "qualifying_plays"]
    if not secret:
        raise ValueError("export.pseudonym_secret is empty; set it in the profile "
                         "(cluster: $SETLIST_PSEUDONYM_SECRET) before exporting")
    if per_listener.empty:
        return pd.DataFrame(columns=cols)
    df = per_listener.copy()
    grp = df.groupby(["country", "age_band"], dropna=False)["user_id"].transform("nunique")
    df["attributes_suppressed"] = (grp < k) | df["country"].isna() | df["age_band"].isna()
    df.loc[df["attributes_suppressed"], ["country", "age_band"]] = None
    df["listener"] = [pseudonym(secret, label_id, u) for u in df["user_id"]]
    df["plays"] = df["plays"].astype("int64")
    df["qualifying_plays"] = df["qualifying_plays"].astype("int64")
    df["country"] = df["country"].astype(object)
    df["age_band"] = df["age_band"].astype(object)
    return df[cols].sort_values("listener").reset_index(drop=True)


# --- files ------------------------------------------------------------------------
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


# --- reading the lake -----------------------------------------------------------------
def _snapshot_map(lake, layer: str, table: str, days: list[str]) -> dict:
    """ds -> the snapshot ds to use (that day's, else the latest before it, else the earliest)."""
    parts = lake.partitions(layer, table)
    if not parts:
        return {}
    return {d: max((p for p in parts if p <= d), default=parts[0]) for d in days}


def _with_snapshot(spark, lake, df, table: str, key: str, cols: list[str], prefix: str):
    """Join ``df`` (with a ``ds`` column) to ``silver.<table>`` as of each row's ds."""
    from pyspark.sql import functions as F
    days = sorted(r[0] for r in df.select("ds").distinct().collect())
    mapping = _snapshot_map(lake, "silver", table, days)
    if not mapping:
        for c in cols:
            df = df.withColumn(c, F.lit(None).cast("string"))
        return df
    snaps = sorted(set(mapping.values()))
    snap_col = f"_{prefix}_snap"
    m = spark.createDataFrame(sorted(mapping.items()), f"ds string, {snap_col} string")
    s = (lake.read("silver", table, ds_range=(snaps[0], snaps[-1])).where(F.col("ds").isin(snaps))
         .select(key, *cols, F.col("ds").alias(snap_col)))
    return df.join(F.broadcast(m), "ds", "left").join(s, [key, snap_col], "left").drop(snap_col)


def gather(lake, config, play_days: list[str], revenue_days: list[str], period: str) -> dict:
    """Everything a set of bundles needs, as pandas frames, plus the independent platform totals."""
    from pyspark.sql import functions as F
    spark = lake.spark
    window = sorted(set(play_days) | set(revenue_days))
    ev = lake.read("silver", "listening_events", ds_range=(window[0], window[-1])).where(F.col("ds").isin(window))
    min_ms = getattr(config.export, "min_play_ms", None)
    qual = (F.col("ms_played") >= F.lit(int(min_ms))) if min_ms is not None else F.col("counts")
    ev = (ev.select("ds", "user_id", "track_id", "source", qual.alias("q"))
          .groupBy("ds", "user_id", "track_id", "source", "q").count())
    ev = _with_snapshot(spark, lake, ev, "tracks", "track_id", ["artist_id", "label_id"], "t")
    ev = _with_snapshot(spark, lake, ev, "users", "user_id", ["country", "tier"], "u")
    ev = ev.cache()
    in_plays = F.col("ds").isin(play_days)
    plays = (ev.where(in_plays).groupBy("label_id", "artist_id", "track_id", "source")
             .agg(F.sum("count").alias("n"), F.sum(F.when(F.col("q"), F.col("count")).otherwise(0)).alias("nq"))
             .toPandas())
    listeners = (ev.where(in_plays).groupBy("label_id", "user_id")
                 .agg(F.sum("count").alias("plays"),
                      F.sum(F.when(F.col("q"), F.col("count")).otherwise(0)).alias("qualifying_plays")).toPandas())
    listener_plays = (ev.where(F.col("ds").isin(revenue_days) & F.col("q"))
                      .groupBy("country", "tier", "user_id", "label_id", "artist_id")
                      .agg(F.sum("count").alias("plays")).toPandas())
    listener_plays.insert(0, "period", period)
    ev.unpersist()
    platform_plays = int(lake.read("silver", "listening_events", ds_range=(min(play_days), max(play_days)))
                         .where(F.col("ds").isin(play_days)).count())

    expo_rows = pd.DataFrame(columns=["label_id", "artist_id", "track_id", "position", "n"])
    platform_exposure = 0.0
    if lake.exists("gold", "playlists"):
        playlists = (lake.read("gold", "playlists", ds_range=(min(play_days), max(play_days)))
                     .where(F.col("ds").isin(play_days)))
        pl = playlists.groupBy("ds", "track_id", "position").count()
        pl = _with_snapshot(spark, lake, pl, "tracks", "track_id", ["artist_id", "label_id"], "t")
        expo_rows = (pl.groupBy("label_id", "artist_id", "track_id", "position")
                     .agg(F.sum("count").alias("n")).toPandas())
        from setlist.governance.metrics import position_weight
        platform_exposure = float(playlists.select(F.sum(position_weight(F.col("position")))).first()[0] or 0.0)

    last = window[-1]
    # Listeners' attributes: the users snapshot of the window's last day; deleted listeners left out.
    u_snap = _snapshot_map(lake, "silver", "users", [last])
    users = (lake.read_pandas("silver", "users", ds=u_snap[last],
                              columns=["user_id", "country", "age_band", "is_deleted"]) if u_snap else
             pd.DataFrame(columns=["user_id", "country", "age_band", "is_deleted"]))
    listeners = listeners.merge(users, on="user_id", how="left")
    listeners = listeners[~listeners["is_deleted"].fillna(False).astype(bool)].drop(columns=["is_deleted"])
    pools = pd.DataFrame(columns=[*POOL_KEYS, "currency", "net_revenue"])
    snap = _snapshot_map(lake, "silver", "royalty_pool", [last]) if lake.exists("silver", "royalty_pool") else {}
    if snap:
        pools = lake.read_pandas("silver", "royalty_pool", ds=snap[last])
        pools = pools[pools["period"] == period][[*POOL_KEYS, "currency", "net_revenue"]].copy()
        pools["net_revenue"] = pools["net_revenue"].map(lambda v: Decimal(str(v)).quantize(CENT))
    label_days = _snapshot_map(lake, "silver", "labels", window)
    labels = pd.concat([lake.read_pandas("silver", "labels", ds=d, columns=["label_id", "name", "ds"])
                        for d in sorted(set(label_days.values()))]) if label_days else \
        pd.DataFrame(columns=["label_id", "name", "ds"])
    names = labels.sort_values("ds").drop_duplicates("label_id", keep="last").set_index("label_id")["name"].to_dict()
    artist_names = {}
    a_snap = _snapshot_map(lake, "silver", "artists", [last])
    if a_snap:
        a = lake.read_pandas("silver", "artists", ds=a_snap[last], columns=["artist_id", "name"])
        artist_names = dict(zip(a["artist_id"], a["name"]))
    reads = [("silver", "listening_events"), ("silver", "tracks"), ("silver", "labels"), ("silver", "users"),
             ("silver", "artists"), ("silver", "royalty_pool"), ("gold", "playlists")]
    return {"plays": plays, "listeners": listeners, "listener_plays": listener_plays, "exposure_rows": expo_rows,
            "pools": pools, "label_names": names, "artist_names": artist_names,
            "platform": {"plays": platform_plays, "exposure": platform_exposure},
            "versions": {f"{layer}.{t}": lake.version(layer, t) for layer, t in reads}}


# --- building bundles ----------------------------------------------------------------
def plays_table(raw: pd.DataFrame, all_plays: int) -> pd.DataFrame:
    """raw: (label_id, artist_id, track_id, source, n, nq) -> one row per (label, artist, track)."""
    cols = ["label_id", "artist_id", "track_id", *[f"plays_{s}" for s in SOURCES], "plays_total",
            "qualifying_plays", "share_of_all_plays"]
    if raw.empty:
        return pd.DataFrame(columns=cols)
    wide = raw.groupby(["label_id", "artist_id", "track_id", "source"])["n"].sum().unstack("source", fill_value=0)
    wide = wide.reindex(columns=list(SOURCES), fill_value=0).astype("int64")
    wide.columns = [f"plays_{s}" for s in SOURCES]
    wide = wide.reset_index()
    nq = raw.groupby(["label_id", "artist_id", "track_id"])["nq"].sum().astype("int64")
    wide = wide.merge(nq.rename("qualifying_plays").reset_index(), on=["label_id", "artist_id", "track_id"],
                      how="left")
    wide["plays_total"] = wide[[f"plays_{s}" for s in SOURCES]].sum(axis=1).astype("int64")
    wide = wide[wide["plays_total"] > 0]
    wide["share_of_all_plays"] = wide["plays_total"] / all_plays if all_plays else 0.0
    return wide[cols].sort_values(["label_id", "artist_id", "track_id"]).reset_index(drop=True)


def exposure_table(rows: pd.DataFrame, all_exposure: float) -> pd.DataFrame:
    cols = ["label_id", "artist_id", "track_id", "exposure", "impressions", "share_of_all_exposure"]
    if rows.empty:
        return pd.DataFrame(columns=cols)
    r = rows.sort_values(["label_id", "artist_id", "track_id", "position"]).copy()
    r["exposure"] = [int(n) / math.log2(1 + int(p)) for n, p in zip(r["n"], r["position"])]
    out = (r.groupby(["label_id", "artist_id", "track_id"], sort=True)
           .agg(exposure=("exposure", lambda s: math.fsum(s)), impressions=("n", "sum")).reset_index())
    out["impressions"] = out["impressions"].astype("int64")
    out["share_of_all_exposure"] = out["exposure"] / all_exposure if all_exposure else 0.0
    return out[cols]


def build(data: dict, config) -> dict:
    """Per-label frames from ``gather`` output, reconciled against the platform totals."""
    platform = data["platform"]
    plays = plays_table(data["plays"], platform["plays"])
    expo = exposure_table(data["exposure_rows"], platform["exposure"])
    revenue = revenue_split(data["listener_plays"], data["pools"])
    secret, k = config.export.pseudonym_secret, config.policy.min_group_size
    present = (set(plays["label_id"]) | set(expo["label_id"]) | set(revenue["label_id"])) - {None}
    labels = sorted(set(data["label_names"]) | {x for x in present if isinstance(x, str)})
    bundles = {}
    for label_id in labels:
        sel = data["listeners"][data["listeners"]["label_id"] == label_id]
        bundles[label_id] = {
            "plays": plays[plays["label_id"] == label_id].drop(columns=["label_id"]).reset_index(drop=True),
            "exposure": expo[expo["label_id"] == label_id].drop(columns=["label_id"]).reset_index(drop=True),
            "revenue": revenue[revenue["label_id"] == label_id].drop(columns=["label_id"]).reset_index(drop=True),
            "listeners": listeners_table(sel.drop(columns=["label_id"]), label_id, secret, k),
        }
    reconcile(bundle_totals(bundles), platform["plays"], platform["exposure"], revenue, data["pools"])
    return {"bundles": bundles, "revenue": revenue}


def bundle_totals(bundles: dict) -> dict:
    totals = {"plays": 0, "exposure": 0.0, "revenue": {}, "revenue_uc": {}}
    for b in bundles.values():
        totals["plays"] += int(b["plays"]["plays_total"].sum())
        totals["exposure"] += float(math.fsum(b["exposure"]["exposure"]))
        for col, key in (("pro_rata_amount", "revenue"), ("user_centric_amount", "revenue_uc")):
            for r in b["revenue"].itertuples(index=False):
                pk = (r.period, r.country, r.tier)
                totals[key][pk] = totals[key].get(pk, Decimal(0)) + getattr(r, col)
    return totals


def reconcile(totals: dict, all_plays: int, all_exposure: float, revenue: pd.DataFrame, pools: pd.DataFrame):
    """Raise unless the bundles add up to the platform: plays, exposure and, per pool that has
    qualifying plays, the pro-rata (``totals['revenue']``) and user-centric (``totals['revenue_uc']``) splits."""
    problems = []
    if totals["plays"] != all_plays:
        problems.append(f"plays: bundles {totals['plays']} vs platform {all_plays}")
    if abs(totals["exposure"] - all_exposure) > 1e-6 * max(1.0, all_exposure):
        problems.append(f"exposure: bundles {totals['exposure']:.6f} vs platform {all_exposure:.6f}")
    for _, pool in pools.iterrows():
        key = (pool["period"], pool["country"], pool["tier"])
        has_plays = ((revenue["period"] == key[0]) & (revenue["country"] == key[1]) & (revenue["tier"] == key[2])
                     & (revenue["qualifying_plays"] > 0)).any()
        if not has_plays:
            continue
        for name, method in (("revenue", "pro-rata"), ("revenue_uc", "user-centric")):
            if name not in totals:
                continue
            allocated = totals[name].get(key, Decimal(0))
            if allocated != pool["net_revenue"]:
                problems.append(f"{method} revenue pool {key}: bundles {allocated} vs pool {pool['net_revenue']}")
    if problems:
        raise ReconciliationError("export does not reconcile with platform totals: " + "; ".join(problems)
                                  + ". No bundle should be sent; check artist→label mapping and the plays input.")


def write_bundles(built: dict, data: dict, out_root: Path, meta: dict) -> dict:
    from setlist import __version__
    out_root.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(timezone.utc).isoformat(timespec="seconds")  # manifest metadata only
    names = data["label_names"]
    for label_id, b in built["bundles"].items():
        d = out_root / label_id
        d.mkdir(parents=True, exist_ok=True)
        for f in d.iterdir():
            if f.is_file():
                f.unlink()
        files = []
        for name in ("plays", "exposure", "revenue", "listeners"):
            files += write_table(b[name], d, name)
        name = names.get(label_id) or label_id
        md, page = label_summary(name, label_id, meta, b, data["artist_names"])
        for fname, text in (("summary.md", md), ("summary.html", page)):
            (d / fname).write_text(text, encoding="utf-8")
            files.append({"file": fname, "rows": None, "sha256": sha256(d / fname)})
        manifest = {"label_id": label_id, "label_name": name, **meta, "generated_at": generated,
                    "setlist_version": __version__, "delta_table_versions": data["versions"],
                    "files": sorted(files, key=lambda f: f["file"])}
        (d / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True))
    return {"bundles": len(built["bundles"]), "export_dir": str(out_root)}


def _stats(built: dict, data: dict) -> dict:
    rev = built["revenue"]
    pools = data["pools"]
    allocated = {(r.period, r.country, r.tier) for r in rev[rev["qualifying_plays"] > 0].itertuples()}
    unallocated = {f"{r.period}/{r.country}/{r.tier}": f"{r.net_revenue:.2f} {r.currency}"
                   for r in pools.itertuples() if (r.period, r.country, r.tier) not in allocated}
    return {"rows_in": data["platform"]["plays"],
            "rows_out": int(sum(len(t) for b in built["bundles"].values() for t in b.values())),
            "rows_quarantined": 0, "unallocated_pools": unallocated, "top10_share": top_share(rev)}


def top_share(revenue: pd.DataFrame, n: int = 10) -> dict:
    """Per currency: the share of the top-n artists (by pro-rata amount) under each method."""
    out = {}
    for cur, g in revenue.groupby("currency"):
        per = g.groupby("artist_id")[["pro_rata_amount", "user_centric_amount"]].sum()
        tot_pr, tot_uc = per["pro_rata_amount"].sum(), per["user_centric_amount"].sum()
        top = per.sort_values("pro_rata_amount", ascending=False).head(n)
        if tot_pr and tot_uc:
            out[cur] = {"pro_rata": round(float(top["pro_rata_amount"].sum() / tot_pr), 4),
                        "user_centric": round(float(top["user_centric_amount"].sum() / tot_uc), 4)}
    return out


def run(ctx) -> dict:
    """Daily bundles for ctx.ds (revenue month to date)."""
    ds = ctx.ds
    period = ds[:7]
    revenue_days = [d for d in ctx.lake.partitions("silver", "listening_events") if f"{period}-01" <= d <= ds]
    data = gather(ctx.lake, ctx.config, [ds], revenue_days or [ds], period)
    built = build(data, ctx.config)
    meta = {"kind": "daily", "ds": ds, "period": period, "plays_window": [ds, ds],
            "revenue_window": [f"{period}-01", ds]}
    out = write_bundles(built, data, ctx.config.exports_dir(ds), meta)
    ctx.log(f"exports/{ds}: {out['bundles']} label bundles, {data['platform']['plays']:,} plays, reconciled")
    return {**_stats(built, data), **out}


def run_period(period: str, config) -> dict:
    """Monthly bundles for ``period`` (YYYY-MM) from every ds of the month in silver.listening_events."""
    from setlist.spark import get_spark
    from setlist.storage import Lake
    try:
        date.fromisoformat(f"{period}-01")
        if len(period) != 7:
            raise ValueError
    except ValueError:
        raise ValueError(f"--period must be a month like 2026-11, got {period!r}") from None
    lake = Lake.from_config(config, get_spark(config))
    days = [d for d in lake.partitions("silver", "listening_events") if d.startswith(period + "-")]
    if not days:
        raise ValueError(f"no silver.listening_events partition in {period}; run clean for its days first")
    data = gather(lake, config, days, days, period)
    built = build(data, config)
    meta = {"kind": "monthly", "period": period, "days": days, "plays_window": [days[0], days[-1]],
            "revenue_window": [days[0], days[-1]]}
    out = write_bundles(built, data, config.home / "exports" / period, meta)
    return {**_stats(built, data), **out}


# --- summary ------------------------------------------------------------------------
def _chart_png(top: pd.Series, title: str) -> str:
    """Base64 PNG of a horizontal bar chart; byte-identical for identical input."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with matplotlib.rc_context({"svg.hashsalt": "setlist", "font.family": "DejaVu Sans"}):
        fig, ax = plt.subplots(figsize=(6, 0.35 * max(len(top), 1) + 1.2), dpi=96)
        labels = list(top.index)[::-1]
        ax.barh(range(len(labels)), list(top.values)[::-1], color="#3b6ea5")
        ax.set_yticks(range(len(labels)), labels)
        ax.set_xlabel("plays")
        ax.set_title(title)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _money_by_currency(revenue: pd.DataFrame) -> list[tuple]:
    rows = []
    for cur, g in revenue.groupby("currency"):
        pr, uc = sum(g["pro_rata_amount"], Decimal(0)), sum(g["user_centric_amount"], Decimal(0))
        rows.append((cur, pr, uc, uc - pr))
    return rows


def label_summary(name, label_id, meta, b, artist_names=None) -> tuple[str, str]:
    """(summary.md, summary.html) for one bundle."""
    artist_names = artist_names or {}
    plays, expo, revenue, listeners = b["plays"], b["exposure"], b["revenue"], b["listeners"]
    window = meta["plays_window"]
    when = f"On {window[0]}" if window[0] == window[1] else f"From {window[0]} to {window[1]}"
    rev_when = f"{meta['revenue_window'][0]} to {meta['revenue_window'][1]}"
    total = int(plays["plays_total"].sum())
    by_src = {s: int(plays[f"plays_{s}"].sum()) for s in SOURCES}
    share_plays = 100 * float(plays["share_of_all_plays"].sum()) if len(plays) else 0.0
    share_expo = 100 * float(expo["share_of_all_exposure"].sum()) if len(expo) else 0.0
    top = (plays.groupby("artist_id")["plays_total"].sum().sort_index()
           .sort_values(ascending=False, kind="mergesort").head(10)) if len(plays) else pd.Series(dtype="int64")
    money = _money_by_currency(revenue)
    shown = lambda a: f"{artist_names.get(a, a)} ({a})" if a in artist_names else a  # noqa: E731
    sentences = [
        f"{when}, listeners played your artists' tracks {total:,} times "
        f"({share_plays:.2f}% of all plays on Setlist): {by_src['algorithmic']:,} from algorithmic playlists, "
        f"{by_src['editorial']:,} from editorial playlists and {by_src['organic']:,} chosen by listeners themselves.",
        f"Setlist playlists showed your tracks with a position-weighted exposure of {expo['exposure'].sum():.2f} "
        f"({int(expo['impressions'].sum()):,} placements, {share_expo:.2f}% of all exposure).",
        f"{len(listeners):,} listeners played your tracks; they appear under pseudonyms that only this bundle uses.",
    ]
    md = [f"# {name} ({label_id}) — Setlist export, {meta['period']}", "", *[f"- {s}" for s in sentences], "",
          f"## Revenue, {rev_when}", "",
          "| currency | pro-rata | user-centric | difference |", "| --- | --- | --- | --- |",
          *[f"| {c} | {p:.2f} | {u:.2f} | {d:+.2f} |" for c, p, u, d in money], "",
          "## Artists by plays", "", "| artist | plays |", "| --- | --- |",
          *[f"| {shown(a)} | {int(n):,} |" for a, n in top.items()], "",
          "Pro-rata: each pool (country, tier) is shared by plays. User-centric: each listener's equal part of "
          "the pool is shared over the artists that listener played. Both are rounded to the cent by largest "
          "remainder, so every pool adds up exactly across all labels.",
          "Files: plays, exposure, revenue and listeners as CSV and Parquet; manifest.json lists each with its "
          "SHA-256 (check with `setlist export verify DIR`).", ""]
    png = _chart_png(top.rename(index=lambda a: str(artist_names.get(a, a))), "Top artists by plays") \
        if len(top) else None
    e = html.escape
    rows = "".join(f"<tr><td>{e(c)}</td><td>{p:.2f}</td><td>{u:.2f}</td><td>{d:+.2f}</td></tr>"
                   for c, p, u, d in money) or "<tr><td colspan=4>no revenue in this window</td></tr>"
    arows = "".join(f"<tr><td>{e(shown(a))}</td><td>{int(n):,}</td></tr>" for a, n in top.items())
    page = ("<!doctype html><html><head><meta charset='utf-8'>"
            f"<title>{e(name)} — Setlist export {e(meta['period'])}</title>"
            "<style>body{font-family:sans-serif;max-width:760px;margin:2em auto;color:#222}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}"
            "td:first-child,th:first-child{text-align:left}</style></head><body>"
            f"<h1>{e(name)} ({e(label_id)})</h1><p>Setlist export for {e(meta['period'])}.</p>"
            + "".join(f"<p>{e(s)}</p>" for s in sentences)
            + (f"<img alt='top artists by plays' src='data:image/png;base64,{png}'>" if png else
               "<p>No plays of your artists in this window.</p>")
            + f"<h2>Revenue, {e(rev_when)}</h2><table><tr><th>currency</th><th>pro-rata</th><th>user-centric</th>"
            f"<th>difference</th></tr>{rows}</table>"
            "<p>Pro-rata: each pool (country, tier) is shared by plays. User-centric: each listener's equal part "
            "of the pool is shared over the artists that listener played. Both are rounded to the cent by "
            "largest remainder, so every pool adds up exactly across all labels.</p>"
            f"<h2>Artists by plays</h2><table><tr><th>artist</th><th>plays</th></tr>{arows}</table>"
            "<p>Files: plays, exposure, revenue and listeners as CSV and Parquet; manifest.json lists each with "
            "its SHA-256 (check with <code>setlist export verify DIR</code>).</p></body></html>\n")
    return "\n".join(md), page
