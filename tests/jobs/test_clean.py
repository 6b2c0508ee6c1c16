"""Clean stage: every reason, deduplication, sessions, deletion handling."""

from __future__ import annotations

from datetime import datetime

import pytest

from setlist import schema
from setlist.jobs import clean

DS = "2026-11-23"
COLS = schema.RAW_TABLES["listening_events"][1]


def bronze_events(spark, rows):
    full = []
    for i, r in enumerate(rows):
        base = dict(event_id=f"e{i}", user_id="u1", track_id="t1", ts="2026-11-23T10:00:00.000Z",
                    ms_played="200000", reason_start="clickrow", reason_end="trackdone", skipped="false",
                    shuffle="false", context_type="search", context_id="s", device="mobile", country="GB",
                    _corrupt_record=None, _source_file="raw/x", _row_hash=f"h{i:03d}")
        base.update(r)
        full.append(tuple(base[c] for c in (*COLS, "_corrupt_record", "_source_file", "_row_hash")))
    ddl = ", ".join(f"{c} string" for c in (*COLS, "_corrupt_record", "_source_file", "_row_hash"))
    return spark.createDataFrame(full, ddl)


@pytest.fixture
def known(spark):
    return {"users": spark.createDataFrame([("u1",), ("u2",)], "user_id string"),
            "tracks": spark.createDataFrame([("t1",), ("t2",)], "track_id string")}


def test_each_bad_row_gets_exactly_its_reason(spark, known):
    rows = [
        {},                                                   # e0 clean
        {"_corrupt_record": "a,b,c"},                         # malformed
        {"context_id": "bad\ufffd"},                          # bad_encoding
        {"user_id": ""},                                      # null_key
        {"ts": "not-a-time"},                                 # bad_timestamp
        {"ms_played": "abc"},                                 # bad_value
        {"context_type": "telepathy"},                        # bad_enum
        {"ms_played": "-5"},                                  # negative_duration
        {"ts": "2026-11-24T00:00:00.000Z"},                   # future_timestamp (end is exclusive)
        {"ts": "2026-11-19T23:59:59.999Z"},                   # too_late (window starts 2026-11-20)
        {"user_id": "u9"},                                    # unknown_user
        {"track_id": "t9"},                                   # unknown_track
        {"ms_played": "205001"},                              # impossible_duration (200000 + 5000 slack)
        {"event_id": "e0", "_row_hash": "h999"},              # duplicate of e0 (later hash loses)
        {"ts": "2026-11-20T00:00:00.000Z", "ms_played": "205000"},  # clean: edge of window and slack
    ]
    durations = spark.createDataFrame([("t1", 200000), ("t2", 1000)], "track_id string, duration_ms long")
    clean_df, quarantine = clean.transform(bronze_events(spark, rows), clean.SPECS["listening_events"], DS,
                                           known, late_days=3, duration_slack_ms=5000,
                                           track_durations=durations)
    got = {r["event_id"]: r["quarantine_reason"] for r in quarantine.collect()}
    assert got == {
        "e1": "malformed", "e2": "bad_encoding", "e3": "null_key", "e4": "bad_timestamp", "e5": "bad_value",
        "e6": "bad_enum", "e7": "negative_duration", "e8": "future_timestamp", "e9": "too_late",
        "e10": "unknown_user", "e11": "unknown_track", "e12": "impossible_duration", "e0": "duplicate",
    }
    rows_clean = sorted((r["event_id"], r["ms_played"], r["ts"]) for r in clean_df.collect())
    assert rows_clean == [("e0", 200000, datetime(2026, 11, 23, 10, 0)),
                          ("e14", 205000, datetime(2026, 11, 20, 0, 0))]


def test_duplicates_of_earlier_dates_are_quarantined(spark, known):
    previous = spark.createDataFrame([("e0",)], "event_id string")
    clean_df, quarantine = clean.transform(bronze_events(spark, [{}, {}]), clean.SPECS["listening_events"], DS,
                                           known, previous_keys=previous)
    assert [(r["event_id"], r["quarantine_reason"]) for r in quarantine.collect()] == [("e0", "duplicate")]
    assert [r["event_id"] for r in clean_df.collect()] == ["e1"]


def test_sessionise_splits_on_gaps_and_flags_plays(spark):
    rows = [("e1", "u1", datetime(2026, 11, 23, 10, 0), 200000, False, "search"),
            ("e2", "u1", datetime(2026, 11, 23, 10, 29), 10000, True, "editorial_playlist"),
            ("e3", "u1", datetime(2026, 11, 23, 11, 0), 40000, True, "radio"),       # 31 min gap: new session
            ("e4", "u2", datetime(2026, 11, 23, 10, 5), 30000, False, "user_collection")]
    df = spark.createDataFrame(rows, "event_id string, user_id string, ts timestamp, ms_played long, "
                                     "skipped boolean, context_type string")
    out = {r["event_id"]: r for r in clean.sessionise(df, 30, 30000).collect()}
    assert out["e1"]["session_id"] == out["e2"]["session_id"] != out["e3"]["session_id"]
    assert [out[e]["source"] for e in ("e1", "e2", "e3", "e4")] == ["organic", "editorial", "algorithmic", "organic"]
    assert [out[e]["counts"] for e in ("e1", "e2", "e3", "e4")] == [True, False, True, True]
    assert [out[e]["completed"] for e in ("e1", "e2", "e3", "e4")] == [True, False, False, True]


def test_deleted_users_keep_only_a_tombstone(spark):
    rows = [("u1", "2020-01-01", "GB", "free", "18-24", True, True, datetime(2026, 11, 23, 23, 0)),
            ("u2", "2020-01-01", "SE", "premium", "25-34", True, False, datetime(2026, 11, 24, 0, 0)),
            ("u3", "2020-01-01", "US", "free", "55+", False, True, None)]
    df = spark.createDataFrame(rows, "user_id string, signup_date string, country string, tier string, "
                                     "age_band string, personalisation_consent boolean, audit_consent boolean, "
                                     "deletion_requested_at timestamp")
    out = {r["user_id"]: r for r in clean.finish_users(df, DS).collect()}
    assert (out["u1"]["is_deleted"], out["u1"]["country"], out["u1"]["personalisation_consent"]) == (True, None, False)
    assert (out["u2"]["is_deleted"], out["u2"]["country"]) == (False, "SE")   # request dated after ds
    assert (out["u3"]["is_deleted"], out["u3"]["country"]) == (False, "US")


def test_artist_attributes_need_consent(spark):
    df = spark.createDataFrame([("a1", "female", True), ("a2", "male", False), ("a3", "male", None)],
                               "artist_id string, self_declared_gender string, attributes_consent boolean")
    got = {r["artist_id"]: r["self_declared_gender"] for r in clean.finish_artists(df).collect()}
    assert got == {"a1": "female", "a2": None, "a3": None}
