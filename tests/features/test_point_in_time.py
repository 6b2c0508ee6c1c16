"""Feast historical retrieval through Setlist's offline store is point-in-time correct.

Random timelines of feature rows (with late-arriving corrections) are written as
a Delta table partitioned by ``ds``, declared to Feast as a ``FileSource`` in
Delta format, and read back with ``get_historical_features`` through the store
``setlist.featurestore.open_store`` opens (DuckDB reading Delta through its
``delta`` extension). Every returned value is compared with a brute-force
reference computed in Python.

What Feast 0.67's DuckDB offline store does for an entity row ``(key, t)`` and a
feature view with TTL ``ttl`` (checked here for both settings of the flag):

* Candidate rows have the same key and ``t - ttl <= event_timestamp <= t``.
  Both ends are inclusive: a row exactly ``ttl`` old is still served.
* Among candidates the latest ``event_timestamp`` wins; ties on
  ``event_timestamp`` are broken by the latest ``created_timestamp``. The
  tie-break is always applied; it needs no flag.
* By default (``filter_by_created_timestamp=False``) ``created_timestamp`` is
  only a tie-break, never a filter: a correction created *after* ``t`` replaces
  the value that was actually known at ``t``. The default leaks late data.
* With ``filter_by_created_timestamp=True`` rows with ``created_timestamp > t``
  are invisible (``created_timestamp == t`` is visible), so the answer is the one
  that was knowable at ``t``: the strict no-leak rule. Setlist's training and
  scoring retrievals should pass this flag.
* No candidate: the feature is null.

Entity timestamps here are tz-aware UTC, as ``featurestore.day_end`` makes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TTL = timedelta(days=2)
ORIGIN = datetime(2026, 11, 20, tzinfo=timezone.utc)
SPAN_HOURS = 4 * 24          # event timestamps fall in [ORIGIN, ORIGIN + 4 days)
VIEW = "pit_probe"
FEATURE = "plays"

SCHEMA = pa.schema([
    ("user_id", pa.string()),
    (FEATURE, pa.int64()),
    ("event_timestamp", pa.timestamp("us", tz="UTC")),
    ("created_timestamp", pa.timestamp("us", tz="UTC")),
    ("ds", pa.string()),
])


def hours(n: int) -> datetime:
    return ORIGIN + timedelta(hours=n)


# --- random timelines --------------------------------------------------------

@st.composite
def timelines(draw):
    """Feature rows ``(user_id, value, event_ts, created_ts)`` and entity rows
    ``(row, user_id, ts)``. Values are unique, so a returned value names the row
    it came from; no two rows share (user, event_ts, created_ts), so the
    expected answer is always unique."""
    n_users = draw(st.integers(1, 4))
    users = [f"u{i}" for i in range(1, n_users + 1)]
    keyed: dict[tuple[str, datetime, datetime], None] = {}
    for user in users:
        for _ in range(draw(st.integers(1, 6))):
            event = hours(draw(st.integers(0, SPAN_HOURS - 1)))
            created = event + timedelta(hours=draw(st.integers(0, 30)))
            keyed[(user, event, created)] = None
    base = list(keyed)
    # Late-arriving corrections: same user and event_timestamp, created later.
    for user, event, created in draw(st.lists(st.sampled_from(base), max_size=6)):
        later = created + timedelta(hours=draw(st.integers(1, 48)))
        keyed[(user, event, later)] = None
    keys = list(keyed)
    values = draw(st.lists(st.integers(-10**9, 10**9), min_size=len(keys),
                           max_size=len(keys), unique=True))
    rows = [(u, v, e, c) for (u, e, c), v in zip(keys, values)]

    # Entity timestamps: on and around the edges that matter, plus anywhere.
    anchor = st.sampled_from(rows)
    jitter = st.sampled_from([timedelta(0), timedelta(0), timedelta(minutes=-1), timedelta(minutes=1)])
    ts = st.one_of(
        anchor.map(lambda r: r[2]),                               # exactly an event timestamp
        st.tuples(anchor, jitter).map(lambda x: x[0][2] + x[1]),  # just before / after it
        st.tuples(anchor, jitter).map(lambda x: x[0][3] + x[1]),  # around a created timestamp
        st.tuples(anchor, jitter).map(lambda x: x[0][2] + TTL + x[1]),  # on the TTL edge
        anchor.map(lambda r: r[2] + TTL + timedelta(hours=1)),   # just beyond the TTL
        st.integers(1, 48).map(lambda h: hours(-h)),             # before any row
        st.integers(-24, SPAN_HOURS + 72).map(hours),            # anywhere
    )
    who = st.sampled_from(users + ["u0"])                        # u0 has no rows at all
    entity = draw(st.lists(st.tuples(who, ts), min_size=1, max_size=25))
    return rows, [(i, u, t) for i, (u, t) in enumerate(entity)]


# --- brute-force reference ------------------------------------------------------

def visible(row, user: str, t: datetime, strict: bool) -> bool:
    u, _, event, created = row
    return (u == user and t - TTL <= event <= t
            and (not strict or created <= t))


def reference(rows, user: str, t: datetime, strict: bool):
    """The row Feast must serve for (user, t), or None."""
    candidates = [r for r in rows if visible(r, user, t, strict)]
    return max(candidates, key=lambda r: (r[2], r[3]), default=None)


# --- Feast through Setlist's store ------------------------------------------------

@pytest.fixture(scope="module")
def feast_home(tmp_path_factory):
    from setlist.config import load_config
    from setlist.featurestore import open_store

    home = tmp_path_factory.mktemp("pit-home")
    store = open_store(load_config("local", home))
    return store, home


def declare(path: str) -> list:
    from feast import Entity, FeatureView, Field, FileSource, ValueType
    from feast.data_format import DeltaFormat
    from feast.types import Int64

    user = Entity(name="pit_user", join_keys=["user_id"], value_type=ValueType.STRING)
    source = FileSource(name=f"{VIEW}_source", path=path, file_format=DeltaFormat(),
                        timestamp_field="event_timestamp",
                        created_timestamp_column="created_timestamp")
    view = FeatureView(name=VIEW, entities=[user], ttl=TTL,
                       schema=[Field(name=FEATURE, dtype=Int64)], source=source, online=False)
    return [user, view]


def write_table(path: str, rows) -> None:
    from deltalake import write_deltalake

    table = pa.Table.from_pylist(
        [{"user_id": u, FEATURE: v, "event_timestamp": e, "created_timestamp": c,
          "ds": e.date().isoformat()} for u, v, e, c in rows],
        schema=SCHEMA)
    write_deltalake(path, table, partition_by=["ds"])


def retrieve(store, entity, strict: bool) -> dict[int, int | None]:
    import pandas as pd

    entity_df = pd.DataFrame(entity, columns=["row", "user_id", "event_timestamp"])
    entity_df["event_timestamp"] = pd.to_datetime(entity_df["event_timestamp"], utc=True)
    job = store.get_historical_features(entity_df=entity_df, features=[f"{VIEW}:{FEATURE}"],
                                        filter_by_created_timestamp=strict)
    got = job.to_arrow().to_pylist()         # arrow keeps int64 exact, nulls as None
    assert sorted(r["row"] for r in got) == [i for i, _, _ in entity], "one output row per entity row"
    return {r["row"]: r[FEATURE] for r in got}


_examples = iter(range(10**6))


@settings(max_examples=20, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(timeline=timelines())
def test_historical_retrieval_is_point_in_time_correct(feast_home, timeline):
    store, home = feast_home
    rows, entity = timeline
    path = str(home / "tables" / f"example_{next(_examples)}")
    write_table(path, rows)
    store.apply(declare(path))
    by_value = {r[1]: r for r in rows}

    for strict in (True, False):
        got = retrieve(store, entity, strict)
        for i, user, t in entity:
            want = reference(rows, user, t, strict)
            value = got[i]
            assert value == (want[1] if want else None), (
                f"strict={strict} entity ({user}, {t}): got {value}, expected row {want}")
            if value is None:
                continue
            source = by_value[value]
            # Never a value from the future of the entity row, nor older than the TTL.
            assert source[0] == user
            assert source[2] <= t, f"value from event_timestamp {source[2]} after {t}"
            assert source[2] >= t - TTL
            if strict:
                # Nothing created after t: not even a correction of a visible event.
                assert source[3] <= t, f"value created at {source[3]}, after {t}"


def test_retrieval_by_distinct_keys_equals_one_retrieval_of_every_row(feast_home, monkeypatch):
    """``featurestore.historical`` retrieves each group of views once per distinct
    (join keys, timestamp): the same values as Feast over every entity row, in
    the entity frame's order, repeated keys and a key without rows included."""
    import pandas as pd
    from deltalake import write_deltalake
    from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType
    from feast.data_format import DeltaFormat
    from feast.types import Int64

    from setlist.featurestore import historical, historical_lookups, historical_parts

    store, home = feast_home
    user = Entity(name="pit_user", join_keys=["user_id"], value_type=ValueType.STRING)
    artist = Entity(name="pit_artist", join_keys=["artist_id"], value_type=ValueType.STRING)
    views = []
    for name, keys, rows in (
            ("pit_user_plays", ["user_id"],
             [("u1", 10, hours(0)), ("u1", 11, hours(30)), ("u2", 20, hours(5))]),
            ("pit_pair_plays", ["user_id", "artist_id"],
             [("u1", "a1", 100, hours(1)), ("u1", "a2", 200, hours(2)), ("u1", "a1", 101, hours(40)),
              ("u2", "a1", 300, hours(3))])):
        path = str(home / "tables" / name)
        table = pd.DataFrame(rows, columns=[*keys, name, "event_timestamp"])
        table["event_timestamp"] = pd.to_datetime(table["event_timestamp"], utc=True)
        table["created_timestamp"] = table["event_timestamp"]
        table["ds"] = table["event_timestamp"].dt.strftime("%Y-%m-%d")
        write_deltalake(path, table, partition_by=["ds"])
        source = FileSource(name=f"{name}_source", path=path, file_format=DeltaFormat(),
                            timestamp_field="event_timestamp", created_timestamp_column="created_timestamp")
        views.append(FeatureView(name=name, entities=[user] if len(keys) == 1 else [user, artist], ttl=TTL,
                                 schema=[Field(name=name, dtype=Int64)], source=source, online=False))
    service = FeatureService(name="pit_both", features=views)
    store.apply([user, artist, *views, service])

    entity = pd.DataFrame([("u1", "a1", 24), ("u2", "a1", 24), ("u1", "a2", 24), ("u1", "a1", 24),
                           ("u1", "a1", 44), ("u3", "a1", 24), ("u1", "a2", 44), ("u2", "a9", 24)],
                          columns=["user_id", "artist_id", "at"])
    entity["event_timestamp"] = pd.to_datetime([hours(h) for h in entity.pop("at")], utc=True)
    entity["row"] = range(len(entity))

    def values(column):
        return [None if pd.isna(v) else int(v) for v in column]

    got = historical(store, entity, "pit_both")
    assert got["row"].tolist() == list(range(8))
    assert values(got["pit_user_plays"]) == [10, 20, 10, 10, 11, None, 11, 20]
    assert values(got["pit_pair_plays"]) == [100, 300, 200, 100, 101, None, 200, None]
    one = store.get_historical_features(entity_df=entity, features=store.get_feature_service("pit_both"),
                                        filter_by_created_timestamp=True).to_df().sort_values("row")
    for name in ("pit_user_plays", "pit_pair_plays"):
        assert values(got[name]) == values(one[name])
    # In parts, from the same retrieval: the same rows and values, part by part.
    parts = list(historical_parts(store, entity, [(0, 3), (3, 8)], "pit_both"))
    assert [p["row"].tolist() for p in parts] == [[0, 1, 2], [3, 4, 5, 6, 7]]
    assert values(pd.concat(parts)["pit_pair_plays"]) == [100, 300, 200, 100, 101, None, 200, None]
    # As lookups: one row per distinct (keys, timestamp), and each entity row's row among them.
    (user_rows, users), (pair_rows, pairs) = historical_lookups(store, entity, "pit_both")
    assert user_rows.tolist() == [0, 1, 0, 0, 2, 3, 2, 1]
    assert values(users["pit_user_plays"]) == [10, 20, 11, None]
    assert pair_rows.tolist() == [0, 1, 2, 0, 3, 4, 5, 6]
    assert values(pairs["pit_pair_plays"]) == [100, 300, 200, 101, None, 200, None]
    # Retrieved a few distinct rows per Feast call: the same lookups.
    from setlist import featurestore
    monkeypatch.setattr(featurestore, "RETRIEVAL_CHUNK_ROWS", 2)
    (user_rows, users), (pair_rows, pairs) = historical_lookups(store, entity, "pit_both")
    assert user_rows.tolist() == [0, 1, 0, 0, 2, 3, 2, 1]
    assert values(users["pit_user_plays"]) == [10, 20, 11, None]
    assert users.index.tolist() == [0, 1, 2, 3]
    assert values(pairs["pit_pair_plays"]) == [100, 300, 200, 101, None, 200, None]


