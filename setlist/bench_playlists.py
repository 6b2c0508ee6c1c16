"""Benchmark of the playlists stage: speed, sequencing and exposure-aware re-ranking.

Run by hand, never by the tests::

    setlist bench playlists --tier s --days 7 --home /tmp/bench-pl-s
    setlist bench playlists --tier xs --days 4 --home /tmp/bench-pl-xs   # a quick smoke run

What it does, for the last logical date ``ds`` of the generated data:

1. **Data**: generates the tier and brings silver up to date
   (``setlist.bench.prepare``), runs ``features`` and ``candidates`` for ds
   and for the training anchor ``ds - model.label_horizon_days``, and
   ``train`` when no reranker is current; every output already present is
   reused. Then the whole ``playlists`` stage runs once (timed, for context).
2. **Speed** (goal: >= 5,000 listeners per second per core), the stage's own
   functions on Spark, each forced by a ``noop`` write (every row computed,
   nothing written):

   * ``xgboost_rerank``: ``playlists.rerank`` (XGBoost scores through
     ``score_frame``, then each listener's top ``candidates_per_user``) on
     each slice of ``playlists.scoring_slices`` (candidates with their Feast
     features; the retrieval is timed apart), with the profile's shortlist;
     with a shortlist on, each slice is also reranked with every candidate
     scored by the whole model (alternating which goes first), timed apart,
     and ``shortlist.exact_top_kept`` gives the share of each listener's
     exact top 10, 20 and ``candidates_per_user`` the shortlist keeps;
   * ``policy_and_sequence``: ``playlists.playlists_on_spark`` (controls,
     overrides, arms, fair re-ranking, exploration, sequencing, reasons) over
     the enriched pool (``playlists.enrich``) and the listeners' controls,
     both written to parquet first, not timed with it;
   * ``rerank_plus_sequence``: the two together.

   Listeners = listeners with a personalised pool. Per core = over the cores
   Spark uses (N of ``local[N]``). Also ``build_playlists`` in this process
   on a sample of listeners, in CPU microseconds per listener (no Spark).
3. **Sequencing** on the stage's output (``gold.playlists``, personalised
   listeners): mean transition cost (``sequencing`` formula and weights from
   the profile) of Setlist's order, of the same tracks in score order and in
   a random order (seeded by ``--seed``), the share of transitions between
   two tracks of one artist, and the relevance sequencing costs: NDCG@10 of
   each order against the reranked order (the track of reranked rank r of n
   has gain n - r; ``sequencing.ndcg_vs_ranked``).
4. **Exposure-aware re-ranking**, the ``fair`` policy (``target_share`` of the
   profile's fair arm) against ``control``, through ``playlist_policy.select_rows``:

   * tier s: the sample's listeners without a novelty setting (the fair
     policy yields to a listener's novelty), their own candidates and
     controls, no exploration. NDCG@10 of the fair list against the
     unconstrained (control) list: a track's gain is n - r for control rank r
     of n, 0 when control did not pick it. Protected = the stage's
     ``protected`` flag (long-tail track or emerging artist). Exposure share
     of protected tracks with position weight 1/log2(1 + position), in rank
     order and as served (after sequencing, ``build_playlists``).
   * the MPD subset (``$SETLIST_DATA_DIR``, else ``../shared/datasets``):
     1,000 playlists with >= 20 tracks (seeded); the first half of each is
     visible, the second half held out. Candidates: the 100 tracks that
     co-occur most often with the visible tracks in the other playlists
     (count of (playlist, visible track) pairs; visible tracks excluded).
     Protected = long-tail track: below ``playlists.long_tail_percentile`` in
     percent rank of the number of other playlists holding it (the stage's
     definition with playlists for plays; MPD has no debut years, so no
     emerging artists). NDCG@10 against the held-out tracks (binary gain)
     and against the unconstrained list; exposure share in rank order.

The figures are wall-clock seconds on whatever the machine is doing at the
time: the load averages before and after are returned. The returned dict is
printed as JSON by the CLI; progress goes to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import numpy as np

GOAL = ">= 5,000 listeners/s/core for rerank + sequence"
# The stages whose outputs the playlists stage reads, with the table that shows a stage ran for ds.
UPSTREAM = (("features", "gold", "user_profile_long"), ("candidates", "gold", "candidates"))
SAMPLE_LISTENERS = 2_000
MPD_TEST_PLAYLISTS = 1_000
MPD_MIN_TRACKS = 20
K = 10


def _say(message: str) -> None:
    print(f"[bench playlists] {message}", file=sys.stderr, flush=True)


def _now() -> float:
    return time.perf_counter()


def _shift(ds: str, days: int) -> str:
    return (date.fromisoformat(ds) + timedelta(days=days)).isoformat()


def _rate(listeners: int, seconds: float, cores: int) -> dict:
    per_s = listeners / seconds if seconds > 0 else float("nan")
    return {"seconds": round(seconds, 2), "listeners_per_s": round(per_s, 1),
            "listeners_per_s_per_core": round(per_s / cores, 1)}


# --- 1. data ------------------------------------------------------------------------
def prepare(config, tier: str, seed: int, days: int) -> str:
    """Raw data and silver (as the feature benchmark does), then features and
    candidates for the anchor date and the last date, and the reranker trained
    on the anchor; every step whose output is already present is reused.
    Returns the last date, the one the benchmark measures."""
    from setlist.bench import prepare as prepare_silver
    from setlist.models import ModelStore
    from setlist.pipeline import run_stage
    from setlist.storage import Lake

    ds_list = prepare_silver(config, tier, seed, days)
    ds = ds_list[-1]
    anchor = _shift(ds, -config.model.label_horizon_days)
    lake = Lake(config.lake_root, config.storage.engine)
    for day in ([anchor] if anchor in ds_list else []) + [ds]:
        for stage, layer, table in UPSTREAM:
            if lake.exists(layer, table) and day in lake.partitions(layer, table):
                _say(f"{day}: {stage} present, reused")
                continue
            t0 = _now()
            run_stage(stage, day, config)
            _say(f"{day}: {stage} in {_now() - t0:.0f} s")
    if ModelStore(config.models_dir / "reranker").current_version() is None:
        t0 = _now()
        run_stage("train", ds, config)
        _say(f"{ds}: train in {_now() - t0:.0f} s")
    else:
        _say("reranker present, reused")
    return ds


# --- 2. speed -----------------------------------------------------------------------
def speed(config, ds: str, scratch: Path, cores: int) -> dict:
    """Rerank and sequence on Spark, each forced by a noop write; writes the
    enriched pool to ``scratch/pool`` for the steps after."""
    from pyspark.sql import functions as F

    from setlist.bench_ranking import timed_items
    from setlist.context import StageContext
    from setlist.jobs import playlists
    from setlist.spark import get_spark
    from setlist.storage import Lake

    spark = get_spark(config)
    ctx = StageContext(stage="playlists", ds=ds, config=config, spark=spark, lake=Lake.from_config(config, spark))
    pc = config.playlists
    scored_path, exact_path = str(scratch / "scored"), str(scratch / "scored_exact")
    shortlist = playlists.shortlist_of(pc)
    retrieval_s = rerank_s = exact_s = 0.0
    candidates, version, compared = 0, None, False
    for n_slice, (fetch_s, (frame, model)) in enumerate(timed_items(playlists.scoring_slices(ctx))):
        retrieval_s += fetch_s
        candidates += len(frame)
        version = model.version if model is not None else None
        compared = shortlist is not None and model is not None
        # With a shortlist, every candidate scored by the whole model too, in alternating order.
        runs = [(shortlist, scored_path), (None, exact_path)] if compared else [(shortlist, scored_path)]
        for short, path in (runs if n_slice % 2 == 0 else runs[::-1]):
            t0 = _now()
            playlists.rerank(spark, frame, model, pc.candidates_per_user, short).write.format("noop") \
                .mode("overwrite").save()
            if short is shortlist:
                rerank_s += _now() - t0
            else:
                exact_s += _now() - t0
            playlists.rerank(spark, frame, model, pc.candidates_per_user, short).write \
                .mode("append" if n_slice else "overwrite").parquet(path)
        del frame
        gc.collect()
    _say(f"scoring input: {candidates:,} candidates (model {version}), Feast retrieval {retrieval_s:.1f} s; "
         f"xgboost rerank: {rerank_s:.1f} s" + (f" ({exact_s:.1f} s without the shortlist)" if compared else ""))

    t0 = _now()
    users = (ctx.lake.read("silver", "users", ds=ds)
             .where(F.col("personalisation_consent") & ~F.col("is_deleted")).select("user_id"))
    pool_path = str(scratch / "pool")
    playlists.enrich(ctx, spark.read.parquet(scored_path), users).write.mode("overwrite").parquet(pool_path)
    enrich_s = _now() - t0
    controls_path = str(scratch / "controls")
    (ctx.lake.read("silver", "user_controls", ds=ds).join(users, "user_id", "left_semi")
     .select("user_id", *playlists.CONTROL_COLS).write.mode("overwrite").parquet(controls_path))
    pool = spark.read.parquet(pool_path)
    listeners = pool.select("user_id").distinct().count()
    pool_rows = pool.count()
    _say(f"enriched pool: {pool_rows:,} rows, {listeners:,} listeners, written in {enrich_s:.1f} s")

    cfg = playlists.policy_config(pc)
    t0 = _now()
    playlists.playlists_on_spark(pool, cfg, ds, spark.read.parquet(controls_path)).write.format("noop").mode("overwrite").save()
    sequence_s = _now() - t0
    _say(f"policy and sequence: {sequence_s:.1f} s")
    return {
        "listeners": listeners, "candidates_scored": candidates, "pool_rows": pool_rows,
        "model_version": version,
        "feast_retrieval_seconds": round(retrieval_s, 2),
        "enrich_and_write_seconds": round(enrich_s, 2),
        "xgboost_rerank": _rate(listeners, rerank_s, cores),
        "policy_and_sequence": _rate(listeners, sequence_s, cores),
        "rerank_plus_sequence": _rate(listeners, rerank_s + sequence_s, cores),
        "shortlist": ({"trees": shortlist[0], "size": shortlist[1],
                       "xgboost_rerank_without_it": _rate(listeners, exact_s, cores),
                       "exact_top_kept": shortlist_agreement(scored_path, exact_path, (10, 20, pc.candidates_per_user))}
                      if compared else None),
    }


def shortlist_agreement(scored_path: str, exact_path: str, ks) -> dict:
    """For each k of ``ks``: the share of the (listener, track) pairs of each
    listener's exact top k (every candidate scored by the whole model) that
    the shortlisted top k holds (ranks by score, ties by track_id)."""
    import pandas as pd

    def top(path: str, k: int) -> pd.DataFrame:
        t = pd.read_parquet(path, columns=["user_id", "track_id", "score"])
        t = t.sort_values(["user_id", "score", "track_id"], ascending=[True, False, True], kind="stable")
        return t.groupby("user_id").head(k)[["user_id", "track_id"]]

    out = {}
    for k in ks:
        exact = top(exact_path, k)
        out[f"top_{k}"] = round(len(exact.merge(top(scored_path, k), on=["user_id", "track_id"])) / len(exact), 6)
    return out


def sample_pool(scratch: Path, seed: int, n: int):
    """The enriched pool of ``n`` listeners drawn with ``seed`` (pandas), each
    row with its listener's controls."""
    import pyarrow.dataset as pads
    data = pads.dataset(str(scratch / "pool"), format="parquet")
    users = np.unique(data.to_table(columns=["user_id"]).column(0).to_numpy(zero_copy_only=False))
    chosen = pads.field("user_id").isin(np.random.default_rng(seed).choice(users, size=min(n, len(users)),
                                                                             replace=False).tolist())
    controls = pads.dataset(str(scratch / "controls"), format="parquet").to_table(filter=chosen).to_pandas()
    return data.to_table(filter=chosen).to_pandas().merge(controls, on="user_id", how="left")


