"""The README's demo on tier xs, end to end, with injected bad rows."""

from __future__ import annotations

import json

import pytest
from pyspark.sql import functions as F

from setlist import schema
from setlist.jobs.export import verify_bundle
from setlist.storage import Lake
from tests.conftest import DEMO_END

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def lake(demo, spark):
    return Lake.from_config(demo, spark)


@pytest.fixture(scope="module")
def run_report(demo):
    return json.loads((demo.reports_dir(DEMO_END) / "run.json").read_text())


def test_every_stage_ran_and_was_recorded(run_report):
    assert sorted(run_report["stages"]) == sorted(
        ["ingest", "clean", "features", "candidates", "train", "playlists", "audit", "export"])
    assert run_report["stages"]["train"]["status"] == "trained"


def test_no_row_is_lost_and_bad_rows_are_quarantined_with_reasons(demo, run_report, lake):
    tables = run_report["stages"]["clean"]["tables"]
    for name, t in tables.items():
        assert t["rows_in"] == t["rows_clean"] + t["rows_quarantined"] + t["rows_erased"], name
    injected = json.loads((demo.raw_dir / DEMO_END / "_injected.json").read_text())
    assert injected == {r: 1 for r in schema.QUARANTINE_REASONS}
    assert tables["listening_events"]["quarantine_reasons"] == {r: 1 for r in schema.QUARANTINE_REASONS}
    q = lake.read("quarantine", "listening_events", ds=DEMO_END)
    assert q.where(F.col("_row_hash").isNull() | F.col("_source_file").isNull()).count() == 0


def test_playlists_follow_the_rules(lake):
    pl = lake.read("gold", "playlists", ds=DEMO_END).toPandas().sort_values(["user_id", "position"])
    for _, g in pl.groupby("user_id"):
        artists = list(g["artist_id"])
        assert all(a != b for a, b in zip(artists, artists[1:]))
        assert g["artist_id"].value_counts().max() <= 2
        assert list(g["position"]) == list(range(1, len(g) + 1))
    assert (pl["reason"].str.len() > 0).all()
    users = lake.read("silver", "users", ds=DEMO_END).toPandas()
    no_consent = set(users[~users["personalisation_consent"] & ~users["is_deleted"]]["user_id"])
    deleted = set(users[users["is_deleted"]]["user_id"])
    assert no_consent and deleted
    served = pl.groupby("user_id")["personalised"].first()
    assert set(served[~served].index) >= no_consent
    assert not (set(served[served].index) & no_consent)
    assert not (set(pl["user_id"]) & deleted)
    # "because you listen to X" only where the listener played X's tracks in the window.
    aff = lake.read("gold", "user_artist_affinity", ds=DEMO_END).select("user_id", "artist_id").toPandas()
    told = pl[pl["reason"].str.startswith("because you listen to")][["user_id", "artist_id"]]
    assert len(told) > 0
    assert len(told.merge(aff, on=["user_id", "artist_id"])) == len(told)


def test_deleted_listeners_are_gone_from_every_table(lake):
    users = lake.read("silver", "users", ds=DEMO_END)
    deleted = [r["user_id"] for r in users.where("is_deleted").select("user_id").collect()]
    assert deleted
    for layer, table in lake.tables():
        df = lake.read(layer, table)
        if "user_id" in df.columns and (layer, table) != ("silver", "users"):
            assert df.where(F.col("user_id").isin(deleted)).count() == 0, f"{layer}/{table}"


def test_non_consenting_listeners_have_no_features_or_candidates(lake):
    users = lake.read("silver", "users", ds=DEMO_END)
    no = [r["user_id"] for r in users.where(~F.col("personalisation_consent")).collect()]
    for table in ("user_profile_long", "user_profile_short", "user_context", "user_artist_affinity",
                  "user_genre_affinity", "candidates"):
        assert lake.read("gold", table, ds=DEMO_END).where(F.col("user_id").isin(no)).count() == 0, table


def test_audit_report_and_exports(demo, lake):
    reports = demo.reports_dir(DEMO_END)
    audit = json.loads((reports / "audit.json").read_text())
    assert {"exposure", "popularity_bias", "fairness", "influence", "experiments", "overrides", "policy",
            "inputs", "trends", "schema_version"} <= set(audit)
    assert 0 < audit["exposure"]["artist_gini"] < 1
    assert audit["inputs"]["gold.playlists"] == lake.version("gold", "playlists")
    # every listener served tonight is in the popularity-bias averages
    assert audit["popularity_bias"]["listeners"] == audit["exposure"]["playlists"]
    shares = [b["exposure_share"] for b in audit["popularity_bias"]["buckets"]]
    assert abs(sum(shares) - 1) < 1e-5
    # every override in force tonight is disclosed, with its reason
    from setlist.governance.overrides import in_force
    expected = in_force(lake.read("silver", "governance_overrides", ds=DEMO_END), DEMO_END).count()
    assert audit["overrides"]["in_force"] == expected > 0
    assert all(o["reason"] for o in audit["overrides"]["items"])
    # arms come from the previous night's playlists, KPIs from tonight's listening
    assert audit["experiments"]["playlists_ds"] == "2026-11-22"
    assert audit["trends"]["runs"][-1] == DEMO_END
    page = (reports / "governance.html").read_text()
    assert page.count("data:image/png;base64,") >= 8
    assert "Summary of verdicts" in page
    for name in ("exposure_by_track", "exposure_by_artist", "exposure_by_label", "popularity_buckets", "artist_group_fairness",
                 "listener_group_quality", "influence_by_artist", "influence_by_label", "experiment_kpis",
                 "overrides"):
        assert (reports / f"{name}.csv").stat().st_size > 0, name
    bundles = sorted(p for p in demo.exports_dir(DEMO_END).iterdir() if p.is_dir())
    labels = lake.read("silver", "labels", ds=DEMO_END).count()
    assert len(bundles) == labels
    for b in bundles:
        assert verify_bundle(b) == [], b.name


def test_feature_values_are_served_online(demo, lake):
    from setlist import featurestore
    store = featurestore.open_store(demo)
    ua = lake.read("gold", "user_profile_short", ds=DEMO_END).orderBy("user_id").first()
    online = store.get_online_features(features=["user_profile_short:st_plays", "user_profile_short:st_top_genre"],
                                       entity_rows=[{"user_id": ua["user_id"]}]).to_dict()
    assert online["st_plays"] == [ua["st_plays"]]
    assert online["st_top_genre"] == [ua["st_top_genre"]]


def test_feature_inputs_hold_each_listener_in_one_partition_and_release_what_build_kept(demo, spark, lake):
    from setlist.context import StageContext
    from setlist.jobs import features
    ctx = StageContext(stage="features", ds=DEMO_END, config=demo, spark=spark, lake=lake)
    inputs = features.load_inputs(ctx)
    try:
        parts = int(spark.conf.get("spark.sql.shuffle.partitions"))
        assert inputs.events.rdd.getNumPartitions() == parts
        where = inputs.events.select("user_id", F.spark_partition_id().alias("p")).distinct()
        assert where.count() == inputs.events.select("user_id").distinct().count() > 0
        features.build(ctx, inputs)
        assert len(inputs.kept) == 3 and all(df.is_cached for df in inputs.kept)
        kept = list(inputs.kept)
    finally:
        inputs.unpersist()
    assert inputs.kept == [] and not any(df.is_cached for df in kept) and not inputs.events.is_cached
