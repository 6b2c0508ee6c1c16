"""Playlists: rerank each listener's candidates, apply their controls, the
governance overrides and their experiment arm's policy, sequence the result,
and give every track a reason.

Scoring runs on Spark (``mapInArrow`` with the current XGBoost model and
the retrieved Feast values broadcast; each candidate row brings its own
features and its row numbers into those values). Everything per listener
runs on Spark too (never a driver loop): the pool is partitioned by
listener, so all of a listener's candidates sit together in one partition,
and each Arrow batch of a partition is turned into playlists
(``build_playlists``): ``setlist.jobs.playlist_policy`` chooses each
listener's tracks, ``setlist.jobs.sequencing`` orders the batch's lists
together. Rules that always hold: no two adjacent tracks by one artist, at most ``playlists.max_per_artist`` per
artist, excluded artists never appear; when the rules cannot be met the list
ends early rather than break them.

Every reason names only what the listener did or asked for: "because you
played <track> by <artist>" needs that track in their recent plays; "because
you listen to <artist>" needs plays of that artist in the feature window.
Listeners without personalisation consent get the shared non-personalised
list; listeners with a deletion request get nothing.
"""

from __future__ import annotations

import dataclasses
import functools
import json

import numpy as np
import pandas as pd

from setlist.jobs import playlist_policy as policy
from setlist.jobs import sequencing

OUT_SCHEMA = ("user_id string, position int, track_id string, artist_id string, score double, source string, "
              "reason string, arm string, propensity double, transition_cost double, override string, "
              "played_before boolean")
CONTROL_COLS = ("novelty", "locked_artist_ids", "locked_eras", "seed_track_ids", "excluded_artist_ids")
# The candidate columns scoring keeps; candidates are retrieved and scored about this many rows at a time.
SCORED_BASE = ("user_id", "track_id", "artist_id", "source", "coli_seed_track_id")
RETRIEVAL_ROWS = 500_000


def policy_config(pc) -> policy.PolicyConfig:
    arms = tuple(policy.Arm(**a) for a in pc.arms)
    return policy.PolicyConfig(length=pc.length, max_per_artist=pc.max_per_artist, experiment=pc.experiment,
                               arms=arms, exploration_share=pc.exploration_share,
                               sequencing=sequencing.SequencingConfig(**pc.sequencing))


def reason(row, controls: dict) -> str:
    return _reason(row.artist_name, row.artist_id, row.source, row.track_id, row.coli_seed_title,
                   row.coli_seed_artist, row.listened, row.editorial_now, row.genre,
                   controls.get("seed_track_ids") or [], controls.get("locked_artist_ids") or [])


def _reason(artist_name, artist_id, source, track_id, coli_seed_title, coli_seed_artist, listened, editorial_now,
            genre, seed_track_ids, locked_artist_ids) -> str:
    artist = artist_name or artist_id
    if source == "explore":
        return "something new to discover"
    if track_id in seed_track_ids:
        return "you asked to start with this track"
    if artist_id in locked_artist_ids:
        return f"you asked for more of {artist}"
    if source == "coli" and isinstance(coli_seed_title, str):
        return f"because you played {coli_seed_title} by {coli_seed_artist}"
    if source == "new" and listened:
        return f"new from {artist}, an artist you listen to"
    if listened:
        return f"because you listen to {artist}"
    if editorial_now:
        return "editor's pick"
    if source == "genre_pop":
        return f"popular in {genre}, a genre you play" if isinstance(genre, str) else "popular with listeners like you"
    return _SOURCE_REASON.get(source, "trending on Setlist this week")


_SOURCE_REASON = {"als": "popular with listeners like you", "content": "matches the sound you like",
                  "new": "a new release in a genre you play", "familiar": "one of your recent favourites"}
OUT_COLUMNS = [s.split()[0] for s in OUT_SCHEMA.split(", ")]
# Columns read per candidate row besides the policy's (see ``playlist_policy.COLUMNS``), and those ``_choose`` reads.
_READ = ("user_id", "tempo", "energy", "key", "mode", "artist_name", "coli_seed_title", "coli_seed_artist",
         "listened", "editorial_now", "genre", "override_reason")
_CHOOSE = ("user_id", *policy.COLUMNS)
# What ``playlists_on_spark`` sends to Python per candidate row (a listener's controls travel once, on a row of their own).
SHIPPED = tuple(dict.fromkeys(("user_id", *policy.COLUMNS, *_READ)))