def in_process(sample, cfg, ds: str) -> dict:
    """``build_playlists`` on the sample in this process: CPU time per listener."""
    from setlist.jobs import playlists
    listeners = sample["user_id"].nunique()
    t0, w0 = time.process_time(), _now()
    out = playlists.build_playlists(sample, cfg, ds)
    cpu, wall = time.process_time() - t0, _now() - w0
    return {"listeners": int(listeners), "rows": int(len(out)),
            "cpu_us_per_listener": round(cpu / listeners * 1e6, 1),
            "listeners_per_cpu_second": round(listeners / cpu, 1), "wall_seconds": round(wall, 2)}


# --- 3. sequencing ------------------------------------------------------------------
def transition_figures(lists, seq, seed: int) -> dict:
    """Mean transition cost, same-artist transitions and NDCG@10 against the
    reranked order, for Setlist's order, score order and a random order.

    ``lists``: one row per track with user_id, position, score, track_id,
    artist_id, tempo, energy, key, mode.
    """
    from setlist.jobs import sequencing
    df = lists.sort_values(["user_id", "position"], kind="stable").reset_index(drop=True)
    df["rank"] = (df.sort_values(["user_id", "score", "track_id"], ascending=[True, False, True], kind="stable")
                  .groupby("user_id").cumcount().reindex(df.index))
    df["random"] = np.random.default_rng(seed).random(len(df))
    orders = {"setlist": ["user_id", "position"], "score": ["user_id", "rank"], "random": ["user_id", "random"]}
    raw = {}
    for name, by in orders.items():
        o = df.sort_values(by, kind="stable").reset_index(drop=True)
        cost = sequencing.consecutive_costs(o["tempo"].to_numpy(float), o["energy"].to_numpy(float),
                                            o["key"].to_numpy(float), o["mode"].to_numpy(float), seq)
        within = o["user_id"].to_numpy()[1:] == o["user_id"].to_numpy()[:-1]
        same_artist = o["artist_id"].to_numpy()[1:] == o["artist_id"].to_numpy()[:-1]
        ndcg = [sequencing.ndcg_vs_ranked(g.tolist(), K)
                for g in _groups(o["user_id"].to_numpy(), o["rank"].to_numpy())]
        raw[name] = (float(cost[within].mean()), float(same_artist[within].mean()), float(np.mean(ndcg)))
    out = {name: {"mean_transition_cost": round(c, 4), "same_artist_transition_share": round(a, 4),
                  f"ndcg@{K}_vs_reranked": round(n, 4)} for name, (c, a, n) in raw.items()}
    out["cost_reduction_vs_score_order"] = round(1 - raw["setlist"][0] / raw["score"][0], 4)
    out["cost_reduction_vs_random_order"] = round(1 - raw["setlist"][0] / raw["random"][0], 4)
    out["relevance_cost_of_sequencing"] = round(1 - raw["setlist"][2], 4)
    out["listeners"] = int(df["user_id"].nunique())
    out["transitions"] = int(len(df) - out["listeners"])
    return out


