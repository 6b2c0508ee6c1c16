"""Ordering rules and reasons."""

from __future__ import annotations

import pandas as pd

from setlist.jobs import playlists


def test_sequence_never_repeats_an_artist_back_to_back_and_caps_per_artist():
    df = pd.DataFrame({"user_id": "u1", "track_id": ["t1", "t2", "t3", "t4", "t5", "t6"],
                       "artist_id": ["a", "a", "a", "b", "b", "c"],
                       "score": [6.0, 5.0, 4.0, 3.0, 2.0, 1.0], "source": "als"})
    out = playlists.sequence(df, length=10, max_per_artist=2)
    assert list(out["track_id"]) == ["t1", "t4", "t2", "t5", "t6"]
    assert list(out["position"]) == [1, 2, 3, 4, 5]


def test_sequence_stops_rather_than_break_the_rules():
    df = pd.DataFrame({"user_id": "u1", "track_id": ["t1", "t2"], "artist_id": ["a", "a"],
                       "score": [2.0, 1.0], "source": "als"})
    assert list(playlists.sequence(df, 10, 5)["track_id"]) == ["t1"]


def test_sequence_breaks_score_ties_by_track_id():
    df = pd.DataFrame({"user_id": "u1", "track_id": ["t9", "t1"], "artist_id": ["a", "b"],
                       "score": [1.0, 1.0], "source": "als"})
    assert list(playlists.sequence(df, 10, 2)["track_id"]) == ["t1", "t9"]


def test_reasons_only_name_what_the_listener_did():
    assert playlists.reason("als", "Nova", True) == "because you listen to Nova"
    assert playlists.reason("als", "Nova", False) == "popular with listeners like you"
    assert playlists.reason("popular", None, False) == "trending on Setlist this week"
    assert playlists.reason("editorial", "Nova", False) == "editor's pick"
