"""Run reports and terminal progress.

Each stage records rows in / out / quarantined and seconds into
``<home>/reports/<ds>/run.json`` (one entry per stage, replaced on re-run), and
prints short progress lines to stderr so long stages are never silent.
"""

from __future__ import annotations

import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path


def progress(stage: str, ds: str, message: str) -> None:
    print(f"[{stage} {ds}] {message}", file=sys.stderr, flush=True)


def read_run(reports_dir: Path) -> dict:
    p = Path(reports_dir) / "run.json"
    return json.loads(p.read_text()) if p.exists() else {"stages": {}}


def record(reports_dir: Path, ds: str, stage: str, entry: dict) -> None:
    reports_dir = Path(reports_dir)
    reports_dir.mkdir(parents=True, exist_ok=True)
    run = read_run(reports_dir)
    run["ds"] = ds
    run.setdefault("stages", {})[stage] = entry
    (reports_dir / "run.json").write_text(json.dumps(run, indent=2, sort_keys=True, default=str))


@contextmanager
def timed():
    t = {"start": time.perf_counter()}
    yield t
    t["seconds"] = round(time.perf_counter() - t["start"], 2)
