"""``colistening``: item-item cosine neighbours on the training incidence matrix.

sim(i, j) = |U_i ∩ U_j| / sqrt(|U_i| · |U_j|) over the sets of training users
U_i; each item keeps its ``neighbours`` most similar items (ties to the lower
index), and score(u, j) = Σ_{i ∈ items(u)} sim_K(i, j). Built in blocks of
items so the full co-occurrence matrix never sits in memory.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from setlist.baselines import Recommender, binarize, item_counts


def cosine_neighbours(x: sp.csr_matrix, neighbours: int, block: int = 4096) -> sp.csr_matrix:
    """``items × items`` sparse matrix holding each item's top neighbours by cosine."""
    x = binarize(x)
    n_items = x.shape[1]
    norms = np.sqrt(item_counts(x).astype(np.float64))
    inv = np.divide(1.0, norms, out=np.zeros_like(norms), where=norms > 0)
    xt = x.T.tocsr()
    rows, cols, vals = [], [], []
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        co = (xt[start:stop] @ x).tocsr()
        own = np.repeat(np.arange(start, stop), np.diff(co.indptr))
        co.data[co.indices == own] = 0      # an item is not its own neighbour
        co.eliminate_zeros()
        co = sp.csr_matrix(sp.diags(inv[start:stop]) @ co @ sp.diags(inv))
        for r in range(stop - start):
            lo, hi = co.indptr[r], co.indptr[r + 1]
            if lo == hi:
                continue
            c, v = co.indices[lo:hi], co.data[lo:hi]
            if c.size > neighbours:
                keep = np.lexsort((c, -v))[:neighbours]
                c, v = c[keep], v[keep]
            rows.append(np.full(c.size, start + r, dtype=np.int64))
            cols.append(c)
            vals.append(v)
    if not rows:
        return sp.csr_matrix((n_items, n_items), dtype=np.float32)
    return sp.csr_matrix((np.concatenate(vals).astype(np.float32),
                          (np.concatenate(rows), np.concatenate(cols))), shape=(n_items, n_items))


class CoListening(Recommender):
    name = "colistening"

    def __init__(self, neighbours: int = 100):
        self.neighbours = int(neighbours)

    def fit(self, train: sp.csr_matrix) -> "CoListening":
        self.X = binarize(train)
        self.S = cosine_neighbours(self.X, self.neighbours)
        self.allowed = item_counts(train) > 0
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return (self.X[users] @ self.S).toarray()

    def with_seeds(self, seeds: sp.csr_matrix) -> "CoListening":
        """The same neighbours, scored from ``seeds`` (users × items) instead of
        every training item: e.g. a playlist's last tracks ("recent")."""
        other = CoListening(self.neighbours)
        other.S, other.allowed, other.name = self.S, self.allowed, "recent"
        other.X = binarize(seeds)
        return other