def _groups(keys: np.ndarray, values: np.ndarray):
    """Consecutive runs of equal ``keys``: the matching slices of ``values``."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.split(values, starts[1:])


def sequencing_on_stage_output(config, ds: str, seed: int) -> dict:
    from setlist.jobs.sequencing import SequencingConfig
    from setlist.storage import Lake
    lake = Lake(config.lake_root, config.storage.engine)
    pl = lake.read_pandas("gold", "playlists", ds=ds, columns=["user_id", "position", "track_id", "artist_id",
                                                                "score", "personalised"])
    pl = pl[pl["personalised"]].drop(columns="personalised")
    audio = lake.read_pandas("silver", "tracks", ds=ds, columns=["track_id", "tempo", "energy", "key", "mode"])
    return transition_figures(pl.merge(audio, on="track_id", how="left"),
                              SequencingConfig(**config.playlists.sequencing), seed)


# --- 4. exposure-aware re-ranking -----------------------------------------------------
def position_weights(n: int) -> np.ndarray:
    """v_j = 1 / log2(1 + j) for positions j = 1..n."""
    return 1.0 / np.log2(np.arange(2, n + 2))


def protected_exposure(lists) -> float:
    """Share of position-weighted exposure that goes to protected tracks;
    ``lists``: one boolean sequence per list, in position order."""
    shown = prot = 0.0
    for flags in lists:
        v = position_weights(len(flags))
        shown += v.sum()
        prot += v[np.asarray(flags, dtype=bool)].sum()
    return prot / shown if shown else float("nan")


def ndcg_vs_list(got, reference, k: int = K) -> float:
    """NDCG@k of ``got`` against ``reference`` (both sequences of track ids):
    the track at reference rank r (0-based, of n) has gain n - r, any other 0."""
    n = len(reference)
    if n == 0:
        return 1.0
    gain = {t: n - r for r, t in enumerate(reference)}
    disc = position_weights(k)
    dcg = sum(gain.get(t, 0) * disc[p] for p, t in enumerate(got[:k]))
    ideal = sum((n - r) * disc[r] for r in range(min(k, n)))
    return dcg / ideal


def ndcg_held_out(got, relevant: set, k: int = K) -> float:
    """NDCG@k with gain 1 for tracks in ``relevant``."""
    if not relevant:
        return float("nan")
    disc = position_weights(k)
    dcg = sum(disc[p] for p, t in enumerate(got[:k]) if t in relevant)
    return dcg / disc[:min(k, len(relevant))].sum()


def _arms(config):
    from setlist.jobs import playlist_policy as policy
    fair = next((a for a in config.playlists.arms if a.get("policy") == "fair"), None)
    share = float(fair["target_share"]) if fair else 0.3
    return policy.Arm("control", 1.0), policy.Arm("fair", 1.0, policy="fair", target_share=share), share


def _summary(per_arm: dict, share: float, held_out: bool) -> dict:
    c, f = per_arm["control"], per_arm["fair"]
    out = {"target_share": share, "lists": len(c["ndcg_vs_control"]),
           "exposure_share_protected": {"control": round(c["exposure"], 4), "fair": round(f["exposure"], 4)},
           "exposure_gain_points": round(100 * (f["exposure"] - c["exposure"]), 2),
           f"ndcg@{K}_vs_unconstrained": {"control": 1.0, "fair": round(float(np.mean(f["ndcg_vs_control"])), 4)},
           "ndcg_cost_vs_unconstrained": round(1 - float(np.mean(f["ndcg_vs_control"])), 4)}
    if held_out:
        hc, hf = np.nanmean(c["ndcg_held_out"]), np.nanmean(f["ndcg_held_out"])
        out[f"ndcg@{K}_held_out"] = {"control": round(float(hc), 4), "fair": round(float(hf), 4)}
        out["ndcg_cost_held_out"] = round(float(hc - hf), 4)
        out["ndcg_cost_held_out_relative"] = round(float((hc - hf) / hc), 4) if hc else None
    return out


def _rank_lists(cands: dict, controls_of, cfg, arms) -> dict:
    """``select_rows`` per list and arm: {arm: {list key: [row positions]}}."""
    from setlist.jobs import playlist_policy as policy
    out = {a.name: {} for a in arms}
    for key, cand in cands.items():
        for a in arms:
            rows, _, _ = policy.select_rows(cand, controls_of(key), a, cfg)
            out[a.name][key] = rows
    return out


def fair_on_tier(sample, config, ds: str) -> dict:
    """Fair vs control on the sampled listeners' own candidates (see the module docstring)."""
    import pandas as pd

    from setlist.jobs import playlist_policy as policy
    from setlist.jobs import playlists
    control, fair, share = _arms(config)
    base = dataclasses.replace(playlists.policy_config(config.playlists), exploration_share=0.0)
    no_novelty = sample.groupby("user_id")["novelty"].transform(lambda s: s.isna().all())
    sample = sample[no_novelty].reset_index(drop=True)
    cands, controls = {}, {}
    for user, g in sample.groupby("user_id", sort=True):
        cands[user] = policy.candidate_arrays(g)
        controls[user] = playlists.listener_controls({k: g[k].to_numpy() for k in playlists.CONTROL_COLS if k in g})
    ranked = _rank_lists(cands, controls.get, base, (control, fair))
    per_arm = {}
    for a in ("control", "fair"):
        lists = ranked[a]
        per_arm[a] = {
            "exposure": protected_exposure([cands[u]["protected"][r] for u, r in lists.items()]),
            "ndcg_vs_control": [ndcg_vs_list(cands[u]["track_id"][r].tolist(),
                                             cands[u]["track_id"][ranked["control"][u]].tolist())
                                for u, r in lists.items()]}
    out = _summary(per_arm, share, held_out=False)
    out["listeners"] = out.pop("lists")
    served = {}
    for arm in (control, fair):
        cfg = dataclasses.replace(base, arms=(arm,))
        pl = playlists.build_playlists(sample, cfg, ds)
        prot = sample.drop_duplicates(["user_id", "track_id"]).set_index(["user_id", "track_id"])["protected"]
        flags = prot.reindex(pd.MultiIndex.from_arrays([pl["user_id"], pl["track_id"]])).to_numpy(dtype=bool)
        served[arm.name] = round(protected_exposure(_groups(pl["user_id"].to_numpy(), flags)), 4)
    out["exposure_share_protected_served"] = served
    out["exposure_gain_points_served"] = round(100 * (served["fair"] - served["control"]), 2)
    return out


