"""The ``setlist`` command line.

    setlist generate --tier xs --days 7 --seed 0
    setlist ingest --source lastfm-hetrec PATH
    setlist run STAGE|all --ds 2026-11-23
    setlist demo [--tier xs]
    setlist export verify DIR

Global options (every verb): ``--home DIR`` (else $SETLIST_HOME, else
./.setlist) and ``--profile local|cluster|PATH.yaml``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date, timedelta

from setlist.pipeline import STAGES


def _common(p):
    p.add_argument("--home", help="Setlist home folder (default: $SETLIST_HOME, else ./.setlist)")
    p.add_argument("--profile", help="profile name (local, cluster) or a YAML path (default: local)")


def _config(args):
    from setlist.config import load_config
    return load_config(args.profile, args.home)


def cmd_generate(args) -> int:
    from setlist.data.generate import generate
    cfg = _config(args)
    summary = generate(cfg.home, tier=args.tier, days=args.days, seed=args.seed, end_ds=args.end_ds,
                       inject_bad=args.inject_bad, progress=lambda m: print(f"[generate] {m}", file=sys.stderr))
    print(json.dumps({k: summary[k] for k in ("tier", "ds_list", "rows", "injected")}, indent=2))
    return 0


def cmd_ingest(args) -> int:
    from setlist.data.adapters import ADAPTERS
    from setlist.pipeline import run_stage
    cfg = _config(args)
    kw = {"days": args.days}
    if args.end_ds:
        kw["end_ds"] = args.end_ds
    if args.sample:
        kw["sample_users" if args.source == "lastfm-hetrec" else "sample_playlists"] = args.sample
    summary = ADAPTERS[args.source](args.path, cfg.home, progress=lambda m: print(f"[{args.source}] {m}", file=sys.stderr), **kw)
    for ds in summary["ds_list"]:
        for stage in ("ingest", "clean"):
            run_stage(stage, ds, cfg)
    print(json.dumps({"source": args.source, "ds_list": summary["ds_list"], "rows": summary["rows"]}, indent=2))
    return 0


def cmd_run(args) -> int:
    from setlist.pipeline import run_all, run_stage
    cfg = _config(args)
    if args.stage == "all":
        stats = run_all(args.ds, cfg)
    else:
        stats = {args.stage: run_stage(args.stage, args.ds, cfg)}
    print(json.dumps({s: {k: v for k, v in st.items() if k in ("rows_in", "rows_out", "rows_quarantined",
                                                                "seconds", "status")}
                      for s, st in stats.items()}, indent=2))
    return 0


def cmd_demo(args) -> int:
    """Generate a few days, build history for the earlier ones, run every stage for the last.

    The day before the last also gets candidates, playlists and an audit: the
    reranker learns from what listeners did after those candidates, the audit
    compares experiment arms on the listening that followed those playlists,
    and the report has a previous run to show trends against."""
    from setlist.data.generate import generate
    from setlist.pipeline import run_all, run_stage
    cfg = _config(args)
    t0 = time.perf_counter()
    summary = generate(cfg.home, tier=args.tier, days=args.days, seed=args.seed, end_ds=args.end_ds,
                       inject_bad=args.inject_bad, progress=lambda m: print(f"[generate] {m}", file=sys.stderr))
    days = summary["ds_list"]
    last = days[-1]
    anchor = (date.fromisoformat(last) - timedelta(days=cfg.model.label_horizon_days)).isoformat()
    for ds in days[:-1]:
        run_stage("ingest", ds, cfg)
        run_stage("clean", ds, cfg)
    if anchor in days[:-1]:
        for stage in ("features", "candidates", "playlists", "audit"):
            run_stage(stage, anchor, cfg)
    run_all(last, cfg)
    seconds = time.perf_counter() - t0
    reports, exports = cfg.reports_dir(last), cfg.exports_dir(last)
    print(f"\nSetlist demo ({args.tier}, {len(days)} days) finished in {seconds:.0f} s.\n"
          f"  governance report: {reports / 'governance.html'}\n"
          f"  audit (JSON):      {reports / 'audit.json'}\n"
          f"  run report:        {reports / 'run.json'}\n"
          f"  label exports:     {exports}/<label_id>/\n"
          f"  models:            {cfg.models_dir}")
    return 0


def cmd_export(args) -> int:
    from pathlib import Path
    from setlist.jobs.export import verify_bundle
    dirs = [Path(args.dir)]
    if not (dirs[0] / "manifest.json").exists():
        dirs = sorted(p for p in dirs[0].iterdir() if (p / "manifest.json").exists())
    if not dirs:
        print(f"no bundle (manifest.json) found in {args.dir}", file=sys.stderr)
        return 2
    bad = 0
    for d in dirs:
        problems = verify_bundle(d)
        bad += bool(problems)
        print(f"{d}: " + ("OK" if not problems else "FAILED\n  " + "\n  ".join(problems)))
    return 1 if bad else 0


def cmd_export_period(args) -> int:
    from setlist.jobs.export import ReconciliationError, run_period
    if not args.period:
        print("setlist export: give --period YYYY-MM or the verb `verify DIR`", file=sys.stderr)
        return 2
    try:
        result = run_period(args.period, _config(args))
    except ReconciliationError as exc:
        print(f"setlist: export failed: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_evaluate(args) -> int:
    import os
    from pathlib import Path
    from setlist import evaluate
    cfg = _config(args)
    data_dir = Path(args.data_dir or os.environ.get("SETLIST_DATA_DIR")
                    or Path(__file__).resolve().parents[1].parent / "shared" / "datasets")
    result = evaluate.run(args.dataset, data_dir=data_dir, out=Path(args.out), config=cfg, seed=args.seed,
                          sample=args.sample)
    print(json.dumps(result, indent=2))
    return 0


# One module per benchmark, each with run(config, tier, seed, days) -> dict of figures.
BENCHMARKS = {
    "features": "setlist.bench",
    "ranking": "setlist.bench_ranking",
    "playlists": "setlist.bench_playlists",
}


def cmd_bench(args) -> int:
    import importlib
    cfg = _config(args)
    module = importlib.import_module(BENCHMARKS[args.what])
    extra = {}
    if args.stages is not None:
        if args.what != "ranking":
            raise ValueError("--stages applies to `setlist bench ranking` only")
        extra["stages"] = args.stages
    print(json.dumps(module.run(cfg, tier=args.tier, seed=args.seed, days=args.days, **extra), indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="setlist", description="Setlist: nightly playlists, held to account.")
    sub = ap.add_subparsers(dest="verb", required=True)

    g = sub.add_parser("generate", help="write deterministic synthetic raw data for N days")
    g.add_argument("--tier", choices=("xs", "s", "m", "l"), default="xs")
    g.add_argument("--days", type=int, default=7)
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--end-ds", default="2026-11-23", help="last logical date generated")
    g.add_argument("--inject-bad", type=int, default=0, metavar="N",
                   help="append N bad rows per quarantine reason to the last day's events")
    _common(g)
    g.set_defaults(func=cmd_generate)

    i = sub.add_parser("ingest", help="map a real public dataset onto the contract, then ingest and clean it")
    i.add_argument("--source", choices=("lastfm-hetrec", "mpd"), required=True)
    i.add_argument("path", help="the dataset folder, e.g. ../shared/datasets/lastfm-hetrec2011")
    i.add_argument("--days", type=int, default=14)
    i.add_argument("--end-ds", default=None)
    i.add_argument("--sample", type=int, default=None, help="keep only the first N users / playlists")
    _common(i)
    i.set_defaults(func=cmd_ingest)

    r = sub.add_parser("run", help="run one stage (or all) for a logical date")
    r.add_argument("stage", choices=(*STAGES, "all"))
    r.add_argument("--ds", required=True, help="logical date, YYYY-MM-DD")
    _common(r)
    r.set_defaults(func=cmd_run)

    d = sub.add_parser("demo", help="generate a few days and run the nightly pipeline end to end")
    d.add_argument("--tier", choices=("xs", "s", "m", "l"), default="xs")
    d.add_argument("--days", type=int, default=4)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--end-ds", default="2026-11-23")
    d.add_argument("--inject-bad", type=int, default=0, metavar="N",
                   help="also inject N bad rows per quarantine reason into the last day")
    _common(d)
    d.set_defaults(func=cmd_demo)

    ev = sub.add_parser("evaluate", help="offline evaluation of the reranker against baselines on one split")
    ev.add_argument("--dataset", choices=("synthetic", "lastfm", "mpd"), required=True)
    ev.add_argument("--data-dir", default=None,
                    help="folder holding the datasets (default: $SETLIST_DATA_DIR, else ../shared/datasets)")
    ev.add_argument("--out", required=True, help="folder for evaluation.json")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--sample", type=int, default=None, help="evaluate on the first N users / test playlists")
    _common(ev)
    ev.set_defaults(func=cmd_evaluate)

    b = sub.add_parser("bench", help="benchmarks that print figures (never part of the tests)")
    b.add_argument("what", choices=tuple(BENCHMARKS))
    b.add_argument("--tier", choices=("xs", "s", "m", "l"), default="s")
    b.add_argument("--days", type=int, default=7)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--stages", default=None, metavar="LIST",
                   help="ranking only: a comma list of candidates,train,scoring to measure (default: all); "
                        "a stage left out reuses what the home already holds")
    _common(b)
    b.set_defaults(func=cmd_bench)

    e = sub.add_parser("export", help="label export tools: monthly bundles (--period) or verify DIR")
    _common(e)
    e.add_argument("--period", metavar="YYYY-MM",
                   help="write the month's label bundles to <home>/exports/<YYYY-MM>/<label_id>/")
    e.set_defaults(func=cmd_export_period)
    esub = e.add_subparsers(dest="export_verb", required=False)
    v = esub.add_parser("verify", help="re-check a bundle (or a folder of bundles) against its manifest")
    v.add_argument("dir")
    v.set_defaults(func=cmd_export)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"setlist: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
