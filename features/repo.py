"""Feast declarations for Setlist's gold feature tables.

One source per gold table, one feature view per source (its fields read from
the table contract in ``sql/gold/<table>.sql``, so the two never drift), and
the feature services:

* ``reranker_v1``: everything the reranker trains and batch-scores on;
* ``playlist_serving_v1``: what an online playlist refresh looks up.

``definitions(lake_root, engine)`` builds them for a given lake; the
module-level ``objects`` let the feast CLI apply the same repo by hand
(with ``SETLIST_LAKE_ROOT`` exported).
"""

from __future__ import annotations

import os
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64, String

from setlist.contracts import columns

ENTITIES = {  # name: (join key, description)
    "user": ("user_id", "A listener"),
    "track": ("track_id", "A catalogue track"),
    "artist": ("artist_id", "An artist"),
    "genre": ("genre", "A genre of the catalogue"),
}
# view: (entities, ttl). Daily tables tolerate one missed night.
VIEWS = {
    "user_profile_long": (("user",), timedelta(days=2)),
    "user_profile_short": (("user",), timedelta(days=2)),
    "user_context": (("user",), timedelta(days=2)),
    "track_popularity": (("track",), timedelta(days=2)),
    "artist_stats": (("artist",), timedelta(days=2)),
    "user_artist_affinity": (("user", "artist"), timedelta(days=2)),
    "user_genre_affinity": (("user", "genre"), timedelta(days=2)),
}
ONLINE_VIEWS = ("user_profile_short", "user_context", "track_popularity")
_TYPES = {"BIGINT": Int64, "INT": Int64, "DOUBLE": Float64, "STRING": String}
_SKIP = {"event_timestamp", "created_timestamp", "ds"}


def view_fields(view: str) -> dict:
    """{feature name: Feast type} of a view, from its table contract."""
    keys = {k for k, _ in ENTITIES.values()}   # join keys come from the entity rows, never from a view
    return {c: _TYPES[t.upper()] for c, t in columns("gold", view) if c not in keys | _SKIP}


def definitions(lake_root: str, engine: str = "delta-rs") -> list:
    entities = {n: Entity(name=n, join_keys=[k], value_type=ValueType.STRING, description=d)
                for n, (k, d) in ENTITIES.items()}
    views = {}
    for name, (ents, ttl) in VIEWS.items():
        path = f"{lake_root.rstrip('/')}/gold/{name}"
        if engine == "delta-spark":
            from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
            source = SparkSource(name=f"gold_{name}", path=path, file_format="delta",
                                 timestamp_field="event_timestamp", created_timestamp_column="created_timestamp")
        else:
            source = FileSource(name=f"gold_{name}", path=path, file_format=DeltaFormat(),
                                timestamp_field="event_timestamp", created_timestamp_column="created_timestamp")
        views[name] = FeatureView(
            name=name, entities=[entities[e] for e in ents], ttl=ttl,
            schema=[Field(name=f, dtype=t) for f, t in view_fields(name).items()],
            source=source, online=name in ONLINE_VIEWS, tags={"layer": "gold", "table": f"gold.{name}"})
    reranker = FeatureService(name="reranker_v1", features=list(views.values()),
                              description="Training and batch scoring of the XGBoost reranker")
    serving = FeatureService(name="playlist_serving_v1", features=[views[v] for v in ONLINE_VIEWS],
                             description="Online lookups when a playlist is refreshed")
    return [*entities.values(), *views.values(), reranker, serving]


objects = definitions(os.environ.get("SETLIST_LAKE_ROOT", os.path.abspath(".setlist/lake")))
