"""Great Expectations suites that guard each layer.

A suite is a list of expectations per table; ``validate`` runs it on a Spark
DataFrame and raises ``DataQualityError`` naming the table, the column and the
check that failed, so the person on call knows where to look.
"""

from __future__ import annotations

import os
from functools import lru_cache

from setlist import schema


class DataQualityError(RuntimeError):
    pass


def _e():
    import great_expectations.expectations as gxe
    return gxe


def silver_suite(table: str) -> list:
    gxe = _e()
    nn = lambda c: gxe.ExpectColumnValuesToNotBeNull(column=c)  # noqa: E731
    uniq = lambda c: gxe.ExpectColumnValuesToBeUnique(column=c)  # noqa: E731
    between = lambda c, lo, hi: gxe.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi)  # noqa: E731
    in_set = lambda c, vals: gxe.ExpectColumnValuesToBeInSet(column=c, value_set=list(vals))  # noqa: E731
    suites = {
        "listening_events": [nn("event_id"), uniq("event_id"), nn("user_id"), nn("track_id"), nn("ts"),
                             between("ms_played", 0, None), in_set("context_type", schema.CONTEXT_TYPES),
                             in_set("source", ("algorithmic", "editorial", "organic")), nn("session_id")],
        "feedback": [nn("user_id"), nn("track_id"), in_set("action", schema.FEEDBACK_ACTIONS)],
        "tracks": [nn("track_id"), uniq("track_id"), nn("artist_id"), between("energy", 0, 1),
                   between("valence", 0, 1), between("duration_ms", 1, None)],
        "artists": [nn("artist_id"), uniq("artist_id")],
        "labels": [nn("label_id"), uniq("label_id"), in_set("kind", schema.LABEL_KINDS)],
        "users": [nn("user_id"), uniq("user_id"), nn("personalisation_consent")],
        "editorial_placements": [nn("track_id"), between("position", 1, None)],
        "royalty_pool": [nn("period"), between("net_revenue", 0, None)],
        "user_controls": [nn("user_id"), uniq("user_id"), between("novelty", 0, 1)],
        "governance_overrides": [in_set("action", schema.OVERRIDE_ACTIONS), nn("reason")],
    }
    return suites[table]


# Tables up to this many rows are checked in pandas: same expectations, far
# fewer Spark jobs. Larger ones are checked where they are, on Spark.
PANDAS_MAX_ROWS = 200_000


@lru_cache(maxsize=1)
def _context():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    spark_def = (ctx.data_sources.add_spark(name="setlist_spark").add_dataframe_asset(name="frame")
                 .add_batch_definition_whole_dataframe("whole"))
    pandas_def = (ctx.data_sources.add_pandas(name="setlist_pandas").add_dataframe_asset(name="frame")
                  .add_batch_definition_whole_dataframe("whole"))
    return ctx, spark_def, pandas_def


def validate(df, table: str, expectations: list, rows: int | None = None) -> dict:
    """Run ``expectations`` on ``df`` (Spark or pandas); raise DataQualityError on any failure."""
    import great_expectations as gx
    ctx, spark_def, pandas_def = _context()
    batch_def = spark_def
    if not hasattr(df, "toPandas"):
        batch_def = pandas_def
    elif rows is not None and rows <= PANDAS_MAX_ROWS:
        df, batch_def = df.toPandas(), pandas_def
    suite = gx.ExpectationSuite(name=f"{table}_suite", expectations=[e.copy() for e in expectations])
    result = batch_def.get_batch(batch_parameters={"dataframe": df}).validate(suite)
    failures = []
    for r in result.results:
        if not r.success:
            cfg = r.expectation_config
            col = cfg.kwargs.get("column") or cfg.kwargs.get("column_list")
            n = (r.result or {}).get("unexpected_count")
            sample = (r.result or {}).get("partial_unexpected_list", [])[:3]
            failures.append(f"{table}.{col}: {cfg.type} failed"
                            + (f" on {n} rows (e.g. {sample})" if n is not None else ""))
    if failures:
        raise DataQualityError(
            "data-quality check failed, stage stopped: " + "; ".join(failures)
            + ". Inspect the input for this ds, fix it upstream, then re-run the stage.")
    return {"table": table, "expectations": len(expectations), "success": True}


def validate_silver(df, table: str, rows: int | None = None) -> dict:
    return validate(df, f"silver.{table}", silver_suite(table), rows)


def gold_suite(table: str) -> list:
    """Key uniqueness per ds, value ranges and null rates for each gold table."""
    from setlist.contracts import columns
    gxe = _e()
    nn = lambda c: gxe.ExpectColumnValuesToNotBeNull(column=c)  # noqa: E731
    rng = lambda c, lo, hi=None: gxe.ExpectColumnValuesToBeBetween(column=c, min_value=lo, max_value=hi)  # noqa: E731
    keys = {"user_profile_long": ["user_id"], "user_profile_short": ["user_id"], "user_context": ["user_id"],
            "track_popularity": ["track_id"], "artist_stats": ["artist_id"],
            "user_artist_affinity": ["user_id", "artist_id"], "user_genre_affinity": ["user_id", "genre"],
            "track_colistening": ["track_id", "neighbour_id"]}[table]
    out = [nn(k) for k in keys] + [nn("event_timestamp"), nn("created_timestamp")]
    out.append(gxe.ExpectColumnValuesToBeUnique(column=keys[0]) if len(keys) == 1
               else gxe.ExpectCompoundColumnsToBeUnique(column_list=keys))
    for col, typ in columns("gold", table):
        if typ.upper() != "DOUBLE" and typ.upper() not in ("BIGINT", "INT"):
            continue
        if any(w in col for w in ("_rate", "_share", "novelty")) or col in ("score",):
            out.append(rng(col, 0, 1))
        elif col.endswith(("_plays", "_sessions", "_active_days", "_1d", "_7d", "_28d", "co_sessions", "rank")) \
                and "growth" not in col:
            out.append(rng(col, 0))
        elif col.endswith("_tempo_mean") or col == "track_tempo":
            out.append(rng(col, 0, 400))
        elif any(col.endswith(f"{a}_mean") or col == f"track_{a}" for a in
                 ("energy", "valence", "danceability", "acousticness")):
            out.append(rng(col, 0, 1))
        elif col in ("ctx_top_hour",):
            out.append(rng(col, 0, 23))
        elif col in ("ctx_top_weekday",):
            out.append(rng(col, 1, 7))
        elif col in ("artist_emerging", "track_editorial_now"):
            out.append(gxe.ExpectColumnValuesToBeInSet(column=col, value_set=[0, 1]))
    if table in ("user_profile_long", "user_profile_short"):
        # A listener with plays always has a taste centroid, unless the catalogue lacks audio for every track.
        prefix = "lt" if table.endswith("long") else "st"
        out.append(gxe.ExpectColumnValuesToNotBeNull(column=f"{prefix}_top_genre", mostly=0.99))
    return out


def validate_gold(df, table: str, rows: int | None = None) -> dict:
    return validate(df, f"gold.{table}", gold_suite(table), rows)
