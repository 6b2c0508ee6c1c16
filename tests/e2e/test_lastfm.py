"""Real data end to end: Last.fm HetRec 2011 through ingest → ... → audit → export."""

from __future__ import annotations

import json

import pytest

from setlist import cli
from setlist.config import load_config
from setlist.pipeline import run_stage
from setlist.storage import Lake
from tests.conftest import DATASETS, require_services

pytestmark = pytest.mark.e2e
SRC = DATASETS / "lastfm-hetrec2011"


@pytest.fixture(scope="module")
def lastfm_home(spark, tmp_path_factory):
    if not SRC.exists():
        if require_services():
            pytest.fail(f"{SRC} is missing; CI needs ../shared/datasets beside the checkout")
        pytest.skip(f"{SRC} not found beside the checkout")
    home = tmp_path_factory.mktemp("lastfm")
    assert cli.main(["ingest", "--source", "lastfm-hetrec", str(SRC), "--days", "4", "--sample", "150",
                     "--home", str(home)]) == 0
    cfg = load_config("local", home)
    days = json.loads((home / "raw" / "_adapter.json").read_text())["ds_list"]
    run_stage("features", days[-2], cfg)
    run_stage("candidates", days[-2], cfg)
    for stage in ("features", "candidates", "train", "playlists", "audit", "export"):
        run_stage(stage, days[-1], cfg)
    return cfg, days


def test_real_listening_flows_through_every_stage(lastfm_home, spark):
    cfg, days = lastfm_home
    lake = Lake.from_config(cfg, spark)
    adapter = json.loads((cfg.raw_dir / "_adapter.json").read_text())
    events = sum(lake.read("silver", "listening_events", ds=d).count() for d in days)
    quarantined = sum(lake.read("quarantine", "listening_events", ds=d).count() for d in days)
    assert events + quarantined == adapter["rows"]["listening_events"]
    assert quarantined == 0
    run = json.loads((cfg.reports_dir(days[-1]) / "run.json").read_text())
    assert run["stages"]["train"]["status"] == "trained"
    audit = json.loads((cfg.reports_dir(days[-1]) / "audit.json").read_text())
    assert audit["exposure"]["playlists"] == 150
    assert audit["exposure"]["artists_exposed"] > 100
    assert (cfg.reports_dir(days[-1]) / "governance.html").exists()
    pl = lake.read("gold", "playlists", ds=days[-1])
    assert pl.select("user_id").distinct().count() == 150
