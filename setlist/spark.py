"""The one SparkSession factory: local mode by default, quiet, UTC.

Every stage and every test asks here, and ``getOrCreate`` hands back the same
session, so one process never starts two JVMs.
"""

from __future__ import annotations

import os
import sys

from setlist.config import Config

_BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    # Partition columns stay strings: ds=2026-11-23 must not become a date.
    "spark.sql.sources.partitionColumnTypeInference.enabled": "false",
    # delta-rs and Feast read the staged parquet: no INT96, no nanoseconds.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


def spark_conf(profile_conf: dict) -> dict:
    """The base settings overridden by a profile's, except JVM options, which
    a profile adds to the base ones (the UTC time zone stays)."""
    conf = dict(_BASE_CONF)
    for key, value in profile_conf.items():
        joined = key.endswith("extraJavaOptions") and key in conf
        conf[key] = f"{conf[key]} {value}" if joined else str(value)
    return conf


def get_spark(config: Config, app_name: str = "setlist"):
    """Return the process-wide SparkSession configured from the profile."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers must run the same interpreter (and packages) as the driver.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder.appName(app_name).master(config.spark.master)
    conf = spark_conf(config.spark.conf)
    for key, value in conf.items():
        builder = builder.config(key, value)
    if config.storage.engine == "delta-spark":
        # Needs the Delta jars: from the cluster image or the Java registry.
        from delta import configure_spark_with_delta_pip
        builder = configure_spark_with_delta_pip(builder)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
