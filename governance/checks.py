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
    gxe = _e()
    nn = lambda c: gxe.ExpectColumnValuesToNotBeNull(column=c)  # noqa: E731
    rate = lambda c: gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0, max_value=1)  # noqa: E731
    nonneg = lambda c: gxe.ExpectColumnValuesToBeBetween(column=c, min_value=0)  # noqa: E731
    suites = {
        "user_activity": [nn("user_id"), gxe.ExpectColumnValuesToBeUnique(column="user_id"),
                          nonneg("user_plays_28d"), rate("user_skip_rate_28d"),
                          rate("user_completion_rate_28d"), nn("event_timestamp")],
        "track_popularity": [nn("track_id"), gxe.ExpectColumnValuesToBeUnique(column="track_id"),
                             nonneg("track_plays_28d"), rate("track_skip_rate_28d"),
                             gxe.ExpectColumnValuesToBeInSet(column="track_editorial_now", value_set=[0, 1])],
        "user_artist_affinity": [nn("user_id"), nn("artist_id"),
                                 gxe.ExpectCompoundColumnsToBeUnique(column_list=["user_id", "artist_id"]),
                                 rate("ua_share_28d"), nonneg("ua_days_since_last_play")],
    }
    return suites[table]


def validate_gold(df, table: str, rows: int | None = None) -> dict:
    return validate(df, f"gold.{table}", gold_suite(table), rows)
