"""Candidates: per consenting listener, the tracks worth ranking tonight.

Generators, each tagged with its name; each keeps its own score and rank:

* ``als``: implicit-feedback ALS (Spark MLlib) on the feature window's plays,
  rating log1p(plays) (log scaling beats raw counts on heavy-tailed play
  counts), confidence 1 + alpha·rating;
* ``coli``: co-listening neighbours (gold.track_colistening) of the tracks the
  listener played in the short window, score = Σ over their seeds of the
  neighbour score;
* ``content``: tracks closest in audio features (tempo/200, energy, valence,
  danceability, acousticness) to the listener's long-term taste centroid,
  among the most played tracks of their top genre;
* ``genre_pop``: the most played tracks of the last 7 days in each of the
  listener's top genres, weighted by the genre's share of their plays;
* ``new``: releases of the last 28 days in the listener's top genres, by plays;
* ``popular``: the most played tracks of the last 7 days, for everyone, so
  cold-start listeners still get a list.

The union keeps one row per (user, track) with every generator's score and
rank as features for the reranker (null where a generator did not propose
the track), the number of generators that did, and the first of them in the
order above as ``source``.
"""

from __future__ import annotations

from functools import reduce

import numpy as np

from setlist.contracts import conform

SOURCES = ("als", "coli", "content", "genre_pop", "new", "popular")
SCORE_COLS = {s: (f"{s}_score" if s != "popular" else "pop_score", f"{s}_rank" if s != "popular" else "pop_rank")
              for s in SOURCES}
AUDIO_SCALE = {"tempo": 200.0, "energy": 1.0, "valence": 1.0, "danceability": 1.0, "acousticness": 1.0}


def _rank(df, source: str, k: int, keep=()):
    """Keep each user's top-k by score (ties: track_id) and name the columns after the source."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    score, rank = SCORE_COLS[source]
    w = Window.partitionBy("user_id").orderBy(F.desc("score"), F.asc("track_id"))
    return (df.withColumn(rank, F.row_number().over(w).cast("int")).where(F.col(rank) <= k)
              .select("user_id", "track_id", F.col("score").cast("double").alias(score), rank, *keep))


def plays_matrix(events):
    """(user_id, track_id, plays, rating = log1p(plays))."""
    from pyspark.sql import functions as F
    return (events.groupBy("user_id", "track_id").agg(F.count("*").alias("plays"))
                  .withColumn("rating", F.log1p(F.col("plays").cast("double"))))


def als_fit(matrix, rank: int, reg: float, alpha: float, max_iter: int, seed: int):
    """Implicit ALS (Spark MLlib) on ``plays_matrix``: (model, user indexer, track indexer)."""
    from pyspark.ml.feature import StringIndexer
    from pyspark.ml.recommendation import ALS
    from pyspark.sql import functions as F
    ui = StringIndexer(inputCol="user_id", outputCol="u", stringOrderType="alphabetAsc").fit(matrix)
    ti = StringIndexer(inputCol="track_id", outputCol="i", stringOrderType="alphabetAsc").fit(matrix)
    data = ti.transform(ui.transform(matrix)).select(
        F.col("u").cast("int"), F.col("i").cast("int"), "rating")
    als = ALS(rank=rank, regParam=reg, alpha=alpha, maxIter=max_iter, implicitPrefs=True,
              userCol="u", itemCol="i", ratingCol="rating", coldStartStrategy="drop",
              nonnegative=False, seed=seed, numUserBlocks=4, numItemBlocks=4)
    return als.fit(data), ui, ti


# Users' factors are scored against every item's in blocks of this many users
# (a block's scores: USER_BLOCK x items float32, 100 MB at 50k tracks).
USER_BLOCK = 512


def top_k_scores(users: np.ndarray, items: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each user's k best items by the dot product of their factors, best first,
    ties to the smaller item position: (positions, scores), both users x k."""
    scores = users @ items.T
    k = min(k, items.shape[0])
    if k == 0:
        return np.zeros((len(users), 0), np.int64), np.zeros((len(users), 0), scores.dtype)
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    kth = np.take_along_axis(scores, part, axis=1).min(axis=1, keepdims=True)
    # Where items tied with the k-th score fall on both sides of the cut, argpartition chose
    # among them arbitrarily: those rows take the smallest positions of the tie instead.
    split = (scores >= kth).sum(axis=1) > k
    for r in np.flatnonzero(split):
        part[r] = np.argsort(-scores[r], kind="stable")[:k]
    top = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -top), axis=1)
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(top, order, axis=1)


