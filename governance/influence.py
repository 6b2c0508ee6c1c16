"""Influence: how much of each artist's and label's listening the platform drives.

Definitions:

* Plays: rows of ``silver.listening_events`` that count (``counts``: played
  at least ``pipeline.min_play_ms``), the same plays that earn royalties.
* Source of a play (column ``source``, from the context the play started
  in, see ``setlist.schema.CONTEXT_SOURCE``): ``algorithmic`` (algorithmic
  playlists, radio), ``editorial`` (editorial playlists) or ``organic`` (the
  listener's own collection, search, charts, anything else).
* This week = the 7 days ending on ds; previous week = the 7 days before.
* For each artist (label): plays per source, and each source's share of the
  artist's plays this week and the previous week; change = this week's
  share - the previous week's, in percentage points (missing when the artist
  had no plays in one of the weeks).
* An artist (label) with fewer than ``k`` distinct listeners in a week has
  its shares for that week suppressed (plays are still counted in totals).
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

SOURCES = ("algorithmic", "editorial", "organic")


def weeks(ds: str) -> tuple[str, str, str]:
    """(first day of the previous week, first day of this week, ds)."""
    d = date.fromisoformat(ds)
    return str(d - timedelta(days=13)), str(d - timedelta(days=6)), ds


def influence(events, tracks, key: str, ds: str, min_listeners: int) -> pd.DataFrame:
    """One row per ``key`` (artist_id or label_id) with plays and source shares
    per week, from Spark ``events`` (silver.listening_events over both weeks)
    and ``tracks`` (track_id → key). Aggregated on Spark; one row per key
    reaches the driver."""
    from pyspark.sql import functions as F
    start_prev, start_this, end = weeks(ds)
    plays = (events.where(F.col("counts") & (F.col("ds") >= start_prev) & (F.col("ds") <= end))
             .select("user_id", "track_id", "source", "ds")
             .join(tracks.select("track_id", key), "track_id")
             .withColumn("week", F.when(F.col("ds") >= start_this, "this").otherwise("previous")))
    aggs = [F.count("*").alias("plays"), F.countDistinct("user_id").alias("listeners")]
    aggs += [F.sum((F.col("source") == s).cast("long")).alias(f"{s}_plays") for s in SOURCES]
    per = plays.groupBy(key, "week").agg(*aggs).toPandas()
    out = None
    for week in ("this", "previous"):
        w = per[per["week"] == week].drop(columns="week").set_index(key)
        for s in SOURCES:
            share = (w[f"{s}_plays"] / w["plays"]).where(w["listeners"] >= min_listeners)
            w[f"{s}_share"] = share.round(6)
        w["suppressed"] = w["listeners"] < min_listeners
        w = w.add_suffix("_this_week" if week == "this" else "_previous_week")
        out = w if out is None else out.join(w, how="outer")
    out = out.reset_index()
    for s in SOURCES:
        out[f"{s}_share_change_pp"] = (100 * (out[f"{s}_share_this_week"] - out[f"{s}_share_previous_week"])).round(4)
    for c in [c for c in out.columns if c.endswith(("plays_this_week", "plays_previous_week",
                                                     "listeners_this_week", "listeners_previous_week"))]:
        out[c] = out[c].fillna(0).astype("int64")
    for c in ("suppressed_this_week", "suppressed_previous_week"):
        out[c] = out[c].astype("boolean").fillna(True).astype(bool)
    return out.sort_values(["plays_this_week", key], ascending=[False, True]).reset_index(drop=True)


def summary(table: pd.DataFrame, key: str, top: int = 10) -> dict:
    """Platform-wide shares per week, and the ``top`` keys by plays this week."""
    out = {}
    for week in ("this_week", "previous_week"):
        total = int(table[f"plays_{week}"].sum())
        out[week] = {"plays": total, **{f"{s}_share": round(int(table[f"{s}_plays_{week}"].sum()) / total, 6)
                                         if total else None for s in SOURCES}}
    for s in SOURCES:
        a, b = out["this_week"][f"{s}_share"], out["previous_week"][f"{s}_share"]
        out[f"{s}_share_change_pp"] = None if a is None or b is None else round(100 * (a - b), 4)
    cols = [key, *(["name"] if "name" in table else []), "plays_this_week", *[f"{s}_share_this_week" for s in SOURCES],
            *[f"{s}_share_change_pp" for s in SOURCES]]
    shown = table[~table["suppressed_this_week"]].head(top)[cols]
    out["top"] = [{k: (None if pd.isna(v) else v) for k, v in r.items()} for r in shown.to_dict("records")]
    out["suppressed"] = int(table["suppressed_this_week"].sum())
    return out
