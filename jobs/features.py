"""Features: silver → gold feature tables on Spark, then Feast apply + materialise.

Every feature module follows one contract::

    compute_<table>(events, start, end, ...) -> DataFrame

``events`` are silver listening events joined to the track catalogue
(artist_id, genre, audio features), with ids as strings or, in the stage,
as the long keys of ``load_inputs``; the window is ``start <= ds <= end``
(inclusive logical dates); the result has the entity keys, the features, and
``event_timestamp`` = ``created_timestamp`` = end + 1 day 00:00 UTC: the moment
those values become known (never the wall clock, so re-runs are identical).

Only listeners with personalisation consent and no deletion request get rows
in user-level tables. Everything is Spark SQL functions: no Python UDFs, no
collect to the driver.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import NamedTuple

from setlist.contracts import conform

AUDIO = ("tempo", "energy", "valence", "danceability", "acousticness")
DAY_PARTS = {"night": (0, 6), "morning": (6, 12), "afternoon": (12, 18), "evening": (18, 24)}


def known_at(end: str):
    """The timestamp at which values computed for ``end`` become known."""
    from pyspark.sql import functions as F
    return F.to_timestamp(F.lit((date.fromisoformat(end) + timedelta(days=1)).isoformat()))


def _stamp(df, end: str):
    return df.withColumn("event_timestamp", known_at(end)).withColumn("created_timestamp", known_at(end))


def _rate_parts(flag: str):
    """Partial sums for ``_rate``: the true count and the non-null count of ``flag``."""
    from pyspark.sql import functions as F
    return F.sum(F.col(flag).cast("long")).alias(f"__{flag}_true"), F.count(flag).alias(f"__{flag}_known")


def _rate(flag: str):
    """The share of true among known values of ``flag`` from ``_rate_parts``
    (what ``avg(flag)`` gives on the rows, with nulls skipped)."""
    from pyspark.sql import functions as F
    return F.try_divide(F.sum(f"__{flag}_true"), F.sum(f"__{flag}_known"))


def _distinct_counts(df, key: str, member: str, windows: dict):
    """Per ``key``: how many distinct ``member`` values have a row where each
    window's condition holds ({output column: condition}). Counted rows of a
    per-(key, member) aggregation, never sets of ids, which would make the
    aggregation sort every row."""
    from pyspark.sql import functions as F
    names = {name: f"__in_{i}" for i, name in enumerate(windows)}
    per = df.groupBy(key, member).agg(*[F.max(c.cast("long")).alias(names[n]) for n, c in windows.items()])
    return per.groupBy(key).agg(*[F.sum(names[n]).alias(n) for n in windows])


def _day_masks(first: str, end: str, windows: dict):
    """Distinct active days per window without a per-day aggregation: each
    play sets bit (ds − first) of a day mask, OR-ed per key (63 days to a
    long, as many longs as the span needs). Returns the mask aggregates and,
    per window ({output column: first ds}), the count of its days' set bits;
    the masks' columns are named ``__days_<word>``."""
    from pyspark.sql import functions as F
    lo = date.fromisoformat(first)
    span = (date.fromisoformat(end) - lo).days + 1
    offset = F.datediff(F.col("ds"), F.lit(first).cast("date"))
    words = range((span + 62) // 63)
    masks = [F.bit_or(F.when((offset >= 63 * w) & (offset < 63 * (w + 1)),
                             F.call_function("shiftleft", F.lit(1).cast("long"), offset - 63 * w))).alias(f"__days_{w}")
             for w in words]
    counts = []
    for name, start in windows.items():
        o = (date.fromisoformat(start) - lo).days
        bits = []
        for w in words:
            keep = sum(1 << (d - 63 * w) for d in range(max(o, 63 * w), min(span, 63 * (w + 1))))
            bits.append(F.coalesce(F.bit_count(F.col(f"__days_{w}").bitwiseAND(F.lit(keep).cast("long"))), F.lit(0)))
        counts.append(sum(bits[1:], bits[0]).cast("long").alias(name))
    return masks, counts


def _window(events, start: str, end: str):
    from pyspark.sql import functions as F
    return events.where((F.col("ds") >= start) & (F.col("ds") <= end))


def _window_plays(windows: dict) -> list:
    """Aggregates: plays in each window ({prefix: first ds}) as ``__n_<prefix>``."""
    from pyspark.sql import functions as F
    return [F.sum((F.col("ds") >= lo).cast("long")).alias(f"__n_{p}") for p, lo in windows.items()]


def _window_counts(df, key: str, item: str, windows: dict):
    """Per (key, item): plays in each window ({prefix: first ds}) as
    ``__n_<prefix>``."""
    return df.groupBy(key, item).agg(*_window_plays(windows))


def _tops(df, key: str, item: str, windows: dict, name: str, counts=None):
    """Per key and window ({prefix: first ds}): the most played item (ties:
    smallest id), its share, and the Shannon entropy (bits) of the key's play
    distribution over items, for every window in one pass. Two aggregations,
    no window function: with N = Σ n over the key's items,
    H = −Σ (n/N)·log2(n/N) = log2 N − (Σ n·log2 n) / N (at least 0). A key
    with no play in a window gets nulls for it. ``counts``: the per-(key,
    item) counts of ``_window_counts`` when already computed (``df`` unused)."""
    from pyspark.sql import functions as F
    counts = _window_counts(df, key, item, windows) if counts is None else counts
    aggs = []
    for p in windows:
        n = F.col(f"__n_{p}")
        played = n > 0
        total = F.sum(F.when(played, n))
        aggs += [F.min(F.when(played, F.struct((-n).alias("neg"), F.col(item).alias("item"))))["item"]
                 .alias(f"{p}_top_{name}"),
                 (F.max(F.when(played, n)) / total).alias(f"{p}_top_{name}_share"),
                 F.greatest(F.lit(0.0), F.log2(total) - F.sum(F.when(played, n * F.log2(n))) / total)
                 .alias(f"{p}_{name}_entropy")]
    return counts.groupBy(key).agg(*aggs)


def compute_user_profile(events, start: str, end: str, users, prefix: str):
    """Listener taste and habits over the window: volume, skip and completion
    rates, novelty appetite (distinct tracks / plays: the share of plays that
    were the first listen of a track in the window), session length in plays
    and minutes, audio-feature centroid and spread, day-part and weekend shares,
    top genre and artist with their shares, genre entropy."""
    return compute_user_profiles(events, {prefix: start}, end, users)[prefix]


def compute_user_profiles(events, starts: dict, end: str, users, plays: dict | None = None) -> dict:
    """``compute_user_profile`` for several windows ending on ``end`` in one
    pass over the widest: {prefix: start} → {prefix: DataFrame}. Every
    aggregate of a window reads only that window's events (conditional
    aggregates; nulls are skipped), and a listener gets a row in a window's
    table only if they played in it.

    Distinct sessions and tracks are counted from per-(listener, session)
    and per-(listener, track) aggregations, and distinct days as the set bits
    of a day mask (``_day_masks``), so the main aggregation holds only
    fixed-size buffers (sets of ids would turn it into a sort-based
    aggregation of every event). ``plays``: {"artist_id": …, "genre": …,
    "track_id": …} from ``user_item_plays`` over the widest window with
    counts for each of ``starts``, when already computed."""
    from pyspark.sql import functions as F
    shared = plays or {}
    ev = _theirs(_window(events, min(starts.values()), end), users)
    hour = F.hour("ts")
    aggs, session_aggs, per_user = [], [], []
    for p, lo in starts.items():
        inside = F.col("ds") >= lo

        def w(col, inside=inside):
            return F.when(inside, col)
        aggs += [
            F.count(w(F.lit(1))).alias(f"{p}_plays"),
            F.avg(w(F.col("skipped").cast("double"))).alias(f"{p}_skip_rate"),
            F.avg(w(F.col("completed").cast("double"))).alias(f"{p}_completion_rate"),
            F.avg(w(F.dayofweek("ts").isin(1, 7).cast("double"))).alias(f"{p}_weekend_share"),
        ]
        session_aggs.append(F.max(inside.cast("long")).alias(f"__in_{p}"))
        plays, sessions_n = F.col(f"{p}_plays"), F.col(f"{p}_sessions")
        per_user += [
            # No play in the window (null here) means no row in its table.
            F.try_divide(F.col(f"__tracks_{p}"), plays).alias(f"{p}_novelty"),
            F.try_divide(plays, sessions_n).alias(f"{p}_session_plays"),
        ]
        for part, (h0, h1) in DAY_PARTS.items():
            aggs.append(F.avg(w(((hour >= h0) & (hour < h1)).cast("double"))).alias(f"{p}_share_{part}"))
        for a in AUDIO:
            aggs += [F.avg(w(F.col(a))).alias(f"{p}_{a}_mean"), F.stddev_pop(w(F.col(a))).alias(f"{p}_{a}_std")]
        # A session's minutes in the window: first to last play there, plus the last play's length.
        ts_us = w(F.unix_micros("ts"))
        session_aggs.append(((F.max(ts_us) - F.min(ts_us)) / 6e7 + F.max_by(w(F.col("ms_played")), ts_us) / 6e4)
                            .alias(f"__minutes_{p}"))
    masks, active_days = _day_masks(min(starts.values()), end, {f"{p}_active_days": lo for p, lo in starts.items()})
    base = ev.groupBy("user_id").agg(*aggs, *masks).select("*", *active_days)
    base = base.drop(*[c for c in base.columns if c.startswith("__days_")])
    sessions = (ev.groupBy("user_id", "session_id").agg(*session_aggs)
                .groupBy("user_id").agg(*[F.avg(f"__minutes_{p}").alias(f"{p}_session_minutes") for p in starts],
                                        *[F.sum(f"__in_{p}").alias(f"{p}_sessions") for p in starts]))
    shared = {item: _theirs(df, users) for item, df in shared.items()}
    if "track_id" in shared:
        tracks = shared["track_id"].groupBy("user_id").agg(
            *[F.count(F.when(F.col(f"__n_{p}") > 0, 1)).alias(f"__tracks_{p}") for p in starts])
    else:
        tracks = _distinct_counts(ev, "user_id", "track_id",
                                  {f"__tracks_{p}": F.col("ds") >= lo for p, lo in starts.items()})
    artists = _tops(ev, "user_id", "artist_id", starts, "artist", shared.get("artist_id"))
    out = (base.join(sessions, "user_id").join(tracks, "user_id")
           .select("*", *per_user).drop(*[f"__tracks_{p}" for p in starts])
           .join(_tops(ev, "user_id", "genre", starts, "genre", shared.get("genre")), "user_id", "left")
           .join(artists.drop(*[f"{p}_artist_entropy" for p in starts]), "user_id", "left"))
    if len(starts) > 1:   # read once per window below
        out = out.localCheckpoint(eager=False)
    return {p: _stamp(out.where(F.col(f"{p}_plays") > 0)
                      .select("user_id", *[c for c in out.columns if c.startswith(f"{p}_")]), end)
            for p in starts}


def compute_user_context(events, start: str, end: str, users, devices):
    """When and where the listener listens: most frequent hour (0-23) and ISO
    weekday (1 = Monday), ties to the earliest, and the share of plays per
    device. One aggregation: a play count per hour and per weekday, whose
    smallest (−count, value) pair is the most frequent value."""
    from pyspark.sql import functions as F
    ev = _theirs(_window(events, start, end), users)
    hour, weekday = F.hour("ts"), ((F.dayofweek("ts") + 5) % 7) + 1

    def most(col, values):
        return F.array_min(F.array(*[F.struct((-F.count(F.when(col == v, 1))).alias("neg"), F.lit(v).alias("v"))
                                     for v in values]))["v"]
    out = ev.groupBy("user_id").agg(
        *[F.avg((F.col("device") == d).cast("double")).alias(f"ctx_share_{d}") for d in devices],
        most(hour, range(24)).alias("ctx_top_hour"), most(weekday, range(1, 8)).alias("ctx_top_weekday"))
    return _stamp(out, end)


def popularity_windows(end: str) -> dict:
    """The windows ``compute_track_popularity`` counts in, by first ds: the
    last day (d1) and the last 7 days (d7)."""
    return {"d1": end, "d7": (date.fromisoformat(end) - timedelta(days=6)).isoformat()}


def compute_track_popularity(events, start: str, end: str, tracks, placements, plays=None):
    """Per catalogue track: plays and distinct listeners over 1/7/28 days, skip
    and completion rates, whether it is on an editorial playlist on ``end``,
    days since release, audio features. Counted on the per-(listener, track)
    plays of ``user_item_plays`` (``plays``, with counts for
    ``popularity_windows`` and the completion parts, when already computed),
    so distinct listeners are counted rows."""
    from pyspark.sql import functions as F
    if plays is None:
        plays = user_item_plays(events, start, end, "track_id", popularity_windows(end), rates=("skipped", "completed"))
    agg = plays.groupBy("track_id").agg(
        F.sum("__n_d1").alias("track_plays_1d"),
        F.sum("__n_d7").alias("track_plays_7d"),
        F.sum("__plays").alias("track_plays_28d"),
        F.count(F.when(F.col("__n_d1") > 0, 1)).alias("track_listeners_1d"),
        F.count(F.when(F.col("__n_d7") > 0, 1)).alias("track_listeners_7d"),
        F.count("user_id").alias("track_listeners_28d"),
        _rate("skipped").alias("track_skip_rate_28d"),
        _rate("completed").alias("track_completion_rate_28d"),
    )
    on_air = (placements.where((F.col("start_ds") <= F.lit(end).cast("date")) &
                               (F.col("end_ds") >= F.lit(end).cast("date")))
              .select("track_id").distinct().withColumn("track_editorial_now", F.lit(1)))
    out = (tracks.select("track_id", "artist_id", "release_date",
                         *[F.col(a).alias(f"track_{a}") for a in AUDIO])
           .join(agg, "track_id", "left").join(on_air, "track_id", "left")
           .withColumn("track_age_days", F.datediff(F.lit(end).cast("date"), F.col("release_date")).cast("long"))
           .drop("release_date"))
    for c in ("track_plays_1d", "track_plays_7d", "track_plays_28d", "track_listeners_1d",
              "track_listeners_7d", "track_listeners_28d", "track_editorial_now"):
        out = out.withColumn(c, F.coalesce(F.col(c), F.lit(0)).cast("long"))
    return _stamp(out, end)


def artist_windows(end: str) -> dict:
    """The windows ``compute_artist_stats`` counts listeners in, by first ds:
    the last 7 days (d7) and the last 14 (d14; the 7 before d7 are d14 minus d7)."""
    e = date.fromisoformat(end)
    return {"d7": (e - timedelta(days=6)).isoformat(), "d14": (e - timedelta(days=13)).isoformat()}


def compute_artist_stats(events, start: str, end: str, artists, labels, emerging_debut_years: int,
                         emerging_max_listener_pct: float, plays=None):
    """Per artist: distinct listeners over the last 7 days, the 7 days before,
    and 28 days; growth = (last 7 − previous 7) / max(previous 7, 1); years
    since debut; label kind; and the emerging flag: debuted within
    ``emerging_debut_years`` years and at or below the
    ``emerging_max_listener_pct`` percentile of 28-day listeners. Counted on
    the per-(listener, artist) plays of ``user_item_plays`` (``plays``, with
    counts for ``artist_windows``, when already computed)."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    e = date.fromisoformat(end)
    if plays is None:
        plays = user_item_plays(events, start, end, "artist_id", artist_windows(end))
    agg = plays.groupBy("artist_id").agg(
        F.count(F.when(F.col("__n_d7") > 0, 1)).alias("artist_listeners_7d"),
        F.count(F.when(F.col("__n_d14") > F.col("__n_d7"), 1)).alias("artist_listeners_prev_7d"),
        F.count("*").alias("artist_listeners_28d"))
    out = (artists.select("artist_id", "label_id", "debut_year")
           .join(labels.select("label_id", F.col("kind").alias("artist_label_kind")), "label_id", "left")
           .join(agg, "artist_id", "left").fillna(0, ["artist_listeners_7d", "artist_listeners_prev_7d",
                                                     "artist_listeners_28d"]))
    pct = F.percent_rank().over(Window.orderBy("artist_listeners_28d"))
    out = (out.withColumn("artist_growth_7d", (F.col("artist_listeners_7d") - F.col("artist_listeners_prev_7d"))
                          / F.greatest(F.col("artist_listeners_prev_7d"), F.lit(1)).cast("double"))
              .withColumn("artist_career_years", (F.lit(e.year) - F.col("debut_year")).cast("long"))
              .withColumn("artist_emerging", ((F.col("artist_career_years") <= emerging_debut_years)
                                              & (pct <= emerging_max_listener_pct)).cast("long"))
              .withColumn("artist_emerging", F.coalesce("artist_emerging", F.lit(0)))
              .drop("label_id", "debut_year"))
    return _stamp(out, end)


def user_item_plays(events, start: str, end: str, item: str, windows: dict, rates=("skipped",)):
    """Per (listener, artist, genre or track played in [start, end]), every
    listener, consenting or not: the plays in each window ({prefix: first ds} →
    ``__n_<prefix>``, as ``_window_counts``), all plays, the skip rate's parts
    and the last day played, with ``_rate_parts`` of each flag in ``rates``.
    One aggregation of the events feeds several tables (``build`` keeps it
    once): for artists the profiles' top artist, ``user_artist_affinity`` and
    ``artist_stats``; for genres the top genre and ``user_genre_affinity``;
    for tracks the profiles' distinct tracks and ``track_popularity``.
    User-level tables keep only their listeners' rows of it (``_theirs``)."""
    from pyspark.sql import functions as F
    return _window(events, start, end).groupBy("user_id", item).agg(
        *_window_plays(windows), F.count("*").alias("__plays"), *[part for flag in rates for part in _rate_parts(flag)],
        F.max("ds").alias("__last"))


def _theirs(df, users):
    """The rows of ``df`` whose listener is one of ``users``, by a broadcast
    semi join. Unhinted, Spark sizes the listeners before their cache is
    filled as the product of the sizes in the join that keyed them (16.9 GB
    on tier m, 0.7 MB cached) and shuffles and sorts every event for a
    sort-merge join; broadcast, ``df`` keeps its partitioning by listener."""
    from pyspark.sql import functions as F
    return df.join(F.broadcast(users.select("user_id")), "user_id", "left_semi")


def compute_user_item_affinity(events, start: str, end: str, users, item: str, prefix: str, plays=None):
    """Per (consenting listener, artist or genre played in the window): plays,
    share of the listener's plays, skip rate, days since the last play.
    ``plays``: ``user_item_plays`` from ``start`` to ``end``, when already
    computed (``events`` unused)."""
    from pyspark.sql import functions as F
    from pyspark.sql import Window
    plays = _theirs(user_item_plays(events, start, end, item, {}) if plays is None else plays, users)
    out = plays.select("user_id", item, F.col("__plays").alias(f"{prefix}_plays_28d"),
                       F.try_divide(F.col("__skipped_true"), F.col("__skipped_known")).alias(f"{prefix}_skip_rate_28d"),
                       "__last")
    total = F.sum(f"{prefix}_plays_28d").over(Window.partitionBy("user_id"))
    out = (out.withColumn(f"{prefix}_share_28d", F.col(f"{prefix}_plays_28d") / total)
              .withColumn(f"{prefix}_days_since_last_play",
                          F.datediff(F.lit(end).cast("date"), F.col("__last").cast("date")).cast("long"))
              .drop("__last"))
    return _stamp(out, end)


def compute_user_artist_affinity(events, start, end, users, plays=None):
    return compute_user_item_affinity(events, start, end, users, "artist_id", "ua", plays)


def compute_user_genre_affinity(events, start, end, users, plays=None):
    return compute_user_item_affinity(events, start, end, users, "genre", "ug", plays)


def compute_colistening(events, start: str, end: str, k: int, max_session_tracks: int):
    """For each track, its top-k neighbours by co-occurrence within sessions.

    score(i, j) = sessions with both / sqrt(sessions with i × sessions with j)
    (cosine on the session×track incidence matrix); rank 1 = best, ties by
    neighbour id. Sessions longer than ``max_session_tracks`` distinct tracks
    keep their first ones, which bounds the pair blow-up of marathon sessions.
    A session is (user_id, session_id).
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    ev = _window(events, start, end)
    # The window's tracks numbered 1.. in id order: pairs of numbers are packed
    # into one long (x·2³² + y), counted and sorted far cheaper than id strings.
    number = (ev.select("track_id").distinct()
              .withColumn("i", F.dense_rank().over(Window.orderBy("track_id")).cast("long")))
    # Each session's first tracks (by first play, then id), as a sorted list of
    # numbers: its plays sorted by (time, number), the first occurrence of each
    # number kept (array_distinct keeps the first), cut, then sorted. The plays
    # are sorted by session first, so that each session's list is built by a
    # sort aggregation (spark.sql.execution.replaceHashWithSortAgg) rather
    # than a hash map of lists that falls back to sorting after 128 sessions
    # (on tier m: 5.1-5.9 s against 6.0-9.6 s, the same lists). The stage's
    # cached events are already partitioned by listener (``load_inputs``), so
    # the grouping by session shuffles nothing; other events are shuffled by
    # session for it.
    plays = F.array_sort(F.collect_list(F.struct("ts", "i")))
    sessions = (ev.join(F.broadcast(number), "track_id").select("user_id", "session_id", "ts", "i")
                .sortWithinPartitions("user_id", "session_id")
                .groupBy("user_id", "session_id")
                .agg(F.slice(F.array_distinct(plays["i"]), 1, max_session_tracks).alias("s"))
                .select(F.array_sort("s").alias("t"))
                .localCheckpoint(eager=False))   # read by the pairs and by the counts per track
    # Pairs x < y from each session's list, counted in one aggregation. Each
    # number x at (0-based) position pos pairs with the list after it: two
    # explodes, which Spark compiles (a lambda over the list, transform(), is
    # interpreted row by row: counting took 22 s with it, 14 s without, on
    # tier m). The sessions with each track are counted apart, over one
    # explode: a map of the window's tracks, not 8M more pair rows.
    pairs_of = (sessions.select("t", F.posexplode("t").alias("pos", "x"))
                .select("x", F.explode(F.slice("t", F.col("pos") + 2, max_session_tracks)).alias("y")))
    # Read twice below, so kept once (lazily).
    pairs = (pairs_of.select((F.col("x") * 4294967296 + F.col("y")).alias("p"))
             .groupBy("p").agg(F.count("*").alias("co_sessions"))
             .select(F.shiftright("p", 32).alias("x"), F.col("p").bitwiseAND(F.lit(4294967295)).alias("y"),
                     "co_sessions")
             .localCheckpoint(eager=False))
    n = sessions.select(F.explode("t").alias("a")).groupBy("a").agg(F.count("*").alias("n"))

    def scored(pairs):
        """Both directions of each pair (a, b), with its cosine score."""
        both = (pairs.select(F.col("x").alias("a"), F.col("y").alias("b"), "co_sessions")
                .unionByName(pairs.select(F.col("y").alias("a"), F.col("x").alias("b"), "co_sessions")))
        return (both.join(F.broadcast(n), "a")
                .join(F.broadcast(n.select(F.col("a").alias("b"), F.col("n").alias("m"))), "b")
                .withColumn("score", F.col("co_sessions") / F.sqrt(F.col("n") * F.col("m"))))

    # Most pairs meet in one session only and seldom make their track's top k.
    # The k-th best score among a track's pairs that share at least two
    # sessions is at most its k-th best over all pairs, so every row of the
    # exact top k scores at least that much: rows below it are dropped before
    # the top k (on tier m: 28M rows → 5M; 44 s → 35-39 s, same rows).
    floor = (scored(pairs.where(F.col("co_sessions") >= 2)).groupBy("a")
             .agg(F.min_by("score", -F.col("score"), k).alias("s")).where(F.size("s") == k)
             .select("a", F.element_at("s", k).alias("floor")))
    kept = (scored(pairs).join(F.broadcast(floor), "a", "left")
            .where(F.col("floor").isNull() | (F.col("score") >= F.col("floor"))))
    # Top k per track: the k smallest (−score, neighbour number), i.e. ties by
    # neighbour id, kept in a bounded heap per track (also before the shuffle).
    top = (kept.groupBy("a")
           .agg(F.min_by(F.struct("b", "co_sessions", "score"), F.struct((-F.col("score")).alias("neg"), "b"), k)
                .alias("e"))
           .select("a", F.posexplode("e").alias("pos", "e"))
           .select("a", F.col("e.b").alias("b"), "e.co_sessions", "e.score", "pos"))
    ids = F.broadcast(number)
    out = (top.join(ids.select(F.col("i").alias("a"), "track_id"), "a")
              .join(ids.select(F.col("i").alias("b"), F.col("track_id").alias("neighbour_id")), "b")
              .select("track_id", "neighbour_id", F.col("co_sessions").cast("long").alias("co_sessions"), "score",
                      (F.col("pos") + 1).cast("int").alias("rank")))
    return _stamp(out, end)


GOLD_TABLES = ("user_profile_long", "user_profile_short", "user_context", "track_popularity", "artist_stats",
               "user_artist_affinity", "user_genre_affinity", "track_colistening")


def build(ctx, inputs: "Inputs") -> dict:
    """All gold feature tables of ctx.ds as Spark DataFrames (not yet written),
    computed on the keyed inputs of ``load_inputs`` and decoded back to ids."""
    from setlist import schema
    p, ds, lake = ctx.config.pipeline, ctx.ds, ctx.lake
    events, tracks, users, keys, _ = inputs
    lt = ctx.shift(-(p.feature_window_days - 1))
    st = ctx.shift(-(p.short_window_days - 1))
    windows = {"lt": lt, "st": st}
    # Per (listener, artist), (listener, genre) and (listener, track) plays,
    # each read by two or three tables (``user_item_plays``): aggregated once,
    # cached once (released by ``Inputs.unpersist``). The cache keeps their
    # partitioning by listener, which a local checkpoint loses: the profiles
    # and affinities group them again without a shuffle.
    plays = {item: inputs.keep(user_item_plays(events, lt, ds, item, {**windows, **extra}, rates))
             for item, extra, rates in (("artist_id", artist_windows(ds), ("skipped",)), ("genre", {}, ("skipped",)),
                                        ("track_id", popularity_windows(ds), ("skipped", "completed")))}
    profiles = compute_user_profiles(events, windows, ds, users, plays)
    artists = keyed(lake.read("silver", "artists", ds=ds), keys, {"artist_id": "artists"})
    placements = keyed(lake.read("silver", "editorial_placements", ds=ds), keys, {"track_id": "tracks"})
    tables = {
        "user_profile_long": profiles["lt"],
        "user_profile_short": profiles["st"],
        "user_context": compute_user_context(events, lt, ds, users, schema.DEVICES),
        "track_popularity": compute_track_popularity(events, lt, ds, tracks, placements, plays["track_id"]),
        "artist_stats": compute_artist_stats(events, lt, ds, artists, lake.read("silver", "labels", ds=ds),
                                             p.emerging_debut_years, p.emerging_max_listener_pct, plays["artist_id"]),
        "user_artist_affinity": compute_user_artist_affinity(events, lt, ds, users, plays["artist_id"]),
        "user_genre_affinity": compute_user_genre_affinity(events, lt, ds, users, plays["genre"]),
        "track_colistening": compute_colistening(events, lt, ds, p.colistening_k, p.colistening_max_session_tracks),
    }
    return {name: decoded(df, keys) for name, df in tables.items()}


DECIMALS = 10


def _rounded(df):
    """Doubles rounded to DECIMALS places: Spark adds partial aggregates in the
    order their shuffle blocks arrive, which can move the last bits of a sum or
    a standard deviation between runs; rounded, a re-run writes identical rows."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType
    return df.select(*[F.round(F.col(f.name), DECIMALS).alias(f.name) if isinstance(f.dataType, DoubleType)
                       else F.col(f.name) for f in df.schema.fields])


# The event columns the tables read; the rest of the silver row is never cached.
EVENT_COLUMNS = ("user_id", "track_id", "session_id", "ts", "ds", "ms_played", "skipped", "completed", "device")

# Which key dictionary each id column of the cached inputs and the tables
# uses: by name, and by suffix for the profiles' "<window>_top_artist" and
# "<window>_top_genre".
KEY_KINDS = {"user_id": "users", "track_id": "tracks", "neighbour_id": "tracks", "artist_id": "artists",
             "genre": "genres"}
KEY_SUFFIXES = {"_top_artist": "artists", "_top_genre": "genres"}


def key_kind(column: str) -> str | None:
    """The key dictionary of ``column``, or None when it holds no id."""
    return KEY_KINDS.get(column) or next((k for sfx, k in KEY_SUFFIXES.items() if column.endswith(sfx)), None)


class Inputs(NamedTuple):
    """The stage's cached inputs, ids replaced by long keys (see ``load_inputs``)."""
    events: object
    tracks: object
    users: object
    keys: dict
    kept: list   # what ``build`` cached from them

    def keep(self, df):
        """``df`` cached until ``unpersist``."""
        self.kept.append(df.cache())
        return df

    def unpersist(self):
        for df in (self.events, self.tracks, self.users, *self.keys.values(), *self.kept):
            df.unpersist()
        self.kept.clear()


def id_keys(users, tracks, artists) -> dict:
    """{kind: DataFrame(key long, value)} for listeners, tracks, artists and
    genres, cached. Values are numbered in sorted order, so "ties to the
    smallest id" give the same answer on keys as on ids; every id of the
    catalogue gets a key (artists named by a track or by the artist table)."""
    from pyspark.sql import functions as F

    def numbered(*frames):
        values = frames[0]
        for f in frames[1:]:
            values = values.unionByName(f)
        # After a global sort, monotonically_increasing_id grows with the value.
        return (values.where(F.col("value").isNotNull()).distinct().orderBy("value")
                .select(F.monotonically_increasing_id().alias("key"), "value").cache())
    return {"users": numbered(users.select(F.col("user_id").alias("value"))),
            "tracks": numbered(tracks.select(F.col("track_id").alias("value"))),
            "artists": numbered(artists.select(F.col("artist_id").alias("value")),
                                tracks.select(F.col("artist_id").alias("value"))),
            "genres": numbered(tracks.select(F.col("genre").alias("value")))}


def _swapped(df, col: str, dictionary, old: str, new: str):
    """``df`` with ``col`` looked up in ``dictionary`` (columns key, value) by
    its ``old`` column and replaced by the ``new`` one; no match gives null."""
    from pyspark.sql import functions as F
    lookup = dictionary.select(F.col(old).alias(col), F.col(new).alias(f"__{new}_{col}"))
    return df.join(F.broadcast(lookup), col, "left").drop(col).withColumnRenamed(f"__{new}_{col}", col)


def keyed(df, keys: dict, columns: dict):
    """``df`` with each id column ({column: kind}) replaced by its key; a null
    id stays null. Broadcast joins against the key dictionaries."""
    order = df.columns
    for col, kind in columns.items():
        df = _swapped(df, col, keys[kind], "value", "key")
    return df.select(*order)


def decoded(df, keys: dict):
    """``df`` with every keyed column (``key_kind``) turned back into its id."""
    order = df.columns
    for col in order:
        if key_kind(col):
            df = _swapped(df, col, keys[key_kind(col)], "key", "value")
    return df.select(*order)


def count_events(events) -> int:
    """Rows of the cached events; an error when one has a listener or track
    that silver's users or tracks do not know (silver's contract rules that out)."""
    from pyspark.sql import functions as F
    row = events.agg(F.count("*").alias("n"), F.count_if(F.col("user_id").isNull()).alias("users"),
                     F.count_if(F.col("track_id").isNull()).alias("tracks")).first()
    if row["users"] or row["tracks"]:
        raise ValueError(f"{row['users']:,} events name a listener and {row['tracks']:,} a track missing from "
                         "silver users / tracks; re-run `setlist run clean --ds <day>` for each day of the "
                         "window, which quarantines such events")
    return row["n"]


def load_inputs(ctx) -> Inputs:
    """The stage's cached inputs: the window's events (only ``EVENT_COLUMNS``)
    joined to the catalogue's artist, genre and audio features; the catalogue;
    the listeners who may get user-level rows (consent, no deletion); the key
    dictionaries.

    Listener, track, artist and genre ids are cached as long keys, and ``ds``
    as a date: the tables group and count on eight-byte values instead of
    strings (on tier m a (listener, artist) aggregation took 5.6 s by strings,
    3.8 s by numbers). ``build`` turns keys back into ids. ``session_id`` (a
    64-character SHA-256 in silver) is cached as its 64-bit xxhash: the tables
    only count and group sessions, always within one listener, where two
    sessions would have to share all 64 bits to merge."""
    from pyspark.sql import functions as F
    lake, ds = ctx.lake, ctx.ds
    start = ctx.shift(-(ctx.config.pipeline.feature_window_days - 1))
    catalogue = lake.read("silver", "tracks", ds=ds)
    people = lake.read("silver", "users", ds=ds)
    keys = id_keys(people, catalogue, lake.read("silver", "artists", ds=ds))
    tracks = keyed(catalogue, keys, {"track_id": "tracks", "artist_id": "artists", "genre": "genres"}).cache()
    users = keyed(people.where(F.col("personalisation_consent") & ~F.col("is_deleted")).select("user_id"),
                  keys, {"user_id": "users"}).cache()
    cat = keyed(catalogue.select(F.col("track_id").alias("__id"), F.col("track_id"), "artist_id", "genre", *AUDIO),
                keys, {"track_id": "tracks", "artist_id": "artists", "genre": "genres"})
    events = (lake.read("silver", "listening_events", ds_range=(start, ds)).select(*EVENT_COLUMNS)
              .withColumn("session_id", F.xxhash64("session_id")).withColumn("ds", F.col("ds").cast("date"))
              .withColumnRenamed("track_id", "__id")
              .join(F.broadcast(cat), "__id", "left").drop("__id"))
    # Partitioned by listener once here, so that no user-level aggregation
    # (profiles, context, the per-(listener, item) plays, co-listening's
    # sessions) shuffles the events again.
    parts = int(ctx.spark.conf.get("spark.sql.shuffle.partitions"))
    events = keyed(events, keys, {"user_id": "users"}).repartition(parts, "user_id").cache()
    return Inputs(events, tracks, users, keys, [])


def run(ctx) -> dict:
    from pyspark.sql import functions as F
    from setlist import featurestore
    from setlist.features.repo import ONLINE_VIEWS
    from setlist.governance import checks

    lake, ds = ctx.lake, ctx.ds
    inputs = load_inputs(ctx)
    rows_in = count_events(inputs.events)
    written = {}
    for name, df in build(ctx, inputs).items():
        df = _rounded(conform(df.withColumn("ds", F.lit(ds)), "gold", name).drop("ds")).cache()
        checks.validate_gold(df, name, rows=df.count())
        written[name] = lake.write(df, "gold", name, ds=ds)
        df.unpersist()
        ctx.log(f"gold/{name}: {written[name]:,} rows")
    inputs.unpersist()
    store = featurestore.open_store(ctx.config)
    applied = featurestore.apply(store, ctx.config)
    featurestore.materialize(store, ds, views=ONLINE_VIEWS)
    ctx.log(f"feast: applied {len(applied)} objects, materialised {ds} into the online store")
    return {"rows_in": rows_in, "rows_out": sum(written.values()), "rows_quarantined": 0,
            "tables": written, "feast_objects": applied}
