"""Benchmark of the ranking stages: candidates, training and scoring.

Run by hand, never by the tests::

    setlist bench ranking --tier s --days 7 --home /tmp/bench-rank-s
    setlist bench ranking --tier xs --days 4 --home /tmp/bench-rank-xs   # a quick smoke run
    setlist bench ranking --tier m --days 3 --home /tmp/bench-rank-m     # the goal's 50k tracks
    setlist bench ranking --tier m --days 3 --home /tmp/bench-rank-m --stages train,scoring

``--stages`` measures only the stages listed; the others' outputs must
already be in the home (e.g. candidates measured once, then training and
scoring again after a change to them).

What it does, for the last logical date ``ds`` of the generated data and the
training anchor ``T = ds - model.label_horizon_days``:

1. Generates the tier into ``--home`` and brings silver up to date
   (``setlist.bench.prepare``: reused when already there), then runs the
   ``features`` stage for T and ds where their gold tables are missing.
2. **Candidates**: the ``candidates`` stage (``setlist.jobs.candidates``) for T
   (its output is the training set's rows; reused when present), then for ds,
   timed; then the same generators and union for ds forced by a ``noop`` write
   (every row computed, nothing written), to separate Spark compute from the
   Delta write, then each generator alone on the same cached inputs
   (``generator_seconds_alone``; ALS is fitted as the generators are built,
   so its figure is the top 100 per listener alone). Users = listeners with
   at least one candidate row.
3. **Training**: the ``train`` stage (``setlist.jobs.train``) for ds, timed:
   labels, point-in-time Feast retrieval of ``reranker_v1``, XGBRanker fit with
   early stopping, model store and promotion gate. Rows = the training set's
   rows (training and validation listeners: at most
   ``model.max_training_listeners`` of the learnable ones, by a hash sample). Inside the stage, the Feast
   retrieval (``training_frame``) and the XGBRanker fit (``fit``) are timed
   apart: the real functions, wrapped by a timer while the stage runs.
   Then **model size** (``training.model_sizes``): on the stage's own training
   and validation rows, the validation NDCG@10 and the one-thread scoring cost
   per row of the trained model, of its first 10/20/40/60/80 trees, and of
   refits with learning rate 0.3 (depth 6 and depth 4): what a cheaper model
   would cost in ranking quality.
4. **Scoring**, as the playlists stage does it: ds's candidates with the
   current model's point-in-time features, spread onto slices of whole
   listeners (``setlist.jobs.playlists.scoring_slices``, timed apart),
   scored slice by slice by ``setlist.jobs.playlists.score_frame`` (Spark
   ``mapInArrow`` with the model broadcast), forced by a ``noop`` write.
   Users = listeners scored.

Rates are per wall-clock second, and per core: the cores Spark uses (N of a
``local[N]`` master, else the machine's CPU count). The figures are whatever
the machine is doing at the time: the load averages before and after are
returned. The returned dict is printed as JSON by the CLI; progress goes to
stderr.
"""

from __future__ import annotations

import contextlib
import gc
import os
import re
import sys
import time

GOAL = ("candidates >= 500 users/s/core (at 50k tracks: tier m); scoring >= 5,000 users/s/core")
GOLD_FEATURES = ("user_profile_long", "user_profile_short", "user_context", "track_popularity",
                 "artist_stats", "user_artist_affinity", "user_genre_affinity", "track_colistening")


def _say(message: str) -> None:
    print(f"[bench ranking] {message}", file=sys.stderr, flush=True)


def _now() -> float:
    return time.perf_counter()


def spark_cores(master: str) -> int:
    """Cores a Spark master uses on this machine: N of ``local[N]``, else every CPU."""
    m = re.fullmatch(r"local\[(\d+)(?:,\s*\d+)?\]", master.strip())
    if m:
        return int(m.group(1))
    if master.strip() == "local":
        return 1
    return os.cpu_count() or 1


def rate(count: int, seconds: float, cores: int) -> dict:
    """``count`` things in ``seconds`` on ``cores``: per second and per core-second."""
    per_s = count / seconds if seconds > 0 else None
    return {"per_second": round(per_s, 1) if per_s is not None else None,
            "per_second_per_core": round(per_s / cores, 1) if per_s is not None else None}


@contextlib.contextmanager
def timed(module, name: str, into: dict, rows, calls: dict | None = None):
    """While active, calls of ``module.name`` (the real function) are timed:
    ``into[name] = (seconds, rows(args, result))`` for the last call, and with
    ``calls``, ``calls[name] = (args, result)``."""
    original = getattr(module, name)

    def wrapper(*args, **kwargs):
        t0 = _now()
        out = original(*args, **kwargs)
        into[name] = (_now() - t0, int(rows(args, out)))
        if calls is not None:
            calls[name] = (args, out)
        return out

    setattr(module, name, wrapper)
    try:
        yield
    finally:
        setattr(module, name, original)


