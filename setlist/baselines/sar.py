"""``sar``: SAR from Microsoft ``recommenders`` (jaccard similarity, no time decay),
run in a separate Python environment.

``recommenders`` 1.2.1 uses ``np.NaN`` (gone in numpy 2) and cannot share the
main environment, so the training matrix and the users are written as CSV to a
temporary folder and ``sar_runner.py`` (a standalone script) runs with the
interpreter in ``$SETLIST_EVAL_PYTHON``, else ``<repo>/.venv-eval/bin/python``.
Create that environment with::

    python3.11 -m venv .venv-eval && .venv-eval/bin/pip install -r eval-requirements.txt

SAR keeps a dense items × items similarity, so on a large catalogue it is
restricted (like EASE) to items with at least ``min_users`` training users.
Affinity = the training value given (the evaluation passes log1p(count) for
play counts, 1 for playlist entries).
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from setlist.baselines import item_counts

RUNNER = Path(__file__).with_name("sar_runner.py")
REPO = Path(__file__).resolve().parents[2]
SETUP_HINT = ("python3.11 -m venv .venv-eval && .venv-eval/bin/pip install -r eval-requirements.txt "
              "(in the repository root), or set SETLIST_EVAL_PYTHON to a Python with recommenders==1.2.1 "
              "and numpy<2")


def eval_python() -> Path | None:
    """The evaluation environment's interpreter, or None when there is none."""
    env = os.environ.get("SETLIST_EVAL_PYTHON")
    candidates = [Path(env)] if env else [REPO / ".venv-eval" / "bin" / "python"]
    for c in candidates:
        if c.exists():
            return c
    return None


class SARUnavailable(RuntimeError):
    pass


class SAR:
    """Same ``fit``/``recommend`` shape as the other baselines; the work happens in ``recommend``."""

    name = "sar"

    def __init__(self, similarity: str = "jaccard", min_users: int = 1, python: Path | None = None,
                 log=None):
        self.similarity, self.min_users = similarity, int(min_users)
        self.python = python or eval_python()
        self.log = log or (lambda m: None)
        if self.python is None:
            raise SARUnavailable(f"no evaluation environment for SAR; create it with: {SETUP_HINT}")

    def fit(self, train: sp.csr_matrix, rating=np.log1p) -> "SAR":
        counts = item_counts(train)
        self.items = np.flatnonzero(counts >= max(self.min_users, 1))
        self.allowed = np.zeros(train.shape[1], dtype=bool)
        self.allowed[self.items] = True
        coo = train[:, self.items].tocoo()
        keep = coo.data > 0
        self.train = pd.DataFrame({"user": coo.row[keep], "item": self.items[coo.col[keep]],
                                   "rating": np.asarray(rating(coo.data[keep]), dtype=np.float32)})
        return self

    def recommend(self, users, k: int, exclude: sp.csr_matrix | None = None):
        users = np.asarray(users, dtype=np.int64)
        with tempfile.TemporaryDirectory(prefix="setlist-sar-") as tmp:
            folder = Path(tmp)
            self.train.to_csv(folder / "train.csv", index=False)
            pd.DataFrame({"user": np.unique(users)}).to_csv(folder / "users.csv", index=False)
            cmd = [str(self.python), str(RUNNER), str(folder), "--k", str(k), "--similarity", self.similarity]
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode != 0:
                raise SARUnavailable(f"SAR runner failed ({self.python}): {done.stderr.strip()[-2000:]}")
            recs = pd.read_csv(folder / "recs.csv")
        items = np.full((users.size, k), -1, dtype=np.int64)
        scores = np.full((users.size, k), np.nan, dtype=np.float32)
        row_of = {u: r for r, u in enumerate(users)}
        if exclude is not None and len(recs):
            # The runner removed what SAR saw in training; ``exclude`` may hold more.
            rows = np.array([row_of[int(u)] for u in recs["user"]])
            hit = np.asarray(exclude[users][rows, recs["item"].to_numpy()]).ravel() > 0
            recs = recs[~hit]
        for u, g in recs.groupby("user", sort=False):
            r = row_of[int(u)]
            g = g.head(k)
            items[r, : len(g)] = g["item"].to_numpy()
            scores[r, : len(g)] = g["score"].to_numpy()
        return items, scores
