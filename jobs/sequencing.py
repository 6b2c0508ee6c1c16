"""Sequencing for the playlists stage: turn a ranked list into a playlist.

Pure functions over small per-listener frames (run inside Spark's
``applyInPandas``, one listener at a time).

* Camelot wheel: a key (pitch class 0–11) and mode (1 major, 0 minor) map to
  a wheel number 1–12 and letter B (major) / A (minor). Harmonic distance =
  steps around the wheel (0–6) + 1 if the letter changes; ±1 step or the
  relative major/minor are the classic compatible moves (distance 1).
* Transition cost between consecutive tracks a → b:
  w_tempo·min(|Δtempo| / 60 BPM, 1) + w_energy·|Δenergy| + w_key·(harmonic distance / 7).
* Arc cost of a track at position j of n: w_arc·|energy − target(j)| with
  target(j) = low + (high − low)·sin(π·j/(n−1)): warm-up, peak, cool-down.
* Order: choose the tracks by relevance first (top by score under the
  per-artist cap), then a greedy nearest-neighbour construction from the
  start (the seed track if any, else the best-scored one), then 2-opt moves
  that lower the total cost and keep every rule (no two adjacent tracks by
  one artist, the start fixed). Deterministic: ties by track_id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class SequencingConfig:
    w_tempo: float = 1.0
    w_energy: float = 1.0
    w_key: float = 1.0
    w_arc: float = 0.5
    arc_low: float = 0.4
    arc_high: float = 0.8
    max_passes: int = 4


def camelot(key, mode) -> tuple[int, str] | None:
    """(number, letter) on the Camelot wheel, or None when key/mode are unknown."""
    if key is None or mode is None or (isinstance(key, float) and math.isnan(key)) \
            or (isinstance(mode, float) and math.isnan(mode)):
        return None
    key, mode = int(key), int(mode)
    major = key if mode == 1 else (key + 3) % 12          # a minor key sits with its relative major
    return (major * 7 % 12 + 7) % 12 + 1, ("B" if mode == 1 else "A")


def harmonic_distance(a, b) -> int:
    """Wheel steps plus a letter change; 3 (a neutral middle) when a key is unknown."""
    if a is None or b is None:
        return 3
    steps = abs(a[0] - b[0]) % 12
    return min(steps, 12 - steps) + (a[1] != b[1])


def transition_costs(tempo, energy, wheel, cfg: SequencingConfig) -> np.ndarray:
    """Matrix C[i, j] of the cost of playing track j right after track i."""
    t, e = np.asarray(tempo, float), np.asarray(energy, float)
    dt = np.minimum(np.abs(t[:, None] - t[None, :]) / 60.0, 1.0)
    de = np.abs(e[:, None] - e[None, :])
    dt, de = np.nan_to_num(dt, nan=0.5), np.nan_to_num(de, nan=0.5)
    num = np.array([w[0] if w else -1 for w in wheel])
    letter = np.array([w[1] == "B" if w else False for w in wheel])
    steps = np.abs(num[:, None] - num[None, :]) % 12
    dk = np.minimum(steps, 12 - steps) + (letter[:, None] != letter[None, :])
    unknown = (num[:, None] < 0) | (num[None, :] < 0)
    dk = np.where(unknown, 3, dk) / 7.0
    return cfg.w_tempo * dt + cfg.w_energy * de + cfg.w_key * dk


def arc_targets(n: int, cfg: SequencingConfig) -> np.ndarray:
    if n <= 1:
        return np.full(n, cfg.arc_high)
    return cfg.arc_low + (cfg.arc_high - cfg.arc_low) * np.sin(np.pi * np.arange(n) / (n - 1))


def total_cost(order, C, energy, artists, cfg: SequencingConfig) -> float:
    e = np.nan_to_num(np.asarray(energy, float)[order], nan=0.5)
    arc = cfg.w_arc * np.abs(e - arc_targets(len(order), cfg)).sum()
    return float(sum(C[a, b] for a, b in zip(order, order[1:])) + arc)


def _valid(order, artists) -> bool:
    return all(artists[a] != artists[b] for a, b in zip(order, order[1:]))


def order_tracks(frame: pd.DataFrame, cfg: SequencingConfig, start: int | None = None) -> list[int]:
    """Row indices of ``frame`` (already the chosen tracks) in playlist order."""
    n = len(frame)
    if n <= 2:
        idx = list(range(n))
        if start is not None and start in idx:
            idx.remove(start)
            idx.insert(0, start)
        return idx if _valid(idx, frame["artist_id"].to_numpy()) else list(range(n))
    artists = frame["artist_id"].to_numpy()
    energy = frame["energy"].to_numpy(dtype=float)
    wheel = [camelot(k, m) for k, m in zip(frame["key"], frame["mode"])]
    C = transition_costs(frame["tempo"], energy, wheel, cfg)
    first = start if start is not None else 0
    order = [first]
    free = np.ones(n, bool)
    free[first] = False
    same = artists[:, None] == artists[None, :]
    for _ in range(n - 1):
        cur = order[-1]
        # Another artist first, then the cheapest transition; argmin keeps the lowest index on ties.
        cost = np.where(free, C[cur] + 1e6 * same[cur], np.inf)
        nxt = int(np.argmin(cost))
        order.append(nxt)
        free[nxt] = False
    if not _valid(order, artists):
        # Greedy can corner itself; fall back to the relevance order repaired by swaps.
        order = _repair(list(range(n)), artists, fixed_first=start is not None)
    return two_opt(order, C, energy, artists, cfg)


def two_opt(order, C, energy, artists, cfg: SequencingConfig) -> list[int]:
    """Reverse segments while that lowers the total cost and keeps the rules.

    C is symmetric, so reversing order[i..j] only changes the two boundary
    transitions and the arc cost of the segment: each move is evaluated in
    O(segment) instead of re-costing the whole list.
    """
    n = len(order)
    e = np.nan_to_num(np.asarray(energy, float), nan=0.5)
    target = arc_targets(n, cfg)
    order = list(order)
    for _ in range(cfg.max_passes):
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, n):
                a, b, c = order[i - 1], order[i], order[j]
                d = order[j + 1] if j + 1 < n else None
                if artists[a] == artists[c] or (d is not None and artists[b] == artists[d]):
                    continue
                delta = C[a, c] - C[a, b]
                if d is not None:
                    delta += C[b, d] - C[c, d]
                seg = order[i:j + 1]
                old_arc = np.abs(e[seg] - target[i:j + 1]).sum()
                new_arc = np.abs(e[seg[::-1]] - target[i:j + 1]).sum()
                delta += cfg.w_arc * (new_arc - old_arc)
                if delta < -1e-12:
                    order[i:j + 1] = seg[::-1]
                    improved = True
        if not improved:
            break
    return order


def _repair(order, artists, fixed_first: bool):
    out = list(order)
    for i in range(1, len(out)):
        if artists[out[i]] == artists[out[i - 1]]:
            for j in range(i + 1, len(out)):
                if artists[out[j]] != artists[out[i - 1]] and (i + 1 >= len(out) or artists[out[j]] != artists[out[i + 1]]):
                    out[i], out[j] = out[j], out[i]
                    break
    return out


def mean_transition_cost(frame: pd.DataFrame, order, cfg: SequencingConfig) -> float:
    if len(order) < 2:
        return 0.0
    wheel = [camelot(k, m) for k, m in zip(frame["key"], frame["mode"])]
    C = transition_costs(frame["tempo"], frame["energy"].to_numpy(dtype=float), wheel, cfg)
    return float(np.mean([C[a, b] for a, b in zip(order, order[1:])]))


def ndcg_vs_ranked(order, k: int = 10) -> float:
    """NDCG@k of a playlist order against the reranked order it came from:
    the track at reranked position r (0-based, of n) has gain n − r."""
    n = len(order)
    if n == 0:
        return 1.0
    gains = np.array([n - r for r in order], float)
    disc = 1 / np.log2(np.arange(2, n + 2))
    kk = min(k, n)
    ideal = (np.sort(gains)[::-1][:kk] * disc[:kk]).sum()
    return float((gains[:kk] * disc[:kk]).sum() / ideal)
