"""The two-stage system under evaluation: candidate union + XGBoost reranker.

Candidates for a user are the union of each generator's top 100: ALS, EASE,
co-listening, popularity, SAR when it ran, and sources that exist only for the
reranker where the data has them: ``recent`` (co-listening neighbours of the
user's last 5 training items: a playlist's last tracks by position, a
listener's last plays), ``artist`` (tracks of the artists the user already
has, most of that artist first, then by popularity), ``trending`` (the most
played items of the last 2 days of the training window, where plays have
dates), ``name`` (tracks of playlists whose names share words with the
user's playlist name: ``setlist.baselines.names``), ``tags`` (the items
whose listeners' tags are closest to the user's: ``setlist.baselines.tags``)
and ``friends`` (the items most of the user's friends have, where there is a
friends graph).
Features per (user, item):

* per generator g: ``g_score``, ``g_rank`` (1 = best) and ``g_ratio`` (score /
  the user's best score from g); missing (NaN) when g did not propose the item;
* ``n_generators``: how many generators proposed it;
* ``item_log_users`` (log1p training users of the item), ``user_log_items``
  (log1p training items of the user);
* with play counts: ``item_log_plays``, ``item_mean_log_plays`` (mean log1p
  play count over its listeners), ``user_log_plays``;
* with a friends graph (Last.fm): ``friends_with_item`` and its share of the
  user's friends (training interactions of friends only);
* with artists (MPD, synthetic): ``same_artist`` (the user's training items by
  the item's artist), its share of the user's items, ``artist_log_users``, and
  ``recent_same_artist`` (among the last 5 items);
* with an order (MPD, synthetic): ``recent_cosine``, Σ over the user's last 5
  items j of cos(i, j) on the training incidence matrix;
* with dated plays (synthetic): ``item_log_plays_last_days`` (log1p plays in
  the last 2 days of the training window) and ``item_last_days_share`` (those
  plays / all training plays of the item).
* with listeners' tags on items (Last.fm): ``tag_cosine`` (the user's tag
  taste · the item's tag vector), ``own_tag_cosine`` (the tags the user
  applied · the item's tag vector) and ``item_log_taggers``
  (``setlist.baselines.tags``; no tag of the user on a hidden item is used);
* with playlist names (MPD): ``name_share``, the mean over the name's tokens
  of the share of training playlists with that token holding the item, and
  ``name_whole_share``, the same for playlists with exactly the same name.

All of them are computed from the training matrix the generators saw, so the
stacked ranker learns on the stacking folds and is applied on the full matrix
with the same definitions. The ranker is ``XGBRanker(objective="rank:ndcg",
tree_method="hist")``, one query per (fold, user). A quarter of the users
(across folds) is held apart; for each point of a two-point grid, 300 rounds
are grown and the held-out NDCG@10 curve is smoothed over 21 rounds (on a
few hundred users the raw curve is noisy and its raw maximum is often a lucky
early round), the best
point and number of trees are kept, and the ranker is refitted on all users.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pandas as pd
import scipy.sparse as sp

from setlist.baselines import binarize

GENERATORS = ("als", "ease", "colistening", "sar", "popularity", "recent", "artist", "trending", "name", "tags",
              "friends")


def candidate_frame(generated: dict, users: np.ndarray) -> pd.DataFrame:
    """One row per (user, item) proposed by any generator, with every generator's
    score, rank and score ratio. ``generated``: {name: (items, scores)} aligned with ``users``."""
    frames = []
    for g in GENERATORS:
        if g not in generated:
            continue
        items, scores = generated[g]
        n, k = items.shape
        u = np.repeat(np.asarray(users), k)
        it = items.ravel()
        ok = it >= 0
        f = pd.DataFrame({"user": u[ok], "item": it[ok], f"{g}_score": scores.ravel()[ok].astype(np.float64),
                          f"{g}_rank": np.tile(np.arange(1, k + 1), n)[ok].astype(np.float64)})
        top = f.groupby("user")[f"{g}_score"].transform("max")
        f[f"{g}_ratio"] = np.where(top > 0, f[f"{g}_score"] / top.where(top > 0, 1.0), np.nan)
        frames.append(f)
    frame = reduce(lambda a, b: a.merge(b, on=["user", "item"], how="outer"), frames)
    frame["n_generators"] = frame[[f"{g}_rank" for g in GENERATORS if g in generated]].notna().sum(axis=1)
    return frame.sort_values(["user", "item"], kind="stable").reset_index(drop=True)


def pair_values(frame: pd.DataFrame, left: sp.csr_matrix, right: sp.spmatrix,
                block_cells: int = 20_000_000) -> np.ndarray:
    """(left @ right)[u, i] for each (user u, item i) row of ``frame``, computed
    in blocks of users so that no users × items matrix is ever dense."""
    left, right = sp.csr_matrix(left), sp.csc_matrix(right)
    out = np.zeros(len(frame), dtype=np.float64)
    users = frame["user"].to_numpy()
    items = frame["item"].to_numpy()
    uniq = np.unique(users)
    step = max(1, block_cells // max(right.shape[1], 1))
    for start in range(0, uniq.size, step):
        block = uniq[start:start + step]
        dense = (left[block] @ right).toarray()
        rows = np.flatnonzero(np.isin(users, block))
        out[rows] = dense[np.searchsorted(block, users[rows]), items[rows]]
    return out


def profile_similarity(frame: pd.DataFrame, x: sp.csr_matrix, profile: sp.csr_matrix) -> np.ndarray:
    """Σ_j profile[u, j] · cos(i, j) for each (user u, item i) row of ``frame``,
    cos over the columns of the binary training matrix ``x``."""
    counts = np.asarray(x.sum(axis=0)).ravel()
    inv = np.divide(1.0, np.sqrt(counts), out=np.zeros_like(counts, dtype=np.float64), where=counts > 0)
    xn = (x @ sp.diags(inv.astype(np.float32))).tocsc()
    return pair_values(frame, (profile @ xn.T).tocsr(), xn)


def add_features(frame: pd.DataFrame, train: sp.csr_matrix, value: str = "count", friends=None,
                 artist: np.ndarray | None = None, recent: sp.csr_matrix | None = None,
                 trending: np.ndarray | None = None, names: sp.csr_matrix | None = None,
                 tags=None) -> pd.DataFrame:
    """The features of the module docstring for each (user, item) row of
    ``frame``; ``tags``: the ``setlist.baselines.tags.Tags`` source already
    fitted on ``train``, where the data has tags."""
    x = binarize(train)
    u, i = frame["user"].to_numpy(), frame["item"].to_numpy()
    item_users = np.asarray(x.sum(axis=0)).ravel()
    user_items = np.asarray(x.sum(axis=1)).ravel()
    out = {"item_log_users": np.log1p(item_users[i]), "user_log_items": np.log1p(user_items[u])}
    if value == "count":
        logs = train.tocsr(copy=True).astype(np.float64)
        logs.data = np.log1p(logs.data)
        item_plays = np.asarray(train.sum(axis=0)).ravel()
        item_logs = np.asarray(logs.sum(axis=0)).ravel()
        out["item_log_plays"] = np.log1p(item_plays[i])
        out["item_mean_log_plays"] = np.divide(item_logs, item_users, out=np.zeros_like(item_logs),
                                               where=item_users > 0)[i]
        out["user_log_plays"] = np.log1p(np.asarray(train.sum(axis=1)).ravel()[u])
    if friends is not None:
        fx = (friends @ x).tocsr()
        n_friends = np.asarray(friends.sum(axis=1)).ravel()
        with_item = np.asarray(fx[u, i]).ravel()
        out["friends_with_item"] = with_item
        out["friends_share"] = np.where(n_friends[u] > 0, with_item / np.maximum(n_friends[u], 1), np.nan)
    if artist is not None:
        a = np.asarray(artist)
        known = a >= 0
        n_art = int(a.max()) + 1 if known.any() else 1
        item_artist = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32),
                                     (np.flatnonzero(known), a[known])), shape=(x.shape[1], n_art))
        ua = (x @ item_artist).tocsr()
        artist_users = np.asarray((ua > 0).sum(axis=0)).ravel()
        ai = a[i]
        same = np.where(ai >= 0, np.asarray(ua[u, np.maximum(ai, 0)]).ravel(), np.nan)
        out["same_artist"] = same
        out["same_artist_share"] = same / np.maximum(user_items[u], 1)
        out["artist_log_users"] = np.where(ai >= 0, np.log1p(artist_users[np.maximum(ai, 0)]), np.nan)
        if recent is not None:
            ra = (recent @ item_artist).tocsr()
            out["recent_same_artist"] = np.where(ai >= 0, np.asarray(ra[u, np.maximum(ai, 0)]).ravel(), np.nan)
    if recent is not None:
        out["recent_cosine"] = profile_similarity(frame, x, binarize(recent))
    if trending is not None:
        t = np.asarray(trending, dtype=np.float64)
        total = np.asarray(train.sum(axis=0)).ravel()
        out["item_log_plays_last_days"] = np.log1p(t[i])
        out["item_last_days_share"] = t[i] / (total[i] + 1.0)
    if names is not None:
        from setlist.baselines.names import PlaylistName
        m = PlaylistName(names).fit(train)
        n_tokens = np.asarray(m.tokens.sum(axis=1)).ravel()
        raw = pair_values(frame, m.tokens, m.P)
        out["name_share"] = np.where(n_tokens[u] > 0, raw / np.maximum(n_tokens[u], 1), np.nan)
        whole = m.tokens[:, names.whole]
        has_whole = np.asarray(whole.sum(axis=1)).ravel() > 0
        out["name_whole_share"] = np.where(has_whole[u], pair_values(frame, whole, m.P[names.whole]), np.nan)
    if tags is not None:
        out.update(tags.features(u, i))
    return frame.assign(**out)


def label(frame: pd.DataFrame, users: np.ndarray, relevant: list) -> np.ndarray:
    """1 where (user, item) is in that user's relevant set."""
    pairs = pd.DataFrame({"user": np.repeat(users, [len(r) for r in relevant]),
                          "item": np.concatenate(relevant) if relevant else np.empty(0, dtype=np.int64),
                          "relevance": 1})
    merged = frame[["user", "item"]].merge(pairs, on=["user", "item"], how="left")
    return merged["relevance"].fillna(0).to_numpy(dtype=np.int64)