def listener_controls(cand: dict) -> dict:
    """A listener's controls from the first row of their candidate columns (lists never missing)."""
    controls = {k: (cand[k][0] if k in cand else None) for k in CONTROL_COLS}
    for k in CONTROL_COLS[1:]:
        v = controls[k]
        controls[k] = list(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else []
    return controls


def controls_by_listener(c: pd.DataFrame) -> dict:
    """{user_id: controls} for the listeners in ``c`` with any control set.
    The controls sit either in ``CONTROL_COLS`` on every candidate row, or as
    JSON in ``controls_json`` on one row of their own, without a track_id
    (what ``playlists_on_spark`` sends)."""
    if "controls_json" in c:
        rows = c.loc[c["controls_json"].notna(), ["user_id", "controls_json"]]
        return {u: listener_controls({k: [v] for k, v in json.loads(j).items()})
                for u, j in rows.itertuples(index=False, name=None)}
    present = [k for k in CONTROL_COLS if k in c]
    if not present:
        return {}
    rows = c.loc[c[present].notna().any(axis=1), ["user_id", *present]].drop_duplicates("user_id")
    return {u: listener_controls({k: [v] for k, v in zip(present, vals)})
            for u, *vals in rows.itertuples(index=False, name=None)}


_NO_CONTROLS = listener_controls({})


def _choose(cand: dict, controls: dict, cfg: policy.PolicyConfig, ds: str, arm: policy.Arm | None = None):
    """One listener's tracks before ordering (column arrays in, positions out):
    (arm, controls, rows, scores, sources, propensities, head, frame, start)
    where ``head`` (seeds kept in front as asked) and ``frame`` (the list to
    sequence, opened by the last seed if any) index ``rows``; None when no
    candidate is left."""
    user = cand["user_id"][0]
    arm = policy.assign_arm(user, cfg.experiment, cfg.arms) if arm is None else arm
    rows, scores, seeds = policy.select_rows(cand, controls, arm, cfg)
    if not rows:
        return None
    tid = cand["track_id"]
    is_seed = [tid[r] in seeds for r in rows]
    sources = [cand["source"][r] for r in rows]
    prop = policy.explore_rows(rows, scores, sources, is_seed, cand, cfg.exploration_share, user, ds,
                               cfg.max_per_artist, controls["excluded_artist_ids"])
    chosen = [tid[r] for r in rows]
    seed_rows = [chosen.index(s) for s in seeds if s in chosen]
    rest = [i for i in range(len(rows)) if i not in seed_rows]
    return (arm, controls, rows, scores, sources, prop, seed_rows[:-1], seed_rows[-1:] + rest,
            0 if seed_rows else None)


def _plain(listeners, arms, has_duplicates, controls_of: dict, cols: dict, starts, cfg: policy.PolicyConfig):
    """Per listener: True when their tracks are just the best-scored under the
    per-artist cap, before exploration (what ``policy.select_rows`` picks when
    nothing else applies): no controls, an arm without a novelty default or a
    protected share, no override on any candidate, no track twice."""
    simple = [a.novelty is None and not (a.policy == "fair" and a.target_share > 0) for a in arms]
    no_controls = [u not in controls_of for u in listeners.tolist()]
    flagged = np.logical_or.reduceat(cols["suppress"] | cols["demote"] | cols["boost"], starts)
    return np.array(simple) & np.array(no_controls) & ~flagged & ~has_duplicates


def _top_rows(cols: dict, codes: np.ndarray, artist: np.ndarray, plain: np.ndarray, cfg: policy.PolicyConfig):
    """The picks of every plain listener at once: their candidate rows in the
    order ``policy.select_rows`` walks them (score descending, missing last,
    then track_id, then input order), each kept while its artist has fewer
    than ``max_per_artist`` rows before it, the first ``length`` kept.
    ``codes``: each row's listener (0 ..), ``artist``: each row's artist code.
    Returns (rows, grouped by listener code; offsets: listener m's rows are
    rows[offsets[m]:offsets[m + 1]])."""
    score = cols["score"].astype(float)
    missing = np.isnan(score)
    idx = np.flatnonzero(plain[codes])
    order = idx[np.lexsort((cols["track_rank"][idx], -np.where(missing, 0.0, score)[idx], missing[idx], codes[idx]))]
    who = codes[order]
    # Rows of the same listener and artist before each row, in walk order: its
    # place in a stable sort by (listener, artist) minus where that run starts.
    pair = who * np.int64(artist.max() + 2) + (artist[order] + 1)
    by_pair = np.argsort(pair, kind="stable")
    run = pair[by_pair]
    place = np.arange(len(run))
    first = np.maximum.accumulate(np.where(np.r_[True, run[1:] != run[:-1]], place, 0))
    earlier = np.empty(len(order), dtype=np.int64)
    earlier[by_pair] = place - first
    kept = earlier < cfg.max_per_artist
    # Kept rows up to and including each row, within its listener.
    total = np.cumsum(kept)
    starts = np.searchsorted(who, who)
    taken = total - np.r_[0, total][starts]
    rows = order[kept & (taken <= cfg.length)]
    return rows, np.searchsorted(codes[rows], np.arange(len(plain) + 1))


def build_playlists(c: pd.DataFrame, cfg: policy.PolicyConfig, ds: str) -> pd.DataFrame:
    """The playlists of every listener in ``c`` (enriched, scored candidates;
    a listener's rows need not be next to each other), one row per track.

    Per listener: choose the tracks (``_choose``), then all the lists are
    sequenced together (``sequencing.order_batch``), then each playlist is
    laid out with a reason per track.
    """
    controls_of = controls_by_listener(c)
    if c["track_id"].isna().any():
        c = c[c["track_id"].notna()]
    if c.empty:
        return pd.DataFrame({k: pd.Series(dtype=t) for k, t in _OUT_DTYPES.items()})
    codes, _ = pd.factorize(c["user_id"])
    perm = np.argsort(codes, kind="stable")
    codes = codes[perm]
    cols = {k: c[k].to_numpy()[perm] for k in (*policy.COLUMNS, *_READ) if k in c}
    cols["track_rank"] = policy.track_ranks(cols["track_id"])
    for k in ("override_action", "override_reason"):
        cols[k] = cols[k].astype(object) if k in cols else np.full(len(c), None, dtype=object)
    policy.action_flags(cols)
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    twice = pd.DataFrame({"u": codes, "t": cols["track_rank"]}).duplicated().to_numpy()
    has_duplicates = np.logical_or.reduceat(twice, starts)
    listeners = cols["user_id"][starts]
    arms = [policy.assign_arm(u, cfg.experiment, cfg.arms) for u in listeners.tolist()]
    plain = _plain(listeners, arms, has_duplicates, controls_of, cols, starts, cfg)
    artist_codes = pd.factorize(cols["artist_id"])[0]
    top, top_at = _top_rows(cols, codes, artist_codes, plain, cfg) if plain.any() else (None, None)
    choose = [k for k in (*_CHOOSE, "track_rank", "suppress", "demote", "boost") if k in cols]
    score, source = cols["score"], cols["source"]
    starts = starts.tolist()
    picks, lists, opens = [], [], []
    for m, (lo, hi, dup) in enumerate(zip(starts, starts[1:] + [len(c)], has_duplicates.tolist())):
        if plain[m]:
            rows = top[top_at[m]:top_at[m + 1]].tolist()
            if not rows:
                continue
            scores, sources = score[rows].astype(float).tolist(), source[rows].tolist()
            # Exploration as ``_choose`` does it, on the listener's own rows (positions from lo).
            cand = {k: cols[k][lo:hi] for k in choose}
            cand["has_duplicates"] = False
            local = [r - lo for r in rows]
            prop = policy.explore_rows(local, scores, sources, [False] * len(local), cand, cfg.exploration_share,
                                       listeners[m], ds, cfg.max_per_artist)
            rows = [lo + r for r in local]
            lists.append(rows)
            opens.append(None)
            picks.append((rows, arms[m], _NO_CONTROLS, scores, sources, prop, [], list(range(len(rows)))))
            continue
        cand = {k: cols[k][lo:hi] for k in choose}
        cand["has_duplicates"] = dup
        pick = _choose(cand, controls_of.get(cand["user_id"][0], _NO_CONTROLS), cfg, ds, arms[m])
        if pick is None:
            continue
        rows = [lo + r for r in pick[2]]
        lists.append([rows[i] for i in pick[7]])
        opens.append(pick[8])
        picks.append((rows, *pick[:2], *pick[3:8]))
    orders = sequencing.order_batch(*(cols[k].astype(float) for k in ("tempo", "energy", "key", "mode")),
                                    artist_codes, lists, opens, cfg.sequencing)
    artist = cols["artist_id"]
    out_rows, scores, sources, props, positions, arms, seed_ids, locked = [], [], [], [], [], [], [], []
    for (rows, arm, controls, score, source, prop, head, frame), order in zip(picks, orders):
        final = head + [frame[o] for o in order]
        # Adjacent duplicates can only come from seeds the listener chose; keep their order, drop clashes after.
        final = [final[0]] + [final[p] for p in range(1, len(final))
                              if artist[rows[final[p]]] != artist[rows[final[p - 1]]]]
        out_rows += [rows[i] for i in final]
        scores += [score[i] for i in final]
        sources += [source[i] for i in final]
        props += [float(prop[i]) for i in final]
        positions += range(1, len(final) + 1)
        arms += [arm.name] * len(final)
        seed_ids += [controls["seed_track_ids"]] * len(final)
        locked += [controls["locked_artist_ids"]] * len(final)
    r = np.array(out_rows, dtype=np.int64)
    position = np.array(positions, dtype=np.int32)
    # One pass over every listed track: the cost from the track before, 0 for a playlist's first.
    cost = sequencing.consecutive_costs(cols["tempo"][r], cols["energy"][r].astype(float), cols["key"][r],
                                        cols["mode"][r], cfg.sequencing)
    action, why = cols["override_action"][r], cols["override_reason"][r]
    reasons = list(map(_reason, *(cols[k][r].tolist() for k in ("artist_name", "artist_id")), sources,
                       *(cols[k][r].tolist() for k in ("track_id", "coli_seed_title", "coli_seed_artist",
                                                       "listened", "editorial_now", "genre")), seed_ids, locked))
    tid = cols["track_id"]
    out = pd.DataFrame({
        "user_id": cols["user_id"][r], "position": position, "track_id": tid[r], "artist_id": artist[r],
        "score": np.array(scores, dtype=float), "source": sources, "reason": reasons, "arm": arms,
        "propensity": np.array(props, dtype=float),
        "transition_cost": np.where(position == 1, 0.0, np.r_[0.0, cost]),
        "override": [f"{a}: {w}" if isinstance(a, str) else None for a, w in zip(action, why)],
        "played_before": cols["played_before"][r]})
    return out


_OUT_DTYPES = {"user_id": object, "position": "int32", "track_id": object, "artist_id": object, "score": float,
               "source": object, "reason": object, "arm": object, "propensity": float, "transition_cost": float,
               "override": object, "played_before": bool}


def build_playlist(c: pd.DataFrame, cfg: policy.PolicyConfig, ds: str) -> pd.DataFrame:
    """One listener's playlist from their enriched, scored candidates."""
    return build_playlists(c, cfg, ds)


def playlists_on_spark(pool, cfg: policy.PolicyConfig, ds: str, controls=None):
    """Every listener's playlist, on Spark: the pool is partitioned by listener
    (all of a listener's candidates in one partition, next to each other) and
    each partition's Arrow batches become playlists, listener by listener.

    Only the columns the policy reads travel to Python. ``controls`` (one row
    per listener: user_id and ``CONTROL_COLS``) travel as one extra row per
    listener holding them as JSON, not on each of the listener's hundred
    candidate rows: list columns, even empty ones, are what costs most to send
    (on tier s, sending the candidates took 5.3 s with the controls as list
    columns, 3.1 s with them as one JSON row per listener)."""
    from pyspark.sql import functions as F
    rows = pool.select(*[c for c in (*SHIPPED, *CONTROL_COLS) if c in pool.columns])
    if controls is not None:
        packed = controls.select("user_id", F.to_json(F.struct(*CONTROL_COLS)).alias("controls_json"))
        rows = rows.unionByName(packed, allowMissingColumns=True)
    by_user = rows.repartition("user_id").sortWithinPartitions("user_id")
    return by_user.mapInArrow(lambda batches: _stream_arrow(batches, cfg, ds), OUT_SCHEMA)


def _stream_arrow(batches, cfg: policy.PolicyConfig, ds: str):
    """``_stream`` over Arrow record batches: pyarrow's own conversion to and
    from pandas, cheaper than ``mapInPandas``' column-by-column one."""
    import pyarrow as pa
    types = {"string": pa.string(), "int": pa.int32(), "double": pa.float64(), "boolean": pa.bool_()}
    schema = pa.schema([(name, types[kind]) for name, kind in (f.split() for f in OUT_SCHEMA.split(", "))])
    for out in _stream((b.to_pandas() for b in batches), cfg, ds):
        yield pa.RecordBatch.from_pandas(out, schema=schema, preserve_index=False)


def _stream(batches, cfg: policy.PolicyConfig, ds: str):
    """Playlists of a partition sorted by listener. A batch may end in the
    middle of a listener's rows: those wait for the next batch."""
    carry = None
    for batch in batches:
        if carry is not None:
            batch = pd.concat([carry, batch], ignore_index=True)
        if batch.empty:
            continue
        users = batch["user_id"].to_numpy()
        cut = len(users) - int(np.argmax(users[::-1] != users[-1])) if (users != users[-1]).any() else 0
        carry = batch.iloc[cut:]
        if cut:
            yield build_playlists(batch.iloc[:cut], cfg, ds)
    if carry is not None and len(carry):
        yield build_playlists(carry, cfg, ds)


@dataclasses.dataclass(frozen=True)
class Reranker:
    """The current model, and where each of its features is found for a
    candidate row: a column of the candidates' frame, or a lookup.

    ``lookups[i]`` = (feature names, float32 values with one row per distinct
    (keys, timestamp) of a group of Feast views), and a candidate's values are
    that group's row ``frame[lookup_column(i)]``. So each listener's hundred
    candidate rows carry a few row numbers instead of the listener's, track's
    and artist's features, and the values travel to Spark once, broadcast.
    """
    raw: bytes                  # XGBoost JSON
    features: tuple[str, ...]   # in the model's order
    version: str
    lookups: tuple = ()

    def shared(self, spark):
        """(raw, lookups) broadcast to the workers, once for every slice this model scores."""
        cached = self.__dict__.get("_shared")
        if cached is None or cached[0] is not spark.sparkContext:
            cached = (spark.sparkContext, spark.sparkContext.broadcast((self.raw, list(self.lookups))))
            object.__setattr__(self, "_shared", cached)
        return cached[1]

    @property
    def own(self) -> list[str]:
        """The features that are columns of the candidates' frame."""
        looked = {n for names, _ in self.lookups for n in names}
        return [f for f in self.features if f not in looked]


def lookup_column(i: int) -> str:
    return f"_lookup_{i}"


def feature_vectors(features: pd.DataFrame, names: list[str]):
    """The rows' features as one Arrow binary column: each row's float32
    values in ``names`` order, end to end (missing values stay NaN).

    Spark moves a row's vector as one value instead of one column per
    feature: on a 500,060-row slice of 102 features, the transfer to the
    Python workers took 1.5 s this way against 4.2 s column by column.
    """
    import pyarrow as pa
    X = np.ascontiguousarray(features[list(names)].to_numpy(np.float32, na_value=np.nan))
    width = 4 * len(names)
    offsets = np.arange(0, (len(X) + 1) * width, width, dtype=np.int64)
    return pa.Array.from_buffers(pa.large_binary(), len(X), [None, pa.py_buffer(offsets), pa.py_buffer(X)])


def vector_matrix(column, width: int) -> np.ndarray:
    """The (rows, width) float32 matrix of a ``feature_vectors`` column (binary
    or large binary, as Spark hands it back), without copying."""
    import pyarrow as pa
    column = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    if column.null_count:
        raise ValueError("a candidate row has no feature vector")
    kind = np.int64 if pa.types.is_large_binary(column.type) else np.int32
    _, offsets, data = column.buffers()
    ends = np.frombuffer(offsets, dtype=kind)[column.offset:column.offset + len(column) + 1]
    if ends[-1] - ends[0] != 4 * width * len(column):
        raise ValueError(f"feature vectors of {(ends[-1] - ends[0]) / max(len(column), 1) / 4:.1f} values "
                         f"per row on average, expected {width}: the model's feature list and the "
                         f"scored frame differ")
    return np.frombuffer(data, dtype=np.float32, count=width * len(column),
                         offset=int(ends[0])).reshape(len(column), width)


def feature_matrix(features: tuple[str, ...], own_names: list[str], own: np.ndarray, lookups, rows) -> np.ndarray:
    """The (n, len(features)) float32 model input of n candidate rows: their
    ``own`` values (columns ``own_names``) and, for each lookup (names,
    values), ``values[rows[i]]``."""
    at = {name: i for i, name in enumerate(features)}
    X = np.empty((len(own), len(features)), dtype=np.float32)
    _place(X, [at[n] for n in own_names], own)
    for (names, values), r in zip(lookups, rows):
        _place(X, [at[n] for n in names], values[r])
    return X


def _place(X: np.ndarray, columns: list[int], block: np.ndarray) -> None:
    """X[:, columns] = block, by slices where ``columns`` runs in steps of one
    (a scattered column assignment is several times slower)."""
    columns = np.asarray(columns)
    runs = np.flatnonzero(np.diff(columns) != 1) + 1
    for lo, hi in zip(np.r_[0, runs], np.r_[runs, len(columns)]):
        X[:, columns[lo]:columns[lo] + hi - lo] = block[:, lo:hi]


def top_per_listener(table, n: int):
    """The rows of an Arrow table among each listener's ``n`` best by score
    (ties by track_id), in that order: the rows a window over all of the
    listener's rows would keep, whichever batch they came in."""
    return table.take(top_rows(table, n))


def top_rows(table, n: int) -> np.ndarray:
    """The indices of ``top_per_listener``'s rows."""
    import pyarrow.compute as pc
    order = pc.sort_indices(table, sort_keys=[("user_id", "ascending"), ("score", "descending"),
                                              ("track_id", "ascending")])
    users = pc.take(table.column("user_id"), order).combine_chunks().dictionary_encode().indices.to_numpy()
    firsts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    rank = np.arange(len(users)) - np.repeat(firsts, np.diff(np.r_[firsts, len(users)]))
    return order.to_numpy()[rank < n]


def listener_batches(users: np.ndarray, limit: int) -> list[tuple[int, int]]:
    """(start, end) row ranges over ``users`` (grouped by listener) of at most
    ``limit`` rows each, never splitting a listener."""
    firsts = np.r_[np.flatnonzero(users[1:] != users[:-1]) + 1, len(users)]
    cuts = [0]
    while cuts[-1] < len(users):
        k = int(np.searchsorted(firsts, cuts[-1] + limit, side="right")) - 1
        if k < 0 or firsts[k] <= cuts[-1]:
            biggest = int(np.diff(np.r_[0, firsts]).max())
            raise ValueError(f"a listener has {biggest:,} candidates, more than an Arrow batch holds "
                             f"(spark.sql.execution.arrow.maxRecordsPerBatch = {limit:,}): raise that setting "
                             f"above the largest candidate count")
        cuts.append(int(firsts[k]))
    return list(zip(cuts, cuts[1:]))


def score_frame(spark, frame: pd.DataFrame, model: Reranker | None, top_n: int | None = None,
                shortlist: tuple[int, int] | None = None):
    """Spark DataFrame of (user_id, track_id, artist_id, source,
    coli_seed_track_id, score) for the candidates in ``frame`` (sorted by
    user_id). With ``top_n``, only each listener's ``top_n`` best rows (ties
    by track_id).

    ``shortlist`` = (trees, size), with ``top_n``: the model's first ``trees``
    trees choose each listener's ``size`` best rows, and only those are
    scored by the whole model (a cascade: the rest cannot be kept).

    The rows go to Spark in Arrow batches of whole listeners, one batch per
    partition (how ``createDataFrame`` spreads an Arrow table that is not
    turned into a local relation), so each listener's rows reach one Python
    worker in order, and its top ``top_n`` is kept there, with no shuffle: a
    listener cut between two of the worker's batches waits for the next one.
    """
    import pyarrow as pa
    base_cols = list(SCORED_BASE)
    if model is None:
        from setlist.jobs.train import baseline_score
        scored = spark.createDataFrame(frame[base_cols].assign(score=baseline_score(frame)))
        return scored if top_n is None else _window_top(scored, top_n)
    users = frame["user_id"].to_numpy()
    if len(users) > 1 and not (users[1:] >= users[:-1]).all():
        raise ValueError("score_frame needs the candidates sorted by user_id")
    own, lookups = model.own, list(model.lookups)
    columns = {c: pa.array(frame[c].to_numpy(), pa.string()) for c in base_cols}
    columns["own"] = feature_vectors(frame, own)
    for i in range(len(lookups)):
        columns[lookup_column(i)] = pa.array(frame[lookup_column(i)].to_numpy(np.int32))
    table = pa.table(columns)
    limit = int(spark.conf.get("spark.sql.execution.arrow.maxRecordsPerBatch"))
    table = pa.Table.from_batches([b for lo, hi in listener_batches(users, limit)
                                   for b in table.slice(lo, hi - lo).to_batches()], schema=table.schema)
    # Spark keeps one batch per partition unless the table is small enough to become a local relation,
    # whose rows it splits evenly, wherever the listeners end: never here.
    key = "spark.sql.execution.arrow.localRelationThreshold"
    before = spark.conf.get(key)
    spark.conf.set(key, "0")
    try:
        sdf = spark.createDataFrame(table)
    finally:
        spark.conf.set(key, before)
    shared = model.shared(spark)
    features, width = model.features, len(own)

    def predict(batches):
        import xgboost as xgb
        raw, lookups = shared.value
        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
        # One thread per Spark task (Spark runs the tasks side by side); XGBoost
        # scores float32, so the features go in as float32, without a DMatrix.
        booster.set_param({"nthread": 1})
        first = shortlist if shortlist and top_n and shortlist[0] < booster.num_boosted_rounds() else None

        def scored(t):
            X = feature_matrix(features, own, vector_matrix(t.column("own"), width), lookups,
                               [t.column(lookup_column(i)).to_numpy() for i in range(len(lookups))])
            t = t.select(base_cols)
            if first is not None:
                coarse = booster.inplace_predict(X, iteration_range=(0, first[0]))
                keep = top_rows(t.select(["user_id", "track_id"]).append_column("score", pa.array(coarse)),
                                first[1])
                t, X = t.take(keep), X[keep]
            out = t.append_column("score", pa.array(booster.inplace_predict(X).astype(np.float64)))
            return (top_per_listener(out, top_n) if top_n else out).to_batches()

        if not top_n:
            for b in batches:
                yield from scored(pa.Table.from_batches([b]))
            return
        carry = None
        for b in batches:
            t = pa.Table.from_batches([b])
            t = t if carry is None else pa.concat_tables([carry, t]).combine_chunks()
            # The batch's last listener may go on in the next batch.
            user = t.column("user_id").to_numpy(zero_copy_only=False)
            cut = int(np.searchsorted(user, user[-1]))
            if cut:
                yield from scored(t.slice(0, cut))
            carry = t.slice(cut)
        if carry is not None and carry.num_rows:
            yield from scored(carry)

    return sdf.mapInArrow(predict, "user_id string, track_id string, artist_id string, source string, "
                                   "coli_seed_track_id string, score double")


def _window_top(scored, top_n: int):
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    top = Window.partitionBy("user_id").orderBy(F.desc("score"), F.asc("track_id"))
    return scored.withColumn("_r", F.row_number().over(top)).where(F.col("_r") <= top_n).drop("_r")


def enrich(ctx, scored, users):
    """Join what the per-listener policy needs: catalogue, history, overrides,
    and the extra rows the listeners' controls ask for (the controls themselves
    go to ``playlists_on_spark`` on their own)."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    lake, ds, pc = ctx.lake, ctx.ds, ctx.config.playlists
    tracks = lake.read("silver", "tracks", ds=ds)
    names = lake.read("silver", "artists", ds=ds).select("artist_id", F.col("name").alias("artist_name"))
    pop = lake.read("gold", "track_popularity", ds=ds).select("track_id", "track_plays_28d", "track_plays_7d",
                                                              "track_editorial_now")
    emerging = lake.read("gold", "artist_stats", ds=ds).select("artist_id", "artist_emerging")
    pct = F.percent_rank().over(Window.orderBy("track_plays_28d"))
    tail = pop.withColumn("long_tail", pct < pc.long_tail_percentile).select("track_id", "long_tail")
    start = ctx.shift(-(ctx.config.pipeline.feature_window_days - 1))
    window_plays = (lake.read("silver", "listening_events", ds_range=(start, ds)).join(users, "user_id", "left_semi")
                    .groupBy("user_id", "track_id").agg(F.count("*").alias("plays")))
    played = window_plays.select("user_id", "track_id").withColumn("played_before", F.lit(True))
    # The listener's most played tracks join the pool so a low novelty setting can be met exactly.
    favourites = (window_plays.withColumn("r", F.row_number().over(Window.partitionBy("user_id").orderBy(
        F.desc("plays"), "track_id"))).where(F.col("r") <= 3 * pc.length).select("user_id", "track_id"))
    listened = lake.read("gold", "user_artist_affinity", ds=ds).select("user_id", "artist_id").withColumn(
        "listened", F.lit(True))
    controls = lake.read("silver", "user_controls", ds=ds).drop("ds")
    overrides = (lake.read("silver", "governance_overrides", ds=ds)
                 .where((F.col("start_ds") <= F.lit(ds).cast("date")) & (F.col("end_ds") >= F.lit(ds).cast("date"))))
    ov_track = overrides.where("target_type = 'track'").select(
        F.col("target_id").alias("track_id"), F.col("action").alias("ov_t_action"), F.col("reason").alias("ov_t_reason"))
    ov_artist = overrides.where("target_type = 'artist'").select(
        F.col("target_id").alias("artist_id"), F.col("action").alias("ov_a_action"), F.col("reason").alias("ov_a_reason"))
    seed_info = tracks.select(F.col("track_id").alias("coli_seed_track_id"), F.col("title").alias("coli_seed_title"),
                              F.col("artist_id").alias("seed_artist")).join(
        names.select(F.col("artist_id").alias("seed_artist"), F.col("artist_name").alias("coli_seed_artist")),
        "seed_artist", "left").drop("seed_artist")
    # Seed tracks and locked artists/eras the candidates lack join the pool as extra rows.
    top_by_artist = (tracks.select("track_id", "artist_id").join(pop, "track_id", "left")
                     .withColumn("r", F.row_number().over(Window.partitionBy("artist_id").orderBy(
                         F.desc_nulls_last("track_plays_28d"), "track_id"))).where("r = 1")
                     .select("artist_id", "track_id"))
    era = F.concat((F.floor(F.year("release_date") / 10) * 10).cast("int").cast("string"), F.lit("s"))
    top_by_era = (tracks.withColumn("era", era).join(pop, "track_id", "left")
                  .withColumn("r", F.row_number().over(Window.partitionBy("era").orderBy(
                      F.desc_nulls_last("track_plays_28d"), "track_id"))).where("r <= 3").select("era", "track_id"))
    ctl = controls.join(users, "user_id", "left_semi")
    extra = (ctl.select("user_id", F.explode("seed_track_ids").alias("track_id"))
             .unionByName(favourites)
             .unionByName(ctl.select("user_id", F.explode("locked_artist_ids").alias("artist_id"))
                          .join(top_by_artist, "artist_id").select("user_id", "track_id"))
             .unionByName(ctl.select("user_id", F.explode("locked_eras").alias("era")).join(top_by_era, "era")
                          .select("user_id", "track_id"))
             .join(tracks.select("track_id", "artist_id"), "track_id")
             .join(scored.select("user_id", "track_id"), ["user_id", "track_id"], "left_anti")
             .join(favourites.withColumn("fav", F.lit(True)), ["user_id", "track_id"], "left")
             .withColumn("source", F.when(F.col("fav"), "familiar").otherwise("requested")).drop("fav")
             .withColumn("coli_seed_track_id", F.lit(None).cast("string"))
             .withColumn("score", F.lit(None).cast("double")))
    low = scored.groupBy("user_id").agg((F.min("score") - 1).alias("floor"))
    extra = extra.join(low, "user_id", "left").withColumn("score", F.coalesce("floor", F.lit(0.0))).drop("floor")
    pool = scored.unionByName(extra.select(*scored.columns))
    return (pool.join(tracks.select("track_id", "title", "genre", "release_date", "tempo", "energy", "key", "mode"),
                      "track_id", "left")
            .join(F.broadcast(names), "artist_id", "left")
            .join(pop.select("track_id", "track_plays_7d", F.col("track_editorial_now").alias("editorial_now")),
                  "track_id", "left")
            .join(tail, "track_id", "left").join(emerging, "artist_id", "left")
            .join(played, ["user_id", "track_id"], "left").join(listened, ["user_id", "artist_id"], "left")
            .join(F.broadcast(ov_track), "track_id", "left").join(F.broadcast(ov_artist), "artist_id", "left")
            .join(F.broadcast(seed_info), "coli_seed_track_id", "left")
            .withColumn("played_before", F.coalesce("played_before", F.lit(False)))
            .withColumn("listened", F.coalesce("listened", F.lit(False)))
            .withColumn("editorial_now", F.coalesce(F.col("editorial_now"), F.lit(0)) == 1)
            .withColumn("protected", F.coalesce("long_tail", F.lit(False)) | (F.coalesce("artist_emerging", F.lit(0)) == 1))
            .withColumn("under_exposed", F.coalesce("track_plays_7d", F.lit(0)) <= pc.under_exposed_max_plays_7d)
            .withColumn("override_action", F.coalesce("ov_t_action", "ov_a_action"))
            .withColumn("override_reason", F.coalesce("ov_t_reason", "ov_a_reason"))
            .drop("ov_t_action", "ov_a_action", "ov_t_reason", "ov_a_reason", "long_tail", "artist_emerging"))


def fallback_list(placements, popularity, tracks, ds: str, length: int, max_per_artist: int,
                  seq: sequencing.SequencingConfig) -> pd.DataFrame:
    """The non-personalised list: editorial picks live on ds, then this week's
    most played tracks, under the same artist rules, sequenced like the rest."""
    from pyspark.sql import functions as F
    live = (placements.where((F.col("start_ds") <= F.lit(ds).cast("date")) & (F.col("end_ds") >= F.lit(ds).cast("date")))
            .groupBy("track_id").agg(F.min("position").alias("best_position")))
    pdf = (tracks.select("track_id", "artist_id", "tempo", "energy", "key", "mode").join(live, "track_id", "left")
           .join(popularity.select("track_id", "track_plays_7d"), "track_id", "left")
           .where(F.col("best_position").isNotNull() | (F.col("track_plays_7d") > 0)).toPandas())
    pdf["source"] = np.where(pdf["best_position"].notna(), "editorial", "popular")
    pdf["score"] = (1e6 - pdf["best_position"]).fillna(0) + pdf["track_plays_7d"].fillna(0) / 1e6
    pdf = pdf.sort_values(["score", "track_id"], ascending=[False, True], kind="stable")
    picked, per_artist = [], {}
    for row in pdf.itertuples(index=False):
        if len(picked) == length:
            break
        if per_artist.get(row.artist_id, 0) < max_per_artist:
            picked.append(row)
            per_artist[row.artist_id] = per_artist.get(row.artist_id, 0) + 1
    chosen = pd.DataFrame(picked, columns=pdf.columns).reset_index(drop=True)
    order = sequencing.order_tracks(chosen, seq) if len(chosen) else []
    out = chosen.iloc[order].reset_index(drop=True)
    wheel = [sequencing.camelot(k, m) for k, m in zip(out["key"], out["mode"])]
    C = sequencing.transition_costs(out["tempo"], out["energy"].to_numpy(float), wheel, seq)
    out["transition_cost"] = [0.0] + [float(C[i - 1, i]) for i in range(1, len(out))]
    out["position"] = np.arange(1, len(out) + 1, dtype="int32")
    out["reason"] = np.where(out["source"] == "editorial", "editor's pick", "trending on Setlist this week")
    return out[["position", "track_id", "artist_id", "score", "source", "reason", "transition_cost"]]


def scoring_slices(ctx):
    """What the reranker scores for ds, in slices of whole listeners of about
    ``RETRIEVAL_ROWS`` candidates, sorted by listener: yields (candidates,
    model), the model a ``Reranker`` when one is current (each slice then
    holds its lookup row columns), else None.

    The day's candidates are read once, straight from the Delta files into
    Arrow: only the columns scoring reads, the strings dictionary-encoded (an
    index per row), the model's float features as float32 (XGBoost scores
    float32 values anyway). About 100 bytes per candidate stay in the driver,
    the lookups' row numbers included (tier m: 6.7 GB at the peak for 32.9M
    candidates, against 19.4 GB as pandas frames). Only a slice at a time
    becomes a pandas frame. The model's Feast features are retrieved
    point-in-time once for all slices (``featurestore.historical_lookups`` on
    that table) and stay in the model's lookups; a listener's candidates stay
    in one slice, so slices give the same top candidates per listener as the
    whole frame.
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from setlist import featurestore
    from setlist.contracts import columns
    from setlist.features.repo import ENTITIES
    from setlist.models import ModelStore

    ds = ctx.ds
    booster, meta = ModelStore(ctx.config.models_dir / "reranker").load()
    if booster is None:
        table = ctx.lake.read_arrow("gold", "candidates", ds=ds, dictionary=CANDIDATE_KEYS).drop_columns("ds")
        order, bounds = listener_order(table.column("user_id"), RETRIEVAL_ROWS)
        for lo, hi in bounds:
            yield _slice(table, order[lo:hi]), None
        return
    features = tuple(meta["features"])
    # Only what scoring reads: the slices' columns, Feast's join keys and the model's candidate features.
    present = [c for c, _ in columns("gold", "candidates")]
    wanted = {*SCORED_BASE, *(key for key, _ in ENTITIES.values()), *features}
    table = ctx.lake.read_arrow("gold", "candidates", ds=ds, columns=[c for c in present if c in wanted],
                                dictionary=CANDIDATE_KEYS)
    for name in features:
        if name in table.column_names and pa.types.is_floating(table.schema.field(name).type):
            table = table.set_column(table.schema.get_field_index(name), name,
                                     pc.cast(table.column(name), pa.float32()))
    order, bounds = listener_order(table.column("user_id"), RETRIEVAL_ROWS)
    when = pa.DictionaryArray.from_arrays(pa.array(np.zeros(table.num_rows, dtype=np.int8)),
                                          pa.array([featurestore.day_end(ds)], pa.timestamp("us", tz="UTC")))
    rows, lookups = [], []
    keys = table.append_column("event_timestamp", when)
    for row, values in featurestore.historical_lookups(featurestore.applied_store(ctx.config), keys):
        names = tuple(c for c in values.columns if c in features)
        if names:
            rows.append(row)
            lookups.append((names, np.ascontiguousarray(values[list(names)].to_numpy(np.float32, na_value=np.nan))))
    del keys, when
    model = Reranker(raw=bytes(booster.save_raw("json")), features=features, version=meta["version"],
                     lookups=tuple(lookups))
    missing = [f for f in model.own if f not in table.column_names]
    if missing:
        raise ValueError(f"the reranker {model.version} uses features that are neither candidate columns nor "
                         f"in the Feast FeatureService reranker_v1: {missing}; retrain it or restore them")
    table = table.select([*SCORED_BASE, *model.own])
    for lo, hi in bounds:
        picked = order[lo:hi]
        part = _slice(table, picked)
        for i, row in enumerate(rows):
            part[lookup_column(i)] = row[picked]
        yield part, model


