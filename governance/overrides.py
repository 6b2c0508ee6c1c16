"""Governance overrides: every override in force, and what it did.

An override (``silver.governance_overrides``) is in force on ds when
start_ds ≤ ds ≤ end_ds. For each one the audit discloses the target, action,
reason, who asked and the dates, and measures its effect on the target's
exposure:

* ``listeners_with_candidate``: listeners whose candidates on ds include the
  target (a track, or any track of the artist): who could have been shown it.
* ``listeners_shown`` and ``exposure_tonight``: listeners whose playlist on
  ds holds the target, and its position-weighted exposure (see ``metrics``);
  ``rows_marked``: tonight's playlist rows that record this override.
* ``exposure_before``: the target's exposure in the latest playlists before
  the override came into force (missing when there were none), and
  ``exposure_change`` = tonight - before. A suppressed target has exposure
  0 tonight by construction; the number of listeners with a candidate says
  how many lists it was kept out of.
"""

from __future__ import annotations

import pandas as pd

from setlist.governance.metrics import position_weight

COLUMNS = ["target_type", "target_id", "target_name", "action", "reason", "requested_by", "start_ds", "end_ds",
           "listeners_with_candidate", "listeners_shown", "rows_marked", "exposure_tonight", "before_ds",
           "exposure_before", "exposure_change"]


def in_force(overrides, ds: str):
    from pyspark.sql import functions as F
    day = F.lit(ds).cast("date")
    return overrides.where((F.col("start_ds") <= day) & (F.col("end_ds") >= day))


def _target_exposure(playlists, target_type: str, target_id: str) -> tuple[int, float, int]:
    from pyspark.sql import functions as F
    col = "track_id" if target_type == "track" else "artist_id"
    r = (playlists.where(F.col(col) == target_id)
         .agg(F.countDistinct("user_id"), F.sum(position_weight(F.col("position"))),
              F.sum(F.col("override").isNotNull().cast("long"))).first())
    return int(r[0]), round(float(r[1] or 0.0), 6), int(r[2] or 0)


def override_effects(overrides, playlists, candidates, history: dict, names: dict, ds: str) -> pd.DataFrame:
    """``overrides``: Spark silver.governance_overrides of ds; ``playlists`` and
    ``candidates``: Spark partitions of ds; ``history``: {ds: Spark playlists
    partition} of earlier runs (loaded lazily by the caller); ``names``:
    {target_id: display name}. One row per override in force (few rows)."""
    from pyspark.sql import functions as F
    rows = []
    for ov in in_force(overrides, ds).orderBy("target_type", "target_id", "start_ds").collect():
        col = "track_id" if ov["target_type"] == "track" else "artist_id"
        eligible = candidates.where(F.col(col) == ov["target_id"]).select("user_id").distinct().count()
        shown, exposure, marked = _target_exposure(playlists, ov["target_type"], ov["target_id"])
        earlier = [d for d in sorted(history) if d < str(ov["start_ds"])]
        before_ds = earlier[-1] if earlier else None
        before = _target_exposure(history[before_ds], ov["target_type"], ov["target_id"])[1] if before_ds else None
        rows.append({"target_type": ov["target_type"], "target_id": ov["target_id"],
                     "target_name": names.get(ov["target_id"]), "action": ov["action"], "reason": ov["reason"],
                     "requested_by": ov["requested_by"], "start_ds": str(ov["start_ds"]), "end_ds": str(ov["end_ds"]),
                     "listeners_with_candidate": int(eligible), "listeners_shown": shown, "rows_marked": marked,
                     "exposure_tonight": exposure, "before_ds": before_ds, "exposure_before": before,
                     "exposure_change": None if before is None else round(exposure - before, 6)})
    return pd.DataFrame(rows, columns=COLUMNS)