def feature_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("fold", "user", "item", "relevance", "qid")]


GRID = (
    {"max_depth": 6, "learning_rate": 0.05, "min_child_weight": 10.0},
    {"max_depth": 4, "learning_rate": 0.1, "min_child_weight": 1.0},
)
BASE_PARAMS = {"n_estimators": 300, "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 1.0}
SMOOTH = 21      # the held-out NDCG curve is averaged over this many rounds before its best is taken


def best_round(curve, window: int = SMOOTH) -> tuple[int, float]:
    """(number of trees, smoothed held-out score) at the best of the moving
    average of ``curve`` (per round): on a few hundred held-out users the raw
    curve is noisy, and its raw maximum is often a lucky early round."""
    c = np.asarray(curve, dtype=float)
    w = max(1, min(window, c.size))
    kernel = np.ones(w) / w
    padded = np.concatenate([np.full(w // 2, c[0]), c, np.full(w - 1 - w // 2, c[-1])])
    smooth = np.convolve(padded, kernel, mode="valid")
    i = int(np.argmax(smooth))
    return i + 1, float(smooth[i])


class Reranker:
    def __init__(self, seed: int = 0, grid=GRID, early_stopping: int | None = None, valid_share: float = 0.25,
                 log=None):
        """``early_stopping`` stays off by default: stopping at the raw curve's
        maximum cut the smoothed curve while it was still rising."""
        self.seed, self.grid, self.early_stopping, self.valid_share = seed, grid, early_stopping, valid_share
        self.log = log or (lambda m: None)

    def _model(self, params: dict, n_estimators: int | None = None, stop: bool = True):
        import xgboost as xgb
        p = {**BASE_PARAMS, **params}
        if n_estimators is not None:
            p["n_estimators"] = n_estimators
        return xgb.XGBRanker(objective="rank:ndcg", tree_method="hist", eval_metric="ndcg@10",
                             random_state=self.seed, n_jobs=2,
                             early_stopping_rounds=self.early_stopping if stop and self.early_stopping else None,
                             **p)

    def fit(self, frame: pd.DataFrame) -> "Reranker":
        """``frame``: candidates with features and ``relevance`` (and ``fold``
        when several stacking folds are stacked: one query per (fold, user)).
        Queries without a relevant candidate teach nothing and are dropped; the
        held-apart users for early stopping are drawn by user, across folds."""
        if "fold" not in frame.columns:
            frame = frame.assign(fold=0)
        keys = ["fold", "user"]
        has_pos = frame.groupby(keys)["relevance"].transform("max") > 0
        frame = frame[has_pos].sort_values([*keys, "item"], kind="stable").reset_index(drop=True)
        self.features = feature_names(frame)
        users = np.unique(frame["user"])
        rng = np.random.default_rng(self.seed)
        held = rng.choice(users, size=max(1, int(round(self.valid_share * users.size))), replace=False)
        is_valid = frame["user"].isin(held).to_numpy()
        tr, va = frame[~is_valid], frame[is_valid]

        def qid(f):
            return pd.factorize(pd.MultiIndex.from_frame(f[keys]))[0]

        self.trials = []
        best = None
        for params in self.grid:
            m = self._model(params)
            m.fit(tr[self.features], tr["relevance"], qid=qid(tr), eval_set=[(va[self.features], va["relevance"])],
                  eval_qid=[qid(va)], verbose=False)
            curve = m.evals_result()["validation_0"]["ndcg@10"]
            n_trees, score = best_round(curve)
            trial = {**params, "n_estimators": n_trees, "rounds_run": len(curve),
                     "heldout_ndcg@10_smoothed": round(score, 6)}
            self.trials.append(trial)
            self.log(f"reranker trial {trial}")
            if best is None or score > best["heldout_ndcg@10_smoothed"]:
                best = trial
        self.params = {k: best[k] for k in self.grid[0]}
        self.n_estimators = best["n_estimators"]
        self.model = self._model(self.params, n_estimators=self.n_estimators, stop=False)
        self.model.fit(frame[self.features], frame["relevance"], qid=qid(frame), verbose=False)
        self.train_rows = int(len(frame))
        self.train_queries = int(frame.groupby(keys).ngroups)
        return self

    def rank(self, frame: pd.DataFrame, users: np.ndarray, k: int):
        """Top-k items per user in ``users`` by the model's score (ties: lower item index)."""
        scored = frame[["user", "item"]].assign(score=self.model.predict(frame[self.features]))
        scored = scored.sort_values(["user", "score", "item"], ascending=[True, False, True], kind="stable")
        scored["pos"] = scored.groupby("user").cumcount()
        scored = scored[scored["pos"] < k]
        row_of = pd.Index(users).get_indexer(scored["user"])
        items = np.full((len(users), k), -1, dtype=np.int64)
        scores = np.full((len(users), k), np.nan, dtype=np.float32)
        items[row_of, scored["pos"].to_numpy()] = scored["item"].to_numpy()
        scores[row_of, scored["pos"].to_numpy()] = scored["score"].to_numpy()
        return items, scores

    def importance(self, top: int = 15) -> dict:
        gain = self.model.get_booster().get_score(importance_type="gain")
        return {k: round(float(v), 3) for k, v in sorted(gain.items(), key=lambda kv: -kv[1])[:top]}