def als_top_k(model, subset, k: int):
    """Each user of ``subset`` (a DataFrame with ``u``, the indexed user)'s top-k
    items by ALS score: (u, i, als_rank, als_score). The item factors are
    broadcast and each Arrow batch of user factors is scored against them with
    one matrix product per block of users. This is what MLlib's
    ``recommendForUserSubset`` computes; its cross join of factor blocks and
    top-k shuffle took 111 s on tier m (85k listeners, 50k tracks). Ties go to
    the smaller item index (the track id first in alphabetical order)."""
    import pyarrow as pa
    from pyspark.sql import functions as F
    spark = subset.sparkSession
    items = model.itemFactors.orderBy("id").toPandas()
    ids = items["id"].to_numpy(np.int32)
    factors = np.asarray(np.stack(items["features"].to_numpy()) if len(items) else
                         np.zeros((0, model.rank)), dtype=np.float32)
    shared = spark.sparkContext.broadcast((ids, factors))
    rank = model.rank
    schema = pa.schema([("u", pa.int32()), ("i", pa.int32()), ("als_rank", pa.int32()), ("als_score", pa.float64())])

    def score(batches):
        from threadpoolctl import threadpool_limits
        item_ids, item_factors = shared.value
        with threadpool_limits(1):        # one BLAS thread per Spark task
            for batch in batches:
                u = batch.column("id").to_numpy()
                flat = batch.column("features").flatten().to_numpy(zero_copy_only=False)
                user_factors = flat.astype(np.float32).reshape(len(u), rank)
                for lo in range(0, len(u), USER_BLOCK):
                    pos, top = top_k_scores(user_factors[lo:lo + USER_BLOCK], item_factors, k)
                    n, kk = pos.shape
                    yield pa.RecordBatch.from_arrays([
                        pa.array(np.repeat(u[lo:lo + n], kk).astype(np.int32)),
                        pa.array(item_ids[pos.ravel()]),
                        pa.array(np.tile(np.arange(1, kk + 1, dtype=np.int32), n)),
                        pa.array(top.ravel().astype(np.float64))], schema=schema)

    users = model.userFactors.join(subset.select(F.col("u").alias("id")).distinct(), "id")
    return users.mapInArrow(score, "u int, i int, als_rank int, als_score double")


def als_candidates(matrix, users, k: int, rank: int, reg: float, alpha: float,
                   max_iter: int, seed: int):
    """Top-k ALS recommendations for ``users`` (a DataFrame with user_id)."""
    from pyspark.sql import functions as F

    empty = "user_id string, track_id string, als_score double, als_rank int"
    if matrix.limit(1).count() == 0:
        return matrix.sparkSession.createDataFrame([], empty)
    model, ui, ti = als_fit(matrix, rank, reg, alpha, max_iter, seed)
    subset = ui.transform(users.join(matrix.select("user_id").distinct(), "user_id")).select(
        F.col("u").cast("int"))
    recs = als_top_k(model, subset, k)
    spark = matrix.sparkSession
    users_lut = spark.createDataFrame([(i, u) for i, u in enumerate(ui.labelsArray[0])], "u int, user_id string")
    items_lut = spark.createDataFrame([(i, t) for i, t in enumerate(ti.labelsArray[0])], "i int, track_id string")
    return (recs.join(F.broadcast(users_lut), "u").join(items_lut, "i")
                .select("user_id", "track_id", "als_score", "als_rank"))


# The seed behind each co-listening candidate is the one with the best neighbour
# score, ties to the largest seed id. Packed into one long, score (a cosine in
# [0, 1], DECIMALS places) then the seed's number in id order, it is a plain
# max: a hash aggregate, where max_by over (score, seed) needs a sort aggregate
# (tier s: the generator in 6.2-6.7 s against 8.4-8.5 s with max_by, and
# 12-13 s before the seeds were spread by listener; the same rows).
SEED_BITS = 29


