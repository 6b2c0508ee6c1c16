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


class ArtistPopularity(Recommender):
    """Tracks by the artists already in the user's training items: most items
    of that artist first, then the most popular track. A candidate source for
    the reranker (where items have artists), not a reported baseline."""

    name = "artist"

    def __init__(self, artist: np.ndarray):
        self.artist = np.asarray(artist)

    def fit(self, train: sp.csr_matrix) -> "ArtistPopularity":
        x = sp.csr_matrix(train > 0, dtype=np.float32)
        known = self.artist >= 0
        n_art = int(self.artist.max()) + 1 if known.any() else 1
        self.item_artist = sp.csr_matrix((np.ones(int(known.sum()), dtype=np.float32),
                                          (np.flatnonzero(known), self.artist[known])),
                                         shape=(x.shape[1], n_art))
        self.user_artist = (x @ self.item_artist).tocsr()
        counts = item_counts(train).astype(np.float64)
        self.tiebreak = (counts / (counts.max() + 1.0)).astype(np.float32)
        self.allowed = counts > 0
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        s = (self.user_artist[users] @ self.item_artist.T).toarray()
        return np.where(s > 0, s + self.tiebreak, -np.inf)


class Trending(Recommender):
    """The items played most in the last days of the training window (counts
    given per item): a candidate source for the reranker where plays have
    dates, like the candidates stage's 7-day ``popular`` generator."""

    name = "trending"

    def __init__(self, counts: np.ndarray):
        self.counts = np.asarray(counts, dtype=np.float32)

    def fit(self, train: sp.csr_matrix) -> "Trending":
        self.allowed = (item_counts(train) > 0) & (self.counts > 0)
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(users), self.counts.size))


class FriendsPopularity(Recommender):
    """The items most of the user's friends have in training (then the most
    popular): a candidate source for the reranker where there is a friends
    graph (Last.fm). ``friends``: users × users, non-zero for a friendship."""

    name = "friends"

    def __init__(self, friends: sp.spmatrix):
        self.friends = sp.csr_matrix(friends, dtype=np.float32)
        self.friends.data[:] = 1.0

    def fit(self, train: sp.csr_matrix) -> "FriendsPopularity":
        self.x = sp.csr_matrix(train > 0, dtype=np.float32)
        counts = item_counts(train).astype(np.float64)
        self.tiebreak = (counts / (counts.max() + 1.0)).astype(np.float32)
        self.allowed = counts > 0
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        s = (self.friends[users] @ self.x).toarray()
        return np.where(s > 0, s + self.tiebreak, -np.inf)
