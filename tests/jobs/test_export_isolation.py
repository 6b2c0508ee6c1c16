"""Label isolation, reconciliation and re-run identity of the export, on a tiny hand-made lake.

The lake holds two days of one month:

* artist ``art-move`` moves from label L1 to L2 on 2026-11-02 (the tracks snapshot of that day);
* track ``trk-feat`` of artist ``art-b`` (L1) features ``art-c`` of L2: the track's label decides;
* label L3 has no plays at all; listener ``user-del`` has a deletion request in force.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from setlist.jobs import export

D1, D2 = "2026-11-01", "2026-11-02"
USERS = ["user-gb-1", "user-gb-2", "user-se-1", "user-del"]


def _write(lake, layer, table, ds, rows: dict):
    lake.write(pa.table(rows), layer, table, ds=ds)


def _events(rows):
    # rows: (user, track, source, ms_played)
    return {"event_id": [f"e{i}" for i in range(len(rows))], "user_id": [r[0] for r in rows],
            "track_id": [r[1] for r in rows], "ms_played": pa.array([r[3] for r in rows], pa.int64()),
            "source": [r[2] for r in rows], "counts": [r[3] >= 30000 for r in rows]}


def build_lake(lake, broken: bool = False):
    for ds, move_label in ((D1, "L1"), (D2, "L2")):
        _write(lake, "silver", "labels", ds, {"label_id": ["L1", "L2", "L3"], "name": ["One", "Two", "Three"],
                                              "kind": ["major", "independent", "independent"]})
        _write(lake, "silver", "artists", ds, {"artist_id": ["art-move", "art-b", "art-c"],
                                               "name": ["Mover", "Bee", "Cee"], "label_id": [move_label, "L1", "L2"]})
        tracks = {"track_id": ["trk-move", "trk-feat", "trk-c"], "artist_id": ["art-move", "art-b", "art-c"],
                  "label_id": [move_label, "L1", "L2"]}
        if broken:  # a track whose label is missing from the catalogue: its plays would be lost
            tracks["label_id"][2] = None
        _write(lake, "silver", "tracks", ds, tracks)
        _write(lake, "silver", "users", ds, {"user_id": USERS, "country": ["GB", "GB", "SE", None],
                                             "tier": ["premium", "premium", "free", None],
                                             "age_band": ["25-34", "25-34", "18-24", None],
                                             "is_deleted": [False, False, False, True]})
        _write(lake, "silver", "royalty_pool", ds, {
            "period": ["2026-11"] * 3, "country": ["GB", "SE", "US"], "tier": ["premium", "free", "free"],
            "currency": ["GBP", "SEK", "USD"],
            "net_revenue": pa.array([Decimal("10.00"), Decimal("3.00"), Decimal("1.00")], pa.decimal128(18, 2))})
    _write(lake, "silver", "listening_events", D1, _events([
        ("user-gb-1", "trk-move", "algorithmic", 60000), ("user-gb-1", "trk-move", "organic", 45000),
        ("user-gb-2", "trk-feat", "editorial", 31000),
        ("user-se-1", "trk-c", "organic", 10000)]))          # too short to earn
    _write(lake, "silver", "listening_events", D2, _events([
        ("user-gb-1", "trk-move", "organic", 60000), ("user-gb-2", "trk-move", "algorithmic", 60000),
        ("user-del", "trk-c", "organic", 60000)]))
    _write(lake, "gold", "playlists", D2, {"user_id": ["user-gb-1"] * 3,
                                           "position": pa.array([1, 2, 3], pa.int32()),
                                           "track_id": ["trk-move", "trk-feat", "trk-c"]})


@pytest.fixture
def home(spark, tmp_path):
    from setlist.config import load_config
    from setlist.storage import Lake
    cfg = load_config("local", tmp_path / "home")
    cfg = dataclasses.replace(cfg, policy=dataclasses.replace(cfg.policy, min_group_size=2))
    build_lake(Lake.from_config(cfg, spark))
    return cfg


def _read(d: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(d / f"{name}.csv", dtype=str, keep_default_na=False)


def test_bundles_isolate_labels_and_lose_nothing(home):
    result = export.run_period("2026-11", home)
    root = home.home / "exports" / "2026-11"
    assert sorted(p.name for p in root.iterdir()) == ["L1", "L2", "L3"]
    l1, l2, l3 = (root / x for x in ("L1", "L2", "L3"))
    for d in (l1, l2, l3):
        assert export.verify_bundle(d) == []

    # Mover: day-1 plays with L1, day-2 plays with L2. Featured artist: the track stays with L1.
    p1, p2 = _read(l1, "plays"), _read(l2, "plays")
    assert list(zip(p1.artist_id, p1.track_id, p1.plays_total.astype(int))) == [
        ("art-b", "trk-feat", 1), ("art-move", "trk-move", 2)]
    assert list(zip(p2.artist_id, p2.track_id, p2.plays_total.astype(int))) == [
        ("art-c", "trk-c", 2), ("art-move", "trk-move", 2)]
    assert (p1.plays_algorithmic.tolist(), p1.plays_editorial.tolist(), p1.plays_organic.tolist()) == (
        ["0", "1"], ["1", "0"], ["0", "1"])
    assert "art-c" not in (l1 / "plays.csv").read_text() + (l1 / "revenue.csv").read_text()
    # Label without plays: a bundle with headers and no rows, still listed and verified.
    for name in ("plays", "exposure", "revenue", "listeners"):
        assert len(_read(l3, name)) == 0
    assert json.loads((l3 / "manifest.json").read_text())["period"] == "2026-11"

    # Nothing lost: 7 plays on the platform, 7 in the bundles.
    assert sum(_read(d, "plays").plays_total.astype(int).sum() for d in (l1, l2, l3)) == 7
    # Exposure (2026-11-02 playlist, snapshot of that day): trk-move is L2's now.
    e1, e2 = _read(l1, "exposure"), _read(l2, "exposure")
    assert e1.track_id.tolist() == ["trk-feat"] and e2.track_id.tolist() == ["trk-c", "trk-move"]
    assert float(e2.set_index("track_id").loc["trk-move", "exposure"]) == 1.0

    # Revenue, GB premium 10.00: qualifying plays (L1,art-move) 2, (L2,art-move) 2, (L1,art-b) 1.
    # Pro-rata 4.00 / 4.00 / 2.00. User-centric: user-gb-1 pays 5.00 -> 3.333.. (L1) + 1.666.. (L2);
    # user-gb-2 pays 5.00 -> 2.50 (art-b) + 2.50 (L2 art-move); L2 art-move 4.1666.. gets the spare cent.
    r1, r2 = _read(l1, "revenue"), _read(l2, "revenue")
    assert list(zip(r1.artist_id, r1.pro_rata_amount, r1.user_centric_amount, r1.difference)) == [
        ("art-b", "2.00", "2.50", "0.50"), ("art-move", "4.00", "3.33", "-0.67")]
    assert list(zip(r2.artist_id, r2.pro_rata_amount, r2.user_centric_amount, r2.difference)) == [
        ("art-move", "4.00", "4.17", "0.17")]
    # The SE pool had only a too-short play, the US pool no plays: both unallocated, never spread.
    assert result["unallocated_pools"] == {"2026-11/SE/free": "3.00 SEK", "2026-11/US/free": "1.00 USD"}

    # Listeners: pseudonyms differ per label, no raw user id anywhere, deleted listener left out.
    ls1, ls2 = _read(l1, "listeners"), _read(l2, "listeners")
    assert set(ls1.listener).isdisjoint(ls2.listener)
    # L1: user-gb-1 (day 1), user-gb-2. L2: user-gb-1, user-gb-2 (day 2) and user-se-1, whose play did not
    # earn; user-del is left out. user-se-1 is alone in (SE, 18-24) < k = 2: attributes suppressed.
    assert len(ls1) == 2 and len(ls2) == 3
    se = ls2[ls2.listener == export.pseudonym(home.export.pseudonym_secret, "L2", "user-se-1")].iloc[0]
    assert (se.country, se.age_band, se.attributes_suppressed, se.plays, se.qualifying_plays) == (
        "", "", "True", "1", "0")
    assert set(ls2[ls2.listener != se.listener].country) == {"GB"}
    for d in (l1, l2, l3):
        for f in d.iterdir():
            blob = f.read_bytes()
            assert not any(u.encode() in blob for u in USERS), f"raw user id in {f}"


def test_rerun_is_byte_identical_except_generated_at(home):
    root = home.home / "exports" / "2026-11"
    export.run_period("2026-11", home)
    first = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    export.run_period("2026-11", home)
    second = {p.relative_to(root): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert sorted(first) == sorted(second)
    for name in first:
        if name.name == "manifest.json":
            a, b = json.loads(first[name]), json.loads(second[name])
            a.pop("generated_at"), b.pop("generated_at")
            assert a == b
        else:
            assert first[name] == second[name], name


def test_export_fails_and_writes_nothing_when_plays_would_be_lost(spark, tmp_path):
    from setlist.config import load_config
    from setlist.storage import Lake
    cfg = load_config("local", tmp_path / "home")
    build_lake(Lake.from_config(cfg, spark), broken=True)
    with pytest.raises(export.ReconciliationError, match="plays: bundles 5 vs platform 7"):
        export.run_period("2026-11", cfg)
    assert not (cfg.home / "exports" / "2026-11").exists()
