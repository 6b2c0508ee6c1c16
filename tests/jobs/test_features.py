"""Feature modules against hand-computed values."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from pyspark.testing import assertDataFrameEqual

from setlist.jobs import features

KNOWN = datetime(2026, 11, 24)   # end + 1 day, 00:00 UTC


@pytest.fixture
def events(spark):
    rows = [  # user, track, artist, ds, session, skipped, completed
        ("u1", "t1", "a1", "2026-11-23", "s1", False, True),
        ("u1", "t1", "a1", "2026-11-23", "s1", True, False),
        ("u1", "t2", "a2", "2026-11-20", "s2", False, True),
        ("u1", "t3", "a1", "2026-10-01", "s0", False, True),    # outside the window
        ("u2", "t2", "a2", "2026-11-22", "s3", True, False),
        ("u3", "t1", "a1", "2026-11-23", "s4", False, True),    # no consent: absent from user tables
    ]
    return spark.createDataFrame(rows, "user_id string, track_id string, artist_id string, ds string, "
                                       "session_id string, skipped boolean, completed boolean")


@pytest.fixture
def users(spark):
    return spark.createDataFrame([("u1",), ("u2",)], "user_id string")


def test_user_activity(spark, events, users):
    got = features.compute_user_activity(events, "2026-10-27", "2026-11-23", users)
    expected = spark.createDataFrame([
        ("u1", 3, 2, 2, 2, 2, 1 / 3, 2 / 3, 1.5, KNOWN, KNOWN),
        ("u2", 1, 1, 1, 1, 1, 1.0, 0.0, 1.0, KNOWN, KNOWN),
    ], got.schema)
    assertDataFrameEqual(got, expected)


def test_track_popularity(spark, events):
    tracks = spark.createDataFrame([
        ("t1", "a1", date(2026, 11, 13), 0.5, 120.0, 0.1),
        ("t2", "a2", None, 0.9, 90.0, 0.2),
        ("t4", "a3", date(2026, 11, 23), 0.2, 60.0, 0.3)],
        "track_id string, artist_id string, release_date date, energy double, tempo double, valence double")
    placements = spark.createDataFrame([("t2", date(2026, 11, 20), date(2026, 11, 23)),
                                        ("t1", date(2026, 11, 24), date(2026, 11, 30))],
                                       "track_id string, start_ds date, end_ds date")
    got = features.compute_track_popularity(events, "2026-10-27", "2026-11-23", tracks, placements)
    got = got.select("track_id", "track_plays_1d", "track_plays_7d", "track_plays_28d", "track_listeners_28d",
                     "track_skip_rate_28d", "track_completion_rate_28d", "track_editorial_now", "track_age_days",
                     "event_timestamp")
    expected = spark.createDataFrame([
        ("t1", 3, 3, 3, 2, 1 / 3, 2 / 3, 0, 10, KNOWN),
        ("t2", 0, 2, 2, 2, 0.5, 0.5, 1, None, KNOWN),
        ("t4", 0, 0, 0, 0, None, None, 0, 0, KNOWN),
    ], got.schema)
    assertDataFrameEqual(got, expected)


def test_user_artist_affinity(spark, events, users):
    got = features.compute_user_artist_affinity(events, "2026-10-27", "2026-11-23", users).select(
        "user_id", "artist_id", "ua_plays_28d", "ua_skip_rate_28d", "ua_share_28d", "ua_days_since_last_play")
    expected = spark.createDataFrame([
        ("u1", "a1", 2, 0.5, 2 / 3, 0),
        ("u1", "a2", 1, 0.0, 1 / 3, 3),
        ("u2", "a2", 1, 1.0, 1.0, 1),
    ], got.schema)
    assertDataFrameEqual(got, expected)
