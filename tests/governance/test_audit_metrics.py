"""Every audit metric against a small example computed by hand."""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from setlist.governance import experiments, fairness, influence, metrics, overrides, popularity

V2 = 1 / math.log2(3)          # weight of position 2
Z = experiments.Z95


def test_concentration_by_hand():
    # shares 0, 1/4, 1/4, 1/2
    got = metrics.concentration([0, 1, 1, 2])
    assert got == {"gini": 0.375,            # Σ(2i-n-1)x = 0 - 1 + 1 + 6 = 6; 6 / (4·4)
                   "hhi": 0.375,             # 1/16 + 1/16 + 1/4
                   "entropy_bits": 1.5,      # 2·(1/4·2) + 1/2·1
                   "entropy_normalised": 0.75,   # 1.5 / log2(4)
                   "top_1pct_share": 0.5,    # ceil(0.04) = 1 item: 2 / 4
                   "population": 4}
    assert metrics.concentration([0, 0]) == {"gini": 0.0, "hhi": 0.0, "entropy_bits": 0.0,
                                             "entropy_normalised": 0.0, "top_1pct_share": 0.0, "population": 2}
    assert metrics.top_share(list(range(1, 201)), 0.01) == pytest.approx((200 + 199) / sum(range(1, 201)))


CATALOGUE = pd.DataFrame({"track_id": ["t1", "t2", "t3", "t4", "t5", "t6"],
                          "artist_id": ["a1", "a1", "a2", "a2", "a3", "a3"],
                          "plays": [50, 30, 10, 6, 4, 0]})


def test_buckets_by_cumulative_share_of_plays():
    # plays before each track, in order: 0, .5, .8, .9, .96 (and t6 unplayed)
    got = popularity.buckets(CATALOGUE.sample(frac=1, random_state=1))
    assert dict(zip(got["track_id"], got["bucket"])) == {
        "t1": "head", "t2": "mid", "t3": "tail", "t4": "tail", "t5": "tail", "t6": "tail"}
    ties = popularity.buckets(pd.DataFrame({"track_id": ["b", "a", "c"], "plays": [1, 1, 0]}))
    assert ties["track_id"].tolist() == ["a", "b", "c"]         # equal plays: by track_id
    assert ties["bucket"].tolist() == ["head", "mid", "tail"]   # before: 0, .5 (< .8), unplayed


def test_popularity_bias_by_hand(spark):
    pl = spark.createDataFrame(
        [("u1", 1, "t1", "a1"), ("u1", 2, "t3", "a2"), ("u2", 1, "t6", "a3"), ("u2", 2, "t2", "a1"),
         ("u2", 3, "t1", "a1")], "user_id string, position int, track_id string, artist_id string")
    summary, table = popularity.popularity_bias(pl, CATALOGUE, n_artists=4)
    head, mid, tail = 1 + 0.5, V2, V2 + 1
    total = head + mid + tail
    rows = {r["bucket"]: r for r in table.to_dict("records")}
    assert rows["head"]["exposure"] == pytest.approx(head, abs=1e-6)
    assert rows["head"]["lift"] == pytest.approx(round((head / total) / 0.5, 6), abs=1e-6)
    assert rows["mid"]["lift"] == pytest.approx(round((mid / total) / 0.3, 6), abs=1e-6)
    assert rows["tail"]["lift"] == pytest.approx(round((tail / total) / 0.2, 6), abs=1e-6)
    assert [rows[b]["tracks"] for b in ("head", "mid", "tail")] == [1, 1, 4]
    assert [rows[b]["playlist_slots"] for b in ("head", "mid", "tail")] == [2, 1, 2]
    assert summary["tail_lift"] == rows["tail"]["lift"]
    assert summary["arp"] == pytest.approx(((50 + 10) / 2 + (0 + 30 + 50) / 3) / 2, abs=1e-6)   # 28.333333
    assert summary["aplt"] == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-6)
    assert summary["aclt"] == 1.5
    assert summary["track_coverage"] == pytest.approx(4 / 6, abs=1e-6)
    assert summary["artist_coverage"] == 0.75
    assert summary["listeners"] == 2


