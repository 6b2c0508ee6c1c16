"""Benchmark of the feature stage: Spark against DuckDB, and online reads.

Run by hand, never by the tests::

    setlist bench features --tier s --days 7 --home /tmp/bench-s
    setlist bench features --tier xs --days 4 --home /tmp/bench-xs   # a quick smoke run

What it does, for the last logical date ``ds`` of the generated data:

1. Generates the tier into ``--home`` (reused when ``raw/_generated.json``
   already describes the same tier, seed and days) and runs ``ingest`` and
   ``clean`` for every day whose silver partitions are missing.
2. Times the whole ``features`` stage (``run_stage``: Spark compute, Delta
   writes, Great Expectations checks, Feast apply and materialisation), then
   the Spark compute alone: the same reads and cache as the stage, then
   ``setlist.jobs.features.build`` with each table forced by a ``noop`` write,
   which computes every row and column and writes nothing (``build`` itself,
   timed as ``_build``, already runs the shuffles of what it keeps once).
3. Computes the same eight gold tables with DuckDB SQL (2 threads) over the
   same silver parquet files (the current Delta snapshot, as listed by
   ``deltalake.DeltaTable.file_uris``), with the definitions of
   ``setlist.jobs.features``, and times it the same way: a load step (the
   window's events joined to the catalogue, as Spark caches them), then one
   step per table.
4. Checks agreement between the gold tables the stage wrote and DuckDB's
   tables: the same keys, strings equal, numbers equal within 1e-9 relative
   or 1e-10 absolute (the stage rounds doubles to 10 decimals,
   ``setlist.jobs.features.DECIMALS``; DuckDB's values are not rounded).
5. Times online reads of the ``playlist_serving_v1`` feature service for one
   listener and one track per call (random ids that have rows, after a few
   warm-up calls): against the local sqlite online store the stage filled,
   then against Redis at 127.0.0.1:6379 under a separate project and registry
   (``<home>/bench-redis``), whose keys are removed afterwards. An unreachable
   Redis is reported, not fatal.

The figures are wall-clock seconds on whatever the machine is doing at the
time: the load averages before and after are returned so a noisy run shows.
The returned dict is printed as JSON by the CLI; progress goes to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

GOAL = "Spark <= 2x DuckDB on tier m; online p99 <= 10 ms"
REDIS = "127.0.0.1:6379"
DUCKDB_THREADS = 2
REL_TOL, ABS_TOL = 1e-9, 1e-10   # ABS_TOL: one unit of the stage's 10th decimal
# The silver tables the feature stage reads; a day counts as cleaned when all have its partition.
SILVER_INPUTS = ("users", "labels", "artists", "tracks", "editorial_placements", "listening_events")
# Each gold table's key, for the comparison.
GOLD_KEYS = {
    "user_profile_long": ("user_id",),
    "user_profile_short": ("user_id",),
    "user_context": ("user_id",),
    "track_popularity": ("track_id",),
    "artist_stats": ("artist_id",),
    "user_artist_affinity": ("user_id", "artist_id"),
    "user_genre_affinity": ("user_id", "genre"),
    "track_colistening": ("track_id", "neighbour_id"),
}


def _say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def _now() -> float:
    return time.perf_counter()


# --- 1. data -------------------------------------------------------------------
def prepare(config, tier: str, seed: int, days: int) -> list[str]:
    """Generate (or reuse) the raw data and bring silver up to date; returns the ds list."""
    from setlist.data.generate import generate
    from setlist.pipeline import run_stage
    from setlist.storage import Lake

    marker = config.raw_dir / "_generated.json"
    have = json.loads(marker.read_text()) if marker.exists() else {}
    if (have.get("tier"), have.get("seed"), have.get("days")) == (tier, seed, days):
        ds_list = have["ds_list"]
        _say(f"reusing raw data in {config.raw_dir} ({tier}, {days} days, seed {seed})")
    else:
        if Path(config.lake_root).exists() and any(Path(config.lake_root).iterdir()):
            raise ValueError(f"{config.home} already holds a lake built from other raw data "
                             f"({have.get('tier')}, {have.get('days')} days, seed {have.get('seed')}); "
                             f"pass a fresh --home for tier {tier}, {days} days, seed {seed}")
        t0 = _now()
        ds_list = generate(config.home, tier=tier, days=days, seed=seed,
                           progress=lambda m: _say(f"generate {m}"))["ds_list"]
        _say(f"generated {tier} x {days} days in {_now() - t0:.0f} s")
    lake = Lake(config.lake_root, config.storage.engine)
    for ds in ds_list:
        if all(ds in lake.partitions("silver", t) for t in SILVER_INPUTS):
            _say(f"{ds}: silver present, reused")
            continue
        t0 = _now()
        for stage in ("ingest", "clean"):
            run_stage(stage, ds, config)
        _say(f"{ds}: ingest + clean in {_now() - t0:.0f} s")
    return ds_list


# --- 2. Spark --------------------------------------------------------------------
def spark_compute(config, ds: str) -> dict:
    """The feature stage's reads, cache and eight tables, each forced by a noop write."""
    from pyspark.sql import functions as F

    from setlist.context import StageContext
    from setlist.contracts import conform
    from setlist.jobs import features as fj
    from setlist.spark import get_spark
    from setlist.storage import Lake

    spark = get_spark(config)
    lake = Lake.from_config(config, spark)
    ctx = StageContext(stage="features", ds=ds, config=config, spark=spark, lake=lake)
    per = {}
    t0 = _now()
    inputs = fj.load_inputs(ctx)
    rows = fj.count_events(inputs.events)
    per["_load"] = round(_now() - t0, 3)
    t = _now()
    # Declaring the tables already runs the shuffles of what they keep once
    # (both profiles' aggregation, the co-listening pair counts).
    built = fj.build(ctx, inputs)
    per["_build"] = round(_now() - t, 3)
    for name, df in built.items():
        t = _now()
        df = conform(df.withColumn("ds", F.lit(ds)), "gold", name).drop("ds")
        df.write.format("noop").mode("overwrite").save()
        per[name] = round(_now() - t, 3)
        _say(f"spark {name}: {per[name]:.2f} s")
    inputs.unpersist()
    return {"seconds": round(_now() - t0, 3), "per_table_seconds": per, "events_in_window": rows}


