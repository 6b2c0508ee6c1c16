"""Candidate generators and their union."""

from __future__ import annotations

from pyspark.testing import assertDataFrameEqual

from setlist.jobs import candidates


def test_popular_candidates_rank_by_recent_plays(spark):
    ev = spark.createDataFrame([("t1", "2026-11-23"), ("t1", "2026-11-22"), ("t2", "2026-11-23"),
                                ("t3", "2026-11-23"), ("t3", "2026-11-10"), ("t3", "2026-11-10")],
                               "track_id string, ds string")
    users = spark.createDataFrame([("u1",), ("u2",)], "user_id string")
    got = candidates.popular_candidates(ev, users, k=2, since="2026-11-17")
    expected = spark.createDataFrame([("u1", "t1", 2.0, 1), ("u1", "t2", 1.0, 2),
                                      ("u2", "t1", 2.0, 1), ("u2", "t2", 1.0, 2)],
                                     "user_id string, track_id string, pop_score double, pop_rank int")
    assertDataFrameEqual(got.select("user_id", "track_id", "pop_score", "pop_rank"), expected)


def test_union_keeps_every_generator_score(spark):
    als = spark.createDataFrame([("u1", "t1", 0.9, 1), ("u1", "t2", 0.5, 2)],
                                "user_id string, track_id string, als_score double, als_rank int")
    pop = spark.createDataFrame([("u1", "t2", 10.0, 1), ("u1", "t3", 5.0, 2)],
                                "user_id string, track_id string, pop_score double, pop_rank int")
    tracks = spark.createDataFrame([("t1", "a1"), ("t2", "a2"), ("t3", "a1")], "track_id string, artist_id string")
    got = candidates.union(als, pop, tracks).select("user_id", "track_id", "artist_id", "source", "n_sources",
                                                    "als_score", "pop_rank")
    expected = spark.createDataFrame([("u1", "t1", "a1", "als", 1, 0.9, None), ("u1", "t2", "a2", "als", 2, 0.5, 1),
                                      ("u1", "t3", "a1", "popular", 1, None, 2)], got.schema)
    assertDataFrameEqual(got, expected)


def test_plays_matrix_uses_log_counts(spark):
    import math
    ev = spark.createDataFrame([("u1", "t1"), ("u1", "t1"), ("u1", "t2")], "user_id string, track_id string")
    got = {(r["user_id"], r["track_id"]): (r["plays"], r["rating"]) for r in candidates.plays_matrix(ev).collect()}
    assert got == {("u1", "t1"): (2, math.log1p(2)), ("u1", "t2"): (1, math.log1p(1))}