def test_exposure_fairness_by_hand():
    artists = pd.DataFrame({"artist_id": ["a1", "a2", "a3", "a4", "a5"],
                            "exposure": [3.0, 1.0, 4.0, 0.0, 2.0], "merit": [10, 30, 60, 0, 0],
                            "emerging": ["emerging", "emerging", "established", "established", None]})
    got = fairness.exposure_fairness(artists, "emerging", min_size=2)
    assert got["groups"] == {
        # exposure 4/10, merit 40/100
        "emerging": {"artists": 2, "suppressed": False, "exposure_share": 0.4, "merit_share": 0.4,
                     "exposure_to_merit": 1.0},
        # exposure 4/10, merit 60/100
        "established": {"artists": 2, "suppressed": False, "exposure_share": 0.4, "merit_share": 0.6,
                        "exposure_to_merit": 0.666667},
        "unknown": {"artists": 1, "suppressed": True},      # fewer than 2 artists: no values
    }
    assert got["disparity"] == 0.666667


def _events(spark, rows):
    return spark.createDataFrame(
        rows, "event_id string, user_id string, track_id string, source string, counts boolean, ds string")


def test_influence_shares_and_week_over_week_change(spark):
    tracks = spark.createDataFrame([("tA", "A", "L1"), ("tB", "B", "L1")], "track_id string, artist_id string, label_id string")
    ev = _events(spark, [
        # this week (2026-11-17 .. 23): A by u1 and u2
        ("1", "u1", "tA", "algorithmic", True, "2026-11-23"), ("2", "u2", "tA", "algorithmic", True, "2026-11-20"),
        ("3", "u1", "tA", "editorial", True, "2026-11-17"), ("4", "u2", "tA", "organic", True, "2026-11-18"),
        ("5", "u1", "tA", "algorithmic", False, "2026-11-23"),    # under the play threshold: not counted
        ("6", "u3", "tB", "organic", True, "2026-11-22"),         # B: one listener only
        # previous week (2026-11-10 .. 16)
        ("7", "u1", "tA", "algorithmic", True, "2026-11-16"), ("8", "u2", "tA", "organic", True, "2026-11-10"),
        ("9", "u1", "tA", "editorial", True, "2026-11-09"),        # before both weeks
    ])
    table = influence.influence(ev, tracks, "artist_id", "2026-11-23", min_listeners=2)
    a = table.set_index("artist_id").loc["A"]
    assert (a["plays_this_week"], a["plays_previous_week"]) == (4, 2)
    assert (a["algorithmic_share_this_week"], a["editorial_share_this_week"], a["organic_share_this_week"]) == (0.5, 0.25, 0.25)
    assert (a["algorithmic_share_previous_week"], a["editorial_share_previous_week"]) == (0.5, 0.0)
    assert (a["algorithmic_share_change_pp"], a["editorial_share_change_pp"], a["organic_share_change_pp"]) == (0.0, 25.0, -25.0)
    b = table.set_index("artist_id").loc["B"]
    assert b["suppressed_this_week"] and pd.isna(b["organic_share_this_week"]) and b["plays_this_week"] == 1
    assert table["artist_id"].tolist() == ["A", "B"]
    s = influence.summary(table, "artist_id")
    assert s["this_week"] == {"plays": 5, "algorithmic_share": 0.4, "editorial_share": 0.2, "organic_share": 0.4}
    assert s["previous_week"] == {"plays": 2, "algorithmic_share": 0.5, "editorial_share": 0.0, "organic_share": 0.5}
    assert (s["algorithmic_share_change_pp"], s["editorial_share_change_pp"]) == (-10.0, 20.0)
    assert [r["artist_id"] for r in s["top"]] == ["A"] and s["suppressed"] == 1
    labels = influence.influence(ev, tracks, "label_id", "2026-11-23", min_listeners=2)
    assert labels.loc[0, "plays_this_week"] == 5 and labels.loc[0, "organic_share_this_week"] == 0.4


