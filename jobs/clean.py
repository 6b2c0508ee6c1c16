"""Clean: bronze → silver (typed, deduplicated, sessionised) + quarantine.

Every bronze row of the ds ends either in its silver table or in
``quarantine/<table>`` with the first reason (in the order of
``setlist.schema.QUARANTINE_REASONS``) that it fails. Rows of listeners whose
deletion request is in force are erased rather than kept anywhere, and counted
as such: rows_in = rows_clean + rows_quarantined + rows_erased.

Great Expectations suites guard each silver table before it is written.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from setlist import schema
from setlist.contracts import conform

REPLACEMENT_CHAR = "\ufffd"
TS_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSSX"


@dataclass(frozen=True)
class Spec:
    """How to type and check one raw table."""
    keys: tuple = ()
    types: dict = field(default_factory=dict)          # col -> timestamp|date|long|int|double|bool|decimal
    enums: dict = field(default_factory=dict)          # col -> allowed values
    ranges: dict = field(default_factory=dict)         # col -> (lo, hi) inclusive, None = open
    fks: dict = field(default_factory=dict)            # col -> "users" | "tracks"
    window_col: str | None = None                      # timestamp that must fall in the ds window
    dedup: tuple = ()


SPECS = {
    "listening_events": Spec(
        keys=("event_id", "user_id", "track_id", "ts"),
        types={"ts": "timestamp", "ms_played": "long", "skipped": "bool", "shuffle": "bool"},
        enums={"context_type": schema.CONTEXT_TYPES},
        fks={"user_id": "users", "track_id": "tracks"},
        window_col="ts", dedup=("event_id",)),
    "feedback": Spec(
        keys=("user_id", "track_id", "ts", "action"), types={"ts": "timestamp"},
        enums={"action": schema.FEEDBACK_ACTIONS}, fks={"user_id": "users", "track_id": "tracks"},
        window_col="ts", dedup=("user_id", "track_id", "ts", "action")),
    "tracks": Spec(
        keys=("track_id", "artist_id"),
        types={"release_date": "date", "duration_ms": "long", "tempo": "double", "energy": "double",
               "valence": "double", "danceability": "double", "acousticness": "double",
               "key": "int", "mode": "int", "loudness": "double"},
        ranges={"duration_ms": (1, None), "tempo": (0, 400), "energy": (0, 1), "valence": (0, 1),
                "danceability": (0, 1), "acousticness": (0, 1), "key": (0, 11), "mode": (0, 1)},
        dedup=("track_id",)),
    "artists": Spec(keys=("artist_id",), types={"debut_year": "int", "attributes_consent": "bool"},
                    dedup=("artist_id",)),
    "labels": Spec(keys=("label_id", "kind"), enums={"kind": schema.LABEL_KINDS}, dedup=("label_id",)),
    "users": Spec(
        keys=("user_id", "personalisation_consent", "audit_consent"),
        types={"signup_date": "date", "personalisation_consent": "bool", "audit_consent": "bool",
               "deletion_requested_at": "timestamp"},
        enums={"tier": schema.TIERS}, dedup=("user_id",)),
    "editorial_placements": Spec(
        keys=("playlist_id", "track_id", "position", "start_ds", "end_ds"),
        types={"position": "int", "start_ds": "date", "end_ds": "date"}, ranges={"position": (1, None)},
        fks={"track_id": "tracks"}, dedup=("playlist_id", "position", "start_ds")),
    "royalty_pool": Spec(
        keys=("period", "country", "tier", "currency", "net_revenue"),
        types={"net_revenue": "decimal"}, ranges={"net_revenue": (0, None)},
        enums={"tier": schema.TIERS}, dedup=("period", "country", "tier")),
    "user_controls": Spec(keys=("user_id",), types={"novelty": "double"}, ranges={"novelty": (0, 1)},
                          fks={"user_id": "users"}, dedup=("user_id",)),
    "governance_overrides": Spec(
        keys=("target_type", "target_id", "action", "reason", "start_ds", "end_ds"),
        types={"start_ds": "date", "end_ds": "date"},
        enums={"target_type": ("artist", "track"), "action": schema.OVERRIDE_ACTIONS},
        dedup=("target_type", "target_id", "action", "start_ds")),
}
# Order matters: foreign keys need the users and tracks of the same ds.
ORDER = ("users", "labels", "artists", "tracks", "editorial_placements", "royalty_pool",
         "user_controls", "governance_overrides", "listening_events", "feedback")


def any_of(conds):
    """OR of a list of boolean columns (False for an empty list)."""
    from pyspark.sql import functions as F
    out = F.lit(False)
    for c in conds:
        out = out | F.coalesce(c, F.lit(False))
    return out


def _parse(col, typ):
    from pyspark.sql import functions as F
    c = F.trim(F.col(col))
    if typ == "timestamp":
        return F.coalesce(F.try_to_timestamp(c, F.lit(TS_FORMAT)),
                          F.try_to_timestamp(c, F.lit("yyyy-MM-dd'T'HH:mm:ssX")))
    if typ == "date":
        return F.try_to_date(c, "yyyy-MM-dd")
    if typ == "bool":
        lc = F.lower(c)
        return F.when(lc == "true", F.lit(True)).when(lc == "false", F.lit(False))
    if typ == "decimal":
        return c.try_cast("decimal(18,2)")
    return c.try_cast({"long": "bigint", "int": "int", "double": "double"}[typ])


def transform(bronze, spec: Spec, ds: str, known: dict, previous_keys=None,
              late_days: int = 3, duration_slack_ms: int = 5000, track_durations=None):
    """Type and check one bronze table. Returns (clean_df, quarantine_df).

    ``known`` maps "users"/"tracks" to single-column DataFrames of valid ids;
    ``previous_keys`` holds dedup keys already in silver for earlier dates.
    Pure: no reads, no writes.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import Window

    raw_cols = [c for c in bronze.columns if not c.startswith("_") and c != "ds"]
    df = bronze
    for col, typ in spec.types.items():
        df = df.withColumn(f"__{col}", _parse(col, typ))

    def typed(c):
        return F.col(f"__{c}") if c in spec.types else F.col(c)

    def blank(c):
        return F.col(c).isNull() | (F.trim(F.col(c).cast("string")) == "")

    string_cols = [c for c in raw_cols if c not in schema.LIST_COLUMNS]
    checks = [("malformed", F.col("_corrupt_record").isNotNull())]
    checks.append(("bad_encoding", any_of([F.instr(F.col(c), REPLACEMENT_CHAR) > 0 for c in string_cols])))
    checks.append(("null_key", any_of([blank(c) for c in spec.keys])))
    bad_ts = [(~blank(c)) & F.col(f"__{c}").isNull() for c, t in spec.types.items() if t in ("timestamp", "date")]
    checks.append(("bad_timestamp", any_of(bad_ts)))
    bad_val = [(~blank(c)) & F.col(f"__{c}").isNull() for c, t in spec.types.items() if t not in ("timestamp", "date")]
    for c, (lo, hi) in spec.ranges.items():
        v = typed(c)
        if lo is not None:
            bad_val.append(F.coalesce(v < lo, F.lit(False)))
        if hi is not None:
            bad_val.append(F.coalesce(v > hi, F.lit(False)))
    checks.append(("bad_value", any_of(bad_val)))
    bad_enum = [(~blank(c)) & ~F.col(c).isin(list(vals)) for c, vals in spec.enums.items()]
    checks.append(("bad_enum", any_of(bad_enum)))
    if "ms_played" in spec.types:
        checks.append(("negative_duration", F.coalesce(F.col("__ms_played") < 0, F.lit(False))))
    if spec.window_col:
        start = F.to_timestamp(F.lit(ds)) - F.expr(f"INTERVAL {late_days} DAYS")
        end = F.to_timestamp(F.lit(ds)) + F.expr("INTERVAL 1 DAYS")
        ts = F.col(f"__{spec.window_col}")
        checks.append(("future_timestamp", F.coalesce(ts >= end, F.lit(False))))
        checks.append(("too_late", F.coalesce(ts < start, F.lit(False))))
    for col, ref in spec.fks.items():
        ids = known[ref].select(F.col(known[ref].columns[0]).alias(f"__known_{col}")).distinct()
        df = df.join(F.broadcast(ids), F.col(col) == F.col(f"__known_{col}"), "left")
        checks.append((f"unknown_{ref[:-1]}", F.col(f"__known_{col}").isNull() & ~blank(col)))
    if "ms_played" in spec.types and track_durations is not None:
        dur = track_durations.select(F.col("track_id").alias("__dur_track"),
                                     F.col("duration_ms").alias("__duration_ms"))
        df = df.join(F.broadcast(dur), F.col("track_id") == F.col("__dur_track"), "left")
        checks.append(("impossible_duration", F.coalesce(
            F.col("__ms_played") > F.col("__duration_ms") + duration_slack_ms, F.lit(False))))

    reason = F.lit(None).cast("string")
    for name, cond in reversed(checks):
        reason = F.when(cond, F.lit(name)).otherwise(reason)
    df = df.withColumn("quarantine_reason", reason)

    if spec.dedup:
        # Among rows that pass every other check, the first per key wins (order
        # by raw hash so the winner is stable); later copies are duplicates.
        w = Window.partitionBy(*[typed(c) for c in spec.dedup]).orderBy(F.col("_row_hash"))
        rn = F.when(F.col("quarantine_reason").isNull(), F.row_number().over(w))
        df = df.withColumn("__rn", rn)
        dup = F.col("__rn") > 1
        if previous_keys is not None:
            prev = previous_keys.select(*[F.col(c).alias(f"__prev_{c}") for c in spec.dedup]).distinct()
            cond = None
            for c in spec.dedup:
                e = typed(c) == F.col(f"__prev_{c}")
                cond = e if cond is None else cond & e
            df = df.join(prev, cond, "left")
            dup = dup | F.col(f"__prev_{spec.dedup[0]}").isNotNull()
        df = df.withColumn("quarantine_reason", F.when(F.col("quarantine_reason").isNull() & dup, F.lit("duplicate"))
                           .otherwise(F.col("quarantine_reason")))

    df = df.cache()  # both outputs filter the same checked rows
    quarantine = df.where(F.col("quarantine_reason").isNotNull()).select(
        *raw_cols, "_corrupt_record", "_source_file", "_row_hash", "quarantine_reason")
    clean = df.where(F.col("quarantine_reason").isNull())
    clean = clean.select(*[typed(c).alias(c) for c in raw_cols])
    return clean, quarantine


