"""Fairness: of exposure for groups of artists, of ranking quality for groups
of listeners.

Fairness of exposure (after Singh & Joachims, "Fairness of exposure in
rankings", 2018), for artist groups:

* Exposure of an artist: position-weighted playlist slots tonight (see
  ``metrics``). Merit of an artist: the plays of its tracks in the 28 days up
  to ds, i.e. what listeners chose before tonight's lists.
* Per group: exposure share and merit share (each over all artists), and
  ratio = exposure share / merit share: 1 = exposure in proportion to
  merit, 0.5 = half the exposure its listening would justify. Missing when
  the group has no merit.
* Disparity per attribute: lowest ratio / highest ratio over the groups
  shown (1 = every group treated alike, 0 = some group gets nothing).
* Groups: emerging vs established (``gold.artist_stats``), label kind,
  country, and self-declared gender only for artists who consented to its
  use in audits (the others are "not declared"). A group with fewer than
  ``k`` artists is suppressed: shown as suppressed, never with values, and
  left out of the disparity.

Ranking quality by listener group (fairlearn ``MetricFrame``): mean NDCG@10
and recall@10 of the reranker over validation listeners per group of age
band, country, tier and activity level, with the difference (best - worst)
and ratio (worst / best) over the groups shown. Groups of fewer than ``k``
listeners are suppressed. Age band is used only for listeners with audit
consent ("not shared" otherwise).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

ARTIST_GROUPS = ("emerging", "label_kind", "country", "self_declared_gender")
LISTENER_GROUPS = ("age_band", "country", "tier", "activity_level")


def exposure_fairness(artists: pd.DataFrame, attribute: str, min_size: int) -> dict:
    """``artists``: one row per catalogue artist with ``exposure``, ``merit``
    and ``attribute``."""
    df = artists[["artist_id", "exposure", "merit", attribute]].copy()
    df[attribute] = df[attribute].fillna("unknown").astype(str)
    e_total, m_total = float(df["exposure"].sum()), float(df["merit"].sum())
    agg = df.groupby(attribute).agg(artists=("artist_id", "size"), exposure=("exposure", "sum"),
                                    merit=("merit", "sum"))
    groups, ratios = {}, []
    for g, row in agg.sort_index().iterrows():
        if row["artists"] < min_size:
            groups[str(g)] = {"artists": int(row["artists"]), "suppressed": True}
            continue
        e_share = row["exposure"] / e_total if e_total else 0.0
        m_share = row["merit"] / m_total if m_total else 0.0
        ratio = e_share / m_share if m_share else None
        if ratio is not None:
            ratios.append(ratio)
        groups[str(g)] = {"artists": int(row["artists"]), "suppressed": False,
                          "exposure_share": round(float(e_share), 6), "merit_share": round(float(m_share), 6),
                          "exposure_to_merit": None if ratio is None else round(float(ratio), 6)}
    disparity = (min(ratios) / max(ratios) if len(ratios) >= 2 and max(ratios) > 0 else None)
    return {"attribute": attribute, "min_group_size": min_size, "groups": groups,
            "disparity": None if disparity is None else round(float(disparity), 6)}


def quality_by_group(evaluation: pd.DataFrame, attribute: str, min_size: int) -> dict:
    """fairlearn MetricFrame of mean NDCG@10 / recall@10 per group of ``attribute``.

    One row per validation listener: y_true carries their NDCG@10, y_pred their
    recall@10, so the group metric is the listeners' mean of each. Groups below
    ``min_size`` listeners are suppressed and excluded from difference/ratio.
    """
    from fairlearn.metrics import MetricFrame
    df = evaluation.dropna(subset=["ndcg_at_10"]).copy()
    df[attribute] = df[attribute].fillna("unknown").astype(str)
    sizes = df[attribute].value_counts()
    kept = sizes[sizes >= min_size].index
    groups = {g: {"listeners": int(n), "suppressed": True} for g, n in sizes.items() if g not in kept}
    result = {"attribute": attribute, "min_group_size": min_size, "groups": groups}
    df = df[df[attribute].isin(kept)]
    if df.empty:
        result.update(difference=None, ratio=None)
        return result
    mf = MetricFrame(
        metrics={"ndcg@10": lambda t, p: float(np.mean(t)), "recall@10": lambda t, p: float(np.mean(p))},
        y_true=df["ndcg_at_10"].to_numpy(), y_pred=df["recall_at_10"].fillna(0).to_numpy(),
        sensitive_features=df[attribute])
    for g, row in mf.by_group.iterrows():
        groups[str(g)] = {"listeners": int(sizes[g]), "suppressed": False,
                          "ndcg@10": round(float(row["ndcg@10"]), 6), "recall@10": round(float(row["recall@10"]), 6)}
    diff, ratio = mf.difference(), mf.ratio()
    result.update(difference={k: round(float(v), 6) for k, v in diff.items()},
                  ratio={k: round(float(v), 6) for k, v in ratio.items()})
    result["groups"] = dict(sorted(groups.items()))
    return result


def groups_table(results: dict) -> pd.DataFrame:
    """Flatten {attribute: result} into one row per (attribute, group) for CSV."""
    rows = []
    for attr, res in results.items():
        for g, vals in res["groups"].items():
            rows.append({"attribute": attr, "group": g, **vals})
    return pd.DataFrame(rows)
