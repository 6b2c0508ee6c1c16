"""The Airflow DAG: imports cleanly, and runs every stage in-process."""

from __future__ import annotations

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


@pytest.mark.e2e
def test_policy_breach_fails_the_audit_task(airflow_db, demo, spark, monkeypatch, tmp_path):
    """A `fail` rule that tonight's audit breaks fails the audit task, and so the DAG run."""
    import shutil
    from airflow.dag_processing.dagbag import DagBag
    from setlist.governance.policy import PolicyBreach
    from setlist.pipeline import run_stage
    strict = tmp_path / "strict.yaml"
    strict.write_text("version: 1\nrules:\n  - metric: exposure.artist_gini\n    max: 0.01\n"
                      "    severity: fail\n    why: test\n")
    reports = demo.reports_dir(DEMO_END)
    kept = tmp_path / "reports"
    shutil.copytree(reports, kept)
    monkeypatch.setenv("SETLIST_HOME", str(demo.home))
    monkeypatch.setenv("SETLIST_POLICY_FILE", str(strict))
    try:
        with pytest.raises(PolicyBreach, match=r"exposure.artist_gini = 0\.\d+ breaks the threshold <= 0.01"):
            run_stage("audit", DEMO_END)
        dag = DagBag(dag_folder=str(DAGS)).get_dag("setlist_nightly").partial_subset(
            task_ids=["audit"], include_upstream=False)
        for t in dag.tasks:
            t.retries = 0
        run = dag.test(logical_date=datetime.fromisoformat(DEMO_END).replace(tzinfo=timezone.utc))
        assert str(run.state) in ("failed", "DagRunState.FAILED")
        assert [ti.state for ti in run.get_task_instances()] == ["failed"]
    finally:
        shutil.rmtree(reports)
        shutil.copytree(kept, reports)