def sessionise(events, gap_minutes: int = 30, min_play_ms: int = 30000):
    """Add ``session_id`` (a new session after a gap > gap_minutes), ``source``,
    ``counts`` and ``completed``."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window

    w = Window.partitionBy("user_id").orderBy("ts", "event_id")
    prev = F.lag("ts").over(w)
    new = F.when(prev.isNull() | ((F.unix_timestamp("ts") - F.unix_timestamp(prev)) > gap_minutes * 60), 1).otherwise(0)
    df = events.withColumn("__new", new)
    df = df.withColumn("__sess", F.sum("__new").over(w.rowsBetween(Window.unboundedPreceding, 0)))
    ws = Window.partitionBy("user_id", "__sess")
    df = df.withColumn("session_id", F.sha2(F.concat_ws("|", "user_id", F.min("ts").over(ws).cast("string")), 256))
    mapping = F.create_map(*[x for k, v in schema.CONTEXT_SOURCE.items() for x in (F.lit(k), F.lit(v))])
    return (df.drop("__new", "__sess")
              .withColumn("source", mapping[F.col("context_type")])
              .withColumn("counts", F.col("ms_played") >= min_play_ms)
              .withColumn("completed", (F.col("ms_played") >= min_play_ms) & ~F.coalesce(F.col("skipped"), F.lit(False))))


def finish_users(users, ds: str):
    """Blank the attributes of listeners whose deletion request is in force."""
    from pyspark.sql import functions as F
    end = F.to_timestamp(F.lit(ds)) + F.expr("INTERVAL 1 DAYS")
    deleted = F.coalesce(F.col("deletion_requested_at") < end, F.lit(False))
    out = users.withColumn("is_deleted", deleted)
    for c in ("signup_date", "country", "tier", "age_band"):
        out = out.withColumn(c, F.when(deleted, F.lit(None)).otherwise(F.col(c)))
    for c in ("personalisation_consent", "audit_consent"):
        out = out.withColumn(c, F.when(deleted, F.lit(False)).otherwise(F.col(c)))
    return out


def finish_artists(artists):
    """Self-declared attributes survive only with the artist's consent."""
    from pyspark.sql import functions as F
    return artists.withColumn(
        "self_declared_gender",
        F.when(F.coalesce(F.col("attributes_consent"), F.lit(False)), F.col("self_declared_gender")))


