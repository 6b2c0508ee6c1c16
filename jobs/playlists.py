"""Playlists: rerank each listener's candidates and order them into a playlist.

Scoring runs on Spark (``mapInPandas`` with the current XGBoost model
broadcast); ordering runs per listener (``applyInPandas`` grouped by user):
best score first, never two adjacent tracks by one artist, at most
``playlists.max_per_artist`` tracks per artist. When no candidate satisfies
the rules the list ends early rather than break them.

Every track gets a reason that names only what the listener did:
"because you listen to <artist>" needs plays of that artist in the feature
window; otherwise the generator's reason ("popular with listeners like you",
"trending on Setlist this week", "editor's pick").
"""

from __future__ import annotations

import pandas as pd

PLAYLIST_SCHEMA = ("user_id string, position int, track_id string, artist_id string, "
                   "score double, source string, reason string")


def sequence(group: pd.DataFrame, length: int, max_per_artist: int) -> pd.DataFrame:
    """Greedy order of one listener's scored candidates under the artist rules."""
    g = group.sort_values(["score", "track_id"], ascending=[False, True], kind="stable")
    picked, per_artist, last = [], {}, None
    remaining = list(g.itertuples(index=False))
    while remaining and len(picked) < length:
        for i, row in enumerate(remaining):
            if row.artist_id != last and per_artist.get(row.artist_id, 0) < max_per_artist:
                picked.append(row)
                per_artist[row.artist_id] = per_artist.get(row.artist_id, 0) + 1
                last = row.artist_id
                del remaining[i]
                break
        else:
            break
    out = pd.DataFrame(picked, columns=g.columns)
    out["position"] = range(1, len(out) + 1)
    return out


def reason(source: str, artist_name: str | None, listened: bool) -> str:
    if listened and artist_name:
        return f"because you listen to {artist_name}"
    return {"als": "popular with listeners like you",
            "popular": "trending on Setlist this week",
            "editorial": "editor's pick"}.get(source, "trending on Setlist this week")


def score_frame(spark, features: pd.DataFrame, booster_raw: bytes | None, feature_names: list[str]):
    """Spark DataFrame of (user_id, track_id, artist_id, source, score)."""
    from setlist.jobs.train import baseline_score
    base = features[["user_id", "track_id", "artist_id", "source"]].copy()
    if booster_raw is None:
        base["score"] = baseline_score(features)
        return spark.createDataFrame(base)
    cols = ["user_id", "track_id", "artist_id", "source", *feature_names]
    sdf = spark.createDataFrame(features[cols])
    model = spark.sparkContext.broadcast(booster_raw)

    def predict(batches):
        import xgboost as xgb
        booster = xgb.Booster()
        booster.load_model(bytearray(model.value))
        for b in batches:
            out = b[["user_id", "track_id", "artist_id", "source"]].copy()
            out["score"] = booster.predict(xgb.DMatrix(b[feature_names].astype("float64")))
            yield out

    return sdf.mapInPandas(predict, "user_id string, track_id string, artist_id string, source string, score double")


def order_playlists(scored, affinity, artists, length: int, max_per_artist: int):
    """Sequence every listener's list on Spark and attach reasons."""
    from pyspark.sql import functions as F
    known = affinity.select("user_id", "artist_id", F.lit(True).alias("listened"))
    names = artists.select("artist_id", F.col("name").alias("artist_name"))
    enriched = (scored.join(known, ["user_id", "artist_id"], "left").join(F.broadcast(names), "artist_id", "left")
                .withColumn("listened", F.coalesce("listened", F.lit(False))))

    def per_user(pdf: pd.DataFrame) -> pd.DataFrame:
        out = sequence(pdf, length, max_per_artist)
        out["reason"] = [reason(s, a, bool(listened)) for s, a, listened in
                         zip(out["source"], out["artist_name"], out["listened"])]
        return out[["user_id", "position", "track_id", "artist_id", "score", "source", "reason"]]

    return enriched.groupBy("user_id").applyInPandas(per_user, PLAYLIST_SCHEMA)


