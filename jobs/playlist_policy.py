"""Playlist policy for the playlists stage: listener controls, governance
overrides, exposure-aware re-ranking, experiments and exploration.

Pure functions over one listener's scored candidates (a pandas frame, or its
columns as numpy arrays: ``select_rows``, ``explore_rows``), run on Spark by
the playlists stage, listener by listener.

Listener controls (``silver.user_controls``):
* ``excluded_artist_ids`` never appear;
* ``seed_track_ids`` open the playlist, in the order given;
* each of ``locked_artist_ids`` and ``locked_eras`` (release decade such as
  ``1990s``) has at least one track, when the catalogue has one;
* ``novelty`` n in [0, 1]: round(n · length) tracks are ones the listener
  never played in the feature window, the rest are familiar; when one pool
  runs short the other fills in and the achieved share is reported.

Governance overrides in force on ds: ``suppress`` removes the artist or
track, ``demote`` moves it below every non-demoted candidate, ``boost`` moves
it above every non-boosted one; each affected row records the override.

Exposure-aware re-ranking (the ``fair`` policy): a FA*IR-style constrained
greedy: at every prefix of length i the playlist holds at least
floor(target_share · i) tracks from long-tail or emerging artists, taking the
best-scored protected track whenever the constraint binds.

Experiments: a listener's arm is fixed by sha256(user_id:experiment) mod
10,000 against the arms' cumulative weights. Exploration: a share of
positions goes to a uniformly drawn under-exposed candidate (not by an
excluded artist, not suppressed), drawn with a
generator seeded by (user, ds); such rows carry propensity 1/|pool|, every
other row propensity 1.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from setlist.jobs import sequencing


@dataclass(frozen=True)
class Arm:
    name: str
    weight: float
    policy: str = "control"            # control | fair | novelty_high
    target_share: float = 0.0          # fair: minimum protected share per prefix
    novelty: float | None = None       # novelty_high: default novelty when the listener set none


@dataclass(frozen=True)
class PolicyConfig:
    length: int = 20
    max_per_artist: int = 2
    experiment: str = "playlist_policy_v1"
    arms: tuple = (Arm("control", 1.0),)
    exploration_share: float = 0.0
    sequencing: sequencing.SequencingConfig = field(default_factory=sequencing.SequencingConfig)


def assign_arm(user_id: str, experiment: str, arms) -> Arm:
    h = int(hashlib.sha256(f"{user_id}:{experiment}".encode()).hexdigest()[:8], 16) % 10_000
    total = sum(a.weight for a in arms)
    edge = 0.0
    for a in arms:
        edge += a.weight / total * 10_000
        if h < edge:
            return a
    return arms[-1]


def era_of(release_date) -> str | None:
    if release_date is None or (isinstance(release_date, float) and math.isnan(release_date)) or pd.isna(release_date):
        return None
    return f"{(pd.Timestamp(release_date).year // 10) * 10}s"


def apply_overrides(c: pd.DataFrame) -> pd.DataFrame:
    """Drop suppressed rows; move demoted below and boosted above the rest."""
    c = c[c["override_action"].fillna("") != "suppress"].copy()
    lo, hi = c["score"].min(), c["score"].max()
    span = (hi - lo) if len(c) and hi > lo else 1.0
    c.loc[c["override_action"] == "demote", "score"] -= 2 * span + 1
    c.loc[c["override_action"] == "boost", "score"] += 2 * span + 1
    return c


# --- one listener's candidates as column arrays ---------------------------------
# The policy reads these columns; row i of every array is candidate i.
COLUMNS = ("track_id", "artist_id", "score", "source", "played_before", "protected", "under_exposed",
           "override_action", "release_date")


def candidate_arrays(c: pd.DataFrame) -> dict:
    """The policy's view of a candidate frame: {column: numpy array}, plus
    ``track_rank`` (the rank of each track_id in ascending order, equal ids
    equal ranks, missing ids last)."""
    cols = {k: c[k].to_numpy() for k in COLUMNS if k in c}
    cols["track_rank"] = track_ranks(cols["track_id"])
    return cols


def track_ranks(track_ids: np.ndarray) -> np.ndarray:
    codes, uniques = pd.factorize(track_ids, sort=True)
    return np.where(codes < 0, len(uniques), codes)


class _Picker:
    """The tracks picked so far, under the per-artist cap.

    ``take`` walks a pool (positions in the order to try) and picks up to n
    tracks not picked yet whose artist is under the cap. A track it passes
    over stays ineligible for good (picked, or its artist capped: counts only
    grow), so ``take`` returns where it stopped and a later call on the same
    pool may resume there with the same result as a walk from the start.
    """

    def __init__(self, track_id, artist_id, max_per_artist: int):
        self.track_id, self.artist_id, self.cap = track_id, artist_id, max_per_artist
        self.rows: list[int] = []
        self.tracks: set = set()
        self.per_artist: dict = {}

    def take(self, pool, n: int, start: int = 0) -> int:
        i = start
        while i < len(pool):
            if n <= 0:
                return i
            r = pool[i]
            i += 1
            t, a = self.track_id[r], self.artist_id[r]
            if t in self.tracks or self.per_artist.get(a, 0) >= self.cap:
                continue
            self.rows.append(r)
            self.tracks.add(t)
            self.per_artist[a] = self.per_artist.get(a, 0) + 1
            n -= 1
        return i


def _ranked(cand: dict, excluded) -> tuple[list[int], np.ndarray]:
    """Positions of the eligible candidates, best first, one per track, and
    every candidate's score after the overrides.

    Eligible: artist not excluded, not suppressed. Demoted scores drop and
    boosted scores rise by 2 · (max − min score of the eligible) + 1 (by 1
    when all scores are equal). Order: score descending (missing last), then
    track_id ascending, then input order; a track's first row in that order
    is kept.
    """
    score = np.array(cand["score"], dtype=float)
    suppress, demote, boost = _actions(cand)
    keep = ~suppress
    if excluded:
        excluded = set(excluded)
        keep &= np.fromiter((a not in excluded for a in cand["artist_id"]), bool, len(score))
    kept = score[keep]
    known = kept[~np.isnan(kept)]
    lo, hi = (known.min(), known.max()) if len(known) else (np.nan, np.nan)
    span = (hi - lo) if len(kept) and hi > lo else 1.0
    score[demote] -= 2 * span + 1
    score[boost] += 2 * span + 1
    idx = np.flatnonzero(keep)
    s, rank = score[idx], cand["track_rank"][idx]
    missing = np.isnan(s)
    idx = idx[np.lexsort((rank, -np.where(missing, 0.0, s), missing))]
    ranks = cand["track_rank"][idx]
    # ``has_duplicates``: False when the caller knows every track_id is distinct.
    if cand.get("has_duplicates", True) and len(np.unique(ranks)) < len(ranks):
        seen: set = set()
        idx = [r for r, k in zip(idx.tolist(), ranks.tolist()) if not (k in seen or seen.add(k))]
        return idx, score
    return idx.tolist(), score


def _actions(cand: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(suppressed, demoted, boosted) flags per candidate."""
    if "suppress" in cand:
        return cand["suppress"], cand["demote"], cand["boost"]
    action = np.asarray(cand["override_action"], dtype=object)
    return action == "suppress", action == "demote", action == "boost"


