"""Features: silver → gold feature tables on Spark, then Feast apply + materialise.

Every feature module follows one contract::

    compute_<table>(events, start, end, **dimensions) -> DataFrame

``events`` are silver listening events; the window is ``start <= ds <= end``
(inclusive logical dates); the result has the entity keys, the features, and
``event_timestamp`` = ``created_timestamp`` = end + 1 day 00:00 UTC, the moment
those values become known (never the wall clock, so re-runs are identical).

Only listeners with personalisation consent and no deletion request get rows
in user-level tables.
"""

from __future__ import annotations

from datetime import date, timedelta

from setlist.contracts import conform


def _stamp(df, end: str):
    from pyspark.sql import functions as F
    known = F.to_timestamp(F.lit((date.fromisoformat(end) + timedelta(days=1)).isoformat()))
    return df.withColumn("event_timestamp", known).withColumn("created_timestamp", known)


def _window(events, start: str, end: str):
    from pyspark.sql import functions as F
    return events.where((F.col("ds") >= start) & (F.col("ds") <= end))


def compute_user_activity(events, start: str, end: str, users):
    """Per consenting listener: plays, active days, sessions, distinct tracks and
    artists, skip and completion rates, mean session length over the window."""
    from pyspark.sql import functions as F
    ev = _window(events, start, end).join(users.select("user_id"), "user_id", "left_semi")
    sessions = F.countDistinct("session_id")
    out = ev.groupBy("user_id").agg(
        F.count("*").alias("user_plays_28d"),
        F.countDistinct("ds").alias("user_active_days_28d"),
        sessions.alias("user_sessions_28d"),
        F.countDistinct("track_id").alias("user_tracks_28d"),
        F.countDistinct("artist_id").alias("user_artists_28d"),
        F.avg(F.col("skipped").cast("double")).alias("user_skip_rate_28d"),
        F.avg(F.col("completed").cast("double")).alias("user_completion_rate_28d"),
        (F.count("*") / sessions).alias("user_session_length_28d"),
    )
    return _stamp(out, end)


def compute_track_popularity(events, start: str, end: str, tracks, placements):
    """Per catalogue track: plays over 1/7/28 days, listeners, skip and completion
    rates, whether it is on an editorial playlist on ``end``, age, audio."""
    from pyspark.sql import functions as F
    ev = _window(events, start, end)
    d7 = (date.fromisoformat(end) - timedelta(days=6)).isoformat()
    agg = ev.groupBy("track_id").agg(
        F.sum((F.col("ds") == end).cast("long")).alias("track_plays_1d"),
        F.sum((F.col("ds") >= d7).cast("long")).alias("track_plays_7d"),
        F.count("*").alias("track_plays_28d"),
        F.countDistinct("user_id").alias("track_listeners_28d"),
        F.avg(F.col("skipped").cast("double")).alias("track_skip_rate_28d"),
        F.avg(F.col("completed").cast("double")).alias("track_completion_rate_28d"),
    )
    on_air = (placements.where((F.col("start_ds") <= F.lit(end).cast("date")) &
                               (F.col("end_ds") >= F.lit(end).cast("date")))
              .select("track_id").distinct().withColumn("track_editorial_now", F.lit(1)))
    out = (tracks.select("track_id", "artist_id", "release_date",
                         F.col("energy").alias("track_energy"), F.col("tempo").alias("track_tempo"),
                         F.col("valence").alias("track_valence"))
           .join(agg, "track_id", "left").join(on_air, "track_id", "left")
           .withColumn("track_age_days", F.datediff(F.lit(end).cast("date"), F.col("release_date")).cast("long"))
           .drop("release_date"))
    for c in ("track_plays_1d", "track_plays_7d", "track_plays_28d", "track_listeners_28d", "track_editorial_now"):
        out = out.withColumn(c, F.coalesce(F.col(c), F.lit(0)).cast("long"))
    return _stamp(out, end)


def compute_user_artist_affinity(events, start: str, end: str, users):
    """Per (consenting listener, artist): plays, share of the listener's plays,
    skip rate and days since the last play in the window."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    ev = _window(events, start, end).join(users.select("user_id"), "user_id", "left_semi")
    out = ev.groupBy("user_id", "artist_id").agg(
        F.count("*").alias("ua_plays_28d"),
        F.avg(F.col("skipped").cast("double")).alias("ua_skip_rate_28d"),
        F.max("ds").alias("__last"))
    total = F.sum("ua_plays_28d").over(Window.partitionBy("user_id"))
    out = (out.withColumn("ua_share_28d", F.col("ua_plays_28d") / total)
              .withColumn("ua_days_since_last_play",
                          F.datediff(F.lit(end).cast("date"), F.col("__last").cast("date")).cast("long"))
              .drop("__last"))
    return _stamp(out, end)


GOLD_TABLES = ("user_activity", "track_popularity", "user_artist_affinity")


def run(ctx) -> dict:
    from pyspark.sql import functions as F
    from setlist import featurestore
    from setlist.governance import checks

    lake, ds = ctx.lake, ctx.ds
    window = ctx.config.pipeline.feature_window_days
    start = ctx.shift(-(window - 1))
    tracks = lake.read("silver", "tracks", ds=ds).cache()
    users = lake.read("silver", "users", ds=ds).where(
        F.col("personalisation_consent") & ~F.col("is_deleted")).cache()
    events = (lake.read("silver", "listening_events", ds_range=(start, ds))
              .join(tracks.select("track_id", "artist_id"), "track_id", "left").cache())
    rows_in = events.count()
    built = {
        "user_activity": compute_user_activity(events, start, ds, users),
        "track_popularity": compute_track_popularity(
            events, start, ds, tracks, lake.read("silver", "editorial_placements", ds=ds)),
        "user_artist_affinity": compute_user_artist_affinity(events, start, ds, users),
    }
    written = {}
    for name, df in built.items():
        df = conform(df.withColumn("ds", F.lit(ds)), "gold", name).drop("ds").cache()
        checks.validate_gold(df, name, rows=df.count())
        written[name] = lake.write(df, "gold", name, ds=ds)
        df.unpersist()
        ctx.log(f"gold/{name}: {written[name]:,} rows")
    store = featurestore.open_store(ctx.config)
    applied = featurestore.apply(store, ctx.config)
    featurestore.materialize(store, start, ds)
    ctx.log(f"feast: applied {len(applied)} objects, materialised {start}..{ds}")
    events.unpersist()
    return {"rows_in": rows_in, "rows_out": sum(written.values()), "rows_quarantined": 0,
            "tables": written, "feast_objects": applied}
