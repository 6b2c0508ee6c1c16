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
    coli = spark.createDataFrame([("u1", "t3", 1.5, 1)],
                                 "user_id string, track_id string, coli_score double, coli_rank int")
    pop = spark.createDataFrame([("u1", "t2", 10.0, 1), ("u1", "t3", 5.0, 2)],
                                "user_id string, track_id string, pop_score double, pop_rank int")
    tracks = spark.createDataFrame([("t1", "a1", "pop"), ("t2", "a2", "rock"), ("t3", "a1", "pop")],
                                   "track_id string, artist_id string, genre string")
    got = candidates.union({"als": als, "coli": coli, "popular": pop}, tracks).select(
        "user_id", "track_id", "artist_id", "source", "n_sources", "als_score", "coli_score", "content_score",
        "pop_rank")
    expected = spark.createDataFrame([("u1", "t1", "a1", "als", 1, 0.9, None, None, None),
                                      ("u1", "t2", "a2", "als", 2, 0.5, None, None, 1),
                                      ("u1", "t3", "a1", "coli", 2, None, 1.5, None, 2)], got.schema)
    assertDataFrameEqual(got, expected)


def test_colistening_candidates_sum_over_seeds(spark):
    recent = spark.createDataFrame([("u1", "t1"), ("u1", "t2"), ("u1", "t1")], "user_id string, track_id string")
    nb = spark.createDataFrame([("t1", "t3", 0.5), ("t2", "t3", 0.25), ("t2", "t4", 0.6), ("t9", "t5", 1.0)],
                               "track_id string, neighbour_id string, score double")
    got = [tuple(r) for r in candidates.colistening_candidates(recent, nb, k=5).orderBy("coli_rank").collect()]
    assert got == [("u1", "t3", 0.75, 1, "t1"), ("u1", "t4", 0.6, 2, "t2")]


def test_content_candidates_nearest_to_the_centroid_in_top_genre(spark):
    prof = spark.createDataFrame([("u1", "pop", 100.0, 0.5, 0.5, 0.5, 0.5)],
                                 "user_id string, lt_top_genre string, lt_tempo_mean double, lt_energy_mean double, "
                                 "lt_valence_mean double, lt_danceability_mean double, lt_acousticness_mean double")
    tracks = spark.createDataFrame([("t1", "pop", 100.0, 0.6, 0.5, 0.5, 0.5), ("t2", "pop", 140.0, 0.5, 0.5, 0.5, 0.5),
                                    ("t3", "rock", 100.0, 0.5, 0.5, 0.5, 0.5)],
                                   "track_id string, genre string, tempo double, energy double, valence double, "
                                   "danceability double, acousticness double")
    popularity = spark.createDataFrame([("t1", 5), ("t2", 9), ("t3", 9)], "track_id string, track_plays_28d long")
    got = [(r["track_id"], round(r["content_score"], 9), r["content_rank"]) for r in
           candidates.content_candidates(prof, tracks, popularity, k=5).orderBy("content_rank").collect()]
    assert got == [("t1", -0.1, 1), ("t2", -0.2, 2)]    # tempo distance 40 / 200 = 0.2


def test_genre_popularity_and_new_releases(spark):
    aff = spark.createDataFrame([("u1", "pop", 0.75), ("u1", "rock", 0.25)],
                                "user_id string, genre string, ug_share_28d double")
    tracks = spark.createDataFrame([("t1", "pop"), ("t2", "rock"), ("t3", "pop")], "track_id string, genre string")
    pop = spark.createDataFrame([("t1", 10, 400), ("t2", 20, 3), ("t3", 0, 1)],
                                "track_id string, track_plays_7d long, track_age_days long")
    got = [(r["track_id"], r["genre_pop_score"], r["genre_pop_rank"]) for r in
           candidates.genre_popularity_candidates(aff, tracks, pop, k=5).orderBy("genre_pop_rank").collect()]
    assert got == [("t1", 7.5, 1), ("t2", 5.0, 2)]      # t3 has no plays this week
    new = [(r["track_id"], r["new_score"], r["new_rank"]) for r in
           candidates.new_release_candidates(aff, tracks, pop, k=5).orderBy("new_rank").collect()]
    assert new == [("t2", 0.25 * 21 / 4, 1), ("t3", 0.75 * 1 / 2, 2)]   # t1 is 400 days old


