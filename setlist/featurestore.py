"""Opening the Feast store for a profile, applying the repo, materialising.

The repo's declarations live in ``setlist.features.repo``; the infrastructure
comes from ``features/feature_store.yaml`` (or ``.cluster.yaml``) with
``${SETLIST_HOME}``, ``${SETLIST_LAKE_ROOT}`` and ``${SETLIST_REDIS}`` filled
in from the Setlist config.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path

import numpy as np
import yaml


def _install_duckdb_delta() -> None:
    """DuckDB (Feast's local offline store) reads Delta through its `delta`
    extension; install the copy shipped on PyPI so nothing is downloaded."""
    import duckdb
    try:
        import duckdb_extension_delta
    except ImportError:
        return
    pkg = Path(duckdb_extension_delta.__file__).parent
    for ext in pkg.glob("extensions/*/delta.duckdb_extension"):
        if ext.parent.name == f"v{duckdb.__version__}":
            duckdb.connect().install_extension(str(ext))


def repo_config(config):
    from feast.repo_config import RepoConfig

    name = "feature_store.yaml" if config.feast.offline_store != "spark" else "feature_store.cluster.yaml"
    text = resources.files("setlist.features").joinpath(name).read_text()
    values = {
        "SETLIST_HOME": str(config.home),
        "SETLIST_LAKE_ROOT": config.lake_root,
        "SETLIST_REDIS": config.feast.redis_connection or "127.0.0.1:6379",
    }
    text = re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), os.environ.get(m.group(1), "")), text)
    raw = yaml.safe_load(text)
    raw["project"] = config.feast.project
    if config.feast.online_store == "redis" and raw["online_store"]["type"] != "redis":
        raw["online_store"] = {"type": "redis", "connection_string": values["SETLIST_REDIS"]}
    rc = RepoConfig(**raw)
    rc.repo_path = Path(config.feast_dir)
    return rc


def open_store(config):
    from feast import FeatureStore

    os.environ.setdefault("FEAST_USAGE", "False")
    Path(config.feast_dir).mkdir(parents=True, exist_ok=True)
    if config.feast.offline_store == "duckdb" or config.feast.offline_store == "file":
        _install_duckdb_delta()
    return FeatureStore(config=repo_config(config))


def apply(store, config) -> list[str]:
    from setlist.features.repo import definitions
    objs = definitions(config.lake_root, config.storage.engine)
    store.apply(objs)
    return sorted(o.name for o in objs)


def day_end(ds: str) -> datetime:
    """Feature values computed for ds become known at ds + 1 day, 00:00 UTC."""
    return datetime.fromisoformat(ds).replace(tzinfo=timezone.utc) + timedelta(days=1)


def materialize(store, ds: str, views=None) -> None:
    """Load the values of ds (event_timestamp = day_end(ds)) into the online
    store: each night adds exactly its own day, so materialisation is
    incremental and a re-run writes the same values again."""
    end = day_end(ds)
    store.materialize(start_date=end - timedelta(hours=1), end_date=end + timedelta(seconds=1),
                      feature_views=list(views) if views else None)


def applied_store(config):
    """The store with this code's declarations applied (idempotent, about a
    second), so retrieval never runs against a registry from older code."""
    store = open_store(config)
    apply(store, config)
    return store


def historical(store, entity_df, service: str = "reranker_v1"):
    """Point-in-time features for ``entity_df`` (with ``event_timestamp``):
    its rows in its order, with the service's features added.

    Strict: a row counts only if its event_timestamp is at or before the
    entity's and within the view's TTL, and its created_timestamp is at or
    before the entity's too, so late corrections are never seen early.
    """
    return next(historical_parts(store, entity_df, [(0, len(entity_df))], service))


def historical_parts(store, entity_df, bounds, service: str = "reranker_v1"):
    """``historical`` of ``entity_df.iloc[lo:hi]`` for each (lo, hi) of
    ``bounds``, in turn, from one retrieval for the whole frame
    (``historical_lookups``): only one part at a time is held with all its
    features."""
    import pandas as pd

    retrieved = historical_lookups(store, entity_df, service)
    for lo, hi in bounds:
        yield pd.concat([entity_df.iloc[lo:hi].reset_index(drop=True),
                         *(values.iloc[row[lo:hi]].reset_index(drop=True) for row, values in retrieved)], axis=1)


# Distinct entity rows per Feast call: the point-in-time join's memory grows with
# them (1.5M (listener, artist) pairs took 0.7 GB beyond the rest in one call).
RETRIEVAL_CHUNK_ROWS = 1_000_000


def historical_lookups(store, entity, service: str = "reranker_v1"):
    """The service's point-in-time features for ``entity``'s rows, as
    lookups: one (row, values) per group of views sharing join keys, where
    ``values`` (a DataFrame of that group's features) holds one row per
    distinct (keys, event_timestamp) of ``entity``, in the order they first
    appear, and ``row[i]`` (int32) is the row of ``values`` for ``entity``'s row i.

    ``entity`` is a pandas DataFrame or an Arrow table; in a table, key and
    timestamp columns may be dictionary-encoded, as the playlists stage reads
    them, so millions of candidate rows never become Python strings.

    A view's values depend only on its join keys and the timestamp, and the
    candidates repeat each listener, track and artist hundreds of times at
    one timestamp. So Feast joins each group's distinct rows only, a fraction
    of the frame, with the same point-in-time rules as ``historical``, at
    most ``RETRIEVAL_CHUNK_ROWS`` of them per call.
    """
    import pandas as pd
    import pyarrow as pa

    from setlist.storage import decoded

    ts = "event_timestamp"
    by_keys: dict[tuple, list[str]] = {}
    for projection in store.get_feature_service(service).feature_view_projections:
        view = store.get_feature_view(projection.name)
        keys = tuple(projection.join_key_map.get(c.name, c.name) for c in view.entity_columns)
        by_keys.setdefault(keys, []).extend(f"{projection.name_to_use()}:{f.name}" for f in projection.features)
    if not isinstance(entity, pa.Table):
        used = list(dict.fromkeys(c for keys in by_keys for c in (*keys, ts)))
        entity = pa.Table.from_pandas(entity[used], preserve_index=False)
    retrieved = []
    for keys, refs in by_keys.items():
        cols = [*keys, ts]
        row, first = group_rows(entity, cols)
        parts = []
        for lo in range(0, max(len(first), 1), RETRIEVAL_CHUNK_ROWS):
            picked = entity.select(cols).take(first[lo:lo + RETRIEVAL_CHUNK_ROWS])
            distinct = pa.table({c: decoded(picked.column(c)) for c in cols}).to_pandas()
            distinct["_setlist_key"] = np.arange(lo, lo + len(distinct))
            got = store.get_historical_features(entity_df=distinct, features=refs,
                                                filter_by_created_timestamp=True).to_df()
            if len(got) != len(distinct):
                raise RuntimeError(f"Feast returned {len(got):,} rows for {len(distinct):,} distinct "
                                   f"({', '.join(cols)}): the feature views {refs} hold duplicate keys")
            parts.append(got.sort_values("_setlist_key").drop(columns=[*cols, "_setlist_key"]))
        retrieved.append((row, pd.concat(parts, ignore_index=True) if len(parts) > 1
                          else parts[0].reset_index(drop=True)))
    return retrieved


def group_rows(table, cols: list[str]):
    """Each row's group among the distinct values of ``cols`` in an Arrow
    table (nulls equal to each other), numbered in the order the groups first
    appear, and each group's first row: (int32 array, one number per row;
    int64 array, one row index per group). Hash-based (Arrow's dictionary
    encoding), so no column is ever sorted or turned into Python objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    code = None
    for c in cols:
        column = table.column(c)
        column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        if not pa.types.is_dictionary(column.type):
            column = pc.dictionary_encode(column)
        n = len(column.dictionary) + 1
        idx = pc.fill_null(column.indices, n - 1).to_numpy().astype(np.int64)
        if code is None:
            code = idx
            continue
        if code.max(initial=0) >= np.iinfo(np.int64).max // n:
            code = _first_seen(code).astype(np.int64)     # renumber densely before the product could overflow
        code *= n
        code += idx
    if code is None:
        raise ValueError("group_rows needs at least one column")
    del idx
    row = _first_seen(code)
    del code
    # Numbered by first appearance: a row opens a group exactly when its number exceeds all before it.
    opens = np.r_[True, row[1:] > np.maximum.accumulate(row)[:-1]] if len(row) else np.zeros(0, bool)
    return row, np.flatnonzero(opens)


