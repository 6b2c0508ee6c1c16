"""Ranking quality, per listener.

* NDCG@k uses graded gains 2^rel - 1 and discounts 1/log2(1 + position),
  positions 1-based; ties in score are broken by the order given (stable
  sort), so results never depend on sort internals. A listener with no
  relevant item has NDCG undefined: they are left out, not counted as 0.
* Recall@k = relevant items in the top k / all relevant items of the listener.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def dcg(gains: np.ndarray, k: int) -> float:
    g = np.asarray(gains, dtype=float)[:k]
    return float(np.sum((2.0 ** g - 1.0) / np.log2(np.arange(2, g.size + 2))))


def ndcg_at_k(relevance, scores, k: int = 10) -> float:
    rel = np.asarray(relevance, dtype=float)
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    ideal = dcg(np.sort(rel)[::-1], k)
    return float("nan") if ideal == 0 else dcg(rel[order], k) / ideal


def recall_at_k(relevance, scores, k: int = 10) -> float:
    rel = np.asarray(relevance, dtype=float) > 0
    if rel.sum() == 0:
        return float("nan")
    order = np.argsort(-np.asarray(scores, dtype=float), kind="stable")
    return float(rel[order][:k].sum() / rel.sum())


def per_user(df: pd.DataFrame, score_cols: dict, user_col="user_id", rel_col="relevance",
             k: int = 10) -> pd.DataFrame:
    """One row per user with ``ndcg_<name>`` and ``recall_<name>`` for each score column.

    Rows are taken in their given order inside each user before the stable
    sort, so callers sort by a tie-break key first.
    """
    rows = []
    for user, g in df.groupby(user_col, sort=True):
        row = {user_col: user, "n_candidates": len(g), "n_relevant": int((g[rel_col] > 0).sum())}
        for name, col in score_cols.items():
            row[f"ndcg_{name}"] = ndcg_at_k(g[rel_col].to_numpy(), g[col].to_numpy(), k)
            row[f"recall_{name}"] = recall_at_k(g[rel_col].to_numpy(), g[col].to_numpy(), k)
        rows.append(row)
    return pd.DataFrame(rows)