def fallback_list(placements, popularity, tracks, ds: str, length: int, max_per_artist: int) -> pd.DataFrame:
    """The non-personalised list: editorial picks live on ds, then this week's
    most played tracks, under the same artist rules."""
    from pyspark.sql import functions as F
    live = (placements.where((F.col("start_ds") <= F.lit(ds).cast("date")) & (F.col("end_ds") >= F.lit(ds).cast("date")))
            .groupBy("track_id").agg(F.min("position").alias("best_position")))
    pop = popularity.select("track_id", "track_plays_7d")
    pdf = (tracks.select("track_id", "artist_id").join(live, "track_id", "left").join(pop, "track_id", "left")
           .where(F.col("best_position").isNotNull() | (F.col("track_plays_7d") > 0)).toPandas())
    pdf["source"] = pdf["best_position"].notna().map({True: "editorial", False: "popular"})
    # Editorial picks first (by position), then popularity.
    pdf["score"] = pdf["best_position"].rsub(1e6).fillna(0) + pdf["track_plays_7d"].fillna(0) / 1e6
    pdf = pdf.nlargest(length * 10, ["score"]).assign(user_id="*")
    out = sequence(pdf[["user_id", "track_id", "artist_id", "source", "score"]], length, max_per_artist)
    out["reason"] = [reason(s, None, False) for s in out["source"]]
    return out


def run(ctx) -> dict:
    from pyspark.sql import functions as F
    from setlist import featurestore
    from setlist.contracts import conform
    from setlist.jobs.train import baseline_score  # noqa: F401  (documented fallback)
    from setlist.models import ModelStore

    lake, ds, pc = ctx.lake, ctx.ds, ctx.config.playlists
    users = lake.read("silver", "users", ds=ds).where(~F.col("is_deleted"))
    tracks = lake.read("silver", "tracks", ds=ds)
    artists = lake.read("silver", "artists", ds=ds)
    cands = lake.read("gold", "candidates", ds=ds)
    booster, meta = ModelStore(ctx.config.models_dir / "reranker").load()
    version = meta["version"] if meta else None
    entity = cands.drop("ds").toPandas()
    if booster is not None:
        entity["event_timestamp"] = featurestore.day_end(ds)
        frame = featurestore.historical(featurestore.applied_store(ctx.config), entity)
        raw = bytes(booster.save_raw("json"))
        ctx.log(f"scoring {len(frame):,} candidates with model {version}")
        scored = score_frame(ctx.spark, frame, raw, meta["features"])
    else:
        ctx.log("no current model yet: ordering candidates by ALS score, then popularity")
        scored = score_frame(ctx.spark, entity, None, [])
    affinity = lake.read("gold", "user_artist_affinity", ds=ds)
    personal = order_playlists(scored, affinity, artists, pc.length, pc.max_per_artist).withColumn(
        "personalised", F.lit(True)).withColumn("model_version", F.lit(version).cast("string"))
    fallback = fallback_list(lake.read("silver", "editorial_placements", ds=ds),
                             lake.read("gold", "track_popularity", ds=ds), tracks, ds,
                             pc.fallback_length, pc.max_per_artist)
    no_consent = users.where(~F.col("personalisation_consent")).select("user_id")
    cold = users.where(F.col("personalisation_consent")).join(cands.select("user_id").distinct(), "user_id", "left_anti")
    fb = ctx.spark.createDataFrame(fallback.drop(columns=["user_id"]))
    shared = (no_consent.unionByName(cold.select("user_id")).crossJoin(F.broadcast(fb))
              .withColumn("personalised", F.lit(False)).withColumn("model_version", F.lit(None).cast("string")))
    out = personal.unionByName(shared.select(*personal.columns))
    out = out.join(F.broadcast(tracks.select("track_id", "label_id")), "track_id", "left")
    out = conform(out.withColumn("ds", F.lit(ds)), "gold", "playlists").drop("ds")
    n = lake.write(out, "gold", "playlists", ds=ds)
    summary = lake.read("gold", "playlists", ds=ds).groupBy("personalised").agg(
        F.countDistinct("user_id").alias("users"), F.count("*").alias("rows")).collect()
    served = {("personalised" if r["personalised"] else "fallback"): {"users": r["users"], "rows": r["rows"]}
              for r in summary}
    ctx.log(f"gold/playlists: {n:,} rows; {served}")
    return {"rows_in": int(len(entity)), "rows_out": n, "rows_quarantined": 0,
            "model_version": version, "served": served}