def timed_items(items):
    """Yield (seconds it took to produce the item, item) for each of ``items``
    (a generator doing work between items, such as a retrieval per slice)."""
    it = iter(items)
    while True:
        t0 = _now()
        try:
            item = next(it)
        except StopIteration:
            return
        yield _now() - t0, item


class PeakMemory:
    """The driver's resident memory while a block runs (this Python process,
    where the scoring slices are cut; Spark's JVM is another process): its
    high-water mark in bytes, sampled every ``every`` seconds from /proc."""

    def __init__(self, every: float = 0.05):
        import threading
        self.every, self.peak, self._stop = every, 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    @staticmethod
    def resident() -> int:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.resident())
            self._stop.wait(self.every)

    def __enter__(self):
        self.peak = self.resident()
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.resident())


def _context(config, stage: str, ds: str):
    from setlist.context import StageContext
    from setlist.spark import get_spark
    from setlist.storage import Lake
    spark = get_spark(config)
    return StageContext(stage=stage, ds=ds, config=config, spark=spark, lake=Lake.from_config(config, spark))


# --- 2. candidates -------------------------------------------------------------------
def candidates_compute(config, ds: str) -> dict:
    """The candidates stage's reads, generators and union for ``ds``, forced by a noop write."""
    from pyspark.sql import functions as F

    from setlist.contracts import conform
    from setlist.jobs import candidates as cj

    ctx = _context(config, "candidates", ds)
    t0 = _now()
    generated, cached = cj.generators(ctx)
    pairs = cached["matrix"].count()
    out = conform(cj.union(generated, cached["tracks"]).withColumn("ds", F.lit(ds)), "gold", "candidates").drop("ds")
    out.write.format("noop").mode("overwrite").save()
    seconds = _now() - t0
    # Then each generator alone, on the inputs already cached: where the time goes.
    alone = {}
    for source, df in generated.items():
        t1 = _now()
        df.write.format("noop").mode("overwrite").save()
        alone[source] = round(_now() - t1, 3)
    _say(f"candidates compute: {seconds:.1f} s; each generator alone, inputs cached: {alone}")
    for df in cached.values():
        df.unpersist()
    return {"seconds": round(seconds, 3), "user_track_pairs": pairs, "generator_seconds_alone": alone}


def _ensure_features(config, ds: str) -> float | None:
    """Run the features stage for ``ds`` unless every gold feature table has it; its seconds, or None."""
    from setlist.pipeline import run_stage
    from setlist.storage import Lake
    lake = Lake(config.lake_root, config.storage.engine)
    if all(ds in lake.partitions("gold", t) for t in GOLD_FEATURES):
        _say(f"{ds}: gold features present, reused")
        return None
    _say(f"{ds}: features stage")
    return run_stage("features", ds, config)["seconds"]


# --- 3b. model size ---------------------------------------------------------------------
# What scoring costs against what the model is worth: refits on the same training set
# with a faster learning rate (fewer trees) and shallower trees, and the trained model
# cut to its first N trees.
MODEL_CHANGES = ({"learning_rate": 0.3}, {"learning_rate": 0.3, "max_depth": 4})
TRUNCATIONS = (10, 20, 40, 60, 80)


def predict_microseconds(booster, X, trees: int) -> float:
    """Microseconds per row to score ``X`` with the first ``trees`` trees in one
    thread (as each Spark task does), best of three."""
    booster.set_param({"nthread": 1})
    best = float("inf")
    for _ in range(3):
        t0 = _now()
        booster.inplace_predict(X, iteration_range=(0, trees))
        best = min(best, _now() - t0)
    return best / max(len(X), 1) * 1e6


def model_sizes(train, valid, features: list[str], params: dict, seed: int, model) -> list[dict]:
    """Validation NDCG@10 and one-thread scoring cost of the trained ``model``
    (an ``XGBRanker``), of its first ``TRUNCATIONS`` trees, and of refits with
    each of ``MODEL_CHANGES`` on the same rows."""
    import numpy as np

    from setlist.jobs import train as tj
    X = valid[features].to_numpy(np.float32)

    def row(name: str, booster, trees: int, fit_seconds=None) -> dict:
        booster.set_param({"nthread": 2})
        ndcg = round(tj.mean_ndcg(valid, booster.inplace_predict(X, iteration_range=(0, trees))), 6)
        micro = predict_microseconds(booster, X, trees)
        _say(f"model size: {name}: {trees} trees, NDCG@10 {ndcg:.4f}, {micro:.2f} µs per row")
        return {"model": name, "trees": trees, "validation_ndcg@10": ndcg,
                "predict_microseconds_per_row": round(micro, 3), "fit_seconds": fit_seconds}

    booster = tj.validated_booster(model)
    full = booster.num_boosted_rounds()
    rows = [row("as configured", booster, full)]
    rows += [row(f"as configured, first {n} trees", booster, n) for n in TRUNCATIONS if n < full]
    for change in MODEL_CHANGES:
        t0 = _now()
        refit = tj.validated_booster(tj.fit(train, valid, features, {**params, **change}, seed))
        name = ", ".join(f"{k} {v}" for k, v in change.items())
        rows.append(row(name, refit, refit.num_boosted_rounds(), round(_now() - t0, 1)))
    return rows


