"""Profiles and the home folder."""

from __future__ import annotations

import pytest

from setlist.config import load_config, resolve_home


def test_local_profile_defaults(tmp_path):
    cfg = load_config("local", tmp_path)
    assert cfg.profile == "local" and cfg.storage.engine == "delta-rs"
    assert cfg.lake_root == str(tmp_path / "lake")
    assert cfg.reports_dir("2026-11-23") == tmp_path / "reports" / "2026-11-23"
    assert cfg.exports_dir("2026-11-23") == tmp_path / "exports" / "2026-11-23"
    assert cfg.models_dir == tmp_path / "models"
    assert cfg.feast.online_store == "sqlite"


def test_cluster_profile_loads_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("SETLIST_LAKE_ROOT", "s3a://lake/setlist")
    monkeypatch.setenv("SPARK_MASTER_URL", "spark://master:7077")
    monkeypatch.setenv("SETLIST_PSEUDONYM_SECRET", "s3cret")
    cfg = load_config("cluster", tmp_path)
    assert (cfg.storage.engine, cfg.lake_root, cfg.spark.master) == ("delta-spark", "s3a://lake/setlist",
                                                                      "spark://master:7077")
    assert (cfg.feast.online_store, cfg.feast.redis_connection) == ("redis", "127.0.0.1:6379")


def test_cluster_profile_says_which_variable_is_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("SETLIST_LAKE_ROOT", raising=False)
    with pytest.raises(ValueError, match="SETLIST_LAKE_ROOT"):
        load_config("cluster", tmp_path)


def test_home_resolution(tmp_path, monkeypatch):
    monkeypatch.setenv("SETLIST_HOME", str(tmp_path / "env"))
    assert resolve_home(tmp_path / "flag") == tmp_path / "flag"
    assert resolve_home(None) == tmp_path / "env"
    monkeypatch.delenv("SETLIST_HOME")
    monkeypatch.chdir(tmp_path)
    assert resolve_home(None) == tmp_path / ".setlist"


def test_unknown_profile_and_keys(tmp_path):
    with pytest.raises(FileNotFoundError, match="choose one of"):
        load_config("staging", tmp_path)
    bad = tmp_path / "p.yaml"
    bad.write_text("model:\n  als_rnk: 3\n")
    with pytest.raises(ValueError, match="als_rnk"):
        load_config(str(bad), tmp_path)


def test_training_listener_cap_is_null_or_at_least_two(tmp_path):
    assert load_config("local", tmp_path).model.max_training_listeners == 10_000
    for bad in ("1", "0.5", "-3"):
        p = tmp_path / "p.yaml"
        p.write_text(f"model:\n  max_training_listeners: {bad}\n")
        with pytest.raises(ValueError, match="max_training_listeners must be null"):
            load_config(str(p), tmp_path)
    p.write_text("model:\n  max_training_listeners: null\n")
    assert load_config(str(p), tmp_path).model.max_training_listeners is None


def test_spark_conf_adds_profile_jvm_options_to_the_base(tmp_path):
    from setlist.spark import spark_conf
    conf = spark_conf(load_config("local", tmp_path).spark.conf)
    assert conf["spark.driver.extraJavaOptions"] == "-Duser.timezone=UTC -XX:+UseParallelGC"
    assert conf["spark.executor.extraJavaOptions"] == "-Duser.timezone=UTC"
    assert (conf["spark.sql.shuffle.partitions"], conf["spark.sql.session.timeZone"]) == ("8", "UTC")
    assert spark_conf({"spark.sql.session.timeZone": "Europe/Paris"})["spark.sql.session.timeZone"] == "Europe/Paris"
