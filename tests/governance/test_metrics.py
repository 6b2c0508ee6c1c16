"""Exposure, concentration, policy and group-quality metrics."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from setlist.governance import metrics, policy
from setlist.governance.fairness import quality_by_group


def test_exposure_uses_log_position_weights(spark):
    pl = spark.createDataFrame([("u1", 1, "t1"), ("u1", 3, "t2"), ("u2", 1, "t2")],
                               "user_id string, position int, track_id string")
    got = {r["track_id"]: (r["exposure"], r["impressions"]) for r in metrics.exposure(pl).collect()}
    assert got == {"t1": (1.0, 1), "t2": (1.0 + 1 / math.log2(4), 2)}


def test_gini_by_hand():
    assert metrics.gini([1, 1, 1, 1]) == 0.0
    assert metrics.gini([0, 0, 0, 4]) == 0.75          # (n-1)/n for all-to-one
    assert metrics.gini([1, 2, 3]) == pytest.approx(2 / 9)
    assert metrics.gini([]) == 0.0 and metrics.gini([0, 0]) == 0.0


def test_lorenz_curve_points():
    lz = metrics.lorenz([0, 0, 0, 4], points=5)
    assert lz["item_share"] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert lz["exposure_share"] == [0.0, 0.0, 0.0, 0.0, 1.0]


def test_policy_verdicts_and_enforcement():
    audit = {"exposure": {"artist_gini": 0.99, "top_artist_share": 0.3}, "fairness": {}}
    rules = {"rules": [{"metric": "exposure.artist_gini", "max": 0.97, "severity": "warn"},
                       {"metric": "exposure.top_artist_share", "max": 0.25, "severity": "fail"},
                       {"metric": "fairness.min_group_ndcg_ratio", "min": 0.5, "severity": "fail"}]}
    verdicts = policy.evaluate(audit, rules)
    assert [v["verdict"] for v in verdicts] == ["warn", "fail", "not_measured"]
    with pytest.raises(policy.PolicyBreach, match=r"exposure.top_artist_share = 0.3 breaks the threshold <= 0.25"):
        policy.enforce(verdicts)


def test_small_groups_are_suppressed_and_ratio_uses_the_rest():
    ev = pd.DataFrame({"ndcg_at_10": [0.2, 0.4, 0.6, 0.8, 0.9],
                       "recall_at_10": [0.1, 0.3, 0.5, 0.7, 1.0],
                       "tier": ["free", "free", "premium", "premium", "student"]})
    got = quality_by_group(ev, "tier", min_size=2)
    assert got["groups"]["student"] == {"listeners": 1, "suppressed": True}
    assert got["groups"]["free"] == {"listeners": 2, "suppressed": False, "ndcg@10": 0.3, "recall@10": 0.2}
    assert got["groups"]["premium"] == {"listeners": 2, "suppressed": False, "ndcg@10": 0.7, "recall@10": 0.6}
    assert got["ratio"]["ndcg@10"] == pytest.approx(0.3 / 0.7, abs=1e-6)
    assert got["difference"]["ndcg@10"] == pytest.approx(0.4, abs=1e-6)
