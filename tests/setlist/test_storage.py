"""The storage module: partition replacement, reads, versions, deletes."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from setlist.storage import TableNotFound


def test_replacing_a_partition_leaves_the_others(spark, lake):
    df = spark.createDataFrame([(1, "a"), (2, "b")], "id long, v string")
    assert lake.write(df, "silver", "t", ds="2026-11-22") == 2
    assert lake.write(df.limit(1), "silver", "t", ds="2026-11-23") == 1
    assert lake.write(df, "silver", "t", ds="2026-11-23") == 2      # re-run: replaced, not appended
    assert lake.partitions("silver", "t") == ["2026-11-22", "2026-11-23"]
    assert sorted(tuple(r) for r in lake.read("silver", "t").collect()) == [
        (1, "a", "2026-11-22"), (1, "a", "2026-11-23"), (2, "b", "2026-11-22"), (2, "b", "2026-11-23")]
    assert lake.read("silver", "t", ds="2026-11-22").count() == 2
    assert lake.read("silver", "t", ds_range=("2026-11-23", "2026-11-30")).count() == 2
    assert lake.version("silver", "t") == 2


def test_time_travel_and_arrow_reads(spark, lake):
    lake.write(spark.createDataFrame([(1,)], "id long"), "gold", "x", ds="2026-11-23")
    lake.write(spark.createDataFrame([(5,), (6,)], "id long"), "gold", "x", ds="2026-11-23")
    assert [r["id"] for r in lake.read("gold", "x", version=0).collect()] == [1]
    assert sorted(lake.read_arrow("gold", "x", ds="2026-11-23").column("id").to_pylist()) == [5, 6]
    lake.write(spark.createDataFrame([(7,), (8,)], "id long"), "gold", "x", ds="2026-11-24")
    assert sorted(lake.read_pandas("gold", "x", ds="2026-11-23", isin=("id", [6, 7, 8]))["id"]) == [6]
    assert sorted(lake.read_pandas("gold", "x", isin=("id", [6, 7]))["id"]) == [6, 7]


def test_string_columns_read_dictionary_encoded(spark, lake):
    rows = [("u1", "t1", 1.0), ("u2", "t1", 2.0), ("u1", None, 3.0)]
    df = spark.createDataFrame(rows, "user_id string, track_id string, score double").repartition(2)
    lake.write(df, "gold", "d", ds="2026-11-23")
    plain = lake.read_arrow("gold", "d", ds="2026-11-23", columns=["user_id", "track_id", "score"])
    encoded = lake.read_arrow("gold", "d", ds="2026-11-23", columns=["user_id", "track_id", "score"],
                              dictionary=("user_id", "track_id"))
    assert encoded.schema.field("user_id").type == pa.dictionary(pa.int32(), pa.string())
    assert encoded.schema.field("track_id").type == pa.dictionary(pa.int32(), pa.string())
    assert encoded.schema.field("score").type == pa.float64()
    # One dictionary per column, whatever the files, and the same rows in the same order.
    assert encoded.column("user_id").num_chunks == 1
    assert sorted(encoded.column("user_id").chunk(0).dictionary.to_pylist()) == ["u1", "u2"]
    assert sorted(encoded.column("track_id").chunk(0).dictionary.to_pylist()) == ["t1"]
    assert encoded.to_pylist() == plain.to_pylist()
    assert sorted(r["score"] for r in encoded.to_pylist() if r["track_id"] is None) == [3.0]


def test_a_daily_partition_is_sparks_own_files(spark, lake, monkeypatch):
    """Spark's staged parquet becomes the partition as it is: no ds column in
    the files (the log gives it), each file's rows in its log entry."""
    from setlist import storage
    monkeypatch.setattr(storage, "ADOPT_MIN_FILE_BYTES", 0)     # these files are tiny
    df = spark.createDataFrame([(i, str(i)) for i in range(6)], "id long, v string").repartition(3)
    assert lake.write(df, "gold", "z", ds="2026-11-23") == 6
    p = lake.path("gold", "z")
    metas = [pq.read_metadata(f) for f in sorted(Path(p).glob("ds=2026-11-23/*.parquet"))]
    assert [m.num_rows for m in metas] == [2, 2, 2]
    assert [m.schema.names for m in metas] == [["id", "v"]] * 3
    assert all(b"org.apache.spark.version" in m.metadata for m in metas)
    assert pa.table(DeltaTable(p).get_add_actions(flatten=True))["num_records"].to_pylist() == [2, 2, 2]
    assert sorted(lake.read_arrow("gold", "z").to_pylist(), key=lambda r: r["id"])[0] == {
        "id": 0, "v": "0", "ds": "2026-11-23"}
    # Types that differ from the table's: the rows go through delta-rs, which names the problem.
    with pytest.raises(Exception, match="Cannot cast string 'x' to value of Int64"):
        lake.write(spark.createDataFrame([("x", "a")], "id string, v string"), "gold", "z", ds="2026-11-24")
    assert lake.partitions("gold", "z") == ["2026-11-23"]
    assert lake.version("gold", "z") == 0


def test_small_staged_files_are_merged_into_one(spark, lake):
    """Files under ADOPT_MIN_FILE_BYTES on average are rewritten by delta-rs as one file."""
    df = spark.createDataFrame([(i, str(i)) for i in range(6)], "id long, v string").repartition(3)
    assert lake.write(df, "gold", "small", ds="2026-11-23") == 6
    p = lake.path("gold", "small")
    adds = pa.table(DeltaTable(p).get_add_actions(flatten=True))
    assert adds["num_records"].to_pylist() == [6]
    meta = pq.read_metadata(Path(p) / adds["path"][0].as_py())
    assert b"org.apache.spark.version" not in (meta.metadata or {})
    assert sorted(r["id"] for r in lake.read("gold", "small", ds="2026-11-23").collect()) == [0, 1, 2, 3, 4, 5]


def test_unpartitioned_arrow_write_and_delete(lake):
    lake.write(pa.table({"user_id": ["u1", "u2", "u1"]}), "gold", "y", ds="2026-11-23")
    assert lake.delete("gold", "y", "user_id IN ('u1')") == 2
    assert lake.read_arrow("gold", "y").column("user_id").to_pylist() == ["u2"]


def test_missing_table_names_the_fix(lake):
    with pytest.raises(TableNotFound, match="run the stage that writes it first"):
        lake.read("gold", "nope")
    with pytest.raises(ValueError, match="unknown layer"):
        lake.path("platinum", "x")
