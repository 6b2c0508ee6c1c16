"""Offline evaluation: the reranker against baselines on one held-out split.

``setlist evaluate --dataset synthetic|lastfm|mpd --out DIR`` builds one split,
fits every model on the same training matrix, recommends for the same test
users (never an item the user already has in training) and writes
``DIR/evaluation.json``::

    {"dataset", "split": {how, sizes, notes}, "k": 10, "tuning": {...},
     "models": {name: {"ndcg@10", "map@10", "mrr", "recall@50", "coverage",
                       "novelty", "diversity", "seconds", ...}}}

Relevance is binary: an item of the user's held-out set is relevant (gain 1),
every other item is not. Every model ranks 50 items per test user; a shorter
list (only EASE and SAR restricted to frequent items, for a user with none of
them) is filled with the most popular items the user does not have, and
``padded_lists`` says how many were. Metrics, averaged over test users unless
stated (a user's relevant items that are not in the training catalogue still
count as relevant, so they lower every model alike; ``ndcg@10_catalogue_only``
leaves them out, for comparison with evaluations that drop them):

* ``ndcg@10``: ``setlist.governance.ranking.ndcg_at_k`` with gains 2^rel − 1
  and discounts 1/log2(1 + position); the ideal list puts min(#relevant, 10)
  relevant items first.
* ``map@10``: average precision at 10, AP@10 = Σ_{i≤10} P@i · rel_i / min(#relevant, 10).
* ``mrr``: 1 / rank of the first relevant item in the top 50; 0 if none.
* ``recall@50``: relevant items in the top 50 / #relevant.
* ``coverage``: distinct items recommended in any test user's top 10 / items
  in the training catalogue (items with at least one training user).
* ``novelty``: mean over users of the mean self-information −log2(n_i / N) of
  their top-10 items, n_i = training users who have item i, N = users with
  any training item (higher = less popular items).
* ``diversity``: intra-list diversity, mean over users of the mean over pairs
  of their top-10 items of 1 − cos(i, j), the cosine of the two items'
  training-user incidence vectors (0 = items always together, 1 = never).
  Where items have artists (MPD, synthetic) ``artists@10``, the share of
  distinct artists in the top 10, is reported too.
* ``seconds``: wall time to fit on the full training matrix and recommend for
  the test users (tuning time is reported apart under ``tuning``); for the
  reranker, its own stacking time plus the fits of the generators it needs.

Splits (all seeded with ``--seed``):

* ``lastfm`` (HetRec 2011 ``user_artists.dat``): every user with at least 5
  artists has a random 20% of them (round half up) hidden as test; the rest,
  and all users with fewer, are training. Value = play count.
* ``mpd`` (the MPD subset, ``playlist_tracks.csv.gz``): 1,000 test playlists
  (``--sample N`` sets the number) drawn among playlists with at least 10
  tracks; the first ⌊n/2⌋ tracks by ``pos`` stay in training, the rest are
  hidden (tracks also in the first half are not test items). Training = every
  other playlist plus those first halves. Value = 1 per (playlist, track).
* ``synthetic``: the project's generator, tier xs, 14 days, into a temporary
  folder. Training = plays of all days but the last 2; test = tracks a user
  completed (ms_played ≥ 30 s, not skipped) in the last 2 days and had not
  played in training; test users = users with training plays. Value = plays.

Tuning never looks at the test set: a validation split is carved out of the
training matrix in the same way (``lastfm``: 20% of each training user's
artists; ``mpd``: the second halves of 2,000 other training playlists;
``synthetic``: the 2 days before the test days), and every grid point is
scored by NDCG@10 on it. The same split is the reranker's first stacking fold
(``lastfm`` and ``synthetic`` add more: other random 20% holdouts, earlier
2-day windows): per fold, every generator is fitted with the chosen parameters
on the fold's training part, its top-100 candidates for the fold's users are
labelled with the hidden part, and the ranker learns from those rows; then
the generators are refitted on the full training matrix and the ranker orders
their candidates for the test users (``setlist.baselines.reranker``).

``--sample N`` is for smoke tests: ``lastfm`` keeps the first N users,
``synthetic`` the first N test users, and both use one stacking fold and
two-point grids; for ``mpd`` it sets the number of test playlists and keeps
everything else.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from setlist.baselines import binarize

K = 10
K_LONG = 50
N_CANDIDATES = 100
N_RECENT = 5          # "recent" items: a playlist's last tracks by position, a listener's last plays
N_TRENDING_DAYS = 2   # "trending": plays in the last days of a training window (dated plays only)


# --- splits -------------------------------------------------------------------
def holdout_split(df: pd.DataFrame, frac: float = 0.2, min_items: int = 5, seed: int = 0,
                  user: str = "user", item: str = "item") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hide a random ``frac`` (round half up) of each user's distinct items, for
    users with at least ``min_items``; returns (train, test)."""
    df = df.sort_values([user, item], kind="stable").reset_index(drop=True)
    n = df.groupby(user)[item].transform("size").to_numpy()
    n_test = np.where(n >= min_items, np.floor(frac * n + 0.5), 0).astype(np.int64)
    key = np.random.default_rng(seed).random(len(df))
    order = pd.Series(key).groupby(df[user].to_numpy()).rank(method="first").to_numpy() - 1
    hidden = order < n_test
    return df[~hidden].reset_index(drop=True), df[hidden].reset_index(drop=True)