# --- the benchmark ----------------------------------------------------------------
STAGES = ("candidates", "train", "scoring")


def parse_stages(text: str | None) -> tuple[str, ...]:
    """``"train,scoring"`` -> ("train", "scoring"), in the benchmark's order; None -> every stage."""
    if text is None:
        return STAGES
    asked = {t.strip() for t in text.split(",") if t.strip()}
    unknown = sorted(asked - set(STAGES))
    if unknown or not asked:
        raise ValueError(f"--stages takes a comma list of {', '.join(STAGES)}; got {text!r}")
    return tuple(st for st in STAGES if st in asked)


def run(config, tier: str = "s", seed: int = 0, days: int = 7, stages: str | None = None) -> dict:
    """Run the ranking benchmark on ``config.home`` and return its figures (see
    the module docstring). ``stages`` (e.g. ``"train,scoring"``) measures only
    those; the others' outputs must already be in the home (a stage left out
    reuses them)."""
    # Feast prints progress on stdout, where the CLI prints the figures as JSON.
    with contextlib.redirect_stdout(sys.stderr):
        return _ranking(config, tier, seed, days, parse_stages(stages))


def _ranking(config, tier: str, seed: int, days: int, stages: tuple[str, ...] = STAGES) -> dict:
    import pandas as pd

    from setlist.bench import prepare
    from setlist.spark import get_spark

    m = config.model
    load_before = os.getloadavg()
    ds_list = prepare(config, tier, seed, days)
    ds = ds_list[-1]
    anchor = (pd.Timestamp(ds) - pd.Timedelta(days=m.label_horizon_days)).date().isoformat()
    if anchor not in ds_list:
        raise ValueError(f"the training anchor {anchor} (ds - {m.label_horizon_days} days) is not among the "
                         f"generated days {ds_list[0]}..{ds}; pass more --days")
    spark = get_spark(config)
    cores = spark_cores(config.spark.master)
    lake = _context(config, "bench", ds).lake
    features_s = {d: _ensure_features(config, d) for d in (anchor, ds)}

    candidates = training = scoring = None
    if "candidates" in stages:
        candidates = _candidates(config, lake, anchor, ds, cores)
    elif ds not in lake.partitions("gold", "candidates"):
        raise ValueError(f"no candidates for {ds} in {config.home}: run the benchmark with the candidates stage "
                         f"(or `setlist run candidates --ds {ds}`) first")
    if "train" in stages:
        training = _training(config, anchor, ds, cores)
    if "scoring" in stages:
        scoring = _scoring(config, spark, ds, cores)
    headline = {}
    if candidates:
        headline.update({"candidates_users_per_second": candidates["stage_users"]["per_second"],
                         "candidates_users_per_second_per_core": candidates["stage_users"]["per_second_per_core"]})
    if training:
        headline.update({"training_rows_per_second": training["stage_rows"]["per_second"],
                         "training_rows_per_second_per_core": training["stage_rows"]["per_second_per_core"]})
    if scoring:
        headline.update({"scoring_users_per_second": scoring["users_rate"]["per_second"],
                         "scoring_users_per_second_per_core": scoring["users_rate"]["per_second_per_core"]})
    return {
        "tier": tier, "days": days, "seed": seed, "ds": ds, "stages": list(stages),
        "cores": cores, "master": config.spark.master,
        "features_stage_seconds": features_s,
        "candidates": candidates, "training": training, "scoring": scoring,
        "headline": headline,
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "goal": GOAL,
    }