# Rows of the seeds x neighbours join per task of the co-listening generator.
# Its sum per (listener, track) barely reduces them (tier m: 106M rows, 65M
# sums), so a task's hash map grows with its rows. Spread over the 8 shuffle
# partitions, which adaptive execution coalesces further, the generator alone
# took 93-101 s on tier m; over 32 tasks 63-66 s, over 128 tasks 55-58 s.
COLI_ROWS_PER_TASK = 1_000_000


def colistening_partitions(seed_rows: int, neighbours: int, floor: int) -> int:
    """Tasks for ``colistening_candidates``: about ``COLI_ROWS_PER_TASK`` joined
    rows each for ``seed_rows`` (listener, seed) rows of ``neighbours``
    neighbours, and never fewer than ``floor``."""
    return max(int(floor), -(-int(seed_rows) * int(neighbours) // COLI_ROWS_PER_TASK))


def colistening_candidates(recent, neighbours, k: int, partitions: int | None = None):
    """``recent``: (user_id, track_id) played lately; ``neighbours``: gold.track_colistening.

    The seeds are spread by listener once, over ``partitions`` tasks
    (``colistening_partitions``; None: the shuffle default), so the sum per
    (listener, track) and the top k per listener need no further shuffle."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    from setlist.jobs.features import DECIMALS
    seeds = recent.select("user_id", F.col("track_id").alias("seed"))
    seeds = (seeds.repartition(partitions, "user_id") if partitions else seeds.repartition("user_id")).distinct()
    numbers = (neighbours.select(F.col("track_id").alias("seed")).distinct()
               .withColumn("seed_no", F.row_number().over(Window.orderBy("seed")).cast("long")))
    scaled = F.round(F.col("score") * 10 ** DECIMALS).cast("long")
    key = F.when((F.col("score") >= 0) & (F.col("score") <= 1) & (F.col("seed_no") < 2 ** SEED_BITS),
                 scaled * 2 ** SEED_BITS + F.col("seed_no")).otherwise(F.raise_error(F.concat(
                     F.lit("gold.track_colistening: a neighbour score outside [0, 1] or more than 2^29 seed "
                           "tracks (score "), F.col("score").cast("string"),
                     F.lit("); rebuild the table with `setlist run features`"))))
    nb = (neighbours.select(F.col("track_id").alias("seed"), F.col("neighbour_id").alias("track_id"), "score")
          .join(numbers, "seed").select("seed", "track_id", "score", key.alias("key")))
    scored = (seeds.join(F.broadcast(nb), "seed")
              .groupBy("user_id", "track_id").agg(
                  # The neighbour scores carry DECIMALS places, so their exact sum does too:
                  # rounded to DECIMALS, the float sum is the same whatever the shuffle order.
                  F.round(F.sum("score"), DECIMALS).alias("score"), F.max("key").alias("key"))
              .withColumn("seed_no", F.col("key") % 2 ** SEED_BITS)
              .join(F.broadcast(numbers.withColumnRenamed("seed", "coli_seed_track_id")), "seed_no"))
    return _rank(scored, "coli", k, keep=("coli_seed_track_id",))


def content_candidates(profiles, tracks, popularity, k: int, pool_per_genre: int = 200):
    """Nearest tracks to each listener's taste centroid within their top genre."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    pool = (tracks.select("track_id", "genre", *AUDIO_SCALE).join(popularity.select("track_id", "track_plays_28d"),
                                                                  "track_id")
            .withColumn("r", F.row_number().over(Window.partitionBy("genre").orderBy(
                F.desc("track_plays_28d"), F.asc("track_id"))))
            .where(F.col("r") <= pool_per_genre).drop("r", "track_plays_28d"))
    centroid = profiles.select("user_id", F.col("lt_top_genre").alias("genre"),
                               *[F.col(f"lt_{a}_mean").alias(f"c_{a}") for a in AUDIO_SCALE])
    dist2 = reduce(lambda acc, a: acc + F.pow((F.col(a) - F.col(f"c_{a}")) / AUDIO_SCALE[a], 2),
                   AUDIO_SCALE, F.lit(0.0))
    scored = centroid.join(F.broadcast(pool), "genre").withColumn("score", -F.sqrt(dist2)).where(
        F.col("score").isNotNull())
    return _rank(scored, "content", k)


