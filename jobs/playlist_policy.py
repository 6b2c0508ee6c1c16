"""Playlist policy for the playlists stage: listener controls, governance
overrides, exposure-aware re-ranking, experiments and exploration.

Pure functions over one listener's scored candidates (a pandas frame), run on
Spark inside ``applyInPandas`` grouped by user.

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
positions goes to a uniformly drawn under-exposed candidate, drawn with a
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


def _take(pool: pd.DataFrame, n: int, picked: list, per_artist: dict, max_per_artist: int) -> None:
    for row in pool.itertuples(index=False):
        if n <= 0:
            return
        if row.track_id in {p.track_id for p in picked}:
            continue
        if per_artist.get(row.artist_id, 0) >= max_per_artist:
            continue
        picked.append(row)
        per_artist[row.artist_id] = per_artist.get(row.artist_id, 0) + 1
        n -= 1


def select(c: pd.DataFrame, controls: dict, arm: Arm, cfg: PolicyConfig) -> tuple[pd.DataFrame, list]:
    """Choose the playlist's tracks (not yet ordered). Returns (chosen, seed track ids in order)."""
    L = cfg.length
    c = c[~c["artist_id"].isin(controls.get("excluded_artist_ids") or [])]
    c = apply_overrides(c).sort_values(["score", "track_id"], ascending=[False, True], kind="stable")
    c = c.drop_duplicates("track_id")
    picked, per_artist = [], {}
    seeds = [s for s in (controls.get("seed_track_ids") or []) if s in set(c["track_id"])]
    for s in seeds:
        _take(c[c["track_id"] == s], 1, picked, per_artist, cfg.max_per_artist)
    for a in controls.get("locked_artist_ids") or []:
        if a not in per_artist:
            _take(c[c["artist_id"] == a], 1, picked, per_artist, cfg.max_per_artist)
    eras = c["release_date"].map(era_of) if "release_date" in c else pd.Series(None, index=c.index)
    for era in controls.get("locked_eras") or []:
        if not any(era_of(getattr(p, "release_date", None)) == era for p in picked):
            _take(c[eras == era], 1, picked, per_artist, cfg.max_per_artist)
    novelty = controls.get("novelty")
    if novelty is None or (isinstance(novelty, float) and math.isnan(novelty)):
        novelty = arm.novelty
    rest = L - len(picked)
    if novelty is not None and rest > 0:
        want_new = max(0, round(novelty * L) - sum(not p.played_before for p in picked))
        want_new = min(want_new, rest)
        new_pool, old_pool = c[~c["played_before"]], c[c["played_before"]]
        _take(new_pool, want_new, picked, per_artist, cfg.max_per_artist)
        _take(old_pool, L - len(picked), picked, per_artist, cfg.max_per_artist)
        _take(new_pool, L - len(picked), picked, per_artist, cfg.max_per_artist)
    elif arm.policy == "fair" and arm.target_share > 0:
        protected = c[c["protected"]]
        while len(picked) < L:
            need = math.floor(arm.target_share * (len(picked) + 1)) > sum(bool(p.protected) for p in picked)
            before = len(picked)
            _take(protected if need else c, 1, picked, per_artist, cfg.max_per_artist)
            if len(picked) == before:
                if need:
                    _take(c, 1, picked, per_artist, cfg.max_per_artist)
                if len(picked) == before:
                    break
    _take(c, L - len(picked), picked, per_artist, cfg.max_per_artist)
    return pd.DataFrame(picked, columns=c.columns), seeds


def explore(chosen: pd.DataFrame, c: pd.DataFrame, share: float, user_id: str, ds: str, max_per_artist: int):
    """Swap round(share · n) of the lowest-scored, non-seed positions for
    uniformly drawn under-exposed candidates; returns (frame, propensities)."""
    n = len(chosen)
    k = int(round(share * n))
    prop = np.ones(n)
    if k == 0 or n == 0:
        return chosen, prop
    pool = c[c["under_exposed"] & ~c["track_id"].isin(chosen["track_id"])].sort_values("track_id")
    if pool.empty:
        return chosen, prop
    rng = np.random.default_rng(int(hashlib.sha256(f"{user_id}:{ds}:explore".encode()).hexdigest()[:8], 16))
    chosen = chosen.reset_index(drop=True)
    slots = [i for i in chosen.sort_values("score", kind="stable").index if not chosen.at[i, "is_seed"]][:k]
    for i in slots:
        if pool.empty:
            break
        j = int(rng.integers(len(pool)))
        counts = chosen["artist_id"].value_counts()
        cand = pool.iloc[j]
        if counts.get(cand["artist_id"], 0) >= max_per_artist:
            continue
        prop[i] = 1.0 / len(pool)
        for col in chosen.columns:
            if col in cand.index:
                chosen.at[i, col] = cand[col]
        chosen.at[i, "is_seed"] = False
        chosen.at[i, "source"] = "explore"
        pool = pool.drop(pool.index[j])
    return chosen, prop
