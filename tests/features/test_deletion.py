"""A deletion request removes the listener from every table and the online
store in the next run."""

from __future__ import annotations

import csv
import shutil

import pytest
from pyspark.sql import functions as F

from setlist import featurestore
from setlist.config import load_config
from setlist.pipeline import run_stage
from setlist.storage import Lake
from tests.conftest import DEMO_END

pytestmark = pytest.mark.e2e


def test_deletion_request_erases_everywhere_next_run(demo, spark, tmp_path):
    home = tmp_path / "home"
    shutil.copytree(demo.home, home, ignore=shutil.ignore_patterns("exports", "reports"))
    cfg = load_config("local", home)
    lake = Lake.from_config(cfg, spark)
    pl = lake.read("gold", "playlists", ds=DEMO_END).where("personalised")
    user = pl.join(lake.read("gold", "user_artist_affinity", ds=DEMO_END), "user_id").orderBy("user_id").first()["user_id"]
    store = featurestore.open_store(cfg)
    assert store.get_online_features(features=["user_profile_short:st_plays"],
                                     entity_rows=[{"user_id": user}]).to_dict()["st_plays"] != [None]
    with_user = {f"{layer}/{t}" for layer, t in lake.tables()
                 if "user_id" in lake.read(layer, t).columns
                 and lake.read(layer, t).where(F.col("user_id") == user).count()}
    assert {"gold/user_profile_long", "gold/user_profile_short", "gold/user_context", "gold/candidates",
            "gold/playlists", "silver/listening_events"} <= with_user

    users_csv = home / "raw" / DEMO_END / "users.csv"
    rows = list(csv.DictReader(users_csv.open(encoding="utf-8")))
    for r in rows:
        if r["user_id"] == user:
            r["deletion_requested_at"] = f"{DEMO_END}T12:00:00.000Z"
    with users_csv.open("w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
    run_stage("ingest", DEMO_END, cfg)
    stats = run_stage("clean", DEMO_END, cfg)

    assert stats["deletion_erasures"]["feast/online"] == 2      # user_profile_short + user_context rows
    for layer, t in lake.tables():
        df = lake.read(layer, t)
        if "user_id" not in df.columns:
            continue
        left = df.where(F.col("user_id") == user)
        if (layer, t) == ("silver", "users"):
            tomb = left.collect()
            assert [(r["ds"], r["is_deleted"], r["country"], r["age_band"]) for r in tomb] == [
                (DEMO_END, True, None, None)]
        else:
            assert left.count() == 0, f"{layer}/{t}"
    online = store.get_online_features(features=["user_profile_short:st_plays", "user_context:ctx_top_hour"],
                                       entity_rows=[{"user_id": user}]).to_dict()
    assert (online["st_plays"], online["ctx_top_hour"]) == ([None], [None])