def action_flags(cand: dict) -> None:
    """Add the override flags ``suppress``, ``demote``, ``boost`` to column
    arrays (once for a batch of listeners: the per-listener slices carry them)."""
    cand["suppress"], cand["demote"], cand["boost"] = _actions(cand)


def select_rows(cand: dict, controls: dict, arm: Arm, cfg: PolicyConfig) -> tuple[list[int], list[float], list]:
    """``select`` over column arrays: (positions of the chosen candidates, their
    scores after the overrides, seed track ids in order)."""
    L = cfg.length
    order, score = _ranked(cand, controls.get("excluded_artist_ids") or [])
    tid, artist = cand["track_id"], cand["artist_id"]
    pick = _Picker(tid, artist, cfg.max_per_artist)
    seeds = []
    if controls.get("seed_track_ids"):
        where: dict = {}
        for r in order:
            where.setdefault(tid[r], r)
        seeds = [s for s in controls["seed_track_ids"] if s in where]
        for s in seeds:
            pick.take([where[s]], 1)
    locked = controls.get("locked_artist_ids") or []
    if locked:
        by_artist: dict = {}
        for r in order:
            by_artist.setdefault(artist[r], []).append(r)
        for a in locked:
            if a not in pick.per_artist:
                pick.take(by_artist.get(a, []), 1)
    locked_eras = controls.get("locked_eras") or []
    if locked_eras:
        dates = cand.get("release_date")
        era = {r: era_of(dates[r]) if dates is not None else None for r in order}
        for e in locked_eras:
            if not any(era[r] == e for r in pick.rows):
                pick.take([r for r in order if era[r] == e], 1)
    novelty = controls.get("novelty")
    if novelty is None or (isinstance(novelty, float) and math.isnan(novelty)):
        novelty = arm.novelty
    played = cand["played_before"]
    rest = L - len(pick.rows)
    if novelty is not None and rest > 0:
        want_new = max(0, round(novelty * L) - sum(not played[r] for r in pick.rows))
        want_new = min(want_new, rest)
        new_pool = [r for r in order if not played[r]]
        old_pool = [r for r in order if played[r]]
        pick.take(new_pool, want_new)
        pick.take(old_pool, L - len(pick.rows))
        pick.take(new_pool, L - len(pick.rows))
    elif arm.policy == "fair" and arm.target_share > 0:
        protected = cand["protected"]
        prot_pool = [r for r in order if protected[r]]
        at_prot = at_all = 0
        n_prot = sum(bool(protected[r]) for r in pick.rows)
        while len(pick.rows) < L:
            need = math.floor(arm.target_share * (len(pick.rows) + 1)) > n_prot
            before = len(pick.rows)
            if need:
                at_prot = pick.take(prot_pool, 1, at_prot)
            else:
                at_all = pick.take(order, 1, at_all)
            if len(pick.rows) == before and need:
                at_all = pick.take(order, 1, at_all)
            if len(pick.rows) == before:
                break
            n_prot += bool(protected[pick.rows[-1]])
    pick.take(order, L - len(pick.rows))
    return pick.rows, [float(score[r]) for r in pick.rows], seeds