def _data_dir() -> Path:
    default = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
    return Path(os.environ.get("SETLIST_DATA_DIR") or default)


def mpd_candidates(path: Path, seed: int, long_tail_percentile: float, n_test: int = MPD_TEST_PLAYLISTS,
                   per_list: int = 100):
    """Co-occurrence candidates for held-out halves of MPD playlists (see the module docstring).
    Returns ({pid: candidate arrays}, {pid: held-out track set})."""
    import pandas as pd
    import scipy.sparse as sp

    from setlist.jobs import playlist_policy as policy
    rows = pd.read_csv(path, usecols=["pid", "pos", "track_uri", "artist_name"])
    rows = rows.sort_values(["pid", "pos"], kind="stable").drop_duplicates(["pid", "track_uri"])
    sizes = rows.groupby("pid").size()
    test = np.sort(np.random.default_rng(seed).choice(sizes.index[sizes >= MPD_MIN_TRACKS].to_numpy(),
                                                      size=n_test, replace=False))
    is_test = rows["pid"].isin(test)
    track_codes, tracks = pd.factorize(rows["track_uri"])
    rows = rows.assign(t=track_codes)
    train = rows[~is_test]
    p_codes, _ = pd.factorize(train["pid"])
    X = sp.csr_matrix((np.ones(len(train)), (p_codes, train["t"].to_numpy())), shape=(p_codes.max() + 1, len(tracks)))
    by_track = X.T.tocsr()
    popularity = np.asarray(X.sum(axis=0)).ravel()
    # percent rank of plays (here: playlists holding the track), as Spark's percent_rank: (min rank - 1) / (n - 1)
    min_rank = pd.Series(popularity).rank(method="min").to_numpy()
    long_tail = (min_rank - 1) / max(len(popularity) - 1, 1) < long_tail_percentile
    artist_of = rows.drop_duplicates("t").set_index("t")["artist_name"].reindex(np.arange(len(tracks))).to_numpy()
    cands, held = {}, {}
    for pid, g in rows[is_test].groupby("pid", sort=True):
        t = g["t"].to_numpy()
        half = len(t) // 2
        seen, hidden = t[:half], t[half:]
        # visible tracks per training playlist, then per track the sum over the playlists holding it
        co = by_track @ np.asarray(by_track[seen].sum(axis=0)).ravel()
        co[seen] = 0.0
        top = np.flatnonzero(co > 0)
        top = top[np.lexsort((top, -co[top]))][:per_list]
        n = len(top)
        if n == 0:
            continue
        cand = {"track_id": tracks[top].to_numpy(dtype=object), "artist_id": artist_of[top].astype(object),
                "score": co[top], "source": np.full(n, "coli", dtype=object), "played_before": np.zeros(n, bool),
                "protected": long_tail[top], "under_exposed": np.zeros(n, bool),
                "override_action": np.full(n, None, dtype=object)}
        cand["track_rank"] = policy.track_ranks(cand["track_id"])
        cands[pid] = cand
        held[pid] = set(tracks[hidden])
    return cands, held, float(long_tail.mean())