# --- 3. DuckDB -------------------------------------------------------------------
def _files(lake_root: str, table: str, ds_values) -> dict:
    """{ds: [parquet files of that partition in the current snapshot]}."""
    from deltalake import DeltaTable
    dt = DeltaTable(f"{lake_root.rstrip('/')}/silver/{table}")
    return {d: dt.file_uris(file_pruning_predicate=[("ds", "=", d)]) for d in ds_values}


def _parquet(files: list[str]) -> str:
    return "read_parquet([" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "])"


def _known(end: str) -> str:
    day = (date.fromisoformat(end) + timedelta(days=1)).isoformat()
    return f"TIMESTAMPTZ '{day} 00:00:00+00' AS event_timestamp, TIMESTAMPTZ '{day} 00:00:00+00' AS created_timestamp"


def _top_sql(ev: str, key: str, item: str, top: str, share: str, entropy: str) -> str:
    """Per key: most played item (ties: smallest, nulls first as in Spark), its share, entropy in bits."""
    return f"""
    SELECT {key}, {item} AS {top}, p AS {share}, entropy AS {entropy} FROM (
        SELECT {key}, {item}, p,
               row_number() OVER (PARTITION BY {key} ORDER BY n DESC, {item} ASC NULLS FIRST) AS r,
               -sum(p * log2(p)) OVER (PARTITION BY {key}) AS entropy
        FROM (SELECT {key}, {item}, n, n::DOUBLE / sum(n) OVER (PARTITION BY {key}) AS p
              FROM (SELECT {key}, {item}, count(*) AS n FROM {ev} GROUP BY {key}, {item})))
    WHERE r = 1"""