def playlist_split(df: pd.DataFrame, n_test: int, min_tracks: int = 10, seed: int = 0,
                   exclude=(), user: str = "pid", item: str = "track", pos: str = "pos"):
    """Hide the second half (by ``pos``) of ``n_test`` random playlists with at
    least ``min_tracks`` rows, not in ``exclude``. Returns (train, test, chosen
    playlist ids); the first ⌊n/2⌋ rows of a chosen playlist stay in train and
    a hidden track that is also in its first half is not a test item."""
    sizes = df.groupby(user).size()
    eligible = np.sort(sizes.index[(sizes >= min_tracks).to_numpy()].to_numpy())
    eligible = eligible[~np.isin(eligible, np.asarray(list(exclude)))]
    if n_test > eligible.size:
        raise ValueError(f"asked for {n_test} test playlists, only {eligible.size} have >= {min_tracks} tracks")
    chosen = np.sort(np.random.default_rng(seed).choice(eligible, size=n_test, replace=False))
    df = df.sort_values([user, pos], kind="stable").reset_index(drop=True)
    idx = df.groupby(user).cumcount().to_numpy()
    n = df.groupby(user)[item].transform("size").to_numpy()
    hidden = df[user].isin(chosen).to_numpy() & (idx >= n // 2)
    train, rest = df[~hidden], df[hidden]
    test = rest.drop_duplicates([user, item])
    test = test.merge(train[[user, item]].drop_duplicates(), how="left", indicator=True)
    test = test[test["_merge"] == "left_only"].drop(columns="_merge")
    return train.reset_index(drop=True), test.reset_index(drop=True), chosen


def time_split(events: pd.DataFrame, cutoff: str, min_ms: int = 30_000,
               user: str = "user_id", item: str = "track_id"):
    """Plays before ``cutoff`` (a ds) train; (user, track) completed on or after
    it (ms_played ≥ ``min_ms``, not skipped) that the user never played before
    it are the test items, for users with training plays. Returns (train, test)."""
    train = events[events["ds"] < cutoff]
    later = events[(events["ds"] >= cutoff) & (events["ms_played"] >= min_ms) & ~events["skipped"]]
    test = later[[user, item]].drop_duplicates()
    test = test[test[user].isin(train[user].unique())]
    test = test.merge(train[[user, item]].drop_duplicates(), how="left", indicator=True)
    test = test[test["_merge"] == "left_only"].drop(columns="_merge")
    return train.reset_index(drop=True), test.sort_values([user, item]).reset_index(drop=True)


# --- metrics ------------------------------------------------------------------
def user_metrics(ranked, relevant, k: int = K, k_long: int = K_LONG) -> dict:
    """NDCG@k, AP@k, reciprocal rank (in the top ``k_long``) and recall@k_long
    of one ranked list (item ids, best first; -1 = padding) against the set of
    relevant items."""
    from setlist.governance.ranking import ndcg_at_k
    ranked = np.asarray(ranked)
    ranked = ranked[ranked >= 0][:k_long]
    rel = np.isin(ranked, np.asarray(list(relevant) if isinstance(relevant, (set, frozenset)) else relevant))
    n_rel = len(relevant)
    if n_rel == 0:
        raise ValueError("a test user needs at least one relevant item")
    top = rel[:k]
    missing = n_rel - int(top.sum())
    # Relevant items outside the top k go after k places (padding a short list
    # with non-relevant ones): they count in the ideal DCG only.
    gains = np.concatenate([top.astype(float), np.zeros(k - top.size), np.ones(missing)])
    scores = np.concatenate([-np.arange(k, dtype=float), np.full(missing, -np.inf)])
    precision = np.cumsum(top) / np.arange(1, top.size + 1)
    hits = np.flatnonzero(rel)
    return {"ndcg": ndcg_at_k(gains, scores, k),
            "ap": float((precision * top).sum() / min(n_rel, k)),
            "rr": float(1.0 / (hits[0] + 1)) if hits.size else 0.0,
            "recall": float(rel.sum() / n_rel)}


def coverage(lists, n_catalogue: int, k: int = K) -> float:
    items = {int(i) for row in lists for i in np.asarray(row)[:k] if i >= 0}
    return len(items) / n_catalogue if n_catalogue else 0.0


def novelty(lists, item_users: np.ndarray, n_users: int, k: int = K) -> float:
    """Mean over users of the mean −log2(item_users[i] / n_users) of their top k."""
    per = []
    for row in lists:
        row = np.asarray(row)[:k]
        row = row[row >= 0]
        if row.size:
            per.append(float(np.mean(-np.log2(item_users[row] / n_users))))
    return float(np.mean(per)) if per else 0.0


def diversity(lists, item_vectors: sp.csr_matrix, k: int = K) -> float:
    """Mean over users (with at least 2 items) of the mean pairwise 1 − cosine
    between the rows of ``item_vectors`` (items × features) of their top k."""
    norms = np.sqrt(np.asarray(item_vectors.multiply(item_vectors).sum(axis=1)).ravel())
    per = []
    for row in lists:
        row = np.asarray(row)[:k]
        row = row[row >= 0]
        if row.size < 2:
            continue
        v = item_vectors[row]
        gram = (v @ v.T).toarray()
        n = norms[row]
        denom = np.outer(n, n)
        cos = np.divide(gram, denom, out=np.zeros_like(gram), where=denom > 0)
        iu = np.triu_indices(row.size, 1)
        per.append(float(np.mean(1.0 - cos[iu])))
    return float(np.mean(per)) if per else 0.0


def artist_share(lists, artist: np.ndarray, k: int = K) -> float:
    """Mean over users of distinct artists / items in their top k."""
    per = []
    for row in lists:
        row = np.asarray(row)[:k]
        row = row[row >= 0]
        if row.size:
            per.append(len(set(artist[row].tolist())) / row.size)
    return float(np.mean(per)) if per else 0.0


# --- datasets -----------------------------------------------------------------
@dataclass
class Task:
    """One train/test problem on integer indices: users × items."""

    train: sp.csr_matrix
    users: np.ndarray                  # the users to recommend for
    relevant: list                     # per user in ``users``: array of relevant item indices
    recent: sp.csr_matrix | None = None    # each user's last few training items, where order exists
    trending: np.ndarray | None = None     # per item: plays in the last days of the training window

    def __post_init__(self):
        self.train = sp.csr_matrix(self.train)


@dataclass
class Data:
    name: str
    test: Task
    valid: Task                         # carved out of test.train only: tuning + first stacking fold
    user_ids: np.ndarray
    item_ids: np.ndarray
    artist: np.ndarray | None = None    # artist code per item (-1 unknown)
    value: str = "count"                # "count" (play counts) or "binary"
    split: dict = field(default_factory=dict)
    side: dict = field(default_factory=dict)
    folds: list = field(default_factory=list)   # [valid, more stacking folds...], all out of test.train


def _index(train: pd.DataFrame, tests: list[pd.DataFrame], user: str, item: str):
    """Users: those with training rows; items: every item of training or test."""
    users = np.sort(train[user].unique())
    items = np.sort(pd.unique(pd.concat([train[item], *[t[item] for t in tests]])))
    return users, items, pd.Index(users), pd.Index(items)


def _matrix(df: pd.DataFrame, u_of: pd.Index, i_of: pd.Index, user: str, item: str, value: str | None):
    rows = u_of.get_indexer(df[user])
    cols = i_of.get_indexer(df[item])
    vals = df[value].to_numpy(dtype=np.float64) if value else np.ones(len(df))
    m = sp.csr_matrix((vals, (rows, cols)), shape=(len(u_of), len(i_of)))
    m.sum_duplicates()
    if value is None:
        m.data[:] = 1.0
    return m


def _relevant(test: pd.DataFrame, u_of: pd.Index, i_of: pd.Index, user: str, item: str):
    rows = u_of.get_indexer(test[user])
    cols = i_of.get_indexer(test[item])
    if rows.size == 0:
        return np.empty(0, dtype=np.int64), []
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    users, starts = np.unique(rows, return_index=True)
    return users, np.split(cols, starts[1:])


def _recent(df: pd.DataFrame, u_of, i_of, user: str, item: str, order: str | None, n: int):
    if order is None:
        return None
    last = df.sort_values([user, order], kind="stable").groupby(user).tail(n)
    return _matrix(last, u_of, i_of, user, item, None)


def _trending(df: pd.DataFrame, i_of, item: str, day: str | None, n_days: int = N_TRENDING_DAYS):
    if day is None:
        return None
    last = np.sort(df[day].unique())[-n_days:]
    counts = df.loc[df[day].isin(last), item].value_counts()
    out = np.zeros(len(i_of), dtype=np.float64)
    out[i_of.get_indexer(counts.index)] = counts.to_numpy()
    return out


def build(name: str, train_df, test_df, folds: list, user: str, item: str,
          value: str | None, split: dict, artist_of: pd.Series | None = None, side: dict | None = None,
          order: str | None = None, n_recent: int = N_RECENT, day: str | None = None) -> Data:
    """Index users and items, and turn the frames into matrices. ``folds``:
    [(train, hidden), ...] carved out of ``train_df``; the first is the validation split.
    ``order`` (a column: position or time) marks each user's last ``n_recent``
    training items; ``day`` (a date column) gives each item's plays in the last
    days of each training window."""
    users, items, u_of, i_of = _index(train_df, [test_df], user, item)
    test_users, test_rel = _relevant(test_df, u_of, i_of, user, item)
    tasks = [Task(_matrix(f_train, u_of, i_of, user, item, value), *_relevant(f_test, u_of, i_of, user, item),
                  recent=_recent(f_train, u_of, i_of, user, item, order, n_recent),
                  trending=_trending(f_train, i_of, item, day))
             for f_train, f_test in folds]
    artist = None
    if artist_of is not None:
        codes = pd.Series(pd.factorize(artist_of)[0], index=artist_of.index)
        artist = codes.reindex(items).fillna(-1).to_numpy(dtype=np.int64)
    data = Data(name=name,
                test=Task(_matrix(train_df, u_of, i_of, user, item, value), test_users, test_rel,
                          recent=_recent(train_df, u_of, i_of, user, item, order, n_recent),
                          trending=_trending(train_df, i_of, item, day)),
                valid=tasks[0], user_ids=users, item_ids=items, artist=artist,
                value="binary" if value is None else "count", split=split, side=side or {}, folds=tasks)
    tr = data.test.train
    catalogue = int((np.diff(tr.tocsc().indptr) > 0).sum())
    n_test_rel = int(sum(len(r) for r in test_rel))
    outside = int(sum(int((np.diff(tr.tocsc().indptr)[r] == 0).sum()) for r in test_rel))
    data.split.setdefault("sizes", {}).update({
        "users": int(len(users)), "catalogue_items": catalogue,
        "train_interactions": int(tr.nnz), "test_users": int(len(test_users)),
        "test_interactions": n_test_rel, "test_interactions_outside_catalogue": outside,
        "validation_users": int(len(data.valid.users)),
        "validation_interactions": int(sum(len(r) for r in data.valid.relevant)),
        "validation_train_interactions": int(data.valid.train.nnz),
        "stacking_folds": len(tasks),
        "stacking_users": int(sum(len(t.users) for t in tasks)),
    })
    return data


N_VALID_PLAYLISTS = 2_000


def load_lastfm(data_dir: Path, seed: int, sample: int | None, folds: int = 1) -> Data:
    src = Path(data_dir) / "lastfm-hetrec2011"
    df = pd.read_csv(src / "user_artists.dat", sep="\t", encoding="latin-1").rename(
        columns={"userID": "user", "artistID": "item", "weight": "value"})
    df = df[df["value"] > 0]
    if sample:
        df = df[df["user"].isin(np.sort(df["user"].unique())[:sample])]
    train, test = holdout_split(df, 0.2, 5, seed)
    parts = [holdout_split(train, 0.2, 5, seed + 1 + f) for f in range(folds)]
    split = {"how": "per user with >= 5 artists, a seeded random 20% of their artists (round half up) "
                    "hidden as test; value = play count",
             "validation": "the same 20% holdout applied to the training matrix (seed + 1); the reranker's "
                           f"stacking uses {folds} such holdouts (seeds + 1..{folds})",
             "source": str(src / "user_artists.dat")}
    if sample:
        split["sample"] = f"only the first {sample} users (by id)"
    data = build("lastfm", train, test, parts, "user", "item", "value", split)
    friends_path = src / "user_friends.dat"
    if friends_path.exists():
        fr = pd.read_csv(friends_path, sep="\t")
        u_of = pd.Index(data.user_ids)
        a, b = u_of.get_indexer(fr["userID"]), u_of.get_indexer(fr["friendID"])
        ok = (a >= 0) & (b >= 0)
        f = sp.csr_matrix((np.ones(int(ok.sum()), dtype=np.float32), (a[ok], b[ok])),
                          shape=(len(u_of), len(u_of)))
        f.data[:] = 1.0
        data.side["friends"] = f.maximum(f.T).tocsr()
    tags_path = src / "user_taggedartists.dat"
    if tags_path.exists():
        data.side["tags"] = lastfm_tags(tags_path, data)
        data.split["tags"] = ("listeners' tags on artists (user_taggedartists.dat): the reranker's `tags` candidates "
                              "and features; a listener's tags on an artist hidden from the matrix at hand are "
                              "dropped (setlist.baselines.tags)")
    return data


def lastfm_tags(path: Path, data: Data) -> dict:
    """The arguments of ``setlist.baselines.tags.Tags``: every tagging of a
    user and an artist of the split's index, and the full listening matrix
    (training and test), from which each task's hidden pairs follow."""
    ut = pd.read_csv(path, sep="\t", usecols=["userID", "artistID", "tagID"])
    u = pd.Index(data.user_ids).get_indexer(ut["userID"])
    i = pd.Index(data.item_ids).get_indexer(ut["artistID"])
    ok = (u >= 0) & (i >= 0)
    codes, uniques = pd.factorize(ut["tagID"][ok])
    test = data.test
    rows = np.repeat(test.users, [len(r) for r in test.relevant])
    cols = np.concatenate(test.relevant) if test.relevant else np.empty(0, dtype=np.int64)
    listened = binarize(test.train) + sp.csr_matrix((np.ones(rows.size, dtype=np.float32), (rows, cols)),
                                                   shape=test.train.shape)
    return {"users": u[ok], "items": i[ok], "tags": codes, "n_tags": len(uniques), "listened": listened.tocsr()}


def load_mpd(data_dir: Path, seed: int, sample: int | None, folds: int = 1) -> Data:
    src = Path(data_dir) / "mpd-followers-ge10" / "playlist_tracks.csv.gz"
    df = pd.read_csv(src, usecols=["pid", "pos", "track_uri", "artist_name"]).rename(
        columns={"track_uri": "track"})
    n_test = sample or 1000
    train, test, test_pids = playlist_split(df, n_test, 10, seed)
    parts, used = [], set(test_pids.tolist())
    for f in range(folds):
        f_train, f_test, f_pids = playlist_split(train, min(N_VALID_PLAYLISTS, 2 * n_test), 10, seed + 1 + f,
                                                 exclude=used)
        used |= set(f_pids.tolist())
        parts.append((f_train, f_test))
    n_valid = min(N_VALID_PLAYLISTS, 2 * n_test)
    split = {"how": f"{n_test} seeded random test playlists among those with >= 10 tracks; the first "
                    "floor(n/2) tracks by pos stay in training, the rest are hidden (tracks repeated from the "
                    "first half are not test items); training = all other playlists plus the first halves; "
                    "value = 1 per (playlist, track)",
             "validation": f"{n_valid} other training playlists (>= 10 tracks) with their second halves "
                           f"hidden the same way (seed + 1); the reranker's stacking uses {folds} such disjoint "
                           "sets of playlists",
             "source": str(src)}
    artist_of = df.drop_duplicates("track").set_index("track")["artist_name"]
    data = build("mpd", train, test, parts, "pid", "track", None, split, artist_of=artist_of, order="pos")
    names_path = src.parent / "playlists.csv"
    if names_path.exists():
        names = pd.read_csv(names_path, usecols=["pid", "name"])
        from setlist.baselines.names import name_tokens
        data.side["names"] = name_tokens(names["pid"], names["name"], pd.Index(data.user_ids))
        data.split["names"] = ("playlist names (playlists.csv) as words plus the whole name, lower-cased: "
                               "the reranker's `name` candidates and features")
    return data


def load_synthetic(seed: int, sample: int | None, folds: int = 1, tier: str = "xs", days: int = 14,
                   log=None) -> Data:
    from setlist.data.generate import generate
    with tempfile.TemporaryDirectory(prefix="setlist-eval-") as home:
        summary = generate(home, tier=tier, days=days, seed=seed,
                           progress=(lambda m: log(f"generate {m}")) if log else None)
        ds_list = summary["ds_list"]
        frames = []
        for ds in ds_list:
            ev = pd.read_csv(Path(home) / "raw" / ds / "listening_events.csv",
                             usecols=["user_id", "track_id", "ts", "ms_played", "skipped"],
                             dtype={"user_id": str, "track_id": str})
            ev["ds"] = ds
            frames.append(ev)
        tracks = pd.read_csv(Path(home) / "raw" / ds_list[-1] / "tracks.csv", usecols=["track_id", "artist_id"],
                             dtype=str)
    events = pd.concat(frames, ignore_index=True)
    events["skipped"] = events["skipped"].astype(str).str.lower().eq("true")
    events["value"] = 1.0
    cutoff = ds_list[-2]
    train, test = time_split(events, cutoff)
    cutoffs = [ds_list[-4 - 2 * f] for f in range(folds)]
    parts = [time_split(train, c) for c in cutoffs]
    if sample:
        keep = np.sort(test["user_id"].unique())[:sample]
        test = test[test["user_id"].isin(keep)]
    split = {"how": f"synthetic tier {tier}, {days} days (seed {seed}); training = plays before {cutoff}; "
                    f"test = tracks completed (>= 30 s, not skipped) on {cutoff}..{ds_list[-1]} that the user "
                    "had not played in training, for users with training plays; value = number of plays",
             "validation": f"the same time split of the training plays at {cutoffs[0]}; the reranker's "
                           f"stacking uses the splits at {', '.join(cutoffs)}"}
    if sample:
        split["sample"] = f"only the first {sample} test users (by id)"
    artist_of = tracks.drop_duplicates("track_id").set_index("track_id")["artist_id"]
    return build("synthetic", train, test, parts, "user_id", "track_id", "value", split, artist_of=artist_of,
                 order="ts", day="ds")


# --- models and tuning --------------------------------------------------------
# Hyperparameter grids, chosen on the validation split only. ``quick`` (used
# with --sample, for smoke tests) keeps one or two points per model.
GRIDS = {
    "lastfm": {
        # Rank 32 across regularisation and alpha, rank 64 at two points: every
        # point is a Spark fit (about a minute on 2 busy cores).
        "als": [{"rank": 32, "reg": g, "alpha": a, "max_iter": 10}
                for g, a in ((0.05, 1.0), (0.1, 1.0), (0.3, 1.0), (1.0, 1.0), (0.1, 5.0))]
               + [{"rank": 64, "reg": g, "alpha": 1.0, "max_iter": 10} for g in (0.1, 0.3)],
        "ease": [{"lam": v} for v in (50.0, 100.0, 250.0, 500.0, 1000.0)],
        "colistening": [{"neighbours": v} for v in (100, 200, 400, 1000, 2000)],
    },
    "mpd": {
        # Rank 128 (about 3.5 min per fit with OpenBLAS on a quiet machine): the
        # earlier single point (reg 0.05, alpha 1) and the two best of a rank-64
        # search on the same validation split (reg 0.05–2, alpha 1–40; every
        # value is 1, so confidence = 1 + 0.69·alpha).
        "als": [{"rank": 128, "reg": g, "alpha": a, "max_iter": 10}
                for g, a in ((0.05, 1.0), (0.5, 10.0), (0.5, 20.0))],
        "ease": [{"lam": v} for v in (250.0, 500.0, 1000.0)],
        "colistening": [{"neighbours": v} for v in (100, 200, 400, 800, 1600)],
    },
    "synthetic": {
        "als": [{"rank": r, "reg": g, "alpha": a, "max_iter": 10}
                for r in (32, 64) for g, a in ((0.05, 1.0), (0.1, 5.0), (0.3, 1.0))],
        "ease": [{"lam": v} for v in (10.0, 50.0, 100.0, 250.0, 500.0)],
        "colistening": [{"neighbours": v} for v in (50, 100, 200, 500, 1000)],
    },
    "quick": {
        "als": [{"rank": 16, "reg": 0.05, "alpha": a, "max_iter": 5} for a in (1.0, 5.0)],
        "ease": [{"lam": v} for v in (100.0, 500.0)],
        "colistening": [{"neighbours": v} for v in (50, 200)],
    },
}
# The dense models (EASE's Gram matrix, SAR's similarity) keep the items with
# at least this many training users: Last.fm's single-listener artists carry no
# co-occurrence for EASE; MPD's 190k tracks would need hundreds of GB. On MPD,
# 5 training playlists keep 19,007 tracks on the validation split (8,981 with
# 10), which raised EASE's validation NDCG@10 from 0.139 to 0.148 at a dense
# 19k² float64 inverse (2.9 GB, about 3 min per λ on 2 cores). EASE keeps at
# most the 19,000 most frequent of them (DENSE_MAX_ITEMS): numpy's threaded
# OpenBLAS 0.3.31 crashed here inverting the full training matrix's larger one.
# Stacking folds for the reranker (each refits every generator once).
STACK_FOLDS = {"lastfm": 3, "mpd": 1, "synthetic": 3}
DENSE_MIN_USERS = {"lastfm": {"ease": 2, "sar": 1}, "mpd": {"ease": 5, "sar": 5},
                   "synthetic": {"ease": 1, "sar": 1}}
DENSE_MAX_ITEMS = {"lastfm": None, "mpd": 19_000, "synthetic": None}


def mean_ndcg(items: np.ndarray, task: Task, k: int = K) -> float:
    return float(np.mean([user_metrics(row, rel, k)["ndcg"] for row, rel in zip(items, task.relevant)]))


def evaluate_lists(items: np.ndarray, task: Task, artist: np.ndarray | None = None) -> dict:
    """Every metric of the module docstring for ``items`` (users × ≥50, aligned with task.users)."""
    per = [user_metrics(row, rel) for row, rel in zip(items, task.relevant)]
    x = task.train
    item_users = np.asarray((x > 0).sum(axis=0)).ravel()
    n_users = int((np.diff(x.indptr) > 0).sum())
    vectors = sp.csr_matrix((x > 0).T, dtype=np.float32)
    in_cat = [np.asarray(rel)[item_users[np.asarray(rel)] > 0] for rel in task.relevant]
    per_cat = [user_metrics(row, rel)["ndcg"] for row, rel in zip(items, in_cat) if len(rel)]
    out = {
        "ndcg@10": float(np.mean([p["ndcg"] for p in per])),
        "ndcg@10_catalogue_only": float(np.mean(per_cat)) if per_cat else 0.0,
        "map@10": float(np.mean([p["ap"] for p in per])),
        "mrr": float(np.mean([p["rr"] for p in per])),
        "recall@50": float(np.mean([p["recall"] for p in per])),
        "coverage": coverage(items, int((item_users > 0).sum())),
        "novelty": novelty(items, item_users, n_users),
        "diversity": diversity(items, vectors),
    }
    if artist is not None:
        out["artists@10"] = artist_share(items, artist)
    out["users"] = int(len(per))
    return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in out.items()}


