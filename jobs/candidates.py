"""Candidates: per consenting listener, the tracks worth ranking tonight.

Generators, each tagged with its name:

* ``als``: implicit-feedback ALS (Spark MLlib) on the feature window's plays,
  with confidence 1 + alpha * log1p(plays) (log scaling beats raw counts on
  heavy-tailed play counts);
* ``popular``: the most played tracks of the last 7 days, for everyone, so
  cold-start listeners still get a list.

The union keeps one row per (user, track) with every generator's score and
rank as features for the reranker.
"""

from __future__ import annotations

from setlist.contracts import conform

SOURCES = ("als", "popular")


def plays_matrix(events):
    """(user_id, track_id, plays, rating = log1p(plays))."""
    from pyspark.sql import functions as F
    return (events.groupBy("user_id", "track_id").agg(F.count("*").alias("plays"))
                  .withColumn("rating", F.log1p(F.col("plays").cast("double"))))


def als_candidates(matrix, users, k: int, rank: int, reg: float, alpha: float,
                   max_iter: int, seed: int):
    """Top-k ALS recommendations for ``users`` (a DataFrame with user_id)."""
    from pyspark.ml.feature import StringIndexer
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F

    if matrix.limit(1).count() == 0:
        return matrix.sparkSession.createDataFrame([], "user_id string, track_id string, als_score double, als_rank int")
    ui = StringIndexer(inputCol="user_id", outputCol="u", stringOrderType="alphabetAsc").fit(matrix)
    ti = StringIndexer(inputCol="track_id", outputCol="i", stringOrderType="alphabetAsc").fit(matrix)
    data = ti.transform(ui.transform(matrix)).select(
        F.col("u").cast("int"), F.col("i").cast("int"), "rating")
    als = ALS(rank=rank, regParam=reg, alpha=alpha, maxIter=max_iter, implicitPrefs=True,
              userCol="u", itemCol="i", ratingCol="rating", coldStartStrategy="drop",
              nonnegative=False, seed=seed, numUserBlocks=4, numItemBlocks=4)
    model = als.fit(data)
    subset = ui.transform(users.join(matrix.select("user_id").distinct(), "user_id")).select(
        F.col("u").cast("int"))
    recs = model.recommendForUserSubset(subset, k).select("u", F.posexplode("recommendations"))
    users_lut = matrix.sparkSession.createDataFrame(
        [(i, u) for i, u in enumerate(ui.labelsArray[0])], "u int, user_id string")
    items_lut = matrix.sparkSession.createDataFrame(
        [(i, t) for i, t in enumerate(ti.labelsArray[0])], "i int, track_id string")
    return (recs.select("u", (F.col("pos") + 1).alias("als_rank"),
                        F.col("col.i").alias("i"), F.col("col.rating").cast("double").alias("als_score"))
                .join(F.broadcast(users_lut), "u").join(items_lut, "i")
                .select("user_id", "track_id", "als_score", F.col("als_rank").cast("int")))


def popular_candidates(events, users, k: int, since: str):
    """The k most played tracks since ``since`` (ties by track_id), for every user."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    top = (events.where(F.col("ds") >= since).groupBy("track_id").agg(F.count("*").alias("pop_score"))
           .withColumn("pop_rank", F.row_number().over(
               Window.orderBy(F.desc("pop_score"), F.asc("track_id"))).cast("int"))
           .where(F.col("pop_rank") <= k)
           .withColumn("pop_score", F.col("pop_score").cast("double")))
    return users.select("user_id").crossJoin(F.broadcast(top))


def union(als, popular, tracks):
    from pyspark.sql import functions as F
    both = als.join(popular, ["user_id", "track_id"], "full_outer")
    return (both.withColumn("source", F.when(F.col("als_score").isNotNull(), "als").otherwise("popular"))
                .withColumn("n_sources", (F.col("als_score").isNotNull().cast("int")
                                          + F.col("pop_score").isNotNull().cast("int")))
                .join(tracks.select("track_id", "artist_id", "genre"), "track_id"))


def run(ctx) -> dict:
    from pyspark.sql import functions as F

    lake, ds, m = ctx.lake, ctx.ds, ctx.config.model
    start = ctx.shift(-(ctx.config.pipeline.feature_window_days - 1))
    users = (lake.read("silver", "users", ds=ds)
             .where(F.col("personalisation_consent") & ~F.col("is_deleted")).select("user_id").cache())
    events = lake.read("silver", "listening_events", ds_range=(start, ds)).cache()
    tracks = lake.read("silver", "tracks", ds=ds)
    matrix = plays_matrix(events.join(users, "user_id", "left_semi")).cache()
    ctx.log(f"ALS on {matrix.count():,} (user, track) pairs, rank {m.als_rank}")
    als = als_candidates(matrix, users, m.candidates_per_source, m.als_rank, m.als_reg,
                         m.als_alpha, m.als_max_iter, m.seed)
    pop = popular_candidates(events, users, m.candidates_per_source, ctx.shift(-6))
    out = conform(union(als, pop, tracks).withColumn("ds", F.lit(ds)), "gold", "candidates").drop("ds")
    n = lake.write(out, "gold", "candidates", ds=ds)
    per_source = {r["source"]: r["count"] for r in
                  lake.read("gold", "candidates", ds=ds).groupBy("source").count().collect()}
    ctx.log(f"gold/candidates: {n:,} rows {per_source}")
    return {"rows_in": events.count(), "rows_out": n, "rows_quarantined": 0,
            "users": users.count(), "by_source": dict(sorted(per_source.items()))}