def _profile_sql(start: str, end: str, p: str, audio, day_parts) -> str:
    ev = f"(SELECT * FROM events WHERE ds BETWEEN '{start}' AND '{end}' AND user_id IN (SELECT user_id FROM users))"
    aggs = [
        f"count(*) AS {p}_plays",
        f"count(DISTINCT ds) AS {p}_active_days",
        f"count(DISTINCT session_id) AS {p}_sessions",
        f"avg(skipped::DOUBLE) AS {p}_skip_rate",
        f"avg(completed::DOUBLE) AS {p}_completion_rate",
        f"count(DISTINCT track_id)::DOUBLE / count(*) AS {p}_novelty",
        f"count(*)::DOUBLE / count(DISTINCT session_id) AS {p}_session_plays",
        f"avg((isodow(ts) IN (6, 7))::DOUBLE) AS {p}_weekend_share",
    ]
    aggs += [f"avg((hour(ts) >= {lo} AND hour(ts) < {hi})::DOUBLE) AS {p}_share_{part}"
             for part, (lo, hi) in day_parts.items()]
    for a in audio:
        aggs += [f"avg({a}) AS {p}_{a}_mean", f"stddev_pop({a}) AS {p}_{a}_std"]
    return f"""
    WITH ev AS MATERIALIZED {ev},
    base AS (SELECT user_id, {', '.join(aggs)} FROM ev GROUP BY user_id),
    sess AS (SELECT user_id, avg(minutes) AS {p}_session_minutes FROM (
                SELECT user_id, session_id,
                       (max(epoch_us(ts)) - min(epoch_us(ts))) / 6e7 + arg_max(ms_played, ts) / 6e4 AS minutes
                FROM ev GROUP BY user_id, session_id) GROUP BY user_id),
    g AS ({_top_sql('ev', 'user_id', 'genre', f'{p}_top_genre', f'{p}_top_genre_share', f'{p}_genre_entropy')}),
    a AS ({_top_sql('ev', 'user_id', 'artist_id', f'{p}_top_artist', f'{p}_top_artist_share', '__artist_entropy')})
    SELECT base.*, sess.{p}_session_minutes, g.{p}_top_genre, g.{p}_top_genre_share, g.{p}_genre_entropy,
           a.{p}_top_artist, a.{p}_top_artist_share, {_known(end)}
    FROM base JOIN sess USING (user_id) LEFT JOIN g USING (user_id) LEFT JOIN a USING (user_id)"""


def _context_sql(start: str, end: str, devices) -> str:
    ev = (f"(SELECT user_id, hour(ts) AS hour, isodow(ts) AS weekday, device FROM events "
          f"WHERE ds BETWEEN '{start}' AND '{end}' AND user_id IN (SELECT user_id FROM users))")
    mix = ", ".join(f"avg((device = '{d}')::DOUBLE) AS ctx_share_{d}" for d in devices)
    return f"""
    WITH ev AS MATERIALIZED {ev},
    mix AS (SELECT user_id, {mix} FROM ev GROUP BY user_id),
    h AS ({_top_sql('ev', 'user_id', 'hour', 'ctx_top_hour', '__s', '__e')}),
    w AS ({_top_sql('ev', 'user_id', 'weekday', 'ctx_top_weekday', '__s', '__e')})
    SELECT mix.user_id, h.ctx_top_hour::INT AS ctx_top_hour, w.ctx_top_weekday::INT AS ctx_top_weekday,
           {', '.join(f'mix.ctx_share_{d}' for d in devices)}, {_known(end)}
    FROM mix JOIN h USING (user_id) JOIN w USING (user_id)"""


