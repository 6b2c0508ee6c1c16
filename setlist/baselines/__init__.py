"""Baseline recommenders for the offline evaluation (``setlist evaluate``).

Every baseline works on one sparse ``users × items`` training matrix (rows and
columns are the integer indices the evaluation assigns; values are the
interaction strength: play counts, or 1 for a playlist entry) and has the same
two methods:

* ``fit(train)``: learn from the training matrix;
* ``recommend(users, k, exclude)``: for the row indices ``users``, the top-``k``
  item indices and their scores, best first, as two ``len(users) × k`` arrays;
  items the user has in ``exclude`` (a ``users × items`` matrix, normally the
  training matrix) and items nobody has in training are never proposed.
  Short lists are padded with item ``-1`` and score ``nan``.

Ties in score go to the lower item index, so lists never depend on sort internals.
The baselines: ``popularity``, ``als`` (Spark MLlib), ``colistening``
(item-item cosine), ``ease`` (Steck 2019, closed form) and ``sar``
(Microsoft recommenders' SAR, run in its own environment by ``sar.py``).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Dense score blocks stay under about this many cells (float32: ~100 MB).
BLOCK_CELLS = 25_000_000


class Recommender:
    """The shared interface; subclasses implement ``fit`` and ``scores``."""

    name = "base"
    allowed: np.ndarray | None = None   # items that may be proposed (bool per item)

    def fit(self, train: sp.csr_matrix) -> "Recommender":
        raise NotImplementedError

    def scores(self, users: np.ndarray) -> np.ndarray:
        """Dense ``len(users) × n_items`` scores (higher is better)."""
        raise NotImplementedError

    def recommend(self, users, k: int, exclude: sp.csr_matrix | None = None):
        users = np.asarray(users, dtype=np.int64)
        n_items = self.allowed.size
        step = max(1, BLOCK_CELLS // max(n_items, 1))
        items, scores = [], []
        for start in range(0, users.size, step):
            block = users[start:start + step]
            s = np.asarray(self.scores(block), dtype=np.float32)
            ex = exclude[block] if exclude is not None else None
            i, v = top_k(s, k, ex, self.allowed)
            items.append(i)
            scores.append(v)
        if not items:
            return np.empty((0, k), dtype=np.int64), np.empty((0, k), dtype=np.float32)
        return np.vstack(items), np.vstack(scores)


def top_k(scores: np.ndarray, k: int, exclude: sp.spmatrix | None = None,
          allowed: np.ndarray | None = None):
    """Best ``k`` columns per row of a dense score block, best first.

    ``exclude`` (same shape, sparse) marks cells that must not be proposed;
    ``allowed`` (bool per column) the columns that may be. Ties go to the lower
    column index. Rows with fewer than ``k`` proposable columns are padded with
    -1 / nan.
    """
    s = np.array(scores, dtype=np.float32, copy=True)
    n_rows, n_cols = s.shape
    s[~np.isfinite(s)] = -np.inf
    if allowed is not None:
        s[:, ~np.asarray(allowed, dtype=bool)] = -np.inf
    if exclude is not None and exclude.nnz:
        r, c = exclude.nonzero()
        s[r, c] = -np.inf
    kk = min(k, n_cols)
    idx = np.full((n_rows, kk), -1, dtype=np.int64)
    if kk:
        part = np.argpartition(-s, kk - 1, axis=1)[:, :kk] if kk < n_cols else None
        kth = (np.take_along_axis(s, part, axis=1).min(axis=1) if part is not None
               else np.full(n_rows, -np.inf, dtype=np.float32))
        for r in range(n_rows):
            # Every column at or above the k-th score (argpartition may split a
            # tie arbitrarily), then ordered by (score desc, index asc).
            cand = np.flatnonzero(s[r] >= kth[r]) if np.isfinite(kth[r]) else np.flatnonzero(np.isfinite(s[r]))
            best = cand[np.lexsort((cand, -s[r, cand]))[:kk]]
            idx[r, : best.size] = best
    val = np.where(idx >= 0, np.take_along_axis(s, np.maximum(idx, 0), axis=1), np.nan).astype(np.float32)
    if kk < k:
        idx = np.hstack([idx, np.full((n_rows, k - kk), -1, dtype=np.int64)])
        val = np.hstack([val, np.full((n_rows, k - kk), np.nan, dtype=np.float32)])
    return idx, val


def binarize(m: sp.spmatrix) -> sp.csr_matrix:
    """The incidence matrix: 1 where the value is positive."""
    b = sp.csr_matrix(m, dtype=np.float32, copy=True)
    b.data = (b.data > 0).astype(np.float32)
    b.eliminate_zeros()
    return b


def item_counts(train: sp.spmatrix) -> np.ndarray:
    """Number of training users per item."""
    return np.asarray((train > 0).sum(axis=0)).ravel().astype(np.int64)
