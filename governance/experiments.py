"""Experiments: what listeners did after the playlists of each arm.

Definitions:

* Arm of a listener: the ``arm`` of their rows in the playlists served the
  night before (the latest ``gold.playlists`` partition before ds). The
  listening that followed is their plays on ds (``silver.listening_events``).
* Per listener with at least one play on ds: skip rate = skipped plays /
  plays; completion rate = completed plays / plays; plays per session =
  plays / distinct sessions; novelty = plays of tracks the listener had not
  played in the 28 days before ds / plays. Listeners with no play on ds are
  counted (``listeners_served``) but have no rates.
* Per arm: the mean of each KPI over its listeners, with a 95% confidence
  interval mean ± 1.96·sd/√n (listeners are the unit, so plays of one
  listener are not treated as independent). Against ``control``: the
  difference of means with a 95% interval ± 1.96·√(sd₁²/n₁ + sd₀²/n₀).
* An arm with fewer than ``k`` listeners with plays is suppressed. The
  ``fallback`` arm (listeners without personalisation consent) is not
  randomised, so it is reported without a comparison to control.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

KPIS = ("skip_rate", "completion_rate", "plays_per_session", "novelty")
Z95 = 1.959964


def per_listener(arms, events, history):
    """Spark rows (user_id, arm, KPIs...) for listeners of ``arms`` with plays
    in ``events``; ``history`` holds (user_id, track_id) played before."""
    from pyspark.sql import functions as F
    seen = history.select("user_id", "track_id").distinct().withColumn("seen", F.lit(1))
    plays = (events.select("user_id", "track_id", "skipped", "completed", "session_id")
             .join(arms, "user_id").join(seen, ["user_id", "track_id"], "left"))
    return (plays.groupBy("user_id", "arm")
            .agg(F.count("*").alias("plays"),
                 F.sum(F.coalesce(F.col("skipped"), F.lit(False)).cast("long")).alias("skips"),
                 F.sum(F.col("completed").cast("long")).alias("completions"),
                 F.countDistinct("session_id").alias("sessions"),
                 F.sum(F.when(F.col("seen").isNull(), 1).otherwise(0)).alias("new_plays"))
            .select("user_id", "arm",
                    (F.col("skips") / F.col("plays")).alias("skip_rate"),
                    (F.col("completions") / F.col("plays")).alias("completion_rate"),
                    (F.col("plays") / F.col("sessions")).alias("plays_per_session"),
                    (F.col("new_plays") / F.col("plays")).alias("novelty")))


NOT_RANDOMISED = ("fallback",)


def arm_kpis(arms, events, history, min_listeners: int, control: str = "control") -> list[dict]:
    """One dict per arm: listeners served, listeners with plays, and per KPI
    mean, 95% CI and the difference against ``control`` with its 95% CI."""
    from pyspark.sql import functions as F
    rows = per_listener(arms, events, history)
    aggs = [F.count("*").alias("n")]
    for k in KPIS:
        aggs += [F.avg(k).alias(f"{k}_mean"), F.stddev_samp(k).alias(f"{k}_sd")]
    stats = {r["arm"]: r.asDict() for r in rows.groupBy("arm").agg(*aggs).collect()}
    served = {r["arm"]: r["count"] for r in arms.groupBy("arm").count().collect()}
    base = stats.get(control)
    base_ok = base is not None and base["n"] >= min_listeners
    out = []
    for arm in sorted(served):
        s = stats.get(arm, {"n": 0})
        entry = {"arm": arm, "listeners_served": int(served[arm]), "listeners_with_plays": int(s["n"])}
        if s["n"] < min_listeners:
            entry["suppressed"] = True
            out.append(entry)
            continue
        entry["suppressed"] = False
        for k in KPIS:
            mean, sd, n = float(s[f"{k}_mean"]), float(s[f"{k}_sd"] or 0.0), int(s["n"])
            half = Z95 * sd / math.sqrt(n)
            kpi = {"mean": round(mean, 6), "ci95": [round(mean - half, 6), round(mean + half, 6)]}
            if base_ok and arm != control and arm not in NOT_RANDOMISED:
                b_mean, b_sd, b_n = float(base[f"{k}_mean"]), float(base[f"{k}_sd"] or 0.0), int(base["n"])
                diff = mean - b_mean
                half_d = Z95 * math.sqrt(sd ** 2 / n + b_sd ** 2 / b_n)
                kpi["vs_control"] = {"difference": round(diff, 6),
                                     "ci95": [round(diff - half_d, 6), round(diff + half_d, 6)],
                                     "significant": bool(abs(diff) > half_d)}
            entry[k] = kpi
        out.append(entry)
    return out


def previous_day(ds: str, days: int = 1) -> str:
    return str(date.fromisoformat(ds) - timedelta(days=days))
