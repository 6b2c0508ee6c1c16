"""Offline evaluation: metrics on hand-computed lists, EASE's closed form, the
splits on tiny inputs, and one quick Last.fm run end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from setlist import evaluate as ev
from setlist.baselines import top_k
from setlist.baselines.ease import EASE, ease_weights
from tests.conftest import DATASETS, require_services


# --- metrics --------------------------------------------------------------------
def test_user_metrics_on_a_hand_computed_list():
    # Relevant {3, 1, 7}; hits at positions 2 and 4, item 7 never proposed.
    m = ev.user_metrics([5, 3, 9, 1, 8, -1], {3, 1, 7})
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg"] == pytest.approx(dcg / idcg, abs=1e-12)
    assert m["ap"] == pytest.approx((1 / 2 + 2 / 4) / 3, abs=1e-12)
    assert m["rr"] == 0.5
    assert m["recall"] == pytest.approx(2 / 3, abs=1e-12)


def test_mrr_looks_past_the_top_10_and_map_does_not():
    ranked = list(range(100, 150))            # 50 items, the only relevant one at position 13
    m = ev.user_metrics(ranked, [112])
    assert m["rr"] == pytest.approx(1 / 13)
    assert m["ap"] == 0.0 and m["ndcg"] == 0.0
    assert m["recall"] == 1.0
    assert ev.user_metrics(ranked, [7]) == {"ndcg": 0.0, "ap": 0.0, "rr": 0.0, "recall": 0.0}


def test_map_is_normalised_by_min_of_relevant_and_10():
    relevant = list(range(12))
    assert ev.user_metrics(list(range(10)), relevant)["ap"] == 1.0
    # Two relevant items, only the first at position 1: AP = (1/1) / 2.
    assert ev.user_metrics([0, 5, 6], [0, 9])["ap"] == 0.5
    # Positions 1 and 3 relevant of 2: (1 + 2/3) / 2.
    assert ev.user_metrics([0, 5, 9], [0, 9])["ap"] == pytest.approx((1 + 2 / 3) / 2)


def test_coverage_counts_distinct_items_in_the_top_k():
    lists = [[0, 1, 2, 7], [2, 3, -1, -1]]
    assert ev.coverage(lists, n_catalogue=8, k=3) == 4 / 8
    assert ev.coverage(lists, n_catalogue=8, k=4) == 5 / 8


def test_novelty_is_mean_self_information():
    item_users = np.array([4, 2, 1, 1])          # of 4 training users
    # user 1: items 0, 1 -> (0 + 1) / 2; user 2: items 2, 3 -> (2 + 2) / 2
    assert ev.novelty([[0, 1], [2, 3, -1]], item_users, n_users=4) == pytest.approx((0.5 + 2.0) / 2)


def test_diversity_is_mean_pairwise_one_minus_cosine():
    # items (rows) over 3 users: cos(0,1) = 1/sqrt(2), item 2 shares no user.
    vectors = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=np.float32))
    first = (1 - 1 / math.sqrt(2) + 1 + 1) / 3
    assert ev.diversity([[0, 1, 2], [1, 2], [0]], vectors) == pytest.approx((first + 1.0) / 2, abs=1e-6)
    assert ev.artist_share([[0, 1, 2]], np.array([0, 0, 1])) == pytest.approx(2 / 3)


def test_top_k_excludes_and_breaks_ties_by_index():
    scores = np.array([[0.5, 0.9, 0.9, 0.1, 0.9]])
    exclude = sp.csr_matrix(np.array([[0, 0, 1, 0, 0]]))
    items, vals = top_k(scores, 3, exclude, allowed=np.array([True, True, True, False, True]))
    assert items.tolist() == [[1, 4, 0]]
    assert vals[0].tolist() == pytest.approx([0.9, 0.9, 0.5])
    items, _ = top_k(scores, 6, exclude, allowed=np.array([True, True, True, False, True]))
    assert items.tolist() == [[1, 4, 0, -1, -1, -1]]


def test_pad_fills_short_lists_from_the_fallback():
    items = np.array([[4, 2, -1, -1], [1, 2, 3, 5]])
    fallback = np.array([[2, 7, 8, 9], [9, 8, 7, 6]])
    padded, n = ev.pad(items, fallback, k=4)
    assert padded.tolist() == [[4, 2, 7, 8], [1, 2, 3, 5]]
    assert n == 1


# --- EASE -------------------------------------------------------------------------
def test_ease_two_items_by_hand():
    # Users: {a, b}, {a}, {a}, {b}: n_a = 3, n_b = 2, co-occurrence c = 1.
    # P = (G + λI)^-1 gives B_ab = c / (n_a + λ), B_ba = c / (n_b + λ), diag 0.
    # A fifth user with no item adds nothing to the Gram matrix and gets no list.
    x = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 0], [0, 1], [0, 0]], dtype=np.float32))
    model = EASE(lam=1.0).fit(x)
    assert np.isneginf(model.scores(np.array([4]))).all()
    np.testing.assert_allclose(model.B, [[0.0, 1 / 4], [1 / 3, 0.0]], rtol=1e-6)
    # user 1 has only a -> b scores B_ab; user 3 has only b -> a scores B_ba.
    np.testing.assert_allclose(model.scores(np.array([1, 3])), [[0.0, 1 / 4], [1 / 3, 0.0]], rtol=1e-6)


def test_ease_columns_are_the_ridge_regressions():
    # Each column j of B is the ridge regression of item j on the other items:
    # B[-j, j] = (X_-jᵀ X_-j + λI)^-1 X_-jᵀ x_j  (Steck 2019, eq. 1 with diag(B) = 0).
    rng = np.random.default_rng(3)
    x = (rng.random((30, 6)) < 0.4).astype(float)
    lam = 2.5
    b = ease_weights(x.T @ x, lam)
    for j in range(6):
        others = [i for i in range(6) if i != j]
        xo = x[:, others]
        expected = np.linalg.solve(xo.T @ xo + lam * np.eye(5), xo.T @ x[:, j])
        assert b[others, j] == pytest.approx(expected, abs=1e-10)
        assert b[j, j] == 0.0


def test_ease_keeps_at_most_max_items_of_the_most_frequent():
    # Training users per item: [3, 1, 2, 2, 0, 3]. min_users 1 leaves items
    # 0, 1, 2, 3, 5; max_items 3 keeps the three most frequent, the tie between
    # items 2 and 3 (2 users each) going to the smaller index.
    x = sp.csr_matrix(np.array([[1, 0, 1, 1, 0, 1],
                                [1, 1, 0, 1, 0, 1],
                                [1, 0, 1, 0, 0, 1]], dtype=np.float32))
    assert EASE(min_users=1, max_items=3).select_items(x).tolist() == [0, 2, 5]
    assert EASE(min_users=2, max_items=10).select_items(x).tolist() == [0, 2, 3, 5]
    assert ev.DENSE_MAX_ITEMS["mpd"] == 19_000
    model = EASE(lam=1.0, min_users=1, max_items=3).fit(x)
    assert model.allowed.tolist() == [True, False, True, False, False, True]
    items, _ = model.recommend(np.array([1]), 3, x)
    assert items[0, 0] == 2


# --- playlist names -----------------------------------------------------------------
def test_name_tokens_and_scores_by_hand():
    from setlist.baselines.names import PlaylistName, name_tokens
    names = name_tokens([10, 11, 12, 99], ["Country Hits", "country", "Rock!", "unknown"], pd.Index([10, 11, 12]))
    # vocabulary (sorted): "=country", "=country hits", "=rock", "country", "hits", "rock"
    assert names.whole.tolist() == [True, True, True, False, False, False]
    assert names.tokens.toarray().tolist() == [[0, 1, 0, 1, 1, 0], [1, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 1]]
    # Playlists 0: items {0, 1}; 1: {1}; 2: {2}. "country" is in playlists 0 and 1, so
    # P[country] = [1/2, 1, 0]; P[=country] = [0, 1, 0]. Playlist 1 scores their mean.
    x = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.float32))
    model = PlaylistName(names).fit(x)
    np.testing.assert_allclose(model.scores(np.array([1])), [[0.25, 1.0, 0.0]])
    items, scores = model.recommend(np.array([1]), 2, x)
    assert items.tolist() == [[0, 2]]
    np.testing.assert_allclose(scores, [[0.25, 0.0]])


# --- listeners' tags --------------------------------------------------------------
def test_tags_by_hand_and_no_tag_on_a_hidden_item():
    from setlist.baselines.tags import Tags
    # Training: user 0 has item 0 (3 plays), user 1 items 1 and 2, user 2 item 0.
    # User 0 also has item 2 in the full data: hidden, so their tag on it goes.
    train = sp.csr_matrix(np.array([[3, 0, 0], [0, 1, 1], [1, 0, 0]], dtype=np.float64))
    listened = sp.csr_matrix(np.array([[1, 0, 1], [0, 1, 1], [1, 0, 0]], dtype=np.float64))
    tagging = np.array([(0, 0, 0), (0, 2, 1), (1, 0, 0), (1, 1, 1), (1, 2, 0), (1, 2, 1)])
    model = Tags(tagging[:, 0], tagging[:, 1], tagging[:, 2], 2, listened).fit(train)
    assert model.dropped == 1
    # Distinct taggers per (item, tag): item 0 {tag 0: 2}, item 1 {tag 1: 1}, item 2 {tag 0: 1, tag 1: 1};
    # both tags are on 2 of the 3 tagged items, so both weigh log(3/2) and unit rows are:
    r = 1 / math.sqrt(2)
    np.testing.assert_allclose(model.item_tags.toarray(), [[1, 0], [0, 1], [r, r]])
    # User 1's taste: log1p(1) · (item 1 + item 2) = [r, 1 + r] / its length.
    n = math.sqrt(r ** 2 + (1 + r) ** 2)
    np.testing.assert_allclose(model.taste.toarray(), [[1, 0], [r / n, (1 + r) / n], [1, 0]])
    items, scores = model.recommend(np.array([0]), 2, train)
    assert items.tolist() == [[2, 1]]
    np.testing.assert_allclose(scores, [[r, 0.0]], rtol=1e-6)
    f = model.features(np.array([0, 1, 2]), np.array([2, 0, 1]))
    np.testing.assert_allclose(f["tag_cosine"], [r, r / n, 0.0])
    # User 0's own tags: only tag 0 is left; user 1 applied both; user 2 none.
    np.testing.assert_allclose(f["own_tag_cosine"], [r, r, np.nan])
    np.testing.assert_allclose(f["item_log_taggers"], np.log1p([1, 2, 1]))


def test_friends_source_counts_friends_then_popularity():
    from setlist.baselines.popularity import FriendsPopularity
    # Users 0..3; user 0's friends are 1 and 2 (stored one way: the source treats
    # any non-zero cell as a friendship of that row). Items 0..3.
    train = sp.csr_matrix(np.array([[1, 0, 0, 0], [0, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 5]], dtype=np.float64))
    friends = sp.csr_matrix(np.array([[0, 1, 2, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]], dtype=np.float64))
    model = FriendsPopularity(friends).fit(train)
    items, scores = model.recommend(np.array([0, 3]), 3, train)
    # User 0: item 1 (two friends, popularity 2/3), item 2 (one friend, 1/3); no friend has item 3.
    assert items.tolist() == [[1, 2, -1], [-1, -1, -1]]
    np.testing.assert_allclose(scores[0, :2], [2 + 2 / 3, 1 + 1 / 3], rtol=1e-6)


# --- SAR (in its own environment) -----------------------------------------------
def test_sar_runner_jaccard_by_hand():
    from setlist.baselines.sar import SAR, eval_python
    if eval_python() is None:
        pytest.skip("no evaluation environment (.venv-eval or $SETLIST_EVAL_PYTHON) for SAR")
    # Users {a, b}, {a, c}, {b}: jaccard(a, b) = 1/3, jaccard(a, c) = 1/2, jaccard(b, c) = 0.
    x = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [0, 1, 0]], dtype=np.float32))
    model = SAR().fit(x, rating=lambda v: np.ones_like(v, dtype=np.float32))
    items, scores = model.recommend(np.array([0, 2]), 2, x)
    assert items.tolist() == [[2, -1], [0, 2]]
    np.testing.assert_allclose(scores[0, :1], [1 / 2], rtol=1e-6)
    np.testing.assert_allclose(scores[1], [1 / 3, 0.0], rtol=1e-6)


# --- splits -----------------------------------------------------------------------
def test_holdout_split_sizes_and_disjointness():
    sizes = {1: 5, 2: 10, 3: 4, 4: 7, 5: 13}  # hidden: 1, 2, 0 (< 5 items), 1 (1.4), 3 (2.6)
    df = pd.DataFrame([(u, 100 * u + i, i + 1) for u, n in sizes.items() for i in range(n)],
                      columns=["user", "item", "value"])
    train, test = ev.holdout_split(df, 0.2, 5, seed=4)
    assert test.groupby("user").size().to_dict() == {1: 1, 2: 2, 4: 1, 5: 3}
    assert len(train) + len(test) == len(df)
    assert train.merge(test, on=["user", "item"]).empty
    again = ev.holdout_split(df.sample(frac=1, random_state=1), 0.2, 5, seed=4)[1]
    pd.testing.assert_frame_equal(test, again)   # order of the input does not matter


def test_playlist_split_hides_second_halves():
    rows = [(0, p, f"t{p}") for p in range(10)]                     # 10 tracks: 5 hidden
    rows += [(1, p, f"s{p}") for p in range(10)] + [(1, 10, "s2")]  # 11: 6 hidden, s2 repeats the first half
    rows += [(2, p, f"r{p}") for p in range(4)]                     # too short to be chosen
    df = pd.DataFrame(rows, columns=["pid", "pos", "track"])
    train, test, chosen = ev.playlist_split(df, n_test=2, min_tracks=10, seed=0)
    assert chosen.tolist() == [0, 1]
    assert test.groupby("pid").size().to_dict() == {0: 5, 1: 5}
    assert sorted(test[test["pid"] == 0]["track"]) == [f"t{p}" for p in range(5, 10)]
    assert train.groupby("pid").size().to_dict() == {0: 5, 1: 5, 2: 4}
    assert train.merge(test, on=["pid", "track"]).empty
    with pytest.raises(ValueError):
        ev.playlist_split(df, n_test=3, min_tracks=10)


def test_time_split_keeps_new_completed_tracks():
    ev_rows = [
        ("u1", "a", "d1", 200_000, False), ("u1", "b", "d3", 200_000, False),   # b: new, completed
        ("u1", "a", "d3", 200_000, False),                                      # a: already played
        ("u1", "c", "d3", 10_000, False), ("u1", "d", "d3", 200_000, True),     # too short / skipped
        ("u2", "b", "d3", 200_000, False),                                      # no training plays
        ("u3", "a", "d2", 60_000, False), ("u3", "c", "d4", 30_000, False),
    ]
    events = pd.DataFrame(ev_rows, columns=["user_id", "track_id", "ds", "ms_played", "skipped"])
    train, test = ev.time_split(events, "d3")
    assert len(train) == 2
    assert list(map(tuple, test[["user_id", "track_id"]].to_numpy())) == [("u1", "b"), ("u3", "c")]


def test_build_indexes_test_items_outside_the_catalogue():
    train = pd.DataFrame({"user": [1, 1, 2], "item": ["a", "b", "a"], "value": [3, 1, 2]})
    test = pd.DataFrame({"user": [1, 2, 2], "item": ["z", "b", "z"]})
    data = ev.build("t", train, test, [(train, test)], "user", "item", "value", {})
    assert data.item_ids.tolist() == ["a", "b", "z"]
    assert data.test.train.toarray().tolist() == [[3, 1, 0], [2, 0, 0]]
    assert [r.tolist() for r in data.test.relevant] == [[2], [1, 2]]
    assert data.split["sizes"]["catalogue_items"] == 2
    assert data.split["sizes"]["test_interactions_outside_catalogue"] == 2


# --- end to end -------------------------------------------------------------------
REQUIRED = {"ndcg@10", "map@10", "mrr", "recall@50", "coverage", "novelty", "diversity", "seconds"}


def test_lastfm_run_end_to_end(spark, tmp_path):
    if not (DATASETS / "lastfm-hetrec2011").exists():
        if require_services():
            pytest.fail(f"{DATASETS / 'lastfm-hetrec2011'} is missing; CI needs ../shared/datasets")
        pytest.skip("Last.fm HetRec 2011 not found beside the checkout")
    from setlist.config import load_config
    cfg = load_config("local", tmp_path / "home")
    result = ev.run("lastfm", data_dir=DATASETS, out=tmp_path / "out", config=cfg, seed=0, sample=100)
    written = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert written["dataset"] == "lastfm" and written["k"] == 10
    assert written["models"] == json.loads(json.dumps(result["models"]))
    assert set(written["models"]) >= {"popularity", "als", "colistening", "sar", "ease", "reranker"}
    for name, m in written["models"].items():
        if name == "sar" and "skipped" in m:
            assert ".venv-eval" in m["skipped"]
            continue
        assert REQUIRED <= set(m), name
        assert 0.0 <= m["ndcg@10"] <= 1.0 and 0.0 <= m["recall@50"] <= 1.0, name
        assert m["users"] == written["split"]["sizes"]["test_users"]
    assert written["models"]["ease"]["ndcg@10"] > written["models"]["popularity"]["ndcg@10"]
    assert written["tuning"]["als"]["params"] in [{k: t[k] for k in ("rank", "reg", "alpha", "max_iter")}
                                                  for t in written["tuning"]["als"]["trials"]]
