"""Training labels, the validation split and ranking metrics."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from setlist.governance.ranking import ndcg_at_k, per_user, recall_at_k
from setlist.jobs import train


def test_graded_labels(spark):
    ev = spark.createDataFrame([("u1", "t1", "2026-11-23", True), ("u1", "t2", "2026-11-23", False),
                                ("u1", "t3", "2026-11-23", True), ("u1", "t4", "2026-11-22", True)],
                               "user_id string, track_id string, ds string, completed boolean")
    fb = spark.createDataFrame([("u1", "t3", "2026-11-23", "like"), ("u1", "t2", "2026-11-23", "save"),
                                ("u1", "t1", "2026-11-23", "ban")],
                               "user_id string, track_id string, ds string, action string")
    got = {(r["track_id"]): r["relevance"] for r in train.labels(ev, fb, "2026-11-23", "2026-11-23").collect()}
    # t2: liked but only skipped -> 0; t3: completed and liked -> 2; t4 outside the window.
    assert got == {"t1": 1, "t2": 0, "t3": 2}


def test_validation_split_is_stable_and_close_to_share():
    users = [f"u{i:05d}" for i in range(10_000)]
    picked = [u for u in users if train.in_validation(u, 0.2)]
    assert picked == [u for u in users if train.in_validation(u, 0.2)]
    assert 1800 < len(picked) < 2200


def test_learnable_listeners_have_a_relevant_and_a_non_relevant_candidate(spark):
    # a, d, e, f, g have both; b has no relevant candidate, c no other, h's label is for a non-candidate.
    cands = [("a", "t1"), ("a", "t2"), ("b", "t1"), ("b", "t2"), ("c", "t1"), ("d", "t1"), ("d", "t2"),
             ("e", "t1"), ("e", "t2"), ("f", "t1"), ("f", "t2"), ("g", "t1"), ("g", "t2"), ("g", "t3"),
             ("h", "t1"), ("h", "t2")]
    lab = [("a", "t1", 1), ("a", "t2", 0), ("b", "t1", 0), ("c", "t1", 2), ("d", "t2", 2), ("e", "t1", 1),
           ("f", "t2", 1), ("g", "t1", 1), ("h", "t9", 1)]
    got = train.learnable_listeners(spark.createDataFrame(cands, "user_id string, track_id string"),
                                    spark.createDataFrame(lab, "user_id string, track_id string, relevance int"))
    assert got == ["a", "d", "e", "f", "g"]


def test_training_listeners_beyond_the_cap_are_a_hash_sample():
    # sample_rank: g 1.34e18 < f 4.45e18 < a 8.43e18 < e 1.07e19 < d 1.51e19
    assert train.sample_rank("g") == 1337284672982084248
    users = ["a", "d", "e", "f", "g"]
    assert train.sample_listeners(users, None) == users
    assert train.sample_listeners(users, 5) == users
    assert train.sample_listeners(users, 3) == ["a", "f", "g"]
    assert train.sample_listeners(["g", "e", "d", "a", "f"], 2) == ["f", "g"]


def test_ndcg_and_recall_by_hand():
    # relevance in score order: [0, 2, 1]; ideal [2, 1, 0]
    dcg = (2 ** 0 - 1) / math.log2(2) + (2 ** 2 - 1) / math.log2(3) + (2 ** 1 - 1) / math.log2(4)
    idcg = (2 ** 2 - 1) / math.log2(2) + (2 ** 1 - 1) / math.log2(3)
    assert ndcg_at_k([0, 2, 1], [0.9, 0.5, 0.1], k=10) == dcg / idcg
    assert recall_at_k([0, 2, 1], [0.9, 0.5, 0.1], k=1) == 0.0
    assert recall_at_k([0, 2, 1], [0.9, 0.5, 0.1], k=2) == 0.5
    assert math.isnan(ndcg_at_k([0, 0], [1, 2]))


def test_per_user_table():
    df = pd.DataFrame({"user_id": ["a", "a", "b", "b"], "relevance": [1, 0, 0, 1], "s": [2.0, 1.0, 2.0, 1.0]})
    got = per_user(df, {"m": "s"}, k=1)
    assert got.to_dict("records") == [
        {"user_id": "a", "n_candidates": 2, "n_relevant": 1, "ndcg_m": 1.0, "recall_m": 1.0},
        {"user_id": "b", "n_candidates": 2, "n_relevant": 1, "ndcg_m": 0.0, "recall_m": 0.0}]


def test_baseline_prefers_als_then_popularity():
    df = pd.DataFrame({"als_score": [0.2, None, 0.9, None], "pop_score": [1.0, 50.0, 0.0, 10.0]})
    order = list(pd.Series(train.baseline_score(df)).sort_values(ascending=False).index)
    assert order == [2, 0, 1, 3]


def test_the_stored_booster_is_the_validated_one():
    # Early stopping grows trees past the best iteration; the stored booster keeps only
    # those up to it, so it scores exactly as the validated model does.
    rng = np.random.default_rng(3)
    n = 6000
    X = pd.DataFrame(rng.normal(size=(n, 4)), columns=list("abcd"))
    y = (X["a"] + rng.normal(scale=2.0, size=n) > 0.5).astype(int)
    qid = np.repeat(np.arange(n // 30), 30)
    cut = 4500
    model = train.fit(pd.DataFrame({**X.iloc[:cut], "relevance": y[:cut], "qid": qid[:cut]}),
                      pd.DataFrame({**X.iloc[cut:], "relevance": y[cut:], "qid": qid[cut:]}), list("abcd"),
                      {"n_estimators": 200, "max_depth": 4, "early_stopping_rounds": 5}, seed=0)
    grown = model.get_booster().num_boosted_rounds()
    booster = train.validated_booster(model)
    assert model.best_iteration + 1 + 5 == grown
    assert booster.num_boosted_rounds() == model.best_iteration + 1
    np.testing.assert_array_equal(booster.inplace_predict(X.to_numpy()), model.predict(X))