def pad(items: np.ndarray, fallback: np.ndarray, k: int = K_LONG) -> tuple[np.ndarray, int]:
    """Cut lists to ``k`` and fill any gap (-1) with the user's ``fallback``
    items (the popularity list, already without the user's training items),
    skipping items already in the list. Returns (lists, number of lists padded):
    EASE and SAR restricted to frequent items say nothing for a user with none
    of them, and every model is scored on k items per user."""
    out = np.full((items.shape[0], k), -1, dtype=np.int64)
    n_padded = 0
    for r in range(items.shape[0]):
        row = items[r][items[r] >= 0][:k]
        if row.size < k:
            n_padded += 1
            extra = fallback[r][(fallback[r] >= 0) & ~np.isin(fallback[r], row)][: k - row.size]
            row = np.concatenate([row, extra])
        out[r, : row.size] = row
    return out, n_padded


class Clock:
    def __init__(self):
        self.t0 = time.perf_counter()

    @property
    def s(self) -> float:
        return time.perf_counter() - self.t0


def _als(spark, seed):
    from setlist.baselines.als import SparkALS
    return lambda p: SparkALS(spark, seed=seed, **p)


def tune(name: str, grid: list[dict], make, task: Task, log, fit=None) -> dict:
    """Fit ``make(params)`` on ``task.train`` for each point of ``grid``; keep the
    best by NDCG@10 on ``task``'s users. Returns {best params, trials, model,
    seconds of the best point (fit + recommend top 100)}."""
    trials, best = [], None
    for params in grid:
        c = Clock()
        model = fit(make(params), params) if fit else make(params).fit(task.train)
        items, scores = model.recommend(task.users, N_CANDIDATES, task.train)
        score = mean_ndcg(items, task)
        trials.append({**params, "valid_ndcg@10": round(score, 6), "seconds": round(c.s, 1)})
        log(f"{name} {params}: validation NDCG@10 {score:.4f} ({c.s:.0f} s)")
        if best is None or score > best["score"]:
            best = {"score": score, "params": params, "model": model, "lists": (items, scores), "seconds": c.s}
        else:
            del model
    return {"params": best["params"], "valid_ndcg@10": round(best["score"], 6), "trials": trials,
            "model": best["model"], "lists": best["lists"], "seconds": best["seconds"]}


