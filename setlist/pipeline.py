"""The nightly flow: stage order and the one way to run a stage.

The CLI verbs and the Airflow tasks both call ``run_stage`` so a stage behaves
the same whoever starts it.
"""

from __future__ import annotations

import importlib
import time
from datetime import date

from setlist.config import Config, load_config
from setlist.runlog import progress, record

STAGES = ("ingest", "clean", "features", "candidates", "train", "playlists", "audit", "export")


def check_ds(ds: str) -> str:
    try:
        return date.fromisoformat(ds).isoformat()
    except (TypeError, ValueError):
        raise ValueError(f"--ds must be a date like 2026-11-23, got {ds!r}") from None


def run_stage(stage: str, ds: str, config: Config | None = None, profile: str | None = None,
              home=None) -> dict:
    """Run one stage for one logical date and record it in reports/<ds>/run.json."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    ds = check_ds(ds)
    config = config or load_config(profile, home)
    from setlist.context import StageContext
    from setlist.spark import get_spark
    from setlist.storage import Lake

    spark = get_spark(config)
    ctx = StageContext(stage=stage, ds=ds, config=config, spark=spark,
                       lake=Lake.from_config(config, spark))
    module = importlib.import_module(f"setlist.jobs.{stage}")
    progress(stage, ds, "started")
    t0 = time.perf_counter()
    stats = module.run(ctx) or {}
    stats["seconds"] = round(time.perf_counter() - t0, 2)
    record(config.reports_dir(ds), ds, stage, stats)
    progress(stage, ds, f"done in {stats['seconds']} s")
    return stats


def run_all(ds: str, config: Config | None = None, stages=STAGES, **kw) -> dict:
    config = config or load_config(kw.get("profile"), kw.get("home"))
    return {s: run_stage(s, ds, config) for s in stages}