def test_experiment_kpis_with_confidence_intervals(spark):
    arms = spark.createDataFrame([("u1", "control"), ("u2", "control"), ("u6", "control"), ("u3", "fair"),
                                  ("u4", "fair"), ("u5", "novelty_high")], "user_id string, arm string")
    events = spark.createDataFrame([
        ("u1", "t1", True, False, "s1"), ("u1", "t2", False, True, "s1"),     # skip .5, done .5, 2/session, new .5
        ("u2", "t1", False, True, "s2"),                                      # 0, 1, 1, new 1
        ("u3", "t3", False, True, "s3"), ("u3", "t4", False, True, "s4"),     # 0, 1, 1, new 0
        ("u4", "t5", True, False, "s5"),                                      # 1, 0, 1, new 1
        ("u5", "t1", False, True, "s6"),
        ("u9", "t1", False, True, "s7"),                                      # no arm: not in the experiment
    ], "user_id string, track_id string, skipped boolean, completed boolean, session_id string")
    history = spark.createDataFrame([("u1", "t1"), ("u3", "t3"), ("u3", "t4"), ("u2", "t9")],
                                    "user_id string, track_id string")
    got = {a["arm"]: a for a in experiments.arm_kpis(arms, events, history, min_listeners=2)}
    assert got["novelty_high"] == {"arm": "novelty_high", "listeners_served": 1, "listeners_with_plays": 1,
                                   "suppressed": True}
    c, f = got["control"], got["fair"]
    assert (c["listeners_served"], c["listeners_with_plays"], f["listeners_with_plays"]) == (3, 2, 2)
    sd_c, sd_f = math.sqrt(0.125), math.sqrt(0.5)          # sample sd of (.5, 0) and of (0, 1)
    assert c["skip_rate"]["mean"] == 0.25
    assert c["skip_rate"]["ci95"] == [round(0.25 - Z * sd_c / math.sqrt(2), 6), round(0.25 + Z * sd_c / math.sqrt(2), 6)]
    assert "vs_control" not in c["skip_rate"]
    half = Z * math.sqrt(sd_f ** 2 / 2 + sd_c ** 2 / 2)
    assert f["skip_rate"]["vs_control"] == {"difference": 0.25, "ci95": [round(0.25 - half, 6), round(0.25 + half, 6)],
                                            "significant": False}
    assert (c["plays_per_session"]["mean"], f["plays_per_session"]["mean"]) == (1.5, 1.0)
    assert (c["novelty"]["mean"], f["novelty"]["mean"]) == (0.75, 0.5)
    assert (c["completion_rate"]["mean"], f["completion_rate"]["mean"]) == (0.75, 0.5)


def test_override_disclosure_and_effect(spark):
    ov = spark.createDataFrame([
        ("artist", "a1", "suppress", "rights dispute", date(2026, 11, 22), date(2026, 11, 30), "legal"),
        ("track", "t9", "boost", "label promotion", date(2026, 11, 1), date(2026, 11, 30), "editorial"),
        ("artist", "a7", "demote", "expired", date(2026, 11, 1), date(2026, 11, 20), "legal"),
    ], "target_type string, target_id string, action string, reason string, start_ds date, end_ds date, "
       "requested_by string")
    schema = "user_id string, position int, track_id string, artist_id string, override string"
    tonight = spark.createDataFrame([("u1", 1, "t9", "a2", "boost: label promotion"), ("u1", 2, "t3", "a2", None),
                                     ("u2", 1, "t3", "a2", None)], schema)
    before = spark.createDataFrame([("u1", 1, "t1", "a1", None), ("u2", 2, "t1", "a1", None)], schema)
    cands = spark.createDataFrame([("u1", "t1", "a1"), ("u2", "t1", "a1"), ("u2", "t2", "a1"), ("u3", "t9", "a2")],
                                  "user_id string, track_id string, artist_id string")
    got = overrides.override_effects(ov, tonight, cands, {"2026-11-21": before}, {"a1": "Artist One"}, "2026-11-23")
    rows = got.to_dict("records")
    assert [r["target_id"] for r in rows] == ["a1", "t9"]                 # the expired one is not in force
    a1, t9 = rows
    assert (a1["target_name"], a1["action"], a1["reason"], a1["requested_by"]) == (
        "Artist One", "suppress", "rights dispute", "legal")
    assert (a1["listeners_with_candidate"], a1["listeners_shown"], a1["exposure_tonight"]) == (2, 0, 0.0)
    assert (a1["before_ds"], a1["exposure_before"]) == ("2026-11-21", round(1 + V2, 6))
    assert a1["exposure_change"] == round(-(1 + V2), 6)
    assert (t9["listeners_with_candidate"], t9["listeners_shown"], t9["rows_marked"], t9["exposure_tonight"]) == (1, 1, 1, 1.0)
    assert t9["before_ds"] is None and pd.isna(t9["exposure_before"])    # in force since before any run