def test_new_releases_cut_per_genre_keep_every_listeners_exact_top_k(spark):
    # Freshness (plays + 1) / (age + 1) from small ranges, so ties cross each genre's k-th place;
    # shares include 0 and null, whose listeners see every release of the genre.
    import numpy as np
    import pandas as pd
    rng = np.random.default_rng(5)
    genres = ["pop", "rock", "jazz"]
    tracks = pd.DataFrame({"track_id": [f"t{i:03d}" for i in range(60)],
                           "genre": [genres[i % 3] for i in range(60)]})
    pop = pd.DataFrame({"track_id": tracks["track_id"], "track_plays_7d": rng.integers(0, 4, 60),
                        "track_age_days": rng.integers(-1, 31, 60)})
    shares = [0.5, 0.25, 0.0, None, 1.0, 0.125]
    aff = pd.DataFrame([(f"u{u}", g, shares[(u + j) % len(shares)]) for u in range(12) for j, g in enumerate(genres)
                        if (u + j) % 4], columns=["user_id", "genre", "ug_share_28d"])
    k = 5
    got = (candidates.new_release_candidates(
        spark.createDataFrame(aff, "user_id string, genre string, ug_share_28d double"),
        spark.createDataFrame(tracks), spark.createDataFrame(pop), k=k).toPandas()
        .sort_values(["user_id", "new_rank"]).reset_index(drop=True))
    new = pop[(pop["track_age_days"] >= 0) & (pop["track_age_days"] <= 28)].merge(tracks, on="track_id")
    ref = aff.merge(new, on="genre")
    ref["new_score"] = ref["ug_share_28d"] * (ref["track_plays_7d"] + 1) / (ref["track_age_days"] + 1)
    ref = ref.sort_values(["user_id", "new_score", "track_id"], ascending=[True, False, True], na_position="last")
    ref["new_rank"] = ref.groupby("user_id").cumcount() + 1
    ref = ref[ref["new_rank"] <= k][["user_id", "track_id", "new_score", "new_rank"]].reset_index(drop=True)
    assert len(ref) == 12 * k and new.groupby("genre").size().min() > 3 * k
    pd.testing.assert_frame_equal(got[["user_id", "track_id", "new_score", "new_rank"]], ref, check_dtype=False)


def test_top_k_scores_best_first_with_ties_to_the_smaller_position():
    import numpy as np
    items = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [1.0, 0.0], [0.5, 0.0]], np.float32)
    users = np.array([[1.0, 0.0],     # scores 1, 0, 1, 1, 0.5: three tie for first
                      [0.0, 2.0],     # 0, 2, 2, 0, 0
                      [1.0, 1.0]], np.float32)   # 1, 1, 2, 1, 0.5
    pos, top = candidates.top_k_scores(users, items, 2)
    assert pos.tolist() == [[0, 2], [1, 2], [2, 0]]
    assert top.tolist() == [[1.0, 1.0], [2.0, 2.0], [2.0, 1.0]]
    pos, top = candidates.top_k_scores(users, items, 9)     # k beyond the catalogue: every item
    assert pos.tolist() == [[0, 2, 3, 4, 1], [1, 2, 0, 3, 4], [2, 0, 1, 3, 4]]