def _popularity_sql(start: str, end: str, audio) -> str:
    d7 = (date.fromisoformat(end) - timedelta(days=6)).isoformat()
    return f"""
    WITH agg AS (
        SELECT track_id,
               sum((ds = '{end}')::BIGINT) AS track_plays_1d,
               sum((ds >= '{d7}')::BIGINT) AS track_plays_7d,
               count(*) AS track_plays_28d,
               count(DISTINCT CASE WHEN ds = '{end}' THEN user_id END) AS track_listeners_1d,
               count(DISTINCT CASE WHEN ds >= '{d7}' THEN user_id END) AS track_listeners_7d,
               count(DISTINCT user_id) AS track_listeners_28d,
               avg(skipped::DOUBLE) AS track_skip_rate_28d,
               avg(completed::DOUBLE) AS track_completion_rate_28d
        FROM events WHERE ds BETWEEN '{start}' AND '{end}' GROUP BY track_id),
    on_air AS (SELECT DISTINCT track_id FROM placements
               WHERE start_ds <= DATE '{end}' AND end_ds >= DATE '{end}')
    SELECT t.track_id, t.artist_id,
           coalesce(agg.track_plays_1d, 0)::BIGINT AS track_plays_1d,
           coalesce(agg.track_plays_7d, 0)::BIGINT AS track_plays_7d,
           coalesce(agg.track_plays_28d, 0)::BIGINT AS track_plays_28d,
           coalesce(agg.track_listeners_1d, 0)::BIGINT AS track_listeners_1d,
           coalesce(agg.track_listeners_7d, 0)::BIGINT AS track_listeners_7d,
           coalesce(agg.track_listeners_28d, 0)::BIGINT AS track_listeners_28d,
           agg.track_skip_rate_28d, agg.track_completion_rate_28d,
           (on_air.track_id IS NOT NULL)::BIGINT AS track_editorial_now,
           date_diff('day', t.release_date, DATE '{end}')::BIGINT AS track_age_days,
           {', '.join(f't.{a} AS track_{a}' for a in audio)}, {_known(end)}
    FROM tracks t LEFT JOIN agg USING (track_id) LEFT JOIN on_air USING (track_id)"""


def _artist_sql(start: str, end: str, debut_years: int, max_pct: float) -> str:
    e = date.fromisoformat(end)
    d7, d14 = (e - timedelta(days=6)).isoformat(), (e - timedelta(days=13)).isoformat()
    return f"""
    WITH agg AS (
        SELECT artist_id,
               count(DISTINCT CASE WHEN ds >= '{d7}' THEN user_id END) AS l7,
               count(DISTINCT CASE WHEN ds >= '{d14}' AND ds < '{d7}' THEN user_id END) AS p7,
               count(DISTINCT user_id) AS l28
        FROM events WHERE ds BETWEEN '{start}' AND '{end}' GROUP BY artist_id),
    o AS (SELECT a.artist_id, l.kind AS artist_label_kind, a.debut_year,
                 coalesce(agg.l7, 0) AS l7, coalesce(agg.p7, 0) AS p7, coalesce(agg.l28, 0) AS l28
          FROM artists a LEFT JOIN labels l ON l.label_id = a.label_id
          LEFT JOIN agg ON agg.artist_id = a.artist_id)
    SELECT artist_id, l7 AS artist_listeners_7d, p7 AS artist_listeners_prev_7d, l28 AS artist_listeners_28d,
           (l7 - p7) / greatest(p7, 1)::DOUBLE AS artist_growth_7d,
           ({e.year} - debut_year)::BIGINT AS artist_career_years,
           coalesce((({e.year} - debut_year) <= {int(debut_years)}
                     AND percent_rank() OVER (ORDER BY l28) <= {float(max_pct)!r}::DOUBLE)::BIGINT, 0) AS artist_emerging,
           artist_label_kind, {_known(end)}
    FROM o"""


def _affinity_sql(start: str, end: str, item: str, p: str) -> str:
    return f"""
    SELECT user_id, {item}, n AS {p}_plays_28d, n::DOUBLE / sum(n) OVER (PARTITION BY user_id) AS {p}_share_28d,
           skip AS {p}_skip_rate_28d, date_diff('day', last::DATE, DATE '{end}')::BIGINT AS {p}_days_since_last_play,
           {_known(end)}
    FROM (SELECT user_id, {item}, count(*) AS n, avg(skipped::DOUBLE) AS skip, max(ds) AS last
          FROM events WHERE ds BETWEEN '{start}' AND '{end}' AND user_id IN (SELECT user_id FROM users)
          GROUP BY user_id, {item})"""