def fair_on_mpd(config, seed: int) -> dict:
    from setlist.jobs import playlists
    path = _data_dir() / "mpd-followers-ge10" / "playlist_tracks.csv.gz"
    if not path.exists():
        return {"unavailable": f"{path} not found (set SETLIST_DATA_DIR)"}
    t0 = _now()
    cands, held, tail_share = mpd_candidates(path, seed, config.playlists.long_tail_percentile,
                                             per_list=config.playlists.candidates_per_user)
    _say(f"mpd: candidates for {len(cands):,} playlists in {_now() - t0:.0f} s")
    control, fair, share = _arms(config)
    cfg = dataclasses.replace(playlists.policy_config(config.playlists), exploration_share=0.0)
    ranked = _rank_lists(cands, lambda key: {}, cfg, (control, fair))
    per_arm = {}
    for a in ("control", "fair"):
        lists = ranked[a]
        per_arm[a] = {
            "exposure": protected_exposure([cands[p]["protected"][r] for p, r in lists.items()]),
            "ndcg_vs_control": [ndcg_vs_list(cands[p]["track_id"][r].tolist(),
                                             cands[p]["track_id"][ranked["control"][p]].tolist())
                                for p, r in lists.items()],
            "ndcg_held_out": [ndcg_held_out(cands[p]["track_id"][r].tolist(), held[p]) for p, r in lists.items()]}
    out = _summary(per_arm, share, held_out=True)
    out["playlists"] = out.pop("lists")
    out["long_tail_share_of_catalogue"] = round(tail_share, 4)
    out["scorer"] = "co-occurrence with the visible half, in the other playlists"
    return out


