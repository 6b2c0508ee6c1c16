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


def test_training_listeners_are_the_usable_ones_then_a_hash_sample():
    # a, d, e, f, g have a relevant and a non-relevant candidate; b has no relevant one, c no other.
    rows = [("a", 1), ("a", 0), ("b", 0), ("b", 0), ("c", 2), ("d", 0), ("d", 2), ("e", 1), ("e", 0),
            ("f", 0), ("f", 1), ("g", 1), ("g", 0), ("g", 0)]
    entity = pd.DataFrame(rows, columns=["user_id", "relevance"])
    chosen, usable = train.training_listeners(entity, None)
    assert (list(chosen), usable) == (["a", "d", "e", "f", "g"], 5)
    # sample_rank: g 1.34e18 < f 4.45e18 < a 8.43e18 < e 1.07e19 < d 1.51e19
    assert train.sample_rank("g") == 1337284672982084248
    chosen, usable = train.training_listeners(entity, 3)
    assert (list(chosen), usable) == (["a", "f", "g"], 5)
    shuffled = entity.sample(frac=1.0, random_state=1)
    assert list(train.training_listeners(shuffled, 2)[0]) == ["f", "g"]
    assert list(train.training_listeners(entity, 5)[0]) == ["a", "d", "e", "f", "g"]


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
