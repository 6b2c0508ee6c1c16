"""``name``: tracks that playlists with the same name words hold (MPD).

Playlist names become a users × tokens incidence matrix N (:func:`name_tokens`:
each lower-cased alphanumeric word, plus the whole name as one more token).
With the binary training matrix X, P[t, i] = share of the training playlists
with token t that hold item i, and score(u, i) = mean over u's tokens t of
P[t, i]. A candidate source and features for the reranker, not a reported
baseline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from setlist.baselines import Recommender, binarize, item_counts


@dataclass
class Names:
    tokens: sp.csr_matrix        # users × tokens, 1 where the user's name has the token
    whole: np.ndarray            # bool per token: the whole-name token (not a single word)


def name_tokens(user_ids, names, u_of: pd.Index) -> Names:
    """Tokens of each user's (playlist's) name; users not in ``u_of`` are ignored."""
    rows = u_of.get_indexer(pd.Index(user_ids))
    pairs = set()
    for r, name in zip(rows, names):
        if r < 0 or not isinstance(name, str):
            continue
        words = re.findall(r"[0-9a-z]+", name.lower())
        if words:
            pairs.update((int(r), w) for w in words)
            pairs.add((int(r), "=" + " ".join(words)))
    pairs = sorted(pairs)
    codes, vocab = pd.factorize(pd.Series([t for _, t in pairs], dtype=object), sort=True)
    m = sp.csr_matrix((np.ones(len(pairs), dtype=np.float32),
                       (np.array([r for r, _ in pairs], dtype=np.int64), codes)),
                      shape=(len(u_of), len(vocab)))
    return Names(tokens=m, whole=np.asarray([str(t).startswith("=") for t in vocab], dtype=bool))


class PlaylistName(Recommender):
    name = "name"

    def __init__(self, names: Names):
        self.names = names
        self.tokens = sp.csr_matrix(names.tokens, dtype=np.float32)

    def fit(self, train: sp.csr_matrix) -> "PlaylistName":
        x = binarize(train)
        with_items = (np.diff(x.indptr) > 0).astype(np.float32)
        t = (sp.diags(with_items) @ self.tokens).tocsr()   # only playlists with training items count
        per_token = np.asarray(t.sum(axis=0)).ravel()
        inv = np.divide(1.0, per_token, out=np.zeros_like(per_token), where=per_token > 0)
        self.P = (sp.diags(inv.astype(np.float32)) @ (t.T @ x)).tocsr()
        self.allowed = item_counts(train) > 0
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        t = self.tokens[users]
        n = np.asarray(t.sum(axis=1)).ravel()
        mean = sp.diags(np.divide(1.0, n, out=np.zeros_like(n), where=n > 0)) @ t
        out = (mean @ self.P).toarray()
        out[n == 0] = -np.inf          # no name: no opinion
        return out
