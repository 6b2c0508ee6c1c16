"""Sequencing for the playlists stage: turn a ranked list into a playlist.

Pure functions over per-listener lists (run on Spark by the playlists stage,
a batch of listeners at a time: ``order_batch`` orders a batch's lists together).

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

import functools
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


def camelot_codes(key, mode) -> tuple[np.ndarray, np.ndarray]:
    """``camelot`` over arrays: (wheel number, -1 when key or mode is unknown; letter is B)."""
    k, m = np.asarray(key, dtype=float), np.asarray(mode, dtype=float)
    known = ~(np.isnan(k) | np.isnan(m))
    k = np.where(known, np.trunc(k), 0).astype(np.int64)
    major = np.where(known, np.trunc(m), 0).astype(np.int64) == 1
    tonic = np.where(major, k, (k + 3) % 12)
    return np.where(known, (tonic * 7 % 12 + 7) % 12 + 1, -1), known & major


def _wheel_codes(wheel) -> tuple[np.ndarray, np.ndarray]:
    num = np.array([w[0] if w else -1 for w in wheel])
    letter = np.array([w[1] == "B" if w else False for w in wheel])
    return num, letter


def _finite(x: np.ndarray, fill: float) -> np.ndarray:
    """``np.nan_to_num(x, nan=fill)``, skipped when every value is finite."""
    return x if np.isfinite(x).all() else np.nan_to_num(x, nan=fill)


def _costs(t, e, num, letter, cfg: SequencingConfig, pairs=None) -> np.ndarray:
    """The transition cost formula: for every ordered pair of tracks (the last
    axis against itself, so a stack of lists gives a stack of matrices) or, with
    ``pairs``, for the given (from, to) positions. Each pair gets the same
    float whichever way it is computed."""
    if pairs is None:
        ta, tb, ea, eb = t[..., :, None], t[..., None, :], e[..., :, None], e[..., None, :]
        na, nb, la, lb = num[..., :, None], num[..., None, :], letter[..., :, None], letter[..., None, :]
    else:
        i, j = pairs
        ta, tb, ea, eb, na, nb, la, lb = t[i], t[j], e[i], e[j], num[i], num[j], letter[i], letter[j]
    dt = _finite(np.minimum(np.abs(ta - tb) / 60.0, 1.0), 0.5)
    de = _finite(np.abs(ea - eb), 0.5)
    steps = np.abs(na - nb) % 12
    dk = np.minimum(steps, 12 - steps) + (la != lb)
    unknown = (na < 0) | (nb < 0)
    dk = np.where(unknown, 3, dk) / 7.0
    return cfg.w_tempo * dt + cfg.w_energy * de + cfg.w_key * dk


def transition_costs(tempo, energy, wheel, cfg: SequencingConfig) -> np.ndarray:
    """Matrix C[i, j] of the cost of playing track j right after track i."""
    num, letter = _wheel_codes(wheel)
    return _costs(np.asarray(tempo, float), np.asarray(energy, float), num, letter, cfg)


def transition_matrix(tempo, energy, key, mode, cfg: SequencingConfig) -> np.ndarray:
    """``transition_costs`` from raw key and mode columns."""
    num, letter = camelot_codes(key, mode)
    return _costs(np.asarray(tempo, float), np.asarray(energy, float), num, letter, cfg)


def consecutive_costs(tempo, energy, key, mode, cfg: SequencingConfig) -> np.ndarray:
    """Cost of each transition of a played list: entry i is track i → track i + 1."""
    n = len(tempo)
    if n < 2:
        return np.zeros(0)
    num, letter = camelot_codes(key, mode)
    idx = np.arange(n - 1)
    return _costs(np.asarray(tempo, float), np.asarray(energy, float), num, letter, cfg, pairs=(idx, idx + 1))


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
    return order_indices(frame["tempo"].to_numpy(), frame["energy"].to_numpy(dtype=float), frame["key"].to_numpy(),
                         frame["mode"].to_numpy(), frame["artist_id"].to_numpy(), cfg, start)


def order_indices(tempo, energy, key, mode, artists, cfg: SequencingConfig, start: int | None = None) -> list[int]:
    """``order_tracks`` over column arrays (one entry per chosen track)."""
    return order_many([(tempo, energy, key, mode, artists, start)], cfg)[0]


def order_many(lists, cfg: SequencingConfig) -> list[list[int]]:
    """Playlist order of many lists at once, each as ``order_tracks`` orders it;
    ``lists`` holds one (tempo, energy, key, mode, artist_id, start) tuple of
    column arrays per list (see ``order_batch``)."""
    codes: dict = {}
    column = lambda k: np.concatenate([np.asarray(x[k], dtype=float) for x in lists]) if lists else np.zeros(0)  # noqa: E731
    artist = np.array([codes.setdefault(a, len(codes)) for x in lists for a in x[4]], dtype=np.int64)
    ends = np.cumsum([len(x[4]) for x in lists]).tolist()
    rows = [list(range(lo, hi)) for lo, hi in zip([0] + ends[:-1], ends)]
    return order_batch(column(0), column(1), column(2), column(3), artist, rows, [x[5] for x in lists], cfg)


def order_batch(tempo, energy, key, mode, artist, rows, starts, cfg: SequencingConfig) -> list[list[int]]:
    """Playlist order of many lists whose tracks are rows of shared column
    arrays: list m holds rows ``rows[m]``, opens with its position
    ``starts[m]`` (None: its first), and comes back as positions into
    ``rows[m]``; ``artist`` holds one integer code per artist.

    Lists of the same length are ordered together: the greedy construction
    and the 2-opt moves run as numpy operations over the whole stack, which is
    what makes a night of listeners fast.
    """
    out: list = [None] * len(rows)
    by_length: dict = {}
    for m, r in enumerate(rows):
        n = len(r)
        if n <= 2:
            idx = list(range(n))
            if starts[m] is not None and starts[m] in idx:
                idx.remove(starts[m])
                idx.insert(0, starts[m])
            out[m] = idx if _valid(idx, artist[r]) else list(range(n))
        else:
            by_length.setdefault(n, []).append(m)
    for n, members in by_length.items():
        idx = np.array([rows[m] for m in members], dtype=np.int64)
        num, letter = camelot_codes(key[idx], mode[idx])
        energy_ = energy[idx]
        C = _costs(tempo[idx], energy_, num, letter, cfg)
        codes = artist[idx]
        same = codes[:, :, None] == codes[:, None, :]
        first = np.array([starts[m] if starts[m] is not None else 0 for m in members])
        orders = _greedy(C, same, first)
        lists = np.arange(len(members))
        broken = same[lists[:, None], orders[:, :-1], orders[:, 1:]].any(axis=1)
        for b in np.flatnonzero(broken):
            # Greedy can corner itself; fall back to the relevance order repaired by swaps.
            orders[b] = _repair(list(range(n)), codes[b], fixed_first=starts[members[b]] is not None)
        orders = _two_opt(orders, C, same, energy_, cfg)
        for m, o in zip(members, orders.tolist()):
            out[m] = o
    return out


def _greedy(C: np.ndarray, same: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Nearest-neighbour construction for a stack of lists: from ``first``,
    another artist first, then the cheapest transition (argmin keeps the
    lowest index on ties). Placed tracks cost infinity, so a step is one
    argmin per list."""
    B, n, _ = C.shape
    rows = np.arange(B)
    step = C + 1e6 * same
    step[rows, :, first] = np.inf
    orders = np.empty((B, n), dtype=np.int64)
    orders[:, 0] = cur = first
    for s in range(1, n):
        cur = step[rows, cur].argmin(axis=1)
        orders[:, s] = cur
        step[rows, :, cur] = np.inf
    return orders