def genre_popularity_candidates(genre_affinity, tracks, popularity, k: int, top_genres: int = 3):
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    g = (genre_affinity.withColumn("r", F.row_number().over(Window.partitionBy("user_id").orderBy(
        F.desc("ug_share_28d"), F.asc("genre")))).where(F.col("r") <= top_genres)
         .select("user_id", "genre", "ug_share_28d"))
    per_genre = (tracks.select("track_id", "genre").join(popularity.select("track_id", "track_plays_7d"), "track_id")
                 .where(F.col("track_plays_7d") > 0)
                 .withColumn("r", F.row_number().over(Window.partitionBy("genre").orderBy(
                     F.desc("track_plays_7d"), F.asc("track_id")))).where(F.col("r") <= k).drop("r"))
    scored = g.join(F.broadcast(per_genre), "genre").withColumn("score", F.col("ug_share_28d") * F.col("track_plays_7d"))
    return _rank(scored, "genre_pop", k)


# Within one genre a listener's new-release scores are their genre share times the
# same freshness (plays + 1) / (age + 1), so a track below its genre's k-th freshness
# by more than rounding (two roundings of 2^-53 each; the margin is 2^-48) scores
# below k tracks of that genre for every listener with a positive share, and can
# never make their top k.
FRESHNESS_MARGIN = 2.0 ** -48