def _colistening_sql(start: str, end: str, k: int, max_tracks: int) -> str:
    return f"""
    WITH st AS MATERIALIZED (
        SELECT session_id, track_id FROM (
            SELECT session_id, track_id, min(ts) AS first FROM events
            WHERE ds BETWEEN '{start}' AND '{end}' GROUP BY session_id, track_id)
        QUALIFY row_number() OVER (PARTITION BY session_id ORDER BY first, track_id) <= {int(max_tracks)}),
    n AS (SELECT track_id, count(*) AS n FROM st GROUP BY track_id),
    pairs AS (SELECT a.track_id AS x, b.track_id AS y, count(*) AS co
              FROM st a JOIN st b ON a.session_id = b.session_id AND a.track_id < b.track_id
              GROUP BY a.track_id, b.track_id),
    both_ways AS (SELECT x AS track_id, y AS neighbour_id, co FROM pairs
                  UNION ALL SELECT y AS track_id, x AS neighbour_id, co FROM pairs),
    scored AS (SELECT b.track_id, b.neighbour_id, b.co, b.co / sqrt((n1.n * n2.n)::DOUBLE) AS score
               FROM both_ways b JOIN n n1 ON n1.track_id = b.track_id JOIN n n2 ON n2.track_id = b.neighbour_id)
    SELECT track_id, neighbour_id, co::BIGINT AS co_sessions, score,
           row_number() OVER (PARTITION BY track_id ORDER BY score DESC, neighbour_id ASC)::INT AS rank,
           {_known(end)}
    FROM scored QUALIFY rank <= {int(k)}"""


def duckdb_sql(config, ds: str) -> dict:
    """{gold table: DuckDB SELECT} over the temp tables events, users, tracks, artists, labels, placements."""
    from setlist import schema
    from setlist.jobs import features as fj
    p = config.pipeline
    e = date.fromisoformat(ds)
    lt = (e - timedelta(days=p.feature_window_days - 1)).isoformat()
    st = (e - timedelta(days=p.short_window_days - 1)).isoformat()
    return {
        "user_profile_long": _profile_sql(lt, ds, "lt", fj.AUDIO, fj.DAY_PARTS),
        "user_profile_short": _profile_sql(st, ds, "st", fj.AUDIO, fj.DAY_PARTS),
        "user_context": _context_sql(lt, ds, schema.DEVICES),
        "track_popularity": _popularity_sql(lt, ds, fj.AUDIO),
        "artist_stats": _artist_sql(lt, ds, p.emerging_debut_years, p.emerging_max_listener_pct),
        "user_artist_affinity": _affinity_sql(lt, ds, "artist_id", "ua"),
        "user_genre_affinity": _affinity_sql(lt, ds, "genre", "ug"),
        "track_colistening": _colistening_sql(lt, ds, p.colistening_k, p.colistening_max_session_tracks),
    }


def duckdb_compute(con, config, ds: str) -> dict:
    """Load the window's silver files into temp tables, then build each gold table as ``duck_<table>``."""
    from setlist.contracts import columns
    from setlist.jobs import features as fj
    from setlist.storage import Lake

    lake = Lake(config.lake_root, config.storage.engine)
    start = (date.fromisoformat(ds) - timedelta(days=config.pipeline.feature_window_days - 1)).isoformat()
    window = [d for d in lake.partitions("silver", "listening_events") if start <= d <= ds]
    per = {}
    t0 = _now()
    snap = {t: _files(config.lake_root, t, [ds])[ds]
            for t in ("tracks", "users", "artists", "labels", "editorial_placements")}
    days = _files(config.lake_root, "listening_events", window)
    audio = ", ".join(f"t.{a}" for a in fj.AUDIO)
    con.execute(f"CREATE OR REPLACE TEMP TABLE tracks AS SELECT * FROM {_parquet(snap['tracks'])}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE users AS SELECT user_id FROM {_parquet(snap['users'])} "
                f"WHERE personalisation_consent AND NOT is_deleted")
    con.execute(f"CREATE OR REPLACE TEMP TABLE artists AS SELECT * FROM {_parquet(snap['artists'])}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE labels AS SELECT * FROM {_parquet(snap['labels'])}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE placements AS SELECT * FROM {_parquet(snap['editorial_placements'])}")
    raw = " UNION ALL ".join(
        f"SELECT user_id, track_id, ts::TIMESTAMP AS ts, ms_played, skipped, completed, device, session_id, "
        f"'{d}' AS ds FROM {_parquet(files)}" for d, files in days.items() if files)
    con.execute(f"""CREATE OR REPLACE TEMP TABLE events AS
        SELECT e.*, t.artist_id, t.genre, {audio} FROM ({raw}) e LEFT JOIN tracks t USING (track_id)""")
    rows = con.execute("SELECT count(*) FROM events").fetchone()[0]
    per["_load"] = round(_now() - t0, 3)
    for name, sql in duckdb_sql(config, ds).items():
        t = _now()
        cols = ", ".join(c for c, _ in columns("gold", name) if c != "ds")
        con.execute(f"CREATE OR REPLACE TEMP TABLE duck_{name} AS SELECT {cols} FROM ({sql})")
        per[name] = round(_now() - t, 3)
        _say(f"duckdb {name}: {per[name]:.2f} s")
    return {"seconds": round(_now() - t0, 3), "per_table_seconds": per, "events_in_window": rows}