def _candidates(config, lake, anchor: str, ds: str, cores: int) -> dict:
    from setlist.pipeline import run_stage
    if anchor in lake.partitions("gold", "candidates"):
        _say(f"{anchor}: candidates (the training anchor's) present, reused")
        anchor_seconds = None
    else:
        _say(f"candidates stage for {anchor} (the training anchor)")
        anchor_seconds = run_stage("candidates", anchor, config)["seconds"]
    _say(f"candidates stage for {ds}")
    stage = run_stage("candidates", ds, config)
    cands = lake.read("gold", "candidates", ds=ds)
    cand_rows = cands.count()
    cand_users = cands.select("user_id").distinct().count()
    _say(f"candidates compute for {ds} (noop write)")
    compute = candidates_compute(config, ds)
    candidates = {
        "ds": ds, "users": cand_users, "rows": cand_rows, "rows_per_user": round(cand_rows / max(cand_users, 1), 1),
        "user_track_pairs_in_window": compute["user_track_pairs"],
        "stage_seconds": stage["seconds"], "stage_users": rate(cand_users, stage["seconds"], cores),
        "compute_seconds": compute["seconds"], "compute_users": rate(cand_users, compute["seconds"], cores),
        "generator_seconds_alone": compute["generator_seconds_alone"],
        "anchor_stage_seconds": anchor_seconds,
    }
    _say(f"candidates: {cand_users:,} users in {stage['seconds']:.1f} s (stage), {compute['seconds']:.1f} s (compute)")
    return candidates


def _training(config, anchor: str, ds: str, cores: int) -> dict:
    from setlist.jobs import train as tj
    from setlist.pipeline import run_stage
    _say(f"train stage for {ds} (anchor {anchor})")
    steps, calls = {}, {}
    with timed(tj, "training_frame", steps, rows=lambda args, out: len(out)), \
            timed(tj, "fit", steps, rows=lambda args, out: len(args[0]), calls=calls):
        trained = run_stage("train", ds, config)
    gc.collect()
    if trained.get("status") != "trained":
        raise ValueError(f"the train stage did not train: {trained.get('reason')}")
    train_rows = int(trained["rows_in"])
    retrieval_s, retrieved = steps["training_frame"]
    fit_s, fit_rows = steps["fit"]
    training = {
        "anchor": anchor, "rows": train_rows,
        "stage_seconds": trained["seconds"], "stage_rows": rate(train_rows, trained["seconds"], cores),
        "feature_retrieval_seconds": round(retrieval_s, 3), "feature_retrieval_rows_in": retrieved,
        "feature_retrieval_rows": rate(retrieved, retrieval_s, cores),
        "xgboost_fit_seconds": round(fit_s, 3), "xgboost_train_rows": fit_rows,
        "xgboost_fit_rows": rate(fit_rows, fit_s, cores),
        "metrics": trained.get("metrics"),
        "listeners": trained.get("training_listeners"),
    }
    _say(f"training: {train_rows:,} rows in {trained['seconds']:.1f} s (stage: retrieval {retrieval_s:.1f} s, "
         f"XGBoost fit of {fit_rows:,} rows {fit_s:.1f} s)")
    (train_df, valid_df, feature_list, params, fit_seed), model = calls.pop("fit")
    training["model_sizes"] = model_sizes(train_df, valid_df, feature_list, params, fit_seed, model)
    del train_df, valid_df, model
    return training


def _scoring(config, spark, ds: str, cores: int) -> dict:
    """What the playlists stage does (jobs/playlists.py run → scoring_slices, score_frame)."""
    from setlist.jobs.playlists import score_frame, scoring_slices
    gc.collect()
    pctx = _context(config, "playlists", ds)
    score_retrieval_s = score_s = 0.0
    n_users = n_rows = 0
    feature_names, version = [], None
    before = PeakMemory.resident()
    with PeakMemory() as memory:
        for fetch_s, (frame, model) in timed_items(scoring_slices(pctx)):
            score_retrieval_s += fetch_s
            if model is None:
                raise ValueError(f"no current reranker in {config.models_dir}: run the benchmark with the train "
                                 f"stage (or `setlist run train --ds {ds}`) first")
            feature_names, version = model.features, model.version
            n_users += int(frame["user_id"].nunique())      # a slice holds whole listeners
            n_rows += len(frame)
            t0 = _now()
            score_frame(spark, frame, model).write.format("noop").mode("overwrite").save()
            score_s += _now() - t0
            del frame
            gc.collect()
    _say(f"scored {n_rows:,} candidates of {n_users:,} users with model {version}")
    scoring = {
        "users": n_users, "rows": n_rows, "model_version": version,
        "seconds": round(score_s, 3), "users_rate": rate(n_users, score_s, cores),
        "rows_rate": rate(n_rows, score_s, cores),
        "feature_retrieval_seconds": round(score_retrieval_s, 3),
        "with_retrieval_users": rate(n_users, score_s + score_retrieval_s, cores),
        "model_features": len(feature_names),
        "driver_resident_gb": {"before": round(before / 2**30, 2), "peak": round(memory.peak / 2**30, 2)},
    }
    _say(f"scoring: {n_users:,} users in {score_s:.1f} s (+ {score_retrieval_s:.1f} s feature retrieval); "
         f"driver resident memory {before / 2**30:.2f} GB before, {memory.peak / 2**30:.2f} GB at its peak")
    return scoring
