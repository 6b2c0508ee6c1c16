"""Online serving: the latest ds's values from sqlite (local profile) and from
a real Redis server (the cluster profile's online store), and erasure."""

from __future__ import annotations

import dataclasses
import os

import pytest

from setlist import featurestore
from setlist.features.repo import ONLINE_VIEWS
from setlist.storage import Lake
from tests.conftest import DEMO_END, require_services

pytestmark = pytest.mark.e2e
FEATURES = ["user_profile_short:st_plays", "user_profile_short:st_top_genre", "user_context:ctx_share_mobile"]


def _expected(lake, user):
    st = lake.read("gold", "user_profile_short", ds=DEMO_END).where(f"user_id = '{user}'").first()
    ctx = lake.read("gold", "user_context", ds=DEMO_END).where(f"user_id = '{user}'").first()
    return {"st_plays": [st["st_plays"]], "st_top_genre": [st["st_top_genre"]],
            "ctx_share_mobile": [ctx["ctx_share_mobile"]]}


def _online(store, user):
    got = store.get_online_features(features=FEATURES, entity_rows=[{"user_id": user}]).to_dict()
    return {k: got[k] for k in ("st_plays", "st_top_genre", "ctx_share_mobile")}


def test_sqlite_serves_the_latest_ds_and_forgets_erased_users(demo, spark):
    lake = Lake.from_config(demo, spark)
    users = sorted(r["user_id"] for r in lake.read("gold", "user_profile_short", ds=DEMO_END).limit(3).collect())
    store = featurestore.open_store(demo)
    for u in users:
        assert _online(store, u) == _expected(lake, u)
    deleted = [r["user_id"] for r in lake.read("silver", "users", ds=DEMO_END).where("is_deleted").collect()]
    for u in deleted:
        assert _online(store, u) == {"st_plays": [None], "st_top_genre": [None], "ctx_share_mobile": [None]}


def _redis_or_skip():
    import redis
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=1).ping()
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server here"
        if require_services():
            pytest.fail(f"Redis at 127.0.0.1:6379 is required here (SETLIST_REQUIRE_SERVICES=1): {exc}")
        pytest.skip(f"no Redis server at 127.0.0.1:6379 ({exc}); start one to run this test")


def test_redis_online_store(demo, spark):
    _redis_or_skip()
    cfg = dataclasses.replace(demo, feast=dataclasses.replace(
        demo.feast, online_store="redis", redis_connection="127.0.0.1:6379",
        project=f"setlist_test_{os.getpid()}"))
    lake = Lake.from_config(cfg, spark)
    store = featurestore.applied_store(cfg)
    assert store.config.online_store.type == "redis"
    featurestore.materialize(store, DEMO_END, views=ONLINE_VIEWS)
    user = lake.read("gold", "user_profile_short", ds=DEMO_END).orderBy("user_id").first()["user_id"]
    assert _online(store, user) == _expected(lake, user)
    assert featurestore.erase_online(cfg, [user]) == 1
    assert _online(store, user) == {"st_plays": [None], "st_top_genre": [None], "ctx_share_mobile": [None]}