def _first_seen(code: np.ndarray) -> np.ndarray:
    """Dense int32 numbers for ``code``'s values, in the order they first appear."""
    import pyarrow as pa
    import pyarrow.compute as pc
    return pc.dictionary_encode(pa.array(code)).indices.to_numpy()


def _user_online_views() -> list[str]:
    from setlist.features.repo import ONLINE_VIEWS, VIEWS
    return [v for v in ONLINE_VIEWS if "user" in VIEWS[v][0]]


def _user_keys(user_ids, version: int) -> list[bytes]:
    from feast.infra.key_encoding_utils import serialize_entity_key
    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value
    return [serialize_entity_key(EntityKey(join_keys=["user_id"], entity_values=[Value(string_val=u)]),
                                 entity_key_serialization_version=version) for u in user_ids]


def erase_online(config, user_ids) -> int:
    """Remove listeners' rows from the online store (deletion requests).

    Feast has no per-entity delete, so this speaks to the store Feast wrote:
    the sqlite tables ``<project>_<view>`` keyed by the serialised entity key,
    or the Redis hash ``<serialised entity key><project>``. Returns the number
    of (view, listener) entries removed (Redis keeps one hash per listener
    holding every view, so there it counts listeners).
    """
    user_ids = sorted(set(user_ids))
    if not user_ids:
        return 0
    rc = repo_config(config)
    keys = _user_keys(user_ids, rc.entity_key_serialization_version)
    removed = 0
    if rc.online_store.type == "redis" or config.feast.online_store == "redis":
        import redis
        host, _, port = (config.feast.redis_connection or "127.0.0.1:6379").split(",")[0].partition(":")
        client = redis.Redis(host=host, port=int(port or 6379))
        project = rc.project.encode()
        removed = int(client.delete(*[k + project for k in keys]))
    else:
        import sqlite3
        path = Path(rc.online_store.path)
        if not path.is_absolute():
            path = Path(config.feast_dir) / path
        if not path.exists():
            return 0
        with sqlite3.connect(path) as conn:
            existing = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            for view in _user_online_views():
                table = f"{rc.project}_{view}"
                if table not in existing:
                    continue
                marks = ",".join("?" * len(keys))
                # One row per (entity, feature): count entities, the unit Redis reports too.
                removed += conn.execute(f'SELECT COUNT(DISTINCT entity_key) FROM "{table}" '
                                        f'WHERE entity_key IN ({marks})', keys).fetchone()[0]
                conn.execute(f'DELETE FROM "{table}" WHERE entity_key IN ({marks})', keys)
    return removed
