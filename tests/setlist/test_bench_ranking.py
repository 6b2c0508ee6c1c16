"""The ranking benchmark's arithmetic (the benchmark itself runs by hand)."""

from __future__ import annotations

import os

from setlist.bench_ranking import rate, spark_cores


def test_spark_cores_reads_the_local_master():
    assert spark_cores("local[2]") == 2
    assert spark_cores("local[8, 3]") == 8
    assert spark_cores("local") == 1
    assert spark_cores("local[*]") == (os.cpu_count() or 1)
    assert spark_cores("spark://host:7077") == (os.cpu_count() or 1)


def test_rate_per_second_and_per_core():
    assert rate(10_000, 4.0, 2) == {"per_second": 2500.0, "per_second_per_core": 1250.0}
    assert rate(7, 3.0, 1) == {"per_second": 2.3, "per_second_per_core": 2.3}
    assert rate(5, 0.0, 2) == {"per_second": None, "per_second_per_core": None}


def test_stages_are_parsed_in_the_benchmarks_order():
    import pytest

    from setlist.bench_ranking import parse_stages
    assert parse_stages(None) == ("candidates", "train", "scoring")
    assert parse_stages("scoring, train") == ("train", "scoring")
    with pytest.raises(ValueError, match="comma list of candidates, train, scoring; got 'score'"):
        parse_stages("score")
    with pytest.raises(ValueError, match="comma list"):
        parse_stages(" , ")


def test_timed_records_the_real_call_and_restores_it():
    import types

    from setlist.bench_ranking import timed
    module = types.SimpleNamespace(double=lambda xs: [2 * x for x in xs])
    original = module.double
    steps, calls = {}, {}
    with timed(module, "double", steps, rows=lambda args, out: len(out), calls=calls):
        assert module.double([1, 2, 3]) == [2, 4, 6]
    assert module.double is original
    seconds, rows = steps["double"]
    assert rows == 3 and seconds >= 0.0
    assert calls["double"] == (([1, 2, 3],), [2, 4, 6])


def test_the_benchmarks_import_only_names_that_exist():
    """The benchmarks import the stages' functions inside their run
    functions, which no test runs: every such name must exist."""
    import ast
    import importlib
    import importlib.util
    from pathlib import Path

    import setlist

    missing = []
    for name in ("bench", "bench_ranking", "bench_playlists"):
        tree = ast.parse(Path(setlist.__file__).with_name(f"{name}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("setlist"):
                module = importlib.import_module(node.module)
                missing += [f"{name}: {node.module}.{a.name}" for a in node.names
                            if not hasattr(module, a.name) and
                            importlib.util.find_spec(f"{node.module}.{a.name}") is None]
    assert missing == []


def test_timed_items_yields_every_item_with_the_time_it_took():
    from setlist.bench_ranking import timed_items
    got = list(timed_items(iter(["a", "b"])))
    assert [item for _, item in got] == ["a", "b"]
    assert all(seconds >= 0.0 for seconds, _ in got)
    assert list(timed_items([])) == []


def test_model_sizes_scores_the_model_its_first_trees_and_each_refit():
    import numpy as np
    import pandas as pd

    from setlist.bench_ranking import model_sizes
    from setlist.jobs.train import fit, mean_ndcg, to_groups

    rng = np.random.default_rng(3)
    n = 60 * 12
    frame = pd.DataFrame({"user_id": np.repeat([f"u{i:02d}" for i in range(60)], 12),
                          "track_id": np.tile([f"t{j:02d}" for j in range(12)], 60),
                          "a": rng.normal(size=n), "b": rng.normal(size=n)})
    frame["relevance"] = ((frame["a"] + 0.5 * rng.normal(size=n)) > 1.0).astype("int32")
    train, valid = to_groups(frame[frame["user_id"] < "u45"]), to_groups(frame[frame["user_id"] >= "u45"])
    params = {"n_estimators": 25, "max_depth": 3, "learning_rate": 0.1}
    model = fit(train, valid, ["a", "b"], params, seed=0)

    rows = model_sizes(train, valid, ["a", "b"], params, 0, model)

    assert [(r["model"], r["trees"]) for r in rows] == [
        ("as configured", 25), ("as configured, first 10 trees", 10), ("as configured, first 20 trees", 20),
        ("learning_rate 0.3", 25), ("learning_rate 0.3, max_depth 4", 25)]
    assert rows[0]["validation_ndcg@10"] == round(mean_ndcg(valid, model.predict(valid[["a", "b"]])), 6)
    assert [r["fit_seconds"] is None for r in rows] == [True, True, True, False, False]
    assert all(r["predict_microseconds_per_row"] > 0 for r in rows)