# --- the benchmark --------------------------------------------------------------------
def run(config, tier: str = "s", seed: int = 0, days: int = 7) -> dict:
    """Run the playlists benchmark on ``config.home`` and return its figures (see the module docstring)."""
    # Feast prints progress on stdout, where the CLI prints the figures as JSON.
    with contextlib.redirect_stdout(sys.stderr):
        return _playlists(config, tier, seed, days)


def _playlists(config, tier: str, seed: int, days: int) -> dict:
    from setlist.bench_ranking import spark_cores
    from setlist.jobs import playlists
    from setlist.pipeline import run_stage
    from setlist.spark import get_spark

    load_before = os.getloadavg()
    ds = prepare(config, tier, seed, days)
    get_spark(config)
    cores = spark_cores(config.spark.master)
    scratch = config.home / "bench" / "playlists" / ds

    _say(f"playlists stage for {ds}")
    stage = run_stage("playlists", ds, config)
    _say(f"playlists stage in {stage['seconds']} s")

    _say("speed: rerank and sequence on Spark")
    fast = speed(config, ds, scratch, cores)
    cfg = playlists.policy_config(config.playlists)
    sample = sample_pool(scratch, seed, SAMPLE_LISTENERS)
    _say(f"in-process build_playlists on {sample['user_id'].nunique():,} listeners")
    fast["in_process"] = in_process(sample, cfg, ds)

    _say("sequencing figures on gold.playlists")
    seq = sequencing_on_stage_output(config, ds, seed)
    _say("fair re-ranking on the tier's sample")
    fair_tier = fair_on_tier(sample, config, ds)
    _say("fair re-ranking on the MPD subset")
    fair_mpd = fair_on_mpd(config, seed)

    return {
        "tier": tier, "days": days, "seed": seed, "ds": ds,
        "master": config.spark.master, "cores": cores,
        "stage": {k: stage.get(k) for k in ("seconds", "rows_out", "users_served", "fallback_users",
                                            "mean_transition_cost", "ndcg@10_vs_reranked_order")},
        "speed": fast,
        "sequencing": seq,
        "fair_reranking": {"tier": fair_tier, "mpd": fair_mpd},
        "loadavg_before": [round(x, 2) for x in load_before],
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "goal": GOAL,
    }
