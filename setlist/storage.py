"""Every Delta table read and write goes through here.

Layout: ``<lake_root>/<layer>/<table>`` with layers bronze, silver, gold and
quarantine. Daily tables are partitioned by the string column ``ds``; a stage
replaces exactly its own ``ds`` partition (overwrite with a predicate), so a
re-run leaves an identical table.

Two engines speak the same Delta protocol over the same files:

* ``delta-rs`` (one machine): the ``deltalake`` package writes and reads; Spark
  reads a table's current snapshot as parquet files listed by the Delta log,
  and writes by staging parquet that delta-rs then commits.
* ``delta-spark`` (cluster profile): Spark reads and writes natively
  (``format("delta")``, ``replaceWhere``).
"""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs

LAYERS = ("bronze", "silver", "gold", "quarantine")


class TableNotFound(FileNotFoundError):
    pass


class Lake:
    """The Delta lake under one root, for one engine."""

    def __init__(self, root: str | Path, engine: str = "delta-rs", spark=None):
        self.root = str(root)
        self.engine = engine
        self._spark = spark

    @classmethod
    def from_config(cls, config, spark=None) -> "Lake":
        return cls(config.lake_root, config.storage.engine, spark)

    # --- paths ---------------------------------------------------------------
    def path(self, layer: str, table: str) -> str:
        if layer not in LAYERS:
            raise ValueError(f"unknown layer {layer!r}; layers are {LAYERS}")
        return f"{self.root.rstrip('/')}/{layer}/{table}"

    def exists(self, layer: str, table: str) -> bool:
        if self.engine == "delta-rs":
            from deltalake import DeltaTable
            return DeltaTable.is_deltatable(self.path(layer, table))
        from delta.tables import DeltaTable
        return DeltaTable.isDeltaTable(self.spark, self.path(layer, table))

    @property
    def spark(self):
        if self._spark is None:
            raise RuntimeError("this Lake has no SparkSession; pass spark= to Lake()")
        return self._spark

    def _require(self, layer, table):
        if not self.exists(layer, table):
            raise TableNotFound(
                f"Delta table {layer}/{table} does not exist under {self.root}; "
                f"run the stage that writes it first (see `setlist run --help`)"
            )

    # --- metadata ------------------------------------------------------------
    def version(self, layer: str, table: str) -> int | None:
        if not self.exists(layer, table):
            return None
        if self.engine == "delta-rs":
            from deltalake import DeltaTable
            return DeltaTable(self.path(layer, table)).version()
        from delta.tables import DeltaTable
        hist = DeltaTable.forPath(self.spark, self.path(layer, table)).history(1)
        return int(hist.select("version").first()[0])

    def partitions(self, layer: str, table: str) -> list[str]:
        """Sorted list of ``ds`` values present in a table."""
        if not self.exists(layer, table):
            return []
        if self.engine == "delta-rs":
            from deltalake import DeltaTable
            parts = DeltaTable(self.path(layer, table)).partitions()
            return sorted({p["ds"] for p in parts if "ds" in p})
        df = self.read(layer, table)
        return sorted(r[0] for r in df.select("ds").distinct().collect())

    # --- reads ---------------------------------------------------------------
    def read(self, layer: str, table: str, ds: str | None = None,
             ds_range: tuple[str, str] | None = None, version: int | None = None):
        """Read a table (or one ``ds`` partition, or ``ds`` in [lo, hi]) as a Spark DataFrame."""
        self._require(layer, table)
        p = self.path(layer, table)
        if self.engine == "delta-spark":
            reader = self.spark.read.format("delta")
            if version is not None:
                reader = reader.option("versionAsOf", version)
            df = reader.load(p)
        else:
            from deltalake import DeltaTable
            dt = DeltaTable(p, version=version) if version is not None else DeltaTable(p)
            filters = None
            if ds is not None:
                filters = [("ds", "=", ds)]
            elif ds_range is not None:
                filters = [("ds", ">=", ds_range[0]), ("ds", "<=", ds_range[1])]
            files = dt.file_uris(file_pruning_predicate=filters) if filters else dt.file_uris()
            schema = _spark_schema(pa.schema(dt.schema().to_arrow()))
            if not files:
                return self.spark.createDataFrame([], schema)
            df = (self.spark.read.schema(schema).option("basePath", p).parquet(*files))
            return df.select(*schema.fieldNames())
        if ds is not None:
            df = df.where(df.ds == ds)
        elif ds_range is not None:
            df = df.where((df.ds >= ds_range[0]) & (df.ds <= ds_range[1]))
        return df

    def read_arrow(self, layer: str, table: str, ds: str | None = None,
                   version: int | None = None, columns: list[str] | None = None,
                   isin: tuple[str, list] | None = None, dictionary: tuple[str, ...] = ()) -> pa.Table:
        """Reads straight into Arrow, without Spark (reports, exports, the driver's scoring slices).
        ``isin``: (column, values) keeps only the rows whose column holds one of the values.
        ``dictionary``: string columns read dictionary-encoded (a 4-byte index per row instead of
        the string; one dictionary per column), for tables of many rows with repeated keys."""
        self._require(layer, table)
        if self.engine == "delta-spark":
            df = self.read(layer, table, ds=ds, version=version)
            if isin is not None:
                col, values = isin
                keep = self.spark.createDataFrame([(v,) for v in values], df.select(col).schema)
                df = df.join(keep, col, "left_semi")
            if columns:
                df = df.select(*columns)
            return _dictionary_encoded(df.toArrow(), dictionary)
        from deltalake import DeltaTable
        p = self.path(layer, table)
        dt = DeltaTable(p, version=version) if version is not None else DeltaTable(p)
        # A sub-tree filesystem avoids delta-rs' abort-at-exit with the default one.
        fs = pafs.SubTreeFileSystem(p, pafs.LocalFileSystem())
        options = pads.ParquetReadOptions(dictionary_columns=set(dictionary)) if dictionary else None
        dataset = dt.to_pyarrow_dataset(filesystem=fs, parquet_read_options=options)
        flt = (pads.field("ds") == ds) if ds is not None else None
        if isin is not None:
            field = dataset.schema.field(isin[0]).type
            kept = pads.field(isin[0]).isin(pa.array(list(isin[1]), type=getattr(field, "value_type", field)))
            flt = kept if flt is None else flt & kept
        return _dictionary_encoded(dataset.to_table(columns=columns, filter=flt), dictionary)

    def read_pandas(self, layer, table, ds=None, version=None, columns=None, isin=None):
        return self.read_arrow(layer, table, ds=ds, version=version, columns=columns, isin=isin).to_pandas()

    # --- writes --------------------------------------------------------------
    def write(self, df, layer: str, table: str, ds: str | None = None) -> int:
        """Replace the ``ds`` partition of a daily table (or the whole table if ds is None).

        ``df`` is a Spark DataFrame or an Arrow table. Returns the rows written.
        A daily table gets a ``ds`` column equal to ``ds`` when missing.
        """
        p = self.path(layer, table)
        if isinstance(df, pa.Table):
            return self._write_arrow(df, p, ds)
        if self.engine == "delta-spark":
            from pyspark.sql import functions as F
            if ds is not None:
                df = df.withColumn("ds", F.lit(ds))
            w = df.write.format("delta").mode("overwrite")
            if ds is not None:
                w = w.partitionBy("ds").option("replaceWhere", f"ds = '{ds}'")
            else:
                w = w.option("overwriteSchema", "true")
            w.save(p)
            return self.spark.read.format("delta").load(p).where(
                f"ds = '{ds}'" if ds else "true").count()
        # delta-rs: Spark stages parquet. A daily table's partition is those
        # files as they are (``_adopt``); otherwise delta-rs rewrites them into the table.
        stage = Path(self.root) / "_staging" / f"{layer}.{table}.{uuid.uuid4().hex}"
        try:
            # A daily table's files hold no ds column: the Delta log gives each file its partition.
            (df.drop("ds") if ds is not None else df).write.mode("overwrite").parquet(str(stage))
            if ds is not None and (adopted := _adopt(stage, p, ds)) is not None:
                return adopted
            dataset = pads.dataset(str(stage), format="parquet")
            reader = _with_ds(dataset, ds) if ds is not None else dataset.scanner().to_reader()
            return self._commit(reader, reader.schema, p, ds, rows=dataset.count_rows)
        finally:
            shutil.rmtree(stage, ignore_errors=True)

    def _write_arrow(self, table: pa.Table, p: str, ds: str | None) -> int:
        if ds is not None:
            if "ds" in table.column_names:
                table = table.drop_columns(["ds"])
            table = table.append_column("ds", pa.array([ds] * table.num_rows, pa.string()))
        if self.engine == "delta-spark":
            sdf = self.spark.createDataFrame(table.to_pandas())
            return self.write(sdf.drop("ds") if ds else sdf, *p.rsplit("/", 2)[-2:], ds=ds)
        return self._commit(table, table.schema, p, ds, rows=lambda: table.num_rows)

    def _commit(self, data, schema, p: str, ds: str | None, rows) -> int:
        from deltalake import DeltaTable, write_deltalake
        if ds is None:
            write_deltalake(p, data, mode="overwrite", schema_mode="overwrite")
        elif not DeltaTable.is_deltatable(p):
            write_deltalake(p, data, mode="overwrite", partition_by=["ds"])
        else:
            write_deltalake(p, data, mode="overwrite", predicate=f"ds = '{ds}'")
        return rows()

    def delete(self, layer: str, table: str, predicate: str) -> int:
        """Delete rows matching a SQL predicate (deletion requests); returns rows deleted."""
        if not self.exists(layer, table):
            return 0
        p = self.path(layer, table)
        if self.engine == "delta-rs":
            from deltalake import DeltaTable
            return int(DeltaTable(p).delete(predicate).get("num_deleted_rows", 0))
        from delta.tables import DeltaTable
        before = self.spark.read.format("delta").load(p).count()
        DeltaTable.forPath(self.spark, p).delete(predicate)
        return before - self.spark.read.format("delta").load(p).count()

    def tables(self) -> list[tuple[str, str]]:
        """All (layer, table) pairs present under the root."""
        out = []
        for layer in LAYERS:
            d = Path(self.root) / layer
            if d.is_dir():
                out += [(layer, t.name) for t in sorted(d.iterdir()) if (t / "_delta_log").is_dir()]
        return out


