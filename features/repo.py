"""Feast declarations for Setlist's gold feature tables.

One source per gold table, one feature view per source, and the feature
services the reranker (training and batch scoring) and online serving use.
``definitions(lake_root, engine)`` builds them for a given lake; the
module-level ``objects`` let the feast CLI apply the same repo by hand.
"""

from __future__ import annotations

import os
from datetime import timedelta

from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
from feast.data_format import DeltaFormat
from feast.types import Float64, Int64

GOLD_VIEWS = {
    # view name: (entities, ttl, fields)
    "user_activity": (("user",), timedelta(days=3), {
        "user_plays_28d": Int64, "user_active_days_28d": Int64, "user_sessions_28d": Int64,
        "user_tracks_28d": Int64, "user_artists_28d": Int64, "user_skip_rate_28d": Float64,
        "user_completion_rate_28d": Float64, "user_session_length_28d": Float64}),
    "track_popularity": (("track",), timedelta(days=3), {
        "track_plays_1d": Int64, "track_plays_7d": Int64, "track_plays_28d": Int64,
        "track_listeners_28d": Int64, "track_skip_rate_28d": Float64,
        "track_completion_rate_28d": Float64, "track_editorial_now": Int64,
        "track_age_days": Int64, "track_energy": Float64, "track_tempo": Float64,
        "track_valence": Float64}),
    "user_artist_affinity": (("user", "artist"), timedelta(days=28), {
        "ua_plays_28d": Int64, "ua_share_28d": Float64, "ua_skip_rate_28d": Float64,
        "ua_days_since_last_play": Int64}),
}


def definitions(lake_root: str, engine: str = "delta-rs") -> list:
    user = Entity(name="user", join_keys=["user_id"], value_type=ValueType.STRING,
                  description="A listener")
    track = Entity(name="track", join_keys=["track_id"], value_type=ValueType.STRING,
                   description="A catalogue track")
    artist = Entity(name="artist", join_keys=["artist_id"], value_type=ValueType.STRING,
                    description="An artist")
    entities = {"user": user, "track": track, "artist": artist}
    views = {}
    for name, (ents, ttl, fields) in GOLD_VIEWS.items():
        path = f"{lake_root.rstrip('/')}/gold/{name}"
        if engine == "delta-spark":
            from feast.infra.offline_stores.contrib.spark_offline_store.spark_source import SparkSource
            source = SparkSource(name=f"gold_{name}", path=path, file_format="delta",
                                 timestamp_field="event_timestamp",
                                 created_timestamp_column="created_timestamp")
        else:
            source = FileSource(name=f"gold_{name}", path=path, file_format=DeltaFormat(),
                                timestamp_field="event_timestamp",
                                created_timestamp_column="created_timestamp")
        views[name] = FeatureView(
            name=name, entities=[entities[e] for e in ents], ttl=ttl,
            schema=[Field(name=f, dtype=t) for f, t in fields.items()],
            source=source, online=True, tags={"layer": "gold", "table": f"gold.{name}"})
    reranker = FeatureService(name="reranker_v1", features=list(views.values()),
                              description="Training and batch scoring of the XGBoost reranker")
    serving = FeatureService(name="playlist_serving_v1",
                             features=[views["user_activity"], views["track_popularity"]],
                             description="Online lookups when a playlist is refreshed")
    return [*entities.values(), *views.values(), reranker, serving]


objects = definitions(os.environ.get("SETLIST_LAKE_ROOT", os.path.abspath(".setlist/lake")))
