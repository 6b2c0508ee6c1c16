"""Shared fixtures: one SparkSession for the whole run, Airflow pointed at a
temporary home before anything imports it, and one xs demo pipeline that the
end-to-end, idempotence and DAG tests all read."""

from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path

import pytest

_AIRFLOW_HOME = tempfile.mkdtemp(prefix="setlist-airflow-")
os.environ.setdefault("AIRFLOW_HOME", _AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(Path(__file__).resolve().parents[1] / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ.setdefault("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME}/airflow.db")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
os.environ.setdefault("FEAST_USAGE", "False")

REPO = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("SETLIST_DATA_DIR", REPO.parent / "shared" / "datasets"))
DEMO_END = "2026-11-23"
DEMO_DAYS = ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]


def require_services() -> bool:
    return os.environ.get("SETLIST_REQUIRE_SERVICES") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "e2e: runs whole stages on generated or real data (slow)")


@pytest.fixture(scope="session")
def spark():
    from setlist.config import load_config
    from setlist.spark import get_spark
    cfg = load_config("local", tempfile.mkdtemp(prefix="setlist-spark-"))
    conf = {**cfg.spark.conf, "spark.sql.shuffle.partitions": "2", "spark.default.parallelism": "2"}
    cfg = dataclasses.replace(cfg, spark=dataclasses.replace(cfg.spark, conf=conf))
    session = get_spark(cfg)
    yield session
    session.stop()


@pytest.fixture
def lake(spark, tmp_path):
    from setlist.storage import Lake
    return Lake(tmp_path / "lake", "delta-rs", spark)


@pytest.fixture(scope="session")
def demo(spark, tmp_path_factory):
    """The README's demo on tier xs, with one bad row per reason injected into the last day."""
    from setlist import cli
    from setlist.config import load_config
    home = tmp_path_factory.mktemp("demo-home")
    assert cli.main(["demo", "--tier", "xs", "--days", "4", "--home", str(home), "--inject-bad", "1"]) == 0
    return load_config("local", home)


def snapshot(lake) -> dict:
    """Every table's content as sorted records, for comparing runs."""
    out = {}
    for layer, table in lake.tables():
        df = lake.read_pandas(layer, table)
        cols = sorted(df.columns)
        df = df[cols].astype(str).sort_values(cols).reset_index(drop=True)
        out[f"{layer}/{table}"] = df
    return out


def assert_same_tables(before: dict, after: dict) -> None:
    import pandas as pd
    assert sorted(before) == sorted(after)
    for name in before:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)
