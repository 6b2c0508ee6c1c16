"""Popularity bias: do tonight's playlists favour what is already popular?

Definitions (after Abdollahpouri et al., "Managing popularity bias in
recommender systems with personalized re-ranking", 2019):

* Historical popularity φ(i) of a catalogue track: its plays in the 28 days
  up to ds (``gold.track_popularity.track_plays_28d``); tracks nobody played
  have φ = 0.
* Buckets: tracks sorted by φ descending, ties by track_id. With P_before(i)
  the share of all plays held by the tracks sorted before i: **head** when
  P_before(i) < 20% (the most played tracks that together make the first
  20% of plays), **tail** when P_before(i) ≥ 80% or φ(i) = 0, **mid**
  otherwise. When no track was played every track is tail.
* Per bucket: share of historical plays, share of tonight's exposure
  (position weight 1/log2(1 + position)), and lift = exposure share / play
  share (missing when the bucket has no plays). Lift 1 = exposure in
  proportion to listening; below 1 = under-exposed.
* ARP (average recommendation popularity) = mean over listeners of the mean
  φ of the tracks in their playlist.
* APLT (average percentage of long tail) = mean over listeners of the share
  of their playlist's tracks outside the head (mid or tail).
* ACLT (average coverage of long tail) = mean over listeners of the number of
  their playlist's tracks outside the head.
* Coverage: distinct tracks (artists) in any playlist / catalogue tracks
  (artists).

Listeners are all listeners with a playlist on ds, fallback included; a
playlist track missing from the catalogue counts as φ = 0, tail.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from setlist.governance.metrics import position_weight

BUCKETS = ("head", "mid", "tail")


def buckets(plays: pd.DataFrame, head: float = 0.2, tail: float = 0.2) -> pd.DataFrame:
    """``plays`` (track_id, plays) → the same rows with ``bucket``."""
    df = plays[["track_id", "plays"]].copy()
    df["plays"] = df["plays"].fillna(0).astype("int64")
    df = df.sort_values(["plays", "track_id"], ascending=[False, True], kind="stable").reset_index(drop=True)
    total = float(df["plays"].sum())
    before = (df["plays"].cumsum() - df["plays"]) / total if total else pd.Series(1.0, index=df.index)
    df["bucket"] = np.where((before < head) & (df["plays"] > 0), "head",
                            np.where((before >= 1 - tail) | (df["plays"] == 0), "tail", "mid"))
    return df


def popularity_bias(playlists, catalogue: pd.DataFrame, n_artists: int) -> tuple[dict, pd.DataFrame]:
    """(summary, per-bucket table) for Spark ``playlists`` against ``catalogue``
    (track_id, artist_id, plays: one row per catalogue track, an aggregate)."""
    from pyspark.sql import functions as F
    spark = playlists.sparkSession
    tagged = buckets(catalogue)
    table = spark.createDataFrame(tagged[["track_id", "plays", "bucket"]])
    rows = (playlists.select("user_id", "track_id", "artist_id", "position")
            .join(F.broadcast(table), "track_id", "left")
            .fillna({"plays": 0, "bucket": "tail"})
            .withColumn("v", position_weight(F.col("position")))
            .withColumn("long_tail", (F.col("bucket") != "head").cast("int")))
    per_bucket = rows.groupBy("bucket").agg(F.sum("v").alias("exposure"), F.count("*").alias("slots")).toPandas()
    per_user = rows.groupBy("user_id").agg(F.avg("plays").alias("arp"), F.avg("long_tail").alias("aplt"),
                                           F.sum("long_tail").alias("aclt"))
    means = per_user.agg(F.avg("arp"), F.avg("aplt"), F.avg("aclt"), F.count("*")).first()
    reach = rows.agg(F.countDistinct("track_id"), F.countDistinct("artist_id")).first()

    plays_total = float(tagged["plays"].sum())
    exposure_total = float(per_bucket["exposure"].sum()) if len(per_bucket) else 0.0
    got = per_bucket.set_index("bucket")
    out = []
    for b in BUCKETS:
        in_b = tagged[tagged["bucket"] == b]
        play_share = float(in_b["plays"].sum()) / plays_total if plays_total else 0.0
        exposure = float(got["exposure"].get(b, 0.0))
        exposure_share = exposure / exposure_total if exposure_total else 0.0
        out.append({"bucket": b, "tracks": int(len(in_b)), "play_share": round(play_share, 6),
                    "exposure": round(exposure, 6), "exposure_share": round(exposure_share, 6),
                    "playlist_slots": int(got["slots"].get(b, 0)),
                    "lift": round(exposure_share / play_share, 6) if play_share else None})
    table_out = pd.DataFrame(out)
    lift = {r["bucket"]: r["lift"] for r in out}
    listeners = int(means[3])
    summary = {
        "definition": "head = most played tracks making the first 20% of 28-day plays; tail = last 20% and unplayed",
        "popularity_window_days": 28,
        "buckets": out,
        "head_lift": lift["head"], "mid_lift": lift["mid"], "tail_lift": lift["tail"],
        "arp": round(float(means[0]), 6) if listeners else None,
        "aplt": round(float(means[1]), 6) if listeners else None,
        "aclt": round(float(means[2]), 6) if listeners else None,
        "listeners": listeners,
        "track_coverage": round(int(reach[0]) / len(tagged), 6) if len(tagged) else 0.0,
        "artist_coverage": round(int(reach[1]) / n_artists, 6) if n_artists else 0.0,
        "tracks_exposed": int(reach[0]),
        "catalogue_tracks": int(len(tagged)),
    }
    return summary, table_out
