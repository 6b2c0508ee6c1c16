"""Revenue splits, rounding and bundle verification."""

from __future__ import annotations

import json
from decimal import Decimal

import pandas as pd
import pytest

from setlist.jobs import export


def test_largest_remainder_sums_exactly_to_the_pool():
    # 100.00 over 3 equal artists: 33.33 each, the spare cent to the first by id.
    got = export.largest_remainder(Decimal("100.00"), {"b": 1, "a": 1, "c": 1})
    assert got == {"a": Decimal("33.34"), "b": Decimal("33.33"), "c": Decimal("33.33")}
    # 10.00 over plays 1:2:4 -> 1.428571, 2.857142, 5.714285: floors 1.42 + 2.85 + 5.71 = 9.98;
    # remainders .8571, .7142, .4285 -> the two spare cents go to x and y.
    got = export.largest_remainder(Decimal("10.00"), {"x": 1, "y": 2, "z": 4})
    assert got == {"x": Decimal("1.43"), "y": Decimal("2.86"), "z": Decimal("5.71")}
    assert sum(got.values()) == Decimal("10.00")


def test_largest_remainder_with_no_plays_allocates_nothing():
    assert export.largest_remainder(Decimal("5.00"), {"a": 0}) == {"a": Decimal("0.00")}


def test_pro_rata_per_pool():
    plays = pd.DataFrame({"period": ["2026-11"] * 3, "country": ["GB", "GB", "SE"], "tier": ["free"] * 3,
                          "artist_id": ["a1", "a2", "a1"], "plays": [3, 1, 5]})
    pools = pd.DataFrame({"period": ["2026-11", "2026-11"], "country": ["GB", "SE"], "tier": ["free", "free"],
                          "currency": ["GBP", "SEK"], "net_revenue": [Decimal("1.00"), Decimal("7.77")]})
    got = export.pro_rata(plays, pools)
    assert [(r.country, r.artist_id, r.pro_rata_amount) for r in got.itertuples()] == [
        ("GB", "a1", Decimal("0.75")), ("GB", "a2", Decimal("0.25")), ("SE", "a1", Decimal("7.77"))]


def test_reconciliation_fails_on_lost_plays():
    with pytest.raises(export.ReconciliationError, match="plays: bundles 9 vs platform 10"):
        export.reconcile({"plays": 9, "exposure": 1.0, "revenue": {}}, 10, 1.0,
                         pd.DataFrame(columns=["period", "country", "tier", "qualifying_plays"]),
                         pd.DataFrame(columns=["period", "country", "tier", "net_revenue"]))


def test_verify_bundle_detects_tampering(tmp_path):
    df = pd.DataFrame({"artist_id": ["a1", "a2"], "amount": [Decimal("1.50"), Decimal("2.00")]})
    files = export.write_table(df, tmp_path, "revenue")
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}))
    assert export.verify_bundle(tmp_path) == []
    assert (tmp_path / "revenue.csv").read_text() == "artist_id,amount\na1,1.50\na2,2.00\n"
    (tmp_path / "revenue.csv").write_text("artist_id,amount\na1,9.50\na2,2.00\n")
    (tmp_path / "stray.txt").write_text("x")
    assert export.verify_bundle(tmp_path) == [
        "revenue.csv: SHA-256 differs from the manifest (file changed)",
        "stray.txt: present but not in the manifest"]
