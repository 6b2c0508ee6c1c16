"""The playlists benchmark's arithmetic (the benchmark itself runs by hand)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from setlist.bench_playlists import (ndcg_held_out, ndcg_vs_list, position_weights, protected_exposure,
                                     shortlist_agreement, transition_figures)
from setlist.jobs.sequencing import SequencingConfig


def test_position_weights_are_one_over_log2_of_one_plus_position():
    assert position_weights(3).tolist() == pytest.approx([1.0, 1 / math.log2(3), 0.5])


def test_protected_exposure_weighs_positions():
    # list 1: protected at position 1 (weight 1), not at 2 (1/log2 3); list 2: one unprotected track (1)
    assert protected_exposure([[True, False], [False]]) == pytest.approx(1 / (2 + 1 / math.log2(3)))
    assert protected_exposure([[False, True]]) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))


def test_ndcg_against_a_reference_list():
    # reference a, b: gains 2, 1; got b, a, then c (not in the reference: gain 0)
    assert ndcg_vs_list(["b", "a", "c"], ["a", "b"]) == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    assert ndcg_vs_list(["a", "b"], ["a", "b"]) == 1.0
    assert ndcg_vs_list(["c", "d"], ["a", "b"]) == 0.0


def test_ndcg_against_held_out_tracks():
    # one relevant track found at position 2 of two relevant ones
    assert ndcg_held_out(["x", "a", "y"], {"a", "b"}) == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert math.isnan(ndcg_held_out(["x"], set()))


def test_transition_figures_by_hand():
    # Tempo alone costs: |delta BPM| / 60. One listener, three tracks in Setlist's order 100, 110, 130 BPM;
    # scores 1, 3, 2 put them in score order 110, 130, 100.
    lists = pd.DataFrame({"user_id": "u1", "position": [1, 2, 3], "track_id": ["t1", "t2", "t3"],
                          "artist_id": ["a1", "a2", "a1"], "score": [1.0, 3.0, 2.0],
                          "tempo": [100.0, 110.0, 130.0], "energy": 0.5, "key": 0, "mode": 1})
    got = transition_figures(lists, SequencingConfig(w_tempo=1, w_energy=0, w_key=0), seed=0)
    assert got["setlist"]["mean_transition_cost"] == round((10 + 20) / 60 / 2, 4)
    assert got["score"]["mean_transition_cost"] == round((20 + 30) / 60 / 2, 4)
    assert got["setlist"]["same_artist_transition_share"] == 0.0
    assert got["score"]["same_artist_transition_share"] == 0.5          # t2 -> t3 -> t1: a2 a1 a1
    # Setlist's order holds reranked ranks 2, 0, 1 (gains 1, 3, 2 of n = 3)
    ideal = 3 + 2 / math.log2(3) + 1 / 2
    assert got["setlist"]["ndcg@10_vs_reranked"] == round((1 + 3 / math.log2(3) + 2 / 2) / ideal, 4)
    assert got["score"]["ndcg@10_vs_reranked"] == 1.0
    assert got["listeners"] == 1 and got["transitions"] == 2
    assert got["cost_reduction_vs_score_order"] == 0.4                  # 1 - 30 / 50


def test_shortlist_agreement_by_hand(tmp_path):
    def table(rows):
        return pd.DataFrame(rows, columns=["user_id", "track_id", "score"])
    table([("u1", "t1", 0.9), ("u1", "t2", 0.8), ("u1", "t3", 0.7),
           ("u2", "t5", 0.5), ("u2", "t4", 0.5), ("u2", "t6", 0.1)]).to_parquet(tmp_path / "exact.parquet")
    table([("u1", "t1", 0.9), ("u1", "t3", 0.7), ("u1", "t9", 0.75),
           ("u2", "t4", 0.5), ("u2", "t6", 0.1), ("u2", "t5", 0.5)]).to_parquet(tmp_path / "short.parquet")
    # Top 1: t1 and t4 (t4 before t5 on the tie) in both. Top 2: u1 t1, t2 against t1, t9; u2 t4, t5 in both.
    assert shortlist_agreement(str(tmp_path / "short.parquet"), str(tmp_path / "exact.parquet"),
                               (1, 2)) == {"top_1": 1.0, "top_2": 0.75}