def test_group_rows_number_distinct_keys_in_order_of_first_appearance():
    from setlist.featurestore import group_rows
    when = pa.DictionaryArray.from_arrays(pa.array([0, 0, 1, 0, 1, 0], pa.int8()),
                                          pa.array([hours(24), hours(44)], pa.timestamp("us", tz="UTC")))
    table = pa.table({"user_id": pa.chunked_array([pa.array(["u2", "u1"]).dictionary_encode(),
                                                   pa.array(["u2", "u1", "u2", "u1"]).dictionary_encode()]),
                      "genre": pa.array(["pop", None, "pop", None, "pop", "rock"]),
                      "event_timestamp": when})
    row, first = group_rows(table, ["user_id"])
    assert row.dtype == "int32" and row.tolist() == [0, 1, 0, 1, 0, 1] and first.tolist() == [0, 1]
    row, first = group_rows(table, ["user_id", "genre", "event_timestamp"])
    # (u2, pop, 24) (u1, -, 24) (u2, pop, 44) (u1, -, 24) (u2, pop, 44) (u1, rock, 24): nulls group together
    assert row.tolist() == [0, 1, 2, 1, 2, 3] and first.tolist() == [0, 1, 2, 5]
    row, first = group_rows(table.slice(0, 0), ["user_id", "genre"])
    assert row.tolist() == [] and first.tolist() == []
