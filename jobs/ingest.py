"""Ingest: raw files of one ds → bronze tables, exactly as received.

Every column is read as a string (typing is the clean stage's job), lines that
cannot be split into the contract's fields keep their text in
``_corrupt_record``, and each row carries load metadata (source file, a hash
of its raw fields). A header that differs from the contract stops the stage:
schema drift needs a person, not a guess.
"""

from __future__ import annotations

import csv
from pathlib import Path

from setlist import schema

META = ("_corrupt_record", "_source_file", "_row_hash")


class SchemaDrift(ValueError):
    pass


def check_header(path: Path, table: str) -> None:
    ext, expected = schema.RAW_TABLES[table]
    if ext != "csv":
        return
    with open(path, newline="", encoding="utf-8", errors="replace") as fh:
        header = next(csv.reader(fh), [])
    if tuple(header) != expected:
        missing = [c for c in expected if c not in header]
        extra = [c for c in header if c not in expected]
        raise SchemaDrift(
            f"{path}: header does not match the {table} contract "
            f"(missing {missing}, unexpected {extra}, order {'same' if not (missing or extra) else 'n/a'}); "
            f"fix the export or update setlist/schema.py and sql/ together"
        )


def read_raw(spark, path: Path, table: str):
    """One raw file as a DataFrame of strings plus load metadata."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    ext, cols = schema.RAW_TABLES[table]
    fields = []
    for c in cols:
        typ = T.ArrayType(T.StringType()) if c in schema.LIST_COLUMNS else T.StringType()
        fields.append(T.StructField(c, typ))
    fields.append(T.StructField("_corrupt_record", T.StringType()))
    struct = T.StructType(fields)
    if ext == "csv":
        df = (spark.read.schema(struct)
              .option("header", True).option("mode", "PERMISSIVE")
              .option("columnNameOfCorruptRecord", "_corrupt_record")
              .option("multiLine", False).option("escape", '"')
              .option("encoding", "UTF-8").option("nullValue", "")
              .csv(str(path)))
    else:
        df = (spark.read.schema(struct).option("mode", "PERMISSIVE")
              .option("columnNameOfCorruptRecord", "_corrupt_record")
              .json(str(path)))
    # Spark refuses queries touching only the corrupt column of an uncached scan.
    df = df.cache()
    parts = [F.coalesce(F.to_json(F.col(c)) if c in schema.LIST_COLUMNS else F.col(c), F.lit("\u2400"))
             for c in cols] + [F.coalesce(F.col("_corrupt_record"), F.lit(""))]
    rel = f"raw/{path.parent.name}/{path.name}"
    return (df.withColumn("_source_file", F.lit(rel))
              .withColumn("_row_hash", F.sha2(F.concat_ws("\u241f", *parts), 256)))


def run(ctx) -> dict:
    raw_dir = ctx.config.raw_dir / ctx.ds
    if not raw_dir.is_dir():
        raise FileNotFoundError(
            f"no raw files for {ctx.ds} in {raw_dir}; run `setlist generate` or "
            f"`setlist ingest --source ...` first"
        )
    missing = [t for t in schema.RAW_TABLES if not schema.raw_path(ctx.config.home, ctx.ds, t).exists()]
    if missing:
        raise FileNotFoundError(f"raw/{ctx.ds} lacks {missing}; every ds folder needs every contract table")
    rows = {}
    for table in schema.RAW_TABLES:
        path = schema.raw_path(ctx.config.home, ctx.ds, table)
        check_header(path, table)
        df = read_raw(ctx.spark, path, table)
        rows[table] = ctx.lake.write(df, "bronze", table, ds=ctx.ds)
        df.unpersist()
        ctx.log(f"bronze/{table}: {rows[table]:,} rows")
    return {"rows_in": sum(rows.values()), "rows_out": sum(rows.values()),
            "rows_quarantined": 0, "tables": rows}