# --- 4. agreement ----------------------------------------------------------------
def compare(con, config, ds: str, tables: dict | None = None) -> dict:
    """Gold tables written by the stage (or the Arrow ``tables`` given) against the
    ``duck_<table>`` tables, per table."""
    from setlist.contracts import columns
    from setlist.storage import Lake

    lake = Lake(config.lake_root, config.storage.engine)
    out = {}
    for name, keys in GOLD_KEYS.items():
        if tables is not None and name not in tables:
            continue
        spark_tbl = tables[name] if tables is not None else lake.read_arrow("gold", name, ds=ds)
        if "ds" in spark_tbl.column_names:
            spark_tbl = spark_tbl.drop_columns(["ds"])
        con.register(f"spark_{name}", spark_tbl)
        cols = [(c, t.upper()) for c, t in columns("gold", name) if c != "ds"]
        on = " AND ".join(f"s.{k} IS NOT DISTINCT FROM d.{k}" for k in keys)
        key_txt = " || '|' || ".join(f"coalesce(coalesce(s.{k}, d.{k})::VARCHAR, 'NULL')" for k in keys)
        checks, rel = [], []
        for c, t in cols:
            if c in keys:
                continue
            if t in ("BIGINT", "INT", "DOUBLE"):
                a, b = f"s.{c}::DOUBLE", f"d.{c}::DOUBLE"
                bad = (f"NOT ((({a}) IS NULL AND ({b}) IS NULL) OR coalesce(abs({a} - {b}) <= "
                       f"greatest({REL_TOL} * greatest(abs({a}), abs({b})), {ABS_TOL}), false))")
                rel.append(f"abs({a} - {b}) / nullif(greatest(abs({a}), abs({b})), 0)")
            else:
                bad = f"s.{c} IS DISTINCT FROM d.{c}"
            checks.append((c, bad))
        sel = [
            "count(*) FILTER (WHERE s.__in IS NOT NULL) AS rows_spark",
            "count(*) FILTER (WHERE d.__in IS NOT NULL) AS rows_duckdb",
            "count(*) FILTER (WHERE d.__in IS NULL) AS only_spark",
            "count(*) FILTER (WHERE s.__in IS NULL) AS only_duckdb",
            f"min({key_txt}) FILTER (WHERE s.__in IS NULL OR d.__in IS NULL) AS first_key_missing",
            f"max(greatest({', '.join(rel)})) AS max_rel_diff" if rel else "NULL AS max_rel_diff",
        ]
        for i, (c, bad) in enumerate(checks):
            sel += [f"count(*) FILTER (WHERE s.__in AND d.__in AND {bad}) AS bad_{i}",
                    f"min({key_txt}) FILTER (WHERE s.__in AND d.__in AND {bad}) AS key_{i}"]
        row = con.execute(f"""SELECT {', '.join(sel)}
            FROM (SELECT *, true AS __in FROM spark_{name}) s
            FULL OUTER JOIN (SELECT *, true AS __in FROM duck_{name}) d ON {on}""").fetchone()
        rows_spark, rows_duck, only_s, only_d, first_missing, max_rel = row[:6]
        dup = {}
        for side, tbl in (("spark", f"spark_{name}"), ("duckdb", f"duck_{name}")):
            n, distinct = con.execute(f"SELECT count(*), count(DISTINCT ({', '.join(keys)})) FROM {tbl}").fetchone()
            if n != distinct:
                dup[side] = n - distinct
        res = {"rows": rows_spark, "agree": True, "max_rel_diff": max_rel}
        if rows_duck != rows_spark:
            res["rows_duckdb"] = rows_duck
        if only_s or only_d or dup:
            res.update(agree=False, keys_only_in_spark=only_s, keys_only_in_duckdb=only_d,
                       first_key_missing=first_missing)
            if dup:
                res["duplicate_keys"] = dup
        mism = {}
        for i, (c, _) in enumerate(checks):
            n_bad, key = row[6 + 2 * i], row[7 + 2 * i]
            if n_bad:
                mism[c] = {"rows": n_bad, "first_key": key}
        if mism:
            first = min(mism, key=lambda c: [x for x, _ in checks].index(c))
            k = mism[first]["first_key"]
            where = " AND ".join(f"{x} IS NOT DISTINCT FROM ?" for x in keys)
            vals = k.split("|") if len(keys) > 1 else [k]
            vals = [None if v == "NULL" else v for v in vals]
            sv = con.execute(f"SELECT {first} FROM spark_{name} WHERE {where}", vals).fetchone()
            dv = con.execute(f"SELECT {first} FROM duck_{name} WHERE {where}", vals).fetchone()
            res.update(agree=False, first_mismatch={"column": first, "key": k,
                                                    "spark": _plain(sv), "duckdb": _plain(dv)},
                       mismatching_columns={c: m["rows"] for c, m in mism.items()})
        con.unregister(f"spark_{name}")
        out[name] = res
        _say(f"agree {name}: {res['agree']} ({rows_spark:,} rows)")
    return out


