"""``ease``: EASE (Steck, "Embarrassingly Shallow Autoencoders for Sparse Data", WWW 2019).

Closed form on the binary ``users × items`` matrix X:

    P = (XᵀX + λI)⁻¹,   B = I − P · diag(1 / diag(P)),   so diag(B) = 0,
    score(u, ·) = X_u B.

The Gram matrix is dense (items²), so on a large catalogue the model is
restricted to the items with at least ``min_users`` training users (the others
are neither inputs nor outputs); ``max_items`` caps the size the same way by
keeping the most frequent items.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from setlist.baselines import Recommender, binarize, item_counts


def ease_weights(gram: np.ndarray, lam: float) -> np.ndarray:
    """B from the Gram matrix XᵀX and λ (float64 throughout).

    The inverse uses every core even where ``OPENBLAS_NUM_THREADS=1`` keeps
    Spark's ALS tasks to one BLAS thread each (the README's advice): one thread
    takes about 1.6 times as long (10.7 s against 6.5 s for a 6,000-item
    inverse on 2 cores)."""
    import os

    from threadpoolctl import threadpool_limits

    g = np.array(gram, dtype=np.float64, copy=True)
    g[np.diag_indices_from(g)] += lam
    with threadpool_limits(limits=os.cpu_count() or 1, user_api="blas"):
        p = np.linalg.inv(g)
    b = -p / np.diag(p)[np.newaxis, :]
    b[np.diag_indices_from(b)] = 0.0
    return b


class EASE(Recommender):
    name = "ease"

    def __init__(self, lam: float = 500.0, min_users: int = 1, max_items: int | None = None):
        self.lam, self.min_users, self.max_items = float(lam), int(min_users), max_items

    def select_items(self, train: sp.csr_matrix) -> np.ndarray:
        counts = item_counts(train)
        keep = np.flatnonzero(counts >= max(self.min_users, 1))
        if self.max_items is not None and keep.size > self.max_items:
            order = np.lexsort((keep, -counts[keep]))
            keep = np.sort(keep[order[: self.max_items]])
        return keep

    def gram(self, train: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(the modelled item indices, their dense Gram matrix XᵀX)."""
        items = self.select_items(train)
        x = binarize(train)[:, items]
        return items, (x.T @ x).toarray().astype(np.float64)

    def fit(self, train: sp.csr_matrix, gram: tuple | None = None) -> "EASE":
        """``gram`` (from :meth:`gram` on the same matrix) saves recomputing XᵀX when tuning λ."""
        self.items, g = gram if gram is not None else self.gram(train)
        self.B = ease_weights(g, self.lam).astype(np.float32)
        self.X = binarize(train)[:, self.items].tocsr()
        self.allowed = np.zeros(train.shape[1], dtype=bool)
        self.allowed[self.items] = True
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        out = np.zeros((len(users), self.allowed.size), dtype=np.float32)
        x = self.X[users]
        out[:, self.items] = x @ self.B
        out[x.getnnz(axis=1) == 0] = -np.inf      # no modelled item: no opinion, not a list of zeros
        return out
