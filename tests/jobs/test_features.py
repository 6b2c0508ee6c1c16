"""Feature modules against hand-computed values (2026-11-23 is a Monday)."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from statistics import pstdev

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from setlist.jobs import features

KNOWN = datetime(2026, 11, 24)   # end + 1 day, 00:00 UTC
LT = ("2026-10-27", "2026-11-23")
EV_COLS = ("user_id string, track_id string, artist_id string, genre string, ds string, ts timestamp, "
           "session_id string, skipped boolean, completed boolean, ms_played long, device string, "
           "tempo double, energy double, valence double, danceability double, acousticness double")


@pytest.fixture
def events(spark):
    a1 = (100.0, 0.5, 0.5, 0.5, 0.5)
    a2 = (140.0, 0.9, 0.1, 0.8, 0.2)
    rows = [
        ("u1", "t1", "a1", "pop", "2026-11-23", datetime(2026, 11, 23, 8, 0), "s1", False, True, 200000, "mobile", *a1),
        ("u1", "t1", "a1", "pop", "2026-11-23", datetime(2026, 11, 23, 8, 4), "s1", True, False, 10000, "mobile", *a1),
        ("u1", "t2", "a2", "rock", "2026-11-21", datetime(2026, 11, 21, 20, 0), "s2", False, True, 180000, "desktop", *a2),
        ("u1", "t3", "a1", "pop", "2026-10-01", datetime(2026, 10, 1, 9, 0), "s0", False, True, 1000, "tv", *a1),  # outside
        ("u2", "t2", "a2", "rock", "2026-11-22", datetime(2026, 11, 22, 3, 0), "s3", True, False, 5000, "mobile", *a2),
        ("u3", "t1", "a1", "pop", "2026-11-23", datetime(2026, 11, 23, 10, 0), "s4", False, True, 200000, "web", *a1),
    ]
    return spark.createDataFrame(rows, EV_COLS)


@pytest.fixture
def users(spark):   # u3 has no personalisation consent
    return spark.createDataFrame([("u1",), ("u2",)], "user_id string")


def test_user_profile_long(spark, events, users):
    got = {r["user_id"]: r.asDict() for r in features.compute_user_profile(events, *LT, users, "lt").collect()}
    assert sorted(got) == ["u1", "u2"]
    u1 = got["u1"]
    expected = {
        "lt_plays": 3, "lt_active_days": 2, "lt_sessions": 2, "lt_skip_rate": 1 / 3, "lt_completion_rate": 2 / 3,
        "lt_novelty": 2 / 3, "lt_session_plays": 1.5, "lt_weekend_share": 1 / 3,
        "lt_share_night": 0.0, "lt_share_morning": 2 / 3, "lt_share_afternoon": 0.0, "lt_share_evening": 1 / 3,
        "lt_tempo_mean": 340 / 3, "lt_tempo_std": pstdev([100, 100, 140]),
        "lt_energy_mean": 1.9 / 3, "lt_energy_std": pstdev([0.5, 0.5, 0.9]),
        # session s1: 4 minutes + the last play's 10 s; s2: one 3-minute play.
        "lt_session_minutes": ((4 + 10 / 60) + 3) / 2,
        "lt_top_genre": "pop", "lt_top_genre_share": 2 / 3,
        "lt_genre_entropy": -(2 / 3 * math.log2(2 / 3) + 1 / 3 * math.log2(1 / 3)),
        "lt_top_artist": "a1", "lt_top_artist_share": 2 / 3,
        "event_timestamp": KNOWN, "created_timestamp": KNOWN,
    }
    for k, v in expected.items():
        assert u1[k] == pytest.approx(v, abs=1e-12) if isinstance(v, float) else u1[k] == v, k
    assert (got["u2"]["lt_plays"], got["u2"]["lt_skip_rate"], got["u2"]["lt_share_night"],
            got["u2"]["lt_weekend_share"], got["u2"]["lt_genre_entropy"]) == (1, 1.0, 1.0, 1.0, 0.0)


def test_user_profile_short_window_sees_only_recent_days(events, users):
    got = {r["user_id"]: r["st_plays"] for r in
           features.compute_user_profile(events, "2026-11-22", "2026-11-23", users, "st").collect()}
    assert got == {"u1": 2, "u2": 1}


def test_user_profiles_in_one_pass_keep_each_window_apart(spark, events, users):
    a1, a2 = (100.0, 0.5, 0.5, 0.5, 0.5), (140.0, 0.9, 0.1, 0.8, 0.2)
    # Session s5 straddles the short window's start: its 23:40 play arrived late (ds 2026-11-22).
    late = spark.createDataFrame([
        ("u1", "t2", "a2", "rock", "2026-11-21", datetime(2026, 11, 21, 23, 50), "s5", False, True, 60000, "tv", *a2),
        ("u1", "t1", "a1", "pop", "2026-11-22", datetime(2026, 11, 21, 23, 40), "s5", False, True, 30000, "tv", *a1),
    ], EV_COLS)
    ev = events.unionByName(late)
    both = features.compute_user_profiles(ev, {"lt": LT[0], "st": "2026-11-22"}, LT[1], users)
    assertDataFrameEqual(both["lt"], features.compute_user_profile(ev, *LT, users, "lt"))
    assertDataFrameEqual(both["st"], features.compute_user_profile(ev, "2026-11-22", LT[1], users, "st"))
    lt = {r["user_id"]: r for r in both["lt"].collect()}["u1"]
    st = {r["user_id"]: r for r in both["st"].collect()}
    # long: s1 4 min + 10 s, s2 3 min, s5 23:40 → 23:50 plus the 23:50 play's minute
    assert (lt["lt_plays"], lt["lt_sessions"]) == (5, 3)
    assert lt["lt_session_minutes"] == pytest.approx(((4 + 10 / 60) + 3 + 11) / 3, abs=1e-12)
    # short: s1, and of s5 only the late 30 s play
    u1 = st["u1"]
    assert (u1["st_plays"], u1["st_sessions"], u1["st_active_days"], u1["st_top_genre"]) == (3, 2, 2, "pop")
    assert (u1["st_top_genre_share"], u1["st_genre_entropy"]) == (1.0, 0.0)
    assert u1["st_session_minutes"] == pytest.approx(((4 + 10 / 60) + 0.5) / 2, abs=1e-12)
    assert st["u2"]["st_plays"] == 1
    # u2 played nothing on the last day: no row in that window's table.
    last_day = features.compute_user_profiles(ev, {"lt": LT[0], "d1": LT[1]}, LT[1], users)
    assert [(r["user_id"], r["d1_plays"]) for r in last_day["d1"].collect()] == [("u1", 2)]
    assert last_day["lt"].count() == 2


def test_user_context(spark, events, users):
    got = features.compute_user_context(events, *LT, users, ("mobile", "desktop", "web"))
    expected = spark.createDataFrame([
        ("u1", 2 / 3, 1 / 3, 0.0, 8, 1, KNOWN, KNOWN),
        ("u2", 1.0, 0.0, 0.0, 3, 7, KNOWN, KNOWN),   # Sunday = ISO 7
    ], "user_id string, ctx_share_mobile double, ctx_share_desktop double, ctx_share_web double, "
       "ctx_top_hour int, ctx_top_weekday int, event_timestamp timestamp, created_timestamp timestamp")
    assertDataFrameEqual(got.select(*expected.columns), expected)


def test_track_popularity(spark, events):
    tracks = spark.createDataFrame([
        ("t1", "a1", date(2026, 11, 13), 100.0, 0.5, 0.1, 0.2, 0.3),
        ("t2", "a2", None, 90.0, 0.9, 0.2, 0.3, 0.4),
        ("t4", "a3", date(2026, 11, 23), 60.0, 0.2, 0.3, 0.4, 0.5)],
        "track_id string, artist_id string, release_date date, tempo double, energy double, valence double, "
        "danceability double, acousticness double")
    placements = spark.createDataFrame([("t2", date(2026, 11, 20), date(2026, 11, 23)),
                                        ("t1", date(2026, 11, 24), date(2026, 11, 30))],
                                       "track_id string, start_ds date, end_ds date")
    got = features.compute_track_popularity(events, *LT, tracks, placements)
    got = got.select("track_id", "track_plays_1d", "track_plays_7d", "track_plays_28d", "track_listeners_1d",
                     "track_listeners_7d", "track_listeners_28d", "track_skip_rate_28d",
                     "track_completion_rate_28d", "track_editorial_now", "track_age_days", "track_energy",
                     "event_timestamp")
    expected = spark.createDataFrame([
        ("t1", 3, 3, 3, 2, 2, 2, 1 / 3, 2 / 3, 0, 10, 0.5, KNOWN),
        ("t2", 0, 2, 2, 0, 2, 2, 0.5, 0.5, 1, None, 0.9, KNOWN),
        ("t4", 0, 0, 0, 0, 0, 0, None, None, 0, 0, 0.2, KNOWN),
    ], got.schema)
    assertDataFrameEqual(got, expected)


def test_artist_stats(spark, events):
    artists = spark.createDataFrame([("a1", "l1", 2010), ("a2", "l2", 2025), ("a3", "l2", 2025)],
                                    "artist_id string, label_id string, debut_year int")
    labels = spark.createDataFrame([("l1", "major"), ("l2", "independent")], "label_id string, kind string")
    got = features.compute_artist_stats(events, *LT, artists, labels, emerging_debut_years=2,
                                        emerging_max_listener_pct=0.8)
    got = got.select("artist_id", "artist_listeners_7d", "artist_listeners_prev_7d", "artist_listeners_28d",
                     "artist_growth_7d", "artist_career_years", "artist_emerging", "artist_label_kind")
    # percent rank of 28-day listeners [a3: 0, a1: 2, a2: 2] = [0, 0.5, 0.5]
    expected = spark.createDataFrame([
        ("a1", 2, 0, 2, 2.0, 16, 0, "major"),
        ("a2", 2, 0, 2, 2.0, 1, 1, "independent"),
        ("a3", 0, 0, 0, 0.0, 1, 1, "independent"),
    ], got.schema)
    assertDataFrameEqual(got, expected)


def test_user_artist_and_genre_affinity(spark, events, users):
    got = features.compute_user_artist_affinity(events, *LT, users).select(
        "user_id", "artist_id", "ua_plays_28d", "ua_skip_rate_28d", "ua_share_28d", "ua_days_since_last_play")
    expected = spark.createDataFrame([
        ("u1", "a1", 2, 0.5, 2 / 3, 0),
        ("u1", "a2", 1, 0.0, 1 / 3, 2),
        ("u2", "a2", 1, 1.0, 1.0, 1),
    ], got.schema)
    assertDataFrameEqual(got, expected)
    genres = {(r["user_id"], r["genre"]): r["ug_plays_28d"] for r in
              features.compute_user_genre_affinity(events, *LT, users).collect()}
    assert genres == {("u1", "pop"): 2, ("u1", "rock"): 1, ("u2", "rock"): 1}


def test_tables_from_shared_plays_equal_their_own(spark, events, users):
    # The stage aggregates per-(listener, artist), (listener, genre) and (listener, track)
    # plays once for the profiles, the affinity tables, artist_stats and track_popularity:
    # each table must be what it computes on its own. u2's play on 2026-11-12 falls in the 7 days before the last 7.
    row = ("u2", "t1", "a1", "pop", "2026-11-12", datetime(2026, 11, 12, 9, 0), "s9", False, True, 200000,
           "mobile", 100.0, 0.5, 0.5, 0.5, 0.5)
    more = events.union(spark.createDataFrame([row], EV_COLS))
    windows = {"lt": LT[0], "st": "2026-11-17"}
    plays = {"artist_id": features.user_item_plays(more, *LT, "artist_id", {**windows, **features.artist_windows(LT[1])}),
             "genre": features.user_item_plays(more, *LT, "genre", windows),
             "track_id": features.user_item_plays(more, *LT, "track_id", {**windows, **features.popularity_windows(LT[1])},
                                                  rates=("skipped", "completed"))}
    shared = features.compute_user_profiles(more, windows, LT[1], users, plays)
    own = features.compute_user_profiles(more, windows, LT[1], users)
    for p in windows:
        assertDataFrameEqual(shared[p], own[p])
    assertDataFrameEqual(features.compute_user_artist_affinity(more, *LT, users, plays["artist_id"]),
                         features.compute_user_artist_affinity(more, *LT, users))
    assertDataFrameEqual(features.compute_user_genre_affinity(more, *LT, users, plays["genre"]),
                         features.compute_user_genre_affinity(more, *LT, users))
    catalogue = spark.createDataFrame([("t1", "a1", date(2026, 1, 1)), ("t2", "a2", date(2026, 11, 1))],
                                      "track_id string, artist_id string, release_date date")
    for t in ("tempo", "energy", "valence", "danceability", "acousticness"):
        catalogue = catalogue.withColumn(t, F.lit(0.5))
    placements = spark.createDataFrame([], "track_id string, start_ds date, end_ds date")
    assertDataFrameEqual(features.compute_track_popularity(more, *LT, catalogue, placements, plays["track_id"]),
                         features.compute_track_popularity(more, *LT, catalogue, placements))
    artists = spark.createDataFrame([("a1", "l1", 2010), ("a2", "l1", 2025)], "artist_id string, label_id string, debut_year int")
    labels = spark.createDataFrame([("l1", "major")], "label_id string, kind string")
    stats = features.compute_artist_stats(more, *LT, artists, labels, 2, 0.8, plays["artist_id"])
    assertDataFrameEqual(stats, features.compute_artist_stats(more, *LT, artists, labels, 2, 0.8))
    got = {r["artist_id"]: (r["artist_listeners_7d"], r["artist_listeners_prev_7d"], r["artist_listeners_28d"])
           for r in stats.collect()}
    assert got == {"a1": (2, 1, 3), "a2": (2, 0, 2)}


def test_colistening(spark):
    t = lambda m: datetime(2026, 11, 23, 10, m)  # noqa: E731
    rows = [("A", "t1", t(0)), ("A", "t2", t(1)), ("A", "t3", t(2)), ("B", "t1", t(0)), ("B", "t2", t(1)),
            ("C", "t2", t(0)), ("C", "t3", t(1)), ("D", "t1", t(0))]
    ev = spark.createDataFrame([("u1" if s in "AB" else "u2", s, tr, "2026-11-23", ts) for s, tr, ts in rows],
                               "user_id string, session_id string, track_id string, ds string, ts timestamp")
    got = {(r["track_id"], r["neighbour_id"]): (r["co_sessions"], r["score"], r["rank"])
           for r in features.compute_colistening(ev, *LT, k=2, max_session_tracks=50).collect()}
    # sessions with: t1 3, t2 3, t3 2; together: t1t2 2, t1t3 1, t2t3 2
    assert got == {("t1", "t2"): (2, 2 / 3, 1), ("t1", "t3"): (1, 1 / math.sqrt(6), 2),
                   ("t2", "t3"): (2, 2 / math.sqrt(6), 1), ("t2", "t1"): (2, 2 / 3, 2),
                   ("t3", "t2"): (2, 2 / math.sqrt(6), 1), ("t3", "t1"): (1, 1 / math.sqrt(6), 2)}
    top1 = {r["track_id"]: r["neighbour_id"] for r in features.compute_colistening(ev, *LT, 1, 50).collect()}
    assert top1 == {"t1": "t2", "t2": "t3", "t3": "t2"}
    # Truncating sessions to 2 tracks drops t3 from A: t1t3 disappears.
    short = {(r["track_id"], r["neighbour_id"]) for r in features.compute_colistening(ev, *LT, 5, 2).collect()}
    assert ("t1", "t3") not in short and ("t2", "t3") in short


def test_colistening_keeps_each_sessions_first_tracks_by_first_play(spark):
    # Session A, cut to 3 tracks: t5, t1, t5 again (no new track), then t3 and
    # t2 in the same minute (the tie goes to the smaller id, t2), then t4: A
    # keeps t5, t1 and t2. Session B pairs t3 with t4. Rows arrive reversed.
    t = lambda m: datetime(2026, 11, 23, 10, m)  # noqa: E731
    rows = [("A", "t5", t(0)), ("A", "t1", t(1)), ("A", "t5", t(2)), ("A", "t3", t(3)), ("A", "t2", t(3)),
            ("A", "t4", t(4)), ("B", "t3", t(10)), ("B", "t4", t(11))]
    ev = spark.createDataFrame([("u1", s, tr, "2026-11-23", ts) for s, tr, ts in reversed(rows)],
                               "user_id string, session_id string, track_id string, ds string, ts timestamp")
    got = {(r["track_id"], r["neighbour_id"]): (r["co_sessions"], r["score"], r["rank"])
           for r in features.compute_colistening(ev, *LT, k=5, max_session_tracks=3).collect()}
    assert got == {("t1", "t2"): (1, 1.0, 1), ("t1", "t5"): (1, 1.0, 2), ("t2", "t1"): (1, 1.0, 1),
                   ("t2", "t5"): (1, 1.0, 2), ("t5", "t1"): (1, 1.0, 1), ("t5", "t2"): (1, 1.0, 2),
                   ("t3", "t4"): (1, 1.0, 1), ("t4", "t3"): (1, 1.0, 1)}


def _colistening_reference(sessions: dict, k: int) -> dict:
    """Brute force: every pair's cosine over sessions, each track's k best (ties by neighbour id)."""
    n = {}
    co = {}
    for tracks in sessions.values():
        for a in tracks:
            n[a] = n.get(a, 0) + 1
            for b in tracks:
                if a != b:
                    co[a, b] = co.get((a, b), 0) + 1
    out = {}
    for a in n:
        row = sorted(((-c / math.sqrt(n[a] * n[b]), b, c) for (x, b), c in co.items() if x == a))
        out.update({(a, b): (c, -neg, rank) for rank, (neg, b, c) in enumerate(row[:k], 1)})
    return out


@pytest.mark.parametrize("k", [1, 3])
def test_colistening_top_k_equals_brute_force(spark, k):
    # 60 random sessions over 9 tracks, many pairs in one session only, ties
    # among them: the floor that drops weak pairs before the top k must not
    # change a single row.
    import random
    rng = random.Random(11)
    tracks = [f"t{i}" for i in range(9)]
    sessions = {f"s{i:02d}": sorted(rng.sample(tracks[:4] if i % 3 else tracks, rng.randint(1, 4)))
                for i in range(60)}
    rows = [("u1", s, tr, "2026-11-23", datetime(2026, 11, 23, 10, j))
            for s, trs in sessions.items() for j, tr in enumerate(trs)]
    ev = spark.createDataFrame(rows, "user_id string, session_id string, track_id string, ds string, ts timestamp")
    got = {(r["track_id"], r["neighbour_id"]): (r["co_sessions"], r["score"], r["rank"])
           for r in features.compute_colistening(ev, *LT, k=k, max_session_tracks=50).collect()}
    assert got == _colistening_reference(sessions, k)


def test_active_days_count_distinct_days_over_spans_longer_than_a_mask_word(spark):
    # Days 0, 62, 63 and 126 of a 130-day span fall in three 63-day words of the mask.
    first = date(2026, 1, 1)
    days = [0, 62, 62, 63, 126]
    rows = [("u1", (first + timedelta(days=d)).isoformat()) for d in days] + [("u2", first.isoformat())]
    ev = spark.createDataFrame(rows, "user_id string, ds string")
    end = (first + timedelta(days=129)).isoformat()
    masks, counts = features._day_masks(first.isoformat(), end, {
        "all_days": first.isoformat(), "late_days": (first + timedelta(days=63)).isoformat()})
    got = {r["user_id"]: (r["all_days"], r["late_days"])
           for r in ev.groupBy("user_id").agg(*masks).select("user_id", *counts).collect()}
    assert got == {"u1": (4, 2), "u2": (1, 0)}


def test_keys_follow_id_order_and_round_trip(spark):
    people = spark.createDataFrame([("u2",), ("u1",)], "user_id string")
    catalogue = spark.createDataFrame([("t2", "a1", "rock"), ("t1", "a2", None)],
                                      "track_id string, artist_id string, genre string")
    keys = features.id_keys(people, catalogue, spark.createDataFrame([("a3",), ("a1",)], "artist_id string"))
    got = {kind: [r["value"] for r in df.orderBy("key").collect()] for kind, df in keys.items()}
    # Every id once, numbered in id order (the artist of a track and of the artist table alike); no null key.
    assert got == {"users": ["u1", "u2"], "tracks": ["t1", "t2"], "artists": ["a1", "a2", "a3"], "genres": ["rock"]}
    rows = [("u1", "t2", "rock", 3, "rock"), ("u2", "t1", None, 4, None)]
    ev = spark.createDataFrame(rows, "user_id string, track_id string, genre string, plays int, lt_top_genre string")
    coded = features.keyed(ev, keys, {"user_id": "users", "track_id": "tracks", "genre": "genres",
                                      "lt_top_genre": "genres"})
    assert [f.dataType.simpleString() for f in coded.schema.fields] == ["bigint", "bigint", "bigint", "int", "bigint"]
    assert sorted(tuple(r) for r in features.decoded(coded, keys).collect()) == rows
    with pytest.raises(ValueError, match="1 events name a listener and 0 a track missing"):
        features.count_events(coded.union(coded.limit(1).withColumn("user_id", F.lit(None).cast("long"))))