def _fields(schema) -> dict:
    """A Delta schema as {column: (type, nullable)}, in any order."""
    return {f.name: (str(f.type), f.nullable) for f in schema.fields}


# Staged files smaller than this on average (a small table spread over the
# shuffle's partitions) are merged by delta-rs into one file instead of adopted.
ADOPT_MIN_FILE_BYTES = 1 << 20


def _with_ds(dataset, ds: str) -> pa.RecordBatchReader:
    """The staged rows with their ``ds`` appended: a string never null, as Spark's literal column."""
    schema = dataset.schema.append(pa.field("ds", pa.string(), nullable=False))
    value = pa.scalar(ds, pa.string())
    batches = (pa.RecordBatch.from_arrays([*b.columns, pa.repeat(value, b.num_rows)], schema=schema)
               for b in dataset.to_batches())
    return pa.RecordBatchReader.from_batches(schema, batches)


def _dictionary_encoded(table: pa.Table, names) -> pa.Table:
    """``table`` with the columns ``names`` dictionary-encoded, one dictionary
    per column (the Parquet reader gives each row group its own)."""
    for name in names:
        if name not in table.column_names:
            continue
        i = table.schema.get_field_index(name)
        column = table.column(i)
        column = column if pa.types.is_dictionary(column.type) else pc.dictionary_encode(column)
        table = table.set_column(i, name, column.combine_chunks())
    return table


