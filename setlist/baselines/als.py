"""``als``: implicit-feedback ALS (Spark MLlib), as the candidates stage uses it.

Rating r = log1p(count) (log scaling beats raw counts on heavy-tailed play
counts), confidence 1 + alpha·r, ``implicitPrefs=True``. The rows and columns
of the training matrix are already integer indices, so no StringIndexer is
needed; the learnt factors are collected and the scores U·Vᵀ computed with
numpy, which makes excluding each user's training items exact.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from setlist.baselines import Recommender, item_counts


class SparkALS(Recommender):
    name = "als"

    def __init__(self, spark, rank: int = 64, reg: float = 0.05, alpha: float = 1.0, max_iter: int = 10,
                 seed: int = 0, blocks: int = 4):
        self.spark = spark
        self.rank, self.reg, self.alpha, self.max_iter = int(rank), float(reg), float(alpha), int(max_iter)
        self.seed, self.blocks = int(seed), int(blocks)

    @property
    def params(self) -> dict:
        return {"rank": self.rank, "reg": self.reg, "alpha": self.alpha, "max_iter": self.max_iter}

    def fit(self, train: sp.csr_matrix) -> "SparkALS":
        import pandas as pd
        from pyspark.ml.recommendation import ALS

        coo = train.tocoo()
        ratings = pd.DataFrame({"u": coo.row.astype(np.int32), "i": coo.col.astype(np.int32),
                                "rating": np.log1p(coo.data.astype(np.float64)).astype(np.float32)})
        df = self.spark.createDataFrame(ratings, "u int, i int, rating float")
        als = ALS(rank=self.rank, regParam=self.reg, alpha=self.alpha, maxIter=self.max_iter,
                  implicitPrefs=True, userCol="u", itemCol="i", ratingCol="rating",
                  coldStartStrategy="drop", nonnegative=False, seed=self.seed,
                  numUserBlocks=self.blocks, numItemBlocks=self.blocks)
        model = als.fit(df)
        self.U = _factors(model.userFactors, train.shape[0], self.rank)
        self.V = _factors(model.itemFactors, train.shape[1], self.rank)
        self.allowed = item_counts(train) > 0
        return self

    def scores(self, users: np.ndarray) -> np.ndarray:
        return self.U[users] @ self.V.T


def _factors(frame, n: int, rank: int) -> np.ndarray:
    """MLlib's (id, features) factor table as a dense ``n × rank`` array (zeros where absent)."""
    pdf = frame.toPandas()
    out = np.zeros((n, rank), dtype=np.float32)
    if len(pdf):
        out[pdf["id"].to_numpy()] = np.stack(pdf["features"].to_numpy()).astype(np.float32)
    return out