def test_als_top_k_matches_mllibs_recommendations(spark):
    # The same top 5 per user as MLlib's recommendForUserSubset, with the same scores.
    import numpy as np
    from pyspark.sql import functions as F
    rng = np.random.default_rng(11)
    rows = sorted({(f"u{u:02d}", f"t{t:02d}") for u, t in zip(rng.integers(0, 30, 400), rng.integers(0, 40, 400))})
    matrix = candidates.plays_matrix(spark.createDataFrame(rows, "user_id string, track_id string"))
    model, ui, _ = candidates.als_fit(matrix, rank=4, reg=0.1, alpha=1.0, max_iter=5, seed=3)
    subset = ui.transform(matrix.select("user_id").distinct()).select(F.col("u").cast("int"))
    ours = {(r["u"], r["als_rank"]): (r["i"], r["als_score"]) for r in candidates.als_top_k(model, subset, 5).collect()}
    theirs = {(r["u"], pos + 1): (rec["i"], rec["rating"]) for r in model.recommendForUserSubset(subset, 5).collect()
              for pos, rec in enumerate(r["recommendations"])}
    assert len(ours) == 30 * 5 and sorted(ours) == sorted(theirs)
    assert max(abs(ours[key][1] - theirs[key][1]) for key in ours) < 1e-5
    assert all(ours[key][0] == theirs[key][0] for key in ours)      # the same items in the same order


def test_plays_matrix_uses_log_counts(spark):
    import math
    ev = spark.createDataFrame([("u1", "t1"), ("u1", "t1"), ("u1", "t2")], "user_id string, track_id string")
    got = {(r["user_id"], r["track_id"]): (r["plays"], r["rating"]) for r in candidates.plays_matrix(ev).collect()}
    assert got == {("u1", "t1"): (2, math.log1p(2)), ("u1", "t2"): (1, math.log1p(1))}


def test_colistening_seed_ties_go_to_the_largest_seed_id(spark):
    recent = spark.createDataFrame([("u1", "t1"), ("u1", "t2"), ("u2", "t1")], "user_id string, track_id string")
    nb = spark.createDataFrame([("t1", "t3", 0.4), ("t2", "t3", 0.4), ("t2", "t1", 0.1), ("t1", "t2", 0.1)],
                               "track_id string, neighbour_id string, score double")
    got = sorted(tuple(r) for r in candidates.colistening_candidates(recent, nb, k=5).collect())
    assert got == [("u1", "t1", 0.1, 2, "t2"), ("u1", "t2", 0.1, 3, "t1"), ("u1", "t3", 0.8, 1, "t2"),
                   ("u2", "t2", 0.1, 2, "t1"), ("u2", "t3", 0.4, 1, "t1")]


def test_colistening_spreads_its_join_over_tasks_of_about_a_million_rows():
    assert candidates.COLI_ROWS_PER_TASK == 1_000_000
    # tier m: 5.3M (listener, track) pairs x 20 neighbours = 106.5M joined rows
    assert candidates.colistening_partitions(5_323_918, 20, 8) == 107
    assert candidates.colistening_partitions(50_000, 20, 8) == 8      # never below the shuffle default
    assert candidates.colistening_partitions(450_001, 20, 8) == 10    # rounded up
    assert candidates.colistening_partitions(0, 20, 8) == 8


def test_colistening_gives_the_same_rows_over_any_number_of_tasks(spark):
    recent = spark.createDataFrame([(f"u{u}", f"t{(u * 7 + i) % 13}") for u in range(30) for i in range(4)],
                                   "user_id string, track_id string")
    nb = spark.createDataFrame([(f"t{a}", f"t{b}", round(1.0 / (1 + abs(a - b) + (a * b) % 5), 6))
                                for a in range(13) for b in range(13) if a != b],
                               "track_id string, neighbour_id string, score double")
    one = candidates.colistening_candidates(recent, nb, k=6, partitions=1)
    assert one.count() == 180
    for tasks in (3, 17):
        assertDataFrameEqual(candidates.colistening_candidates(recent, nb, k=6, partitions=tasks), one)
    assertDataFrameEqual(candidates.colistening_candidates(recent, nb, k=6), one)


def test_colistening_rejects_a_score_it_cannot_pack(spark):
    import pytest
    recent = spark.createDataFrame([("u1", "t1")], "user_id string, track_id string")
    nb = spark.createDataFrame([("t1", "t3", 1.5)], "track_id string, neighbour_id string, score double")
    with pytest.raises(Exception, match=r"neighbour score outside \[0, 1\].*setlist run features"):
        candidates.colistening_candidates(recent, nb, k=5).collect()