def run(ctx) -> dict:
    from pyspark.sql import functions as F
    from setlist.governance import checks as gx_checks
    from setlist.jobs import privacy

    cfg = ctx.config.pipeline
    lake, ds = ctx.lake, ctx.ds
    silver, stats = {}, {}
    deleted_ids = None
    for table in ORDER:
        spec = SPECS[table]
        bronze = lake.read("bronze", table, ds=ds).cache()
        rows_in = bronze.count()
        erased = 0
        if deleted_ids is not None and "user_id" in bronze.columns and table != "users":
            # Erase, not quarantine: keeping the rows anywhere would defeat the request.
            gone = bronze.join(deleted_ids, "user_id", "left_semi")
            erased = gone.count()
            bronze = bronze.join(deleted_ids, "user_id", "left_anti")
        previous = None
        if table == "listening_events":
            lo, hi = ctx.shift(-(cfg.late_days + 1)), ctx.shift(-1)
            if lake.exists("silver", table):
                previous = lake.read("silver", table, ds_range=(lo, hi)).select("event_id")
        clean, quarantine = transform(
            bronze, spec, ds, known={k: silver[k].select(f"{k[:-1]}_id") for k in ("users", "tracks") if k in silver},
            previous_keys=previous, late_days=cfg.late_days, duration_slack_ms=cfg.duration_slack_ms,
            track_durations=silver.get("tracks"))
        if table == "users":
            clean = finish_users(clean, ds)
            deleted_ids = clean.where("is_deleted").select("user_id").cache()
            known_users = clean.where(~F.col("is_deleted"))
        elif table == "artists":
            clean = finish_artists(clean)
        elif table == "listening_events":
            clean = sessionise(clean, cfg.session_gap_minutes, cfg.min_play_ms)
        clean = conform(clean.withColumn("ds", F.lit(ds)), "silver", table).drop("ds").cache()
        gx_checks.validate_silver(clean, table, rows=clean.count())
        n_clean = lake.write(clean, "silver", table, ds=ds)
        n_q = lake.write(quarantine, "quarantine", table, ds=ds)
        if table == "users":
            silver["users"] = known_users
        else:
            silver[table] = clean
        if n_clean + n_q + erased != rows_in:
            raise RuntimeError(f"clean/{table}: {rows_in} rows in but {n_clean} clean + {n_q} quarantined "
                               f"+ {erased} erased; a row was lost, stopping")
        reasons = {}
        if n_q:
            q = lake.read_arrow("quarantine", table, ds=ds, columns=["quarantine_reason"]).column(0).to_pylist()
            reasons = {r: q.count(r) for r in set(q)}
        stats[table] = {"rows_in": rows_in, "rows_clean": n_clean, "rows_quarantined": n_q,
                        "rows_erased": erased, "quarantine_reasons": dict(sorted(reasons.items()))}
        ctx.log(f"silver/{table}: {n_clean:,} clean, {n_q:,} quarantined"
                + (f" {stats[table]['quarantine_reasons']}" if n_q else "")
                + (f", {erased:,} erased (deletion requests)" if erased else ""))
        bronze.unpersist()
    erased_rows = privacy.erase_deleted_users(lake, deleted_ids, ds, log=ctx.log, config=ctx.config)
    return {"rows_in": sum(s["rows_in"] for s in stats.values()),
            "rows_out": sum(s["rows_clean"] for s in stats.values()),
            "rows_quarantined": sum(s["rows_quarantined"] for s in stats.values()),
            "rows_erased": sum(s["rows_erased"] for s in stats.values()),
            "deletion_erasures": erased_rows, "tables": stats}