def select(c: pd.DataFrame, controls: dict, arm: Arm, cfg: PolicyConfig) -> tuple[pd.DataFrame, list]:
    """Choose the playlist's tracks (not yet ordered). Returns (chosen, seed track ids in order)."""
    rows, scores, seeds = select_rows(candidate_arrays(c), controls, arm, cfg)
    chosen = c.iloc[rows].reset_index(drop=True)
    chosen["score"] = np.array(scores, dtype=float)
    return chosen, seeds


def explore_rows(rows: list, scores: list, sources: list, is_seed: list, cand: dict, share: float, user_id: str,
                 ds: str, max_per_artist: int, excluded_artist_ids=()) -> np.ndarray:
    """``explore`` over column arrays. ``rows``, ``scores``, ``sources`` and
    ``is_seed`` describe the chosen tracks and are updated in place; returns
    the propensities."""
    n = len(rows)
    k = int(round(share * n))
    prop = np.ones(n)
    if k == 0 or n == 0:
        return prop
    tid, artist, rank = cand["track_id"], cand["artist_id"], cand["track_rank"]
    # Exploration draws only what the listener's exclusions and the suppress overrides allow.
    allowed = cand["under_exposed"].astype(bool) & ~_actions(cand)[0]
    if cand.get("has_duplicates", True):
        allowed &= ~np.isin(rank, rank[rows])
    else:
        allowed[rows] = False
    if excluded_artist_ids:
        excluded = set(excluded_artist_ids)
        allowed &= np.fromiter((a not in excluded for a in artist), bool, len(tid))
    pool = np.flatnonzero(allowed)
    if not len(pool):
        return prop
    # The same sort (and tie order) as pandas' sort_values("track_id").
    pool = pool[tid[pool].argsort(kind="quicksort")].tolist()
    rng = np.random.default_rng(int(hashlib.sha256(f"{user_id}:{ds}:explore".encode()).hexdigest()[:8], 16))
    by_score = sorted(range(n), key=lambda i: (math.isnan(scores[i]), 0.0 if math.isnan(scores[i]) else scores[i]))
    slots = [i for i in by_score if not is_seed[i]][:k]
    score = cand["score"]
    for i in slots:
        if not pool:
            break
        j = int(rng.integers(len(pool)))
        cand_row = pool[j]
        if sum(artist[r] == artist[cand_row] for r in rows) >= max_per_artist:
            continue
        prop[i] = 1.0 / len(pool)
        rows[i], scores[i], sources[i], is_seed[i] = cand_row, float(score[cand_row]), "explore", False
        pool.pop(j)
    return prop


def explore(chosen: pd.DataFrame, c: pd.DataFrame, share: float, user_id: str, ds: str, max_per_artist: int,
            excluded_artist_ids=()):
    """Swap round(share · n) of the lowest-scored, non-seed positions for
    uniformly drawn under-exposed candidates (never an excluded artist or a
    suppressed track); returns (frame, propensities)."""
    cand = candidate_arrays(c)
    pos = {t: i for i, t in reversed(list(enumerate(cand["track_id"])))}
    rows = [pos[t] for t in chosen["track_id"]]
    scores, sources = chosen["score"].astype(float).tolist(), chosen["source"].tolist()
    is_seed = chosen["is_seed"].tolist()
    prop = explore_rows(rows, scores, sources, is_seed, cand, share, user_id, ds, max_per_artist, excluded_artist_ids)
    out = c.iloc[rows].reset_index(drop=True)
    out["score"], out["source"], out["is_seed"] = np.array(scores, dtype=float), sources, is_seed
    return out[list(chosen.columns)], prop
