"""``popularity``: the items most training users have, the same list for everyone."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from setlist.baselines import Recommender, item_counts


class Popularity(Recommender):
    name = "popularity"

    def fit(self, train: sp.csr_matrix) -> "Popularity":
        self.counts = item_counts(train).astype(np.float32)
        self.allowed = self.counts > 0
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), self.counts.size))
