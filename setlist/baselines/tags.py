"""``tags``: content from what listeners wrote about artists (Last.fm HetRec's
``user_taggedartists.dat``), a candidate source and features for the reranker.

An item's tag vector counts, per tag, the listeners who gave the item that
tag, weighted by the tag's inverse document frequency over items
(log(n_items_tagged / items with the tag)) and scaled to unit length. A
user's taste vector is the sum of their training items' tag vectors, weighted
by log1p of the training value, scaled to unit length; the user's own vector
is the same weighting of the tags the user applied (to any item). The source
proposes the items whose tag vector is closest (cosine) to the user's taste.

No tag may reveal a hidden item: a tagging of item i by user u is dropped when
u has i in the full data (``listened``) but not in the training matrix at
hand, so neither the item vectors nor the user's own vector carry the user's
tags on what they are asked to find. Tags on items the user never listened to
at all stay (in HetRec 71% of tagged (user, artist) pairs are such).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from setlist.baselines import Recommender, item_counts


def _unit_rows(m: sp.csr_matrix) -> sp.csr_matrix:
    m = sp.csr_matrix(m, dtype=np.float64)
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    return (sp.diags(inv) @ m).tocsr()


class Tags(Recommender):
    name = "tags"

    def __init__(self, users: np.ndarray, items: np.ndarray, tags: np.ndarray, n_tags: int,
                 listened: sp.spmatrix):
        """``users``, ``items``, ``tags``: one tagging per position (row and
        column indices of the evaluation's matrices, tag codes 0..n_tags-1);
        ``listened``: users × items, non-zero where the user has the item in
        the full data (training and every hidden part)."""
        self.u = np.asarray(users, dtype=np.int64)
        self.i = np.asarray(items, dtype=np.int64)
        self.t = np.asarray(tags, dtype=np.int64)
        self.n_tags = int(n_tags)
        self.listened = sp.csr_matrix(listened)

    def fit(self, train: sp.csr_matrix) -> "Tags":
        train = sp.csr_matrix(train)
        n_users, n_items = train.shape
        hidden = np.asarray(self.listened[self.u, self.i]).ravel() > 0
        hidden &= ~(np.asarray(train[self.u, self.i]).ravel() > 0)
        u, i, t = self.u[~hidden], self.i[~hidden], self.t[~hidden]
        self.dropped = int(hidden.sum())
        # One count per (item, tag, user): a listener counts once per tag.
        key = np.unique(np.stack([i, t, u]), axis=1)
        counts = sp.csr_matrix((np.ones(key.shape[1]), (key[0], key[1])), shape=(n_items, self.n_tags))
        items_with = np.asarray((counts > 0).sum(axis=0)).ravel()
        n_tagged = max(int((np.diff(counts.indptr) > 0).sum()), 1)
        idf = np.log(np.divide(n_tagged, items_with, out=np.ones(self.n_tags), where=items_with > 0))
        self.item_tags = _unit_rows(counts @ sp.diags(idf))
        pairs = np.unique(np.stack([i, u]), axis=1)
        self.taggers = np.bincount(pairs[0], minlength=n_items)
        weights = train.astype(np.float64)
        weights.data = np.log1p(weights.data)
        self.taste = _unit_rows(weights @ self.item_tags)
        own = np.unique(np.stack([u, t]), axis=1)
        self.own = _unit_rows(sp.csr_matrix((np.ones(own.shape[1]), (own[0], own[1])),
                                            shape=(n_users, self.n_tags)) @ sp.diags(idf))
        self.allowed = (item_counts(train) > 0) & (np.diff(self.item_tags.indptr) > 0)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return (self.taste[users] @ self.item_tags.T).toarray()

    def features(self, users: np.ndarray, items: np.ndarray) -> dict:
        """Per (user, item) row: ``tag_cosine`` (taste · item), ``own_tag_cosine``
        (the user's own tags · item; NaN for a user who tagged nothing) and
        ``item_log_taggers`` (log1p of the distinct listeners who tagged the item)."""
        users, items = np.asarray(users), np.asarray(items)
        out = {"tag_cosine": _row_dots(self.taste, self.item_tags, users, items)}
        has_own = np.diff(self.own.indptr) > 0
        own = _row_dots(self.own, self.item_tags, users, items)
        out["own_tag_cosine"] = np.where(has_own[users], own, np.nan)
        out["item_log_taggers"] = np.log1p(self.taggers[items])
        return out


def _row_dots(a: sp.csr_matrix, b: sp.csr_matrix, rows_a: np.ndarray, rows_b: np.ndarray,
              block: int = 200_000) -> np.ndarray:
    """a[rows_a[k]] · b[rows_b[k]] for each k, in blocks."""
    out = np.zeros(rows_a.size, dtype=np.float64)
    for s in range(0, rows_a.size, block):
        ra, rb = rows_a[s:s + block], rows_b[s:s + block]
        out[s:s + block] = np.asarray(a[ra].multiply(b[rb]).sum(axis=1)).ravel()
    return out
