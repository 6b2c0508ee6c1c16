"""The two-stage system under evaluation: candidate union + XGBoost reranker.

Candidates for a user are the union of each generator's top 100 (ALS, EASE,
co-listening, popularity, and SAR when it ran). Features per (user, item):

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
  the item's artist), its share of the user's items, ``artist_log_users``.

All of them are computed from the training matrix the generators saw, so the
stacked ranker learns on the validation split and is applied on the full one
with the same definitions. The ranker is ``XGBRanker(objective="rank:ndcg",
tree_method="hist")`` with one group per user, early stopping on a held-apart
20% of the validation users, a small grid chosen on those users, then refitted
on all validation users with the chosen number of trees.
"""

from __future__ import annotations

from functools import reduce

import numpy as np
import pandas as pd
import scipy.sparse as sp

from setlist.baselines import binarize

GENERATORS = ("als", "ease", "colistening", "sar", "popularity")


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


def add_features(frame: pd.DataFrame, train: sp.csr_matrix, value: str = "count", friends=None,
                 artist: np.ndarray | None = None) -> pd.DataFrame:
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
    return frame.assign(**out)


def label(frame: pd.DataFrame, users: np.ndarray, relevant: list) -> np.ndarray:
    """1 where (user, item) is in that user's relevant set."""
    pairs = pd.DataFrame({"user": np.repeat(users, [len(r) for r in relevant]),
                          "item": np.concatenate(relevant) if relevant else np.empty(0, dtype=np.int64),
                          "relevance": 1})
    merged = frame[["user", "item"]].merge(pairs, on=["user", "item"], how="left")
    return merged["relevance"].fillna(0).to_numpy(dtype=np.int64)


def feature_names(frame: pd.DataFrame) -> list[str]:
    return [c for c in frame.columns if c not in ("user", "item", "relevance", "qid")]


GRID = (
    {"max_depth": 6, "learning_rate": 0.05, "min_child_weight": 1.0},
    {"max_depth": 4, "learning_rate": 0.05, "min_child_weight": 1.0},
    {"max_depth": 8, "learning_rate": 0.05, "min_child_weight": 10.0},
)
BASE_PARAMS = {"n_estimators": 800, "subsample": 0.8, "colsample_bytree": 0.8, "reg_lambda": 1.0}


class Reranker:
    def __init__(self, seed: int = 0, grid=GRID, early_stopping: int = 40, valid_share: float = 0.2, log=None):
        self.seed, self.grid, self.early_stopping, self.valid_share = seed, grid, early_stopping, valid_share
        self.log = log or (lambda m: None)

    def _model(self, params: dict, n_estimators: int | None = None, stop: bool = True):
        import xgboost as xgb
        p = {**BASE_PARAMS, **params}
        if n_estimators is not None:
            p["n_estimators"] = n_estimators
        return xgb.XGBRanker(objective="rank:ndcg", tree_method="hist", eval_metric="ndcg@10",
                             random_state=self.seed, n_jobs=2,
                             early_stopping_rounds=self.early_stopping if stop else None, **p)

    def fit(self, frame: pd.DataFrame) -> "Reranker":
        """``frame``: candidates with features and ``relevance``; users without a
        relevant candidate teach nothing and are dropped."""
        has_pos = frame.groupby("user")["relevance"].transform("max") > 0
        frame = frame[has_pos].sort_values(["user", "item"], kind="stable").reset_index(drop=True)
        self.features = feature_names(frame)
        users = np.unique(frame["user"])
        rng = np.random.default_rng(self.seed)
        held = set(rng.choice(users, size=max(1, int(round(self.valid_share * users.size))), replace=False).tolist())
        is_valid = frame["user"].isin(held).to_numpy()
        tr, va = frame[~is_valid], frame[is_valid]
        qtr, qva = pd.factorize(tr["user"])[0], pd.factorize(va["user"])[0]
        self.trials = []
        best = None
        for params in self.grid:
            m = self._model(params)
            m.fit(tr[self.features], tr["relevance"], qid=qtr, eval_set=[(va[self.features], va["relevance"])],
                  eval_qid=[qva], verbose=False)
            trial = {**params, "best_iteration": int(m.best_iteration), "valid_ndcg@10": round(float(m.best_score), 6)}
            self.trials.append(trial)
            self.log(f"reranker trial {trial}")
            if best is None or trial["valid_ndcg@10"] > best["valid_ndcg@10"]:
                best = trial
        self.params = {k: best[k] for k in self.grid[0]}
        self.n_estimators = best["best_iteration"] + 1
        self.model = self._model(self.params, n_estimators=self.n_estimators, stop=False)
        self.model.fit(frame[self.features], frame["relevance"], qid=pd.factorize(frame["user"])[0], verbose=False)
        self.train_rows, self.train_users = int(len(frame)), int(users.size)
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