@functools.lru_cache(maxsize=64)
def _move_grid(n: int):
    """Every 2-opt move on n tracks, in scan order (i, then j), as index arrays.

    Move (i, j), 1 <= i < j <= n - 1 (the start stays put), reverses
    positions i..j. ``anti`` lays out a flattened n x n matrix by
    anti-diagonal: row s holds entries (k, s - k), and (0, 0) where s - k is
    outside the matrix.
    """
    r, c = np.triu_indices(n - 1, k=1)
    i, j = r + 1, c + 1
    s, k = np.arange(2 * n - 1)[:, None], np.arange(n)[None, :]
    inside = (s - k >= 0) & (s - k < n)
    anti = np.where(inside, k * n + (s - k), 0)        # outside the matrix: entry (0, 0), which is 0 in Q
    return i, j, anti, (i + j) * n + j, (i + j) * n + i - 1


def _move_deltas(orders: np.ndarray, lists: np.ndarray, Cp: np.ndarray, Cb: np.ndarray, e: np.ndarray,
                 target: np.ndarray, w_arc: float, grid) -> np.ndarray:
    """Cost change of every 2-opt move of each listed order (rows of ``orders``).

    Reversing positions i..j of order o changes the transitions a→b and c→d
    (a = o[i-1], b = o[i], c = o[j], d = o[j+1]) into a→c and b→d, and the arc
    cost of the segment by sum over k in [i, j] of Q[k, i + j - k] with
    Q[k, p] = |e[o[p]] - target[k]| - |e[o[k]] - target[k]|: a sum along an
    anti-diagonal of Q, read off prefix sums (Q's diagonal is 0). Transitions into the same artist
    cost 1e6 more (``Cb``), so moves that break the artist rule look bad.
    """
    i, j, anti, end, before = grid
    B, n = orders.shape
    padded = np.concatenate([orders, np.full((B, 1), n)], axis=1)   # position n: no next track, cost 0
    base = (lists * (n + 1) * (n + 1))[:, None]
    a, b, c, d = orders[:, i - 1], orders[:, i], orders[:, j], padded[:, j + 1]
    flat = lambda x, y: base + x * (n + 1) + y  # noqa: E731
    Cb, Cp = Cb.reshape(-1), Cp.reshape(-1)
    delta = Cb[flat(a, c)] - Cp[flat(a, b)] + Cb[flat(b, d)] - Cp[flat(c, d)]
    eo = e[lists[:, None], orders]
    Q = (np.abs(eo[:, None, :] - target[None, :, None]) - np.abs(eo - target)[:, :, None]).reshape(B, n * n)
    sums = np.cumsum(Q[:, anti], axis=2).reshape(B, -1)
    return delta + w_arc * (sums[:, end] - sums[:, before])