# The candidates' string columns, read dictionary-encoded by ``scoring_slices``.
CANDIDATE_KEYS = ("user_id", "track_id", "artist_id", "genre", "source", "coli_seed_track_id")


def listener_order(users, rows: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """(order, bounds): the row order that sorts ``users`` (an Arrow column,
    plain or dictionary-encoded) by listener id, stable, and ``listener_slices``
    of that order: (start, end) ranges of at least ``rows`` rows, never
    splitting a listener."""
    import pyarrow as pa
    import pyarrow.compute as pc
    users = users.combine_chunks() if isinstance(users, pa.ChunkedArray) else users
    if not pa.types.is_dictionary(users.type):
        users = pc.dictionary_encode(users)
    if users.null_count:
        raise ValueError("a candidate row has no user_id")
    # Each dictionary entry's place among the sorted ids, then each row's.
    place = np.empty(len(users.dictionary), dtype=np.int64)
    place[pc.sort_indices(users.dictionary).to_numpy()] = np.arange(len(users.dictionary))
    key = place[users.indices.to_numpy()]
    order = np.argsort(key, kind="stable")
    order = order.astype(np.int32) if len(order) < 2**31 else order
    return order, listener_slices(key[order], rows)


def _slice(table, rows: np.ndarray) -> pd.DataFrame:
    """The candidate rows ``rows`` of an Arrow table as pandas, strings decoded."""
    import pyarrow as pa
    from setlist.storage import decoded
    part = table.take(rows)
    return pa.table({name: decoded(part.column(name)) for name in part.column_names}).to_pandas()


def listener_slices(users: np.ndarray, rows: int) -> list[tuple[int, int]]:
    """(start, end) row ranges over ``users`` (sorted) of at least ``rows``
    rows each (the last may be shorter), never splitting a listener."""
    n = len(users)
    firsts = np.flatnonzero(users[1:] != users[:-1]) + 1
    cuts = [0]
    while cuts[-1] + rows < n:
        k = int(np.searchsorted(firsts, cuts[-1] + rows))
        if k == len(firsts):
            break
        cuts.append(int(firsts[k]))
    return list(zip(cuts, cuts[1:] + [n]))


def rerank(spark, frame: pd.DataFrame, model: Reranker | None, top_n: int, shortlist: tuple[int, int] | None = None):
    """Each listener's top ``top_n`` candidates by reranker score (ties by
    track_id), on Spark; ``shortlist`` as in ``score_frame``."""
    return score_frame(spark, frame, model, top_n, shortlist)


def shortlist_of(pc) -> tuple[int, int] | None:
    """(trees, size) from the profile's ``playlists.shortlist_trees`` and ``shortlist_size``, or None when off."""
    return (pc.shortlist_trees, pc.shortlist_size) if pc.shortlist_trees and pc.shortlist_size else None


def run(ctx) -> dict:
    from pyspark.sql import functions as F
    from setlist.contracts import conform

    lake, ds, pc = ctx.lake, ctx.ds, ctx.config.playlists
    cfg = policy_config(pc)
    users = lake.read("silver", "users", ds=ds).where(~F.col("is_deleted"))
    consenting = users.where(F.col("personalisation_consent")).select("user_id")
    tracks = lake.read("silver", "tracks", ds=ds)
    cands = lake.read("gold", "candidates", ds=ds)
    parts, rows_in, version = [], 0, None
    for frame, model in scoring_slices(ctx):
        # Scored once and kept (enrich reads it three times); the checkpoint also cuts the lineage back to
        # the slice sent from the driver, which both the driver and the JVM can then free.
        parts.append(rerank(ctx.spark, frame, model, pc.candidates_per_user, shortlist_of(pc)).localCheckpoint())
        rows_in += len(frame)
        version = model.version if model is not None else None
    ctx.log(f"scored {rows_in:,} candidates " + (f"with model {version}" if version is not None else
                                                  "by ALS score, then popularity (no current model yet)"))
    scored = functools.reduce(lambda a, b: a.unionByName(b), parts)
    pool = enrich(ctx, scored, consenting)
    controls = lake.read("silver", "user_controls", ds=ds).join(consenting, "user_id", "left_semi")
    personal = (playlists_on_spark(pool, cfg, ds, controls)
                .withColumn("personalised", F.lit(True)).withColumn("model_version", F.lit(version).cast("string")))
    fb = ctx.spark.createDataFrame(fallback_list(lake.read("silver", "editorial_placements", ds=ds),
                                                 lake.read("gold", "track_popularity", ds=ds), tracks, ds,
                                                 pc.fallback_length, pc.max_per_artist, cfg.sequencing))
    no_consent = users.where(~F.col("personalisation_consent")).select("user_id")
    cold = consenting.join(cands.select("user_id").distinct(), "user_id", "left_anti")
    shared = (no_consent.unionByName(cold).crossJoin(F.broadcast(fb))
              .withColumn("arm", F.lit("fallback")).withColumn("propensity", F.lit(1.0))
              .withColumn("override", F.lit(None).cast("string")).withColumn("played_before", F.lit(None).cast("boolean"))
              .withColumn("personalised", F.lit(False)).withColumn("model_version", F.lit(None).cast("string")))
    out = personal.unionByName(shared.select(*personal.columns))
    out = out.join(F.broadcast(tracks.select("track_id", "label_id")), "track_id", "left")
    out = conform(out.withColumn("ds", F.lit(ds)), "gold", "playlists").drop("ds")
    n = lake.write(out, "gold", "playlists", ds=ds)
    summary = summarise(ctx, lake.read("gold", "playlists", ds=ds))
    ctx.log(f"gold/playlists: {n:,} rows; {summary['users_served']:,} listeners "
            f"({summary['fallback_users']:,} non-personalised); mean transition cost "
            f"{summary['mean_transition_cost']:.3f}")
    return {"rows_in": int(rows_in), "rows_out": n, "rows_quarantined": 0, "model_version": version, **summary}


def summarise(ctx, playlists) -> dict:
    """Per-run figures for run.json, computed on Spark."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    p = playlists
    rank = F.row_number().over(Window.partitionBy("user_id").orderBy(F.desc("score"), F.asc("track_id")))
    n = F.count("*").over(Window.partitionBy("user_id"))
    per = (p.where("personalised").withColumn("r", rank - 1).withColumn("n", n)
           .withColumn("gain", F.col("n") - F.col("r"))
           .withColumn("disc", F.lit(1.0) / F.log2(F.col("position") + 1))
           .withColumn("ideal_disc", F.lit(1.0) / F.log2(F.col("r") + 2)))
    ndcg = (per.groupBy("user_id").agg(
        (F.sum(F.when(F.col("position") <= 10, F.col("gain") * F.col("disc")).otherwise(0))
         / F.sum(F.when(F.col("r") < 10, F.col("gain") * F.col("ideal_disc")).otherwise(0))).alias("ndcg"))
        .agg(F.avg("ndcg")).first()[0])
    controls = ctx.lake.read("silver", "user_controls", ds=ctx.ds).select("user_id", "novelty").where("novelty IS NOT NULL")
    start = ctx.shift(-(ctx.config.pipeline.feature_window_days - 1))
    tracks = ctx.lake.read("silver", "tracks", ds=ctx.ds).select("track_id", "artist_id")
    cap = ctx.config.playlists.max_per_artist
    history = (ctx.lake.read("silver", "listening_events", ds_range=(start, ctx.ds)).join(tracks, "track_id")
               .groupBy("user_id", "artist_id").agg(F.countDistinct("track_id").alias("n"))
               .groupBy("user_id").agg(F.sum(F.least("n", F.lit(cap))).alias("familiar_available")))
    forced = (ctx.lake.read("silver", "user_controls", ds=ctx.ds)
              .select("user_id", (F.size(F.coalesce("seed_track_ids", F.array())) + F.size(F.coalesce("locked_artist_ids", F.array()))
                                  + F.size(F.coalesce("locked_eras", F.array()))).alias("forced")))
    L = ctx.config.playlists.length
    per_user = (p.where("personalised").groupBy("user_id").agg(
        F.avg((~F.col("played_before")).cast("double")).alias("got"), F.count("*").alias("len"))
        .join(controls, "user_id").join(history, "user_id", "left").join(forced, "user_id", "left")
        # Feasible: the listener has played enough distinct tracks for the familiar part.
        .withColumn("feasible", (F.coalesce("familiar_available", F.lit(0)) >= F.lit(L) - F.round(F.col("novelty") * L))
                    & (F.coalesce("forced", F.lit(0)) == 0)))
    nov = per_user.agg(F.avg("novelty").alias("asked"), F.avg("got").alias("achieved"),
                       # in tracks, against the target round(novelty × length)
                       F.max(F.when(F.col("feasible"), F.abs(F.round(F.col("got") * F.col("len"))
                                                             - F.round(F.col("novelty") * L))))
                       .alias("max_gap_tracks"),
                       F.sum((~F.col("feasible")).cast("int")).alias("infeasible"),
                       F.count("*").alias("listeners")).first()
    users = p.groupBy("personalised").agg(F.countDistinct("user_id").alias("u")).collect()
    arms = {r["arm"]: r["u"] for r in p.groupBy("arm").agg(F.countDistinct("user_id").alias("u")).collect()}
    overrides = p.where("override IS NOT NULL").count()
    return {
        "users_served": int(sum(r["u"] for r in users)),
        "fallback_users": int(sum(r["u"] for r in users if not r["personalised"])),
        "mean_transition_cost": round(float(p.where("position > 1").agg(F.avg("transition_cost")).first()[0] or 0), 6),
        "ndcg@10_vs_reranked_order": round(float(ndcg or 0), 6),
        "novelty": {"listeners_with_setting": int(nov["listeners"]), "asked": round(float(nov["asked"] or 0), 4),
                    "achieved": round(float(nov["achieved"] or 0), 4),
                    "max_gap_tracks": round(float(nov["max_gap_tracks"] or 0), 4),
                    "listeners_not_checked": int(nov["infeasible"] or 0),
                    "not_checked_means": "too little history for the familiar part, or seeds/locks that take slots"},
        "listeners_per_arm": dict(sorted(arms.items())),
        "rows_with_override": int(overrides),
        "explored_rows": int(p.where("propensity < 1").count()),
    }
