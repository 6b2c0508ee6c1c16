"""Re-running every stage for the same ds changes no table."""

from __future__ import annotations

import pytest

from setlist.pipeline import run_all
from setlist.storage import Lake
from tests.conftest import DEMO_END, assert_same_tables, snapshot

pytestmark = pytest.mark.e2e


def test_rerunning_all_stages_changes_no_table(demo, spark):
    lake = Lake.from_config(demo, spark)
    before = snapshot(lake)
    run_all(DEMO_END, demo)
    assert_same_tables(before, snapshot(lake))