def decoded(column):
    """An Arrow column's plain values as one array (a dictionary-encoded column decoded)."""
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    return column.dictionary_decode() if pa.types.is_dictionary(column.type) else column


def _adopt(stage: Path, p: str, ds: str) -> int | None:
    """Commit Spark's staged parquet files as the ``ds`` partition of the Delta
    table at ``p`` as they are: moved into the partition's folder and added to
    the log in one transaction that replaces the partition, with no second
    write of the rows. Returns the rows committed, or None (nothing moved)
    when the files are too small to keep apart (``ADOPT_MIN_FILE_BYTES``) or
    the table's schema differs from theirs; the caller then writes the rows
    through delta-rs, which merges them, or names the difference."""
    import os
    import pyarrow.parquet as pq
    from deltalake import DeltaTable, Schema
    from deltalake.transaction import AddAction, create_table_with_add_actions

    staged = sorted(stage.glob("part-*.parquet"))
    if not staged:
        return None
    # Spark writes a file for an empty partition too: only files with rows are kept.
    files = [(f, n) for f in staged if (n := pq.read_metadata(f).num_rows)]
    if len(files) > 1 and sum(f.stat().st_size for f, _ in files) < ADOPT_MIN_FILE_BYTES * len(files):
        return None
    # ds as Spark's literal column is typed: a string that is never null.
    schema = Schema.from_arrow(pq.read_schema(staged[0]).append(pa.field("ds", pa.string(), nullable=False)))
    exists = DeltaTable.is_deltatable(p)
    if exists:
        table = DeltaTable(p)
        if table.metadata().partition_columns != ["ds"] or _fields(table.schema()) != _fields(schema):
            return None
        schema = table.schema()
    folder = Path(p) / f"ds={ds}"
    folder.mkdir(parents=True, exist_ok=True)
    actions = []
    for f, n in files:
        target = folder / f.name
        os.replace(f, target)
        st = target.stat()
        actions.append(AddAction(f"ds={ds}/{f.name}", st.st_size, {"ds": ds}, int(st.st_mtime * 1000), True,
                                 f'{{"numRecords":{n}}}'))
    if exists:
        table.create_write_transaction(actions, "overwrite", schema, partition_by=["ds"],
                                       partition_filters=[("ds", "=", ds)])
    else:
        create_table_with_add_actions(p, schema, actions, mode="error", partition_by=["ds"])
    return sum(n for _, n in files)


def _spark_schema(arrow_schema: pa.Schema):
    from pyspark.sql.pandas.types import from_arrow_schema
    return from_arrow_schema(arrow_schema)