def two_opt(order, C, energy, artists, cfg: SequencingConfig) -> list[int]:
    """Reverse segments while that lowers the total cost and keeps the rules
    (see ``_two_opt``); one list."""
    codes: dict = {}
    artist = np.array([codes.setdefault(a, len(codes)) for a in artists])
    return _two_opt(np.array([order]), np.asarray(C)[None], (artist[:, None] == artist[None, :])[None],
                    np.asarray(energy, dtype=float)[None], cfg)[0].tolist()


def _two_opt(orders: np.ndarray, C: np.ndarray, same: np.ndarray, energy: np.ndarray,
             cfg: SequencingConfig) -> np.ndarray:
    """2-opt for a stack of lists of one length: reverse segments while that
    lowers the total cost (transitions + arc) and keeps the rules.

    Per list: first improvement in scan order (i ascending, then j), the
    start fixed, at most ``max_passes`` passes, stopping after a pass without
    a move. C is symmetric, so a move only changes the two boundary
    transitions and the arc cost of the segment. Every list's moves are
    costed at once (``_move_deltas``); a move is taken when its cost change is
    below -1e-12, and when that change is within rounding of -1e-12 it is
    recomputed move by move (``_exact_delta``), so the moves taken are those
    of a scan that costs one move at a time.
    """
    orders = np.array(orders, dtype=np.int64)
    B, n = orders.shape
    if n < 3 or cfg.max_passes <= 0:
        return orders
    e = _finite(np.asarray(energy, dtype=float), 0.5)
    target = arc_targets(n, cfg)
    grid = _move_grid(n)
    i_of, j_of = grid[0], grid[1]
    Cp = np.zeros((B, n + 1, n + 1))
    Cp[:, :n, :n] = C
    Cb = Cp.copy()
    Cb[:, :n, :n] += 1e6 * same
    # Rounding in the vectorised sums is far below this band (about 1e-15 of the costs' scale).
    scale = 1.0 + 4 * np.abs(C).max() + 2 * abs(cfg.w_arc) * n * np.abs(e[..., None] - target).max()
    band = 1e-9 * scale
    threshold = -1e-12
    scan = np.zeros(B, dtype=np.int64)           # the next move to try, per list
    passes = np.zeros(B, dtype=np.int64)
    improved = np.zeros(B, dtype=bool)
    active = np.arange(B)
    while len(active):
        delta = _move_deltas(orders[active], active, Cp, Cb, e, target, cfg.w_arc, grid)
        maybe = (delta < threshold + band) & (np.arange(len(i_of))[None, :] >= scan[active][:, None])
        found = maybe.any(axis=1)
        first = maybe.argmax(axis=1)
        still = np.ones(len(active), dtype=bool)
        # End of a pass: another one if the pass moved anything and passes are left.
        ended = np.flatnonzero(~found)
        again = improved[active[ended]] & (passes[active[ended]] + 1 < cfg.max_passes)
        restart = active[ended[again]]
        passes[restart] += 1
        scan[restart], improved[restart] = 0, False
        still[ended[~again]] = False
        # Every other list tries its first candidate move (i, j), then scans on from the next one.
        k = np.flatnonzero(found)
        b, q = active[k], first[k]
        i, j = i_of[q], j_of[q]
        scan[b] = q + 1
        o = orders[b]
        at = np.arange(len(k))
        # A move that would put one artist twice in a row is skipped.
        breaks = same[b, o[at, i - 1], o[at, j]] | ((j + 1 < n) & same[b, o[at, i], o[at, np.minimum(j + 1, n - 1)]])
        take = ~breaks & (delta[k, q] < threshold - band)
        # Within rounding of the threshold: costed move by move.
        for m in np.flatnonzero(~breaks & ~take).tolist():
            take[m] = _exact_delta(o[m].tolist(), int(i[m]), int(j[m]), C[b[m]], e[b[m]], target, cfg.w_arc) < threshold
        if take.any():
            pos = np.arange(n)[None, :]
            lo, hi = i[take][:, None], j[take][:, None]
            src = np.where((pos >= lo) & (pos <= hi), lo + hi - pos, pos)
            orders[b[take]] = np.take_along_axis(o[take], src, axis=1)
            improved[b[take]] = True
        active = active[still]
    return orders


def _exact_delta(order, i, j, C, e, target, w_arc) -> float:
    """The cost change of reversing order[i..j], costed on its own."""
    n = len(order)
    a, b, c = order[i - 1], order[i], order[j]
    d = order[j + 1] if j + 1 < n else None
    delta = C[a, c] - C[a, b]
    if d is not None:
        delta += C[b, d] - C[c, d]
    seg = order[i:j + 1]
    old_arc = np.abs(e[seg] - target[i:j + 1]).sum()
    new_arc = np.abs(e[seg[::-1]] - target[i:j + 1]).sum()
    return delta + w_arc * (new_arc - old_arc)


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