def new_release_candidates(genre_affinity, tracks, popularity, k: int, max_age_days: int = 28):
    """Releases of the last ``max_age_days`` in the listener's genres: genre
    share × (plays in 7 days + 1) / (age in days + 1)."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    new = (popularity.where((F.col("track_age_days") >= 0) & (F.col("track_age_days") <= max_age_days))
           .select("track_id", "track_plays_7d", "track_age_days").join(tracks.select("track_id", "genre"), "track_id")
           .withColumn("__fresh", (F.col("track_plays_7d") + 1) / (F.col("track_age_days") + 1)))
    kth = (new.withColumn("__r", F.row_number().over(Window.partitionBy("genre").orderBy(F.desc("__fresh"))))
           .where(F.col("__r") == k).select("genre", F.col("__fresh").alias("__kth")))
    cut = (new.join(F.broadcast(kth), "genre", "left")
           .where(F.col("__kth").isNull() | (F.col("__fresh") * (1 + FRESHNESS_MARGIN) >= F.col("__kth")))
           .drop("__kth"))
    aff = genre_affinity.select("user_id", "genre", "ug_share_28d")
    positive = F.col("ug_share_28d") > 0
    score = F.col("ug_share_28d") * (F.col("track_plays_7d") + 1) / (F.col("track_age_days") + 1)
    # And across genres: a listener has k tracks scoring about share × k-th freshness in each
    # genre with k new releases, so rows below the largest such product (less the margin)
    # cannot make their top k either; only the rest go to the per-listener sort.
    floor = (aff.where(positive).join(F.broadcast(kth), "genre")
             .groupBy("user_id").agg(F.max(F.col("ug_share_28d") * F.col("__kth")).alias("__floor")))
    kept = (aff.where(positive).join(floor, "user_id", "left").join(F.broadcast(cut), "genre")
            .withColumn("score", score)
            .where(F.col("__floor").isNull() | (F.col("score") >= F.col("__floor") * (1 - FRESHNESS_MARGIN)))
            .drop("__floor"))
    # A share of 0 or null ties (or nulls) every score of the genre, so those rows see every new release.
    scored = kept.unionByName(aff.where(~positive | F.col("ug_share_28d").isNull()).join(F.broadcast(new), "genre")
                              .withColumn("score", score))
    return _rank(scored, "new", k)


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


def union(generated: dict, tracks):
    """One row per (user, track) from {source: DataFrame(user_id, track_id, score, rank)}."""
    from pyspark.sql import functions as F
    frames = [generated[s] for s in SOURCES if s in generated]
    both = reduce(lambda a, b: a.join(b, ["user_id", "track_id"], "full_outer"), frames)
    for s in SOURCES:
        if s not in generated:
            both = both.withColumn(SCORE_COLS[s][0], F.lit(None).cast("double")).withColumn(
                SCORE_COLS[s][1], F.lit(None).cast("int"))
    if "coli_seed_track_id" not in both.columns:
        both = both.withColumn("coli_seed_track_id", F.lit(None).cast("string"))
    present = [F.col(SCORE_COLS[s][0]).isNotNull() for s in SOURCES]
    source = reduce(lambda acc, s: acc.when(F.col(SCORE_COLS[s][0]).isNotNull(), s),
                    SOURCES[1:], F.when(present[0], SOURCES[0]))
    return (both.withColumn("source", source)
                .withColumn("n_sources", reduce(lambda a, b: a + b, [p.cast("int") for p in present]))
                .join(tracks.select("track_id", "artist_id", "genre"), "track_id"))


def generators(ctx) -> tuple[dict, dict]:
    """({source: DataFrame} of every generator for ``ctx.ds``, {name: cached
    input}: the consenting ``users``, their window's ``events``, the plays
    ``matrix`` and the tables several generators read; unpersist when done)."""
    from pyspark.sql import functions as F

    lake, ds, m = ctx.lake, ctx.ds, ctx.config.model
    k = m.candidates_per_source
    start = ctx.shift(-(ctx.config.pipeline.feature_window_days - 1))
    users = (lake.read("silver", "users", ds=ds)
             .where(F.col("personalisation_consent") & ~F.col("is_deleted")).select("user_id").cache())
    events = lake.read("silver", "listening_events", ds_range=(start, ds)).join(users, "user_id", "left_semi").cache()
    tracks = lake.read("silver", "tracks", ds=ds).cache()
    popularity = lake.read("gold", "track_popularity", ds=ds).cache()
    genre_aff = lake.read("gold", "user_genre_affinity", ds=ds).cache()
    matrix = plays_matrix(events).cache()
    pairs = matrix.count()
    ctx.log(f"ALS on {pairs:,} (user, track) pairs, rank {m.als_rank}")
    # The window's (listener, track) pairs bound the recent ones that seed co-listening.
    coli_tasks = colistening_partitions(pairs, ctx.config.pipeline.colistening_k,
                                        int(ctx.spark.conf.get("spark.sql.shuffle.partitions")))
    recent = events.where(F.col("ds") >= ctx.shift(-(ctx.config.pipeline.short_window_days - 1)))
    generated = {
        "als": als_candidates(matrix, users, k, m.als_rank, m.als_reg, m.als_alpha, m.als_max_iter, m.seed),
        "coli": colistening_candidates(recent, lake.read("gold", "track_colistening", ds=ds), k, coli_tasks),
        "content": content_candidates(lake.read("gold", "user_profile_long", ds=ds), tracks, popularity, k),
        "genre_pop": genre_popularity_candidates(genre_aff, tracks, popularity, k),
        "new": new_release_candidates(genre_aff, tracks, popularity, k),
        "popular": popular_candidates(lake.read("silver", "listening_events", ds_range=(start, ds)), users, k,
                                      ctx.shift(-6)),
    }
    cached = {"users": users, "events": events, "tracks": tracks, "popularity": popularity,
              "genre_affinity": genre_aff, "matrix": matrix}
    return generated, cached


def run(ctx) -> dict:
    from pyspark.sql import functions as F

    lake, ds = ctx.lake, ctx.ds
    generated, cached = generators(ctx)
    out = conform(union(generated, cached["tracks"]).withColumn("ds", F.lit(ds)), "gold", "candidates").drop("ds")
    n = lake.write(out, "gold", "candidates", ds=ds)
    written = lake.read("gold", "candidates", ds=ds)
    counts = written.agg(*[F.count(SCORE_COLS[s][0]).alias(s) for s in SOURCES]).first().asDict()
    per_source = {s: int(counts[s]) for s in SOURCES}
    ctx.log(f"gold/candidates: {n:,} rows; proposed per generator {per_source}")
    return {"rows_in": cached["events"].count(), "rows_out": n, "rows_quarantined": 0,
            "users": cached["users"].count(), "proposed_by": per_source}