def _plain(row):
    if row is None:
        return None
    v = row[0]
    return v if isinstance(v, (int, float, str, type(None))) else str(v)


# --- 5. online reads --------------------------------------------------------------
def _percentile(sorted_ms: list[float], q: float) -> float:
    i = q * (len(sorted_ms) - 1)
    lo = int(i)
    hi = min(lo + 1, len(sorted_ms) - 1)
    return sorted_ms[lo] + (sorted_ms[hi] - sorted_ms[lo]) * (i - lo)


def online_latency(store, users: list[str], tracks: list[str], calls: int = 300, warmup: int = 10,
                   seed: int = 0) -> dict:
    """p50/p99 of one-listener, one-track reads of the playlist_serving_v1 service."""
    service = store.get_feature_service("playlist_serving_v1")
    rng = random.Random(seed)

    def row():
        return [{"user_id": rng.choice(users), "track_id": rng.choice(tracks)}]

    first = store.get_online_features(features=service, entity_rows=row()).to_dict()
    for _ in range(warmup - 1):
        store.get_online_features(features=service, entity_rows=row())
    ms = []
    for _ in range(calls):
        entity_rows = row()
        t = _now()
        store.get_online_features(features=service, entity_rows=entity_rows)
        ms.append((_now() - t) * 1000)
    ms.sort()
    found = sum(v[0] is not None for k, v in first.items() if k not in ("user_id", "track_id"))
    return {"p50": round(_percentile(ms, 0.5), 3), "p99": round(_percentile(ms, 0.99), 3),
            "mean": round(sum(ms) / len(ms), 3), "max": round(ms[-1], 3), "n": len(ms),
            "features": len(first) - 2, "non_null_in_first_read": found}


def _online_ids(config, ds: str) -> tuple[list[str], list[str]]:
    from setlist.storage import Lake
    lake = Lake(config.lake_root, config.storage.engine)
    users = lake.read_arrow("gold", "user_profile_short", ds=ds, columns=["user_id"]).column(0).to_pylist()
    ctx = set(lake.read_arrow("gold", "user_context", ds=ds, columns=["user_id"]).column(0).to_pylist())
    tracks = lake.read_arrow("gold", "track_popularity", ds=ds, columns=["track_id"]).column(0).to_pylist()
    return sorted(u for u in users if u in ctx), sorted(tracks)


