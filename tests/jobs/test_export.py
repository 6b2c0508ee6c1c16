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


def _lp(rows):
    return pd.DataFrame(rows, columns=["period", "country", "tier", "user_id", "label_id", "artist_id", "plays"])


POOL_GB = pd.DataFrame({"period": ["2026-11"], "country": ["GB"], "tier": ["premium"], "currency": ["GBP"],
                        "net_revenue": [Decimal("10.00")]})


def test_pro_rata_and_user_centric_hand_computed():
    # u1 plays artist a 3 times; u2 plays a once and b once. Pool 10.00.
    # Pro-rata: a 4/5 = 8.00, b 1/5 = 2.00.
    # User-centric: 2 listeners pay 5.00 each; u1 -> a 5.00; u2 -> a 2.50, b 2.50: a 7.50, b 2.50.
    lp = _lp([("2026-11", "GB", "premium", "u1", "L1", "a", 3),
              ("2026-11", "GB", "premium", "u2", "L1", "a", 1),
              ("2026-11", "GB", "premium", "u2", "L2", "b", 1)])
    got = export.revenue_split(lp, POOL_GB)
    assert [(r.label_id, r.artist_id, r.pro_rata_amount, r.user_centric_amount, r.difference)
            for r in got.itertuples()] == [
        ("L1", "a", Decimal("8.00"), Decimal("7.50"), Decimal("-0.50")),
        ("L2", "b", Decimal("2.00"), Decimal("2.50"), Decimal("0.50"))]
    assert list(got["pool_listeners"]) == [2, 2] and list(got["pool_plays"]) == [5, 5]


def test_user_centric_rounding_on_a_pool_that_does_not_divide():
    # Pool 1.00 over 3 listeners: payments 0.34 (u1, the spare cent by id), 0.33, 0.33.
    # u1: a 1 play, b 2 plays -> a 0.113333.., b 0.226666..; u2 -> a 0.33; u3 -> c 0.33.
    # Exact: a 0.443333.., b 0.226666.., c 0.33 -> floors 0.44 + 0.22 + 0.33 = 0.99;
    # the spare cent goes to the largest remainder: b (.0066..) over a (.0033..).
    lp = _lp([("2026-11", "GB", "premium", "u1", "L1", "a", 1), ("2026-11", "GB", "premium", "u1", "L1", "b", 2),
              ("2026-11", "GB", "premium", "u2", "L1", "a", 5), ("2026-11", "GB", "premium", "u3", "L2", "c", 4)])
    pool = POOL_GB.assign(net_revenue=[Decimal("1.00")])
    got = export.user_centric(lp, pool)
    assert dict(zip(got["artist_id"], got["user_centric_amount"])) == {
        "a": Decimal("0.44"), "b": Decimal("0.23"), "c": Decimal("0.33")}
    assert got["user_centric_amount"].sum() == Decimal("1.00")
    # Pro-rata on the same plays: 12 plays; a 6/12 = 0.50, b 2/12 = 0.1666.., c 4/12 = 0.3333..:
    # floors 0.50 + 0.16 + 0.33 = 0.99; remainders b .00666 > c .00333 -> b 0.17.
    both = export.revenue_split(lp, pool)
    assert dict(zip(both["artist_id"], both["pro_rata_amount"])) == {
        "a": Decimal("0.50"), "b": Decimal("0.17"), "c": Decimal("0.33")}
    assert both["pro_rata_amount"].sum() == both["user_centric_amount"].sum() == Decimal("1.00")


def test_largest_remainder_many_uneven_pools_sum_exactly():
    import random
    rnd = random.Random(3)
    for _ in range(200):
        total = Decimal(rnd.randint(0, 10**6)) / 100
        weights = {f"k{i}": rnd.randint(0, 50) for i in range(rnd.randint(1, 12))}
        got = export.largest_remainder(total, weights)
        if sum(weights.values()):
            assert sum(got.values()) == total
        assert all(v >= 0 and v == v.quantize(Decimal("0.01")) for v in got.values())


