"""Setlist's nightly DAG: one task per stage, in flow order.

Thin on purpose: each task calls the same ``run_stage`` the CLI calls, with
only the profile name and the logical date. Nothing heavy is imported at
parse time. Set SETLIST_HOME (and SETLIST_PROFILE for the cluster) in the
scheduler's and workers' environment.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from airflow.sdk import dag, task

from setlist.config import load_config
from setlist.pipeline import STAGES

PROFILE = os.environ.get("SETLIST_PROFILE", "local")
AIRFLOW = load_config(PROFILE).airflow


@dag(
    dag_id="setlist_nightly",
    description="Ingest → clean → features → candidates → train → playlists → audit → export",
    schedule=AIRFLOW.schedule,
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": AIRFLOW.retries, "retry_delay": timedelta(minutes=AIRFLOW.retry_delay_minutes)},
    tags=["setlist"],
)
def setlist_nightly():
    previous = None
    for stage in STAGES:
        @task(task_id=stage)
        def run(stage: str = stage, ds: str | None = None) -> dict:
            from setlist.pipeline import run_stage
            stats = run_stage(stage, ds, profile=PROFILE)
            return {k: stats.get(k) for k in ("rows_in", "rows_out", "rows_quarantined", "seconds", "status")}

        current = run()
        if previous is not None:
            previous >> current
        previous = current


setlist_nightly()