def online_redis(config, ds: str, users, tracks, calls: int, seed: int):
    """The same reads against Redis, materialised under a bench project and registry; keys removed after."""
    from setlist import featurestore
    from setlist.features.repo import ONLINE_VIEWS
    try:
        import redis
        host, _, port = REDIS.partition(":")
        redis.Redis(host=host, port=int(port), socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any failure to reach the server means "no Redis here"
        return f"unavailable: {type(exc).__name__}: {exc}"
    rcfg = dataclasses.replace(
        config, home=config.home / "bench-redis",
        storage=dataclasses.replace(config.storage, lake_root=config.lake_root),
        feast=dataclasses.replace(config.feast, online_store="redis", redis_connection=REDIS,
                                  project=f"{config.feast.project}_bench"))
    store = featurestore.open_store(rcfg)
    try:
        featurestore.apply(store, rcfg)
        t = _now()
        featurestore.materialize(store, ds, views=ONLINE_VIEWS)
        materialize_s = round(_now() - t, 2)
        _say(f"redis: materialised {ds} in {materialize_s} s")
        res = online_latency(store, users, tracks, calls=calls, seed=seed)
        res["materialize_seconds"] = materialize_s
        return res
    finally:
        store.teardown()


# --- the benchmark ----------------------------------------------------------------
def run(config, tier: str = "s", seed: int = 0, days: int = 7, calls: int = 300) -> dict:
    """Run the feature benchmark on ``config.home`` and return its figures (see the module docstring)."""
    # Feast prints materialisation progress on stdout, where the CLI prints the figures as JSON.
    with contextlib.redirect_stdout(sys.stderr):
        return _features(config, tier, seed, days, calls)


def _features(config, tier: str, seed: int, days: int, calls: int) -> dict:
    import duckdb

    from setlist import featurestore
    from setlist.pipeline import run_stage
    from setlist.spark import get_spark

    if config.storage.engine != "delta-rs":
        raise ValueError("the feature benchmark reads silver files through delta-rs; use the local profile")
    load_before = os.getloadavg()
    ds_list = prepare(config, tier, seed, days)
    ds = ds_list[-1]
    get_spark(config)

    _say(f"features stage for {ds}")
    stage = run_stage("features", ds, config)
    _say(f"spark compute for {ds}")
    spark = spark_compute(config, ds)

    _say(f"duckdb compute for {ds} ({DUCKDB_THREADS} threads)")
    con = duckdb.connect()
    con.execute(f"SET threads = {DUCKDB_THREADS}")
    con.execute("SET TimeZone = 'UTC'")
    duck = duckdb_compute(con, config, ds)
    agree = compare(con, config, ds)
    if duck["events_in_window"] != spark["events_in_window"]:
        _say(f"events in window differ: spark {spark['events_in_window']}, duckdb {duck['events_in_window']}")
    con.close()

    _say("online reads: sqlite")
    users, tracks = _online_ids(config, ds)
    online = {"sqlite": online_latency(featurestore.open_store(config), users, tracks, calls=calls, seed=seed)}
    _say("online reads: redis")
    online["redis"] = online_redis(config, ds, users, tracks, calls, seed)

    return {
        "tier": tier, "days": days, "seed": seed, "ds": ds,
        "events_in_window": spark["events_in_window"],
        "spark": {"stage_seconds": stage["seconds"], "compute_seconds": spark["seconds"],
                  "per_table_seconds": spark["per_table_seconds"],
                  "master": config.spark.master,
                  "shuffle_partitions": config.spark.conf.get("spark.sql.shuffle.partitions")},
        "duckdb": {"seconds": duck["seconds"], "per_table_seconds": duck["per_table_seconds"],
                   "threads": DUCKDB_THREADS, "events_in_window": duck["events_in_window"]},
        "ratio_spark_over_duckdb": round(spark["seconds"] / duck["seconds"], 2) if duck["seconds"] else None,
        "agree": agree,
        "all_agree": all(v["agree"] for v in agree.values()),
        "online_ms": online,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "goal": GOAL,
    }