def test_a_pool_without_plays_is_not_spread():
    lp = _lp([("2026-11", "GB", "premium", "u1", "L1", "a", 2)])
    pools = pd.concat([POOL_GB, POOL_GB.assign(country=["SE"], currency=["SEK"])])
    got = export.revenue_split(lp, pools)
    assert list(got["country"]) == ["GB"] and got["user_centric_amount"].sum() == Decimal("10.00")


def test_reconciliation_fails_on_a_broken_user_centric_split():
    lp = _lp([("2026-11", "GB", "premium", "u1", "L1", "a", 1), ("2026-11", "GB", "premium", "u2", "L2", "b", 3)])
    rev = export.revenue_split(lp, POOL_GB)
    bundles = {lab: {"plays": pd.DataFrame({"plays_total": [1]}), "exposure": pd.DataFrame({"exposure": [0.5]}),
                     "revenue": rev[rev["label_id"] == lab]} for lab in ("L1", "L2")}
    export.reconcile(export.bundle_totals(bundles), 2, 1.0, rev, POOL_GB)  # adds up
    broken = rev.copy()
    broken.loc[0, "user_centric_amount"] = broken.loc[0, "user_centric_amount"] + Decimal("0.01")
    bundles["L1"]["revenue"] = broken[broken["label_id"] == "L1"]
    with pytest.raises(export.ReconciliationError, match="user-centric revenue pool"):
        export.reconcile(export.bundle_totals(bundles), 2, 1.0, rev, POOL_GB)


def test_listeners_are_pseudonymised_per_label_and_small_groups_suppressed():
    per = pd.DataFrame({"user_id": ["u1", "u2", "u3"], "country": ["GB", "GB", "SE"],
                        "age_band": ["25-34", "25-34", "25-34"], "plays": [3, 1, 2], "qualifying_plays": [2, 1, 0]})
    a = export.listeners_table(per, "L1", "s3cret", k=2)
    b = export.listeners_table(per, "L2", "s3cret", k=2)
    assert set(a["listener"]).isdisjoint(b["listener"]) and all(len(x) == 32 for x in a["listener"])
    assert not {"u1", "u2", "u3"} & set(a.astype(str).to_numpy().ravel())
    sup = a.set_index("listener")["attributes_suppressed"].to_dict()
    se = export.pseudonym("s3cret", "L1", "u3")
    assert sup[se] and a.set_index("listener").loc[se, ["country", "age_band"]].isna().all()
    assert not any(v for k, v in sup.items() if k != se)
    with pytest.raises(ValueError, match="pseudonym_secret"):
        export.listeners_table(per, "L1", "", k=2)


def test_summary_is_byte_identical_across_calls():
    plays = pd.DataFrame({"artist_id": ["a", "b"], "track_id": ["t1", "t2"], "plays_algorithmic": [1, 0],
                          "plays_editorial": [0, 2], "plays_organic": [3, 1], "plays_total": [4, 3],
                          "qualifying_plays": [4, 2], "share_of_all_plays": [0.4, 0.3]})
    b = {"plays": plays, "exposure": pd.DataFrame({"exposure": [1.0], "impressions": [1],
                                                   "share_of_all_exposure": [0.5]}),
         "revenue": pd.DataFrame({"currency": ["GBP"], "pro_rata_amount": [Decimal("8.00")],
                                  "user_centric_amount": [Decimal("7.50")]}),
         "listeners": pd.DataFrame({"listener": ["x"]})}
    meta = {"period": "2026-11", "plays_window": ["2026-11-23"] * 2, "revenue_window": ["2026-11-01", "2026-11-23"]}
    one, two = export.label_summary("L", "L1", meta, b), export.label_summary("L", "L1", meta, b)
    assert one == two and "data:image/png;base64," in one[1] and "-0.50" in one[1]