def run(dataset: str, data_dir: Path | None = None, out: Path | None = None, config=None, seed: int = 0,
        sample: int | None = None) -> dict:
    """Build the split, tune on validation, fit, recommend, evaluate; write
    ``out/evaluation.json`` and return its content."""
    from setlist.baselines.colistening import CoListening
    from setlist.baselines.ease import EASE
    from setlist.baselines.names import PlaylistName
    from setlist.baselines.popularity import ArtistPopularity, FriendsPopularity, Popularity, Trending
    from setlist.baselines.reranker import Reranker, add_features, candidate_frame, label
    from setlist.baselines.sar import SAR, SETUP_HINT, SARUnavailable
    from setlist.baselines.tags import Tags

    def log(msg: str) -> None:
        print(f"[evaluate {dataset}] {msg}", file=sys.stderr, flush=True)

    if dataset not in ("lastfm", "mpd", "synthetic"):
        raise ValueError(f"unknown dataset {dataset!r}; expected lastfm, mpd or synthetic")
    total = Clock()
    if config is None:
        from setlist.config import load_config
        config = load_config("local", None)
    if dataset != "synthetic":
        folder = Path(data_dir) / ("lastfm-hetrec2011" if dataset == "lastfm" else "mpd-followers-ge10")
        if not folder.exists():
            raise FileNotFoundError(f"{folder} not found; pass --data-dir (the folder holding {folder.name}/)")
    quick = sample is not None and dataset != "mpd"
    n_folds = 1 if quick else STACK_FOLDS[dataset]
    log("loading and splitting")
    c = Clock()
    data = {"lastfm": lambda: load_lastfm(Path(data_dir), seed, sample, folds=n_folds),
            "mpd": lambda: load_mpd(Path(data_dir), seed, sample, folds=n_folds),
            "synthetic": lambda: load_synthetic(seed, sample, folds=n_folds, log=log)}[dataset]()
    log(f"split ready in {c.s:.0f} s: {json.dumps(data.split['sizes'])}")
    grids = GRIDS["quick" if quick else dataset]
    dense = DENSE_MIN_USERS[dataset]

    def ease(**params) -> EASE:
        """EASE on this dataset's dense items (DENSE_MIN_USERS, DENSE_MAX_ITEMS)."""
        return EASE(min_users=dense["ease"], max_items=DENSE_MAX_ITEMS[dataset], **params)
    valid, test = data.valid, data.test
    rating = np.log1p if data.value == "count" else (lambda v: np.ones_like(v, dtype=np.float32))

    from setlist.spark import get_spark
    spark = get_spark(config)

    tuning, chosen = {}, {}
    sar_skip = None

    def generators(task: Task, what: str) -> tuple[dict, dict]:
        """Fit every generator with the chosen parameters on ``task.train`` and
        recommend top-100 lists for ``task.users``: ({name: (items, scores)}, {name: seconds})."""
        nonlocal sar_skip
        makers = {
            "popularity": lambda: Popularity(),
            "als": lambda: _als(spark, seed)(chosen["als"]),
            "ease": lambda: ease(**chosen["ease"]),
            "colistening": lambda: CoListening(**chosen["colistening"]),
        }
        if sar_skip is None:
            makers["sar"] = lambda: SAR(min_users=dense["sar"], log=log)
        lists, secs = {}, {}
        for name, make in makers.items():
            log(f"{name}: fitting on {what}…")
            c = Clock()
            try:
                m = make()
                m = m.fit(task.train, rating=rating) if name == "sar" else m.fit(task.train)
                lists[name] = m.recommend(task.users, N_CANDIDATES, task.train)
            except SARUnavailable as exc:
                sar_skip = str(exc)
                log(f"sar skipped: {sar_skip}")
                continue
            secs[name] = c.s
            log(f"{name}: done in {c.s:.0f} s")
            if name == "colistening" and task.recent is not None:
                # Reranker-only candidates: neighbours of the user's last items.
                c = Clock()
                lists["recent"] = m.with_seeds(task.recent).recommend(task.users, N_CANDIDATES, task.train)
                secs["recent"] = c.s
            del m
        extra_generators(task, lists, secs)
        return lists, secs

    tags_fitted = {}    # id(task) → the tags source fitted on task.train, for add_features

    def extra_generators(task: Task, lists: dict, secs: dict) -> None:
        """The reranker-only candidate sources that need no tuning."""
        if data.artist is not None:
            c = Clock()
            lists["artist"] = ArtistPopularity(data.artist).fit(task.train).recommend(
                task.users, N_CANDIDATES, task.train)
            secs["artist"] = c.s
        if task.trending is not None:
            c = Clock()
            lists["trending"] = Trending(task.trending).fit(task.train).recommend(task.users, N_CANDIDATES, task.train)
            secs["trending"] = c.s
        if "friends" in data.side:
            c = Clock()
            lists["friends"] = FriendsPopularity(data.side["friends"]).fit(task.train).recommend(
                task.users, N_CANDIDATES, task.train)
            secs["friends"] = c.s
        if "tags" in data.side:
            c = Clock()
            tags_fitted[id(task)] = Tags(**data.side["tags"]).fit(task.train)   # its features reuse it
            lists["tags"] = tags_fitted[id(task)].recommend(task.users, N_CANDIDATES, task.train)
            secs["tags"] = c.s
        if "names" in data.side:
            c = Clock()
            lists["name"] = PlaylistName(data.side["names"]).fit(task.train).recommend(
                task.users, N_CANDIDATES, task.train)
            secs["name"] = c.s

    # --- tuning on the validation split (= the first stacking fold) --------------
    base_lists, base_seconds = {}, {}
    log("popularity (validation)")
    c = Clock()
    base_lists["popularity"] = Popularity().fit(valid.train).recommend(valid.users, N_CANDIDATES, valid.train)
    base_seconds["popularity"] = c.s

    log(f"als: tuning {len(grids['als'])} points on the validation split")
    r = tune("als", grids["als"], _als(spark, seed), valid, log)
    tuning["als"] = {k: r[k] for k in ("params", "valid_ndcg@10", "trials")}
    chosen["als"], base_lists["als"], base_seconds["als"] = r["params"], r["lists"], r["seconds"]
    del r

    log(f"ease: tuning lambda over {[p['lam'] for p in grids['ease']]} (items with >= {dense['ease']} "
        "training users)")
    c = Clock()
    gram = ease().gram(valid.train)
    gram_s = c.s
    r = tune("ease", grids["ease"], lambda p: ease(**p), valid, log,
             fit=lambda m, p: m.fit(valid.train, gram=gram))
    gram = None     # frees the dense Gram matrix
    tuning["ease"] = {k: r[k] for k in ("params", "valid_ndcg@10", "trials")}
    tuning["ease"]["items"] = int(r["model"].items.size)
    chosen["ease"], base_lists["ease"], base_seconds["ease"] = r["params"], r["lists"], r["seconds"] + gram_s
    del r

    log(f"colistening: tuning neighbours over {[p['neighbours'] for p in grids['colistening']]}")
    r = tune("colistening", grids["colistening"], lambda p: CoListening(**p), valid, log)
    tuning["colistening"] = {k: r[k] for k in ("params", "valid_ndcg@10", "trials")}
    chosen["colistening"], base_lists["colistening"], base_seconds["colistening"] = \
        r["params"], r["lists"], r["seconds"]
    if valid.recent is not None:
        c = Clock()
        base_lists["recent"] = r["model"].with_seeds(valid.recent).recommend(valid.users, N_CANDIDATES, valid.train)
        base_seconds["recent"] = c.s
    del r
    extra_generators(valid, base_lists, base_seconds)

    try:
        log(f"sar (validation; items with >= {dense['sar']} training users)")
        c = Clock()
        sar_v = SAR(min_users=dense["sar"], log=log).fit(valid.train, rating=rating)
        base_lists["sar"] = sar_v.recommend(valid.users, N_CANDIDATES, valid.train)
        base_seconds["sar"] = c.s
        tuning["sar"] = {"params": {"similarity": "jaccard", "time_decay": False, "items": int(sar_v.items.size)},
                         "valid_ndcg@10": round(mean_ndcg(base_lists["sar"][0], valid), 6)}
        log(f"sar: validation NDCG@10 {tuning['sar']['valid_ndcg@10']:.4f} ({c.s:.0f} s)")
    except SARUnavailable as exc:
        sar_skip = str(exc) if "no evaluation environment" in str(exc) else f"{exc}; to set it up: {SETUP_HINT}"
        log(f"sar skipped: {sar_skip}")

    # --- stacking: candidates of generators fitted without the hidden items ------
    def stacking_frame(task: Task, lists: dict, fold: int) -> pd.DataFrame:
        f = candidate_frame(lists, task.users)
        f = add_features(f, task.train, data.value, data.side.get("friends"), data.artist, task.recent,
                         task.trending, data.side.get("names"), tags_fitted.pop(id(task), None))
        f["relevance"] = label(f, task.users, task.relevant)
        f.insert(0, "fold", fold)
        return f

    c = Clock()
    frames = [stacking_frame(valid, base_lists, 0)]
    stack_s = sum(base_seconds.values())
    del base_lists
    for f, task in enumerate(data.folds[1:], start=1):
        lists, secs = generators(task, f"stacking fold {f + 1}/{n_folds}")
        stack_s += sum(secs.values())
        frames.append(stacking_frame(task, lists, f))
        del lists
    frame = pd.concat(frames, ignore_index=True)
    del frames
    n_hidden = sum(len(r) for t in data.folds for r in t.relevant)
    recall = float(frame["relevance"].sum() / n_hidden)
    log(f"reranker: {len(frame):,} stacking candidates over {n_folds} fold(s), {recall:.3f} of the hidden "
        "items among them")
    ranker = Reranker(seed=seed, log=log).fit(frame)
    stack_s += c.s
    tuning["reranker"] = {"params": ranker.params, "n_estimators": ranker.n_estimators, "trials": ranker.trials,
                          "folds": n_folds, "train_rows": ranker.train_rows, "train_queries": ranker.train_queries,
                          "stacking_candidate_recall": round(recall, 6)}
    del frame

    # --- test: every generator refitted on the full training matrix --------------
    lists, seconds = generators(test, "the full training matrix")
    log("reranker: scoring the test candidates…")
    c = Clock()
    frame = candidate_frame(lists, test.users)
    frame = add_features(frame, test.train, data.value, data.side.get("friends"), data.artist, test.recent,
                         test.trending, data.side.get("names"), tags_fitted.pop(id(test), None))
    rerank_items, _ = ranker.rank(frame, test.users, K_LONG)
    test_recall = label(frame, test.users, test.relevant).sum() / sum(len(r) for r in test.relevant)
    seconds["reranker"] = stack_s + c.s + sum(seconds.values())
    log(f"reranker: done in {c.s:.0f} s (stacking {stack_s:.0f} s)")
    del frame

    results = {}
    for name in ("popularity", "als", "colistening", "sar", "ease", "reranker"):
        if name == "sar" and sar_skip is not None:
            results[name] = {"skipped": sar_skip}
            continue
        items = rerank_items if name == "reranker" else lists[name][0]
        items, padded = pad(items, lists["popularity"][0], K_LONG)
        results[name] = {**evaluate_lists(items, test, data.artist), "padded_lists": padded,
                         "seconds": round(seconds[name], 1)}
        log(f"{name}: NDCG@10 {results[name]['ndcg@10']:.4f}")
    results["reranker"]["candidate_recall"] = round(float(test_recall), 6)
    results["reranker"]["feature_importance_gain"] = ranker.importance()
    singles = [n for n in ("sar", "ease", "als") if "ndcg@10" in results[n]]
    best_name = max(singles, key=lambda n: results[n]["ndcg@10"])
    summary = {"best_single": best_name,
               "reranker_vs_best_single": round(results["reranker"]["ndcg@10"]
                                                / max(results[best_name]["ndcg@10"], 1e-12), 4),
               "goal": "reranker NDCG@10 >= 1.15 x the best of sar, ease and als"}
    notes = {
        "ease": f"dense Gram on items with >= {dense['ease']} training users"
                + (f", at most the {DENSE_MAX_ITEMS[dataset]:,} most frequent" if DENSE_MAX_ITEMS[dataset] else "")
                + f" ({tuning['ease']['items']:,} items on the validation split)",
        "sar": f"recommenders SAR (jaccard, no time decay) on items with >= {dense['sar']} training users; "
               "affinity = " + ("log1p(play count)" if data.value == "count" else "1"),
        "als": f"Spark MLlib implicit ALS, rating log1p(value), seed {seed}",
        "grids": "quick (--sample smoke test)" if quick else "full",
    }
    result = {"dataset": dataset, "seed": seed, "sample": sample, "split": {**data.split, "notes": notes},
              "k": K, "list_length": K_LONG, "candidates_per_generator": N_CANDIDATES,
              "tuning": tuning, "models": results, "summary": summary,
              "seconds": round(total.s, 1)}
    if out is not None:
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "evaluation.json").write_text(json.dumps(result, indent=2) + "\n")
        log(f"wrote {out / 'evaluation.json'} ({total.s:.0f} s)")
    return result
