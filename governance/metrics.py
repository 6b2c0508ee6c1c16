"""Exposure and concentration metrics.

Definitions (stated once, used by the audit and the reports):

* Position weight: v_j = 1 / log2(1 + j) for 1-based position j (position 1
  has weight 1, position 3 has 0.5).
* Exposure of a track: E_i = Σ over listeners Σ over positions v_j·[track at
  j = i]. An artist's (label's) exposure is the sum over its tracks. Shares
  are E / ΣE; when ΣE = 0 every share is 0.
* Gini of exposure is computed over a population that includes items with
  zero exposure (catalogue artists nobody was shown), with the standard
  formula on ascending values x_(1..n): G = Σ(2i - n - 1)·x_(i) / (n·Σx);
  0 = perfectly even, → 1 = everything to one item; 0 when Σx = 0 or n < 2.
* Lorenz curve: cumulative share of items (ascending by exposure) against
  cumulative share of exposure, starting at (0, 0).
* HHI (Herfindahl-Hirschman index) = Σ s_i², from 1/n (even) to 1 (one item
  takes all); 0 when ΣE = 0.
* Entropy H = -Σ s_i·log2 s_i in bits over items with s_i > 0; normalised
  entropy H / log2(n) over the whole population (1 = even); both 0 when
  ΣE = 0 or n < 2.
* Top-1% share: the share of exposure held by the ceil(1% of n) most exposed
  items (at least one item); ties at the cut do not matter, the values are
  the same.
"""

from __future__ import annotations

import numpy as np


def position_weight(position_col):
    """Spark column v_j = 1 / log2(1 + j)."""
    from pyspark.sql import functions as F
    return F.lit(1.0) / F.log2(F.lit(1.0) + position_col.cast("double"))


def exposure(playlists, by: str = "track_id"):
    """Spark DataFrame (by, exposure, impressions) from playlist rows."""
    from pyspark.sql import functions as F
    return (playlists.withColumn("v", position_weight(F.col("position")))
            .groupBy(by).agg(F.sum("v").alias("exposure"), F.count("*").alias("impressions")))


def gini(values) -> float:
    x = np.sort(np.asarray(values, dtype=float))
    n, total = x.size, x.sum()
    if n < 2 or total == 0:
        return 0.0
    i = np.arange(1, n + 1)
    return float(np.sum((2 * i - n - 1) * x) / (n * total))


def lorenz(values, points: int = 101) -> dict:
    """Lorenz curve sampled at ``points`` item shares (for plotting)."""
    x = np.sort(np.asarray(values, dtype=float))
    n = x.size
    if n == 0 or x.sum() == 0:
        grid = np.linspace(0, 1, points)
        return {"item_share": grid.round(4).tolist(), "exposure_share": grid.round(4).tolist()}
    cum = np.concatenate([[0.0], np.cumsum(x) / x.sum()])
    grid = np.linspace(0, 1, points)
    return {"item_share": grid.round(4).tolist(),
            "exposure_share": np.interp(grid * n, np.arange(n + 1), cum).round(6).tolist()}


def shares(values) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    return np.zeros_like(x) if x.sum() == 0 else x / x.sum()


def hhi(values) -> float:
    s = shares(values)
    return float(np.sum(s ** 2))


def entropy(values) -> tuple[float, float]:
    """(entropy in bits, normalised entropy)."""
    x = np.asarray(values, dtype=float)
    if x.size < 2 or x.sum() == 0:
        return 0.0, 0.0
    s = x[x > 0] / x.sum()
    h = float(-np.sum(s * np.log2(s)))
    return h, h / float(np.log2(x.size))


def top_share(values, fraction: float = 0.01) -> float:
    x = np.sort(np.asarray(values, dtype=float))[::-1]
    if x.size == 0 or x.sum() == 0:
        return 0.0
    n = max(1, int(np.ceil(fraction * x.size - 1e-9)))
    return float(x[:n].sum() / x.sum())


def concentration(values) -> dict:
    """Gini, HHI, entropy (bits and normalised) and top-1% share of one population."""
    h, hn = entropy(values)
    return {"gini": round(gini(values), 6), "hhi": round(hhi(values), 6), "entropy_bits": round(h, 6),
            "entropy_normalised": round(hn, 6), "top_1pct_share": round(top_share(values), 6),
            "population": int(np.asarray(values).size)}
