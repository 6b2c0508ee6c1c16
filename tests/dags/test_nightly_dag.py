"""The Airflow DAG: imports cleanly, and runs every stage in-process."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import DEMO_END, assert_same_tables, snapshot

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def airflow_db():
    from airflow.utils import db
    db.resetdb()


def test_dagbag_has_no_import_errors(airflow_db):
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    dag = bag.get_dag("setlist_nightly")
    assert [t.task_id for t in dag.topological_sort()] == [
        "ingest", "clean", "features", "candidates", "train", "playlists", "audit", "export"]
    assert dag.catchup is False
    assert all(t.retries == 2 for t in dag.tasks)


@pytest.mark.e2e
def test_dag_run_succeeds_and_reproduces_the_cli_tables(airflow_db, demo, spark, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag
    from setlist.storage import Lake
    monkeypatch.setenv("SETLIST_HOME", str(demo.home))
    lake = Lake.from_config(demo, spark)
    before = snapshot(lake)
    dag = DagBag(dag_folder=str(DAGS)).get_dag("setlist_nightly")
    for t in dag.tasks:   # a failure should fail the test now, not after the production retry delays
        t.retries = 0
    run = dag.test(logical_date=datetime.fromisoformat(DEMO_END).replace(tzinfo=timezone.utc))
    assert str(run.state) in ("success", "DagRunState.SUCCESS")
    assert_same_tables(before, snapshot(lake))
