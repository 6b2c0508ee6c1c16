"""Adapters: real public music datasets mapped onto the raw-file input contract.

Each adapter reads one public dataset from a folder given by the caller and
writes ``<home>/raw/<ds>/<table>.<ext>`` exactly as the synthetic generator
does (see ``setlist.schema``), so ingest → clean → ... runs on it unchanged.
Every ds folder gets all contract tables with exactly the contract columns:
the daily tables (``listening_events``, ``feedback``) hold that day's rows,
every other table is the same full snapshot on each day. A summary (source,
ds list, row counts, derived fields) is returned and written to
``<home>/raw/_adapter.json``. Output depends only on the arguments: all
randomness comes from ``numpy.random.default_rng([seed, <user or playlist>])``,
never from the clock, so the rows of one user or playlist are the same
whatever sample is taken. Summary ``rows`` counts all days for the daily
tables and one snapshot for the others; ``params`` and ``audio_matched``
(tracks with audio features / all tracks) are recorded beside it.

Files follow the ingest conventions: UTF-8 CSV with a header, comma
separator, ``"`` quoting with doubled quotes, ``\\n`` line ends, booleans
``true``/``false``, null = empty field, timestamps ``YYYY-MM-DDTHH:MM:SS.mmmZ``
(UTC), dates ``YYYY-MM-DD``. ``user_controls.jsonl`` is an empty file and
``feedback``, ``editorial_placements``, ``royalty_pool`` and
``governance_overrides`` are header-only: the real data has none of them.

Last.fm HetRec 2011 (``lastfm_hetrec``)
---------------------------------------
Maps ``user_artists.dat`` (userID, artistID, weight = play count),
``artists.dat``, ``tags.dat`` and ``user_taggedartists.dat``. Each file is
decoded as UTF-8 when it is valid UTF-8, else as ISO-8859-1 (in the public
download ``artists.dat`` is UTF-8 while ``tags.dat`` is ISO-8859-1).
The data has no tracks, timestamps, sessions, skips or labels, so it derives:

- users ``lfm-u<userID>`` (every userID of ``user_artists.dat``): signup_date
  = first ds − 1 year, tier ``premium``, age_band ``unknown``,
  personalisation_consent true, audit_consent false; country and
  deletion_requested_at empty. ``sample_users=N`` keeps the N smallest userIDs.
- artists ``lfm-a<artistID>`` (those played by the kept users): name from
  ``artists.dat`` (empty for an id it lacks), label ``lfm-unknown``; country, debut_year,
  self_declared_gender empty; attributes_consent false.
- one catalogue track per artist: track_id ``lfm-t<artistID>``, title = the
  artist's name, artist_id ``lfm-a<artistID>``, label ``lfm-unknown``,
  duration_ms 210000; isrc, album_id, release_date empty.
- genre: the artist's most frequent tag over all tag assignments
  (``user_taggedartists.dat`` joined to ``tags.dat``; lower-cased, runs of
  whitespace → ``_``; ties → alphabetically first), else ``unknown``.
- audio features (tempo, energy, valence, danceability, acousticness, key,
  mode, loudness): the artist's row of ``data_by_artist.csv`` joined by exact
  name, else empty.
- labels: one label ``lfm-unknown`` of kind ``independent``.
- listening events: each (user, artist) pair becomes
  n = ceil(log2(1 + weight)) plays. This keeps the ordering of play counts
  while keeping the event log small (about 0.78M rows for all 1,892 users
  instead of 69M). A user's plays are shuffled (seeded per user), cut into
  sessions of 5–15 plays, and the sessions are dealt round-robin, in a
  seeded order, over the ``days`` days ending at ``end_ds`` (so every day gets
  about the same share). Within a session consecutive plays start 3.5–4
  minutes apart (never overlapping a 210 s play); a user's sessions are at
  least 30 minutes apart (also across midnight) and placed at seeded times
  inside the UTC day. A ``days`` too small to hold a user's plays this way
  raises ValueError (14 days hold the heaviest user, 646 plays, easily).
  event_id ``lfm-e<n>`` numbers all events in (ts, user) order;
  context_type ``user_collection``, context_id empty, skipped false, shuffle
  false, ms_played 210000, reason_start ``clickrow``, reason_end
  ``trackdone``, device ``desktop``, country empty.

MPD subset (``mpd``)
--------------------
Maps ``playlists.csv`` and ``playlist_tracks.csv.gz`` (pid, pos, track_uri,
artist_name, track_name). Rows are taken in (pid, pos) order; ids number
first appearances in that order, so a sample's ids agree with the full run's.

- users ``mpd-p<pid>``: one listener per playlist (pids of ``playlists.csv``
  and of the track rows), fields as for Last.fm. ``sample_playlists=N`` keeps
  pid < N.
- tracks ``mpd-t<n>`` (n = index of the distinct track_uri in first-appearance
  order): title = track_name, artist = the track's first artist_name,
  label ``mpd-unknown``, genre ``unknown``, duration_ms 210000; isrc,
  album_id, release_date empty. Audio features are the artist's aggregate
  from ``data_by_artist.csv`` joined by exact artist name (artist-level means
  over the artist's whole catalogue, not the track's own values), else empty.
- artists ``mpd-a<n>`` (n = index of the distinct artist_name in
  first-appearance order; equal names are one artist): fields as for Last.fm
  with label ``mpd-unknown``.
- labels: one label ``mpd-unknown`` of kind ``independent``.
- listening events: a playlist's tracks in pos order are one session on
  ds number (pid mod days) of the window, starting at a seeded time between
  06:00 and 22:00 UTC (earlier when a long playlist would not fit the day),
  plays exactly 3.5 minutes apart. event_id ``mpd-e<n>`` numbers all events
  in (ts, pid, pos) order; context_type ``user_collection``, context_id
  ``mpd-pl<pid>``, reason_start ``clickrow`` for the first play and
  ``trackdone`` for the following ones, reason_end ``trackdone``, skipped
  false, shuffle false, ms_played = duration_ms = 210000, device
  ``desktop``, country empty.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from setlist.schema import DAILY_TABLES, RAW_TABLES, raw_path

DAY_MS = 86_400_000
PLAY_MS = 210_000                 # derived duration and ms_played of every play
LFM_GAP_MS = (210_000, 240_000)   # start-to-start gap inside a Last.fm session
LFM_SESSION_PLAYS = (5, 15)       # plays per Last.fm session
LFM_BREAK_MS = 30 * 60_000        # minimum pause between two sessions of a user
MPD_GAP_MS = 210_000              # 3.5 minutes
MPD_START_MS = (6 * 3_600_000, 22 * 3_600_000)
AUDIO_COLUMNS = ("tempo", "energy", "valence", "danceability", "acousticness",
                 "key", "mode", "loudness")
AUDIO_FILE = "data_by_artist.csv"

Progress = Callable[[str], None] | None


# --- small helpers -------------------------------------------------------------

def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress(message)


def _ds_list(end_ds: str, days: int) -> list[str]:
    if int(days) < 1:
        raise ValueError(f"days must be at least 1, got {days!r}")
    end = dt.date.fromisoformat(end_ds)
    return [(end - dt.timedelta(days=k)).isoformat() for k in range(int(days) - 1, -1, -1)]


def _day_start_ms(ds_list: list[str]) -> np.ndarray:
    return np.array(ds_list, dtype="datetime64[D]").astype("datetime64[ms]").astype(np.int64)


def _year_before(ds: str) -> str:
    d = dt.date.fromisoformat(ds)
    try:
        return d.replace(year=d.year - 1).isoformat()
    except ValueError:  # 29 February
        return d.replace(year=d.year - 1, day=28).isoformat()


def _iso_ts(ms: np.ndarray) -> np.ndarray:
    """Epoch milliseconds → ``2011-05-31T18:04:05.123Z`` strings."""
    text = np.datetime_as_string(np.asarray(ms, dtype=np.int64).astype("datetime64[ms]"), unit="ms")
    return np.char.add(text, "Z").astype(object)


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


def _read_text(path: Path) -> str:
    """Decode a file as UTF-8 when it is valid UTF-8, else as ISO-8859-1."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("iso-8859-1")
    return text.lstrip("\ufeff").replace("\r\n", "\n")


def _read_tsv(path: Path) -> pd.DataFrame:
    """A HetRec file: tab-separated, header, no quoting, every value a string."""
    return pd.read_csv(io.StringIO(_read_text(path)), sep="\t", quoting=csv.QUOTE_NONE,
                       dtype=str, keep_default_na=False, na_filter=False)


def _require(folder: Path, *names: str) -> list[Path]:
    paths = [Path(folder) / n for n in names]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"dataset file(s) not found: {', '.join(missing)}")
    return paths


def _empty(table: str) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in RAW_TABLES[table][1]})


def _csv_bytes(df: pd.DataFrame, table: str) -> bytes:
    ext, columns = RAW_TABLES[table]
    if ext != "csv":
        raise ValueError(f"{table} is not a CSV table")
    return df.loc[:, list(columns)].to_csv(index=False, lineterminator="\n").encode("utf-8")


# --- audio aggregates ------------------------------------------------------------

def _audio_table(src: Path, audio_src) -> pd.DataFrame | None:
    """The per-artist audio means, indexed by exact artist name (None if absent)."""
    if audio_src is None:
        folder = Path(src).parent / "artist-audio-aggregates"
        if not (folder / AUDIO_FILE).is_file():
            return None
    else:
        folder = Path(audio_src)
    (path,) = _require(folder, AUDIO_FILE)
    df = pd.read_csv(io.StringIO(_read_text(path)), dtype=str, keep_default_na=False,
                     na_filter=False)
    out = pd.DataFrame(index=pd.Index(df["artists"], name="artist_name"))
    for col in AUDIO_COLUMNS:
        values = pd.to_numeric(df[col].replace("", None), errors="raise")
        if col in ("key", "mode"):
            values = values.round().astype("Int64")
        out[col] = values.array
    # A name appearing twice keeps its first row, so the join stays one-to-one.
    return out[~out.index.duplicated(keep="first")]


def _audio_for(names: pd.Series, audio: pd.DataFrame | None) -> tuple[pd.DataFrame, np.ndarray]:
    """Audio columns aligned with ``names`` (exact-name join) and the matched mask."""
    if audio is None:
        cols = {c: pd.array([pd.NA] * len(names), dtype="Int64") if c in ("key", "mode")
                else np.full(len(names), np.nan) for c in AUDIO_COLUMNS}
        return pd.DataFrame(cols, index=names.index), np.zeros(len(names), dtype=bool)
    joined = audio.reindex(names.to_numpy())
    joined.index = names.index
    return joined, names.isin(audio.index).to_numpy()


# --- shared table builders --------------------------------------------------------

def _users(user_ids: list[str], signup: str) -> pd.DataFrame:
    n = len(user_ids)
    return pd.DataFrame({
        "user_id": user_ids,
        "signup_date": [signup] * n,
        "country": [None] * n,
        "tier": ["premium"] * n,
        "age_band": ["unknown"] * n,
        "personalisation_consent": [_bool(True)] * n,
        "audit_consent": [_bool(False)] * n,
        "deletion_requested_at": [None] * n,
    })


def _artists(artist_ids: list[str], names: list, label_id: str) -> pd.DataFrame:
    n = len(artist_ids)
    return pd.DataFrame({
        "artist_id": artist_ids,
        "name": names,
        "label_id": [label_id] * n,
        "country": [None] * n,
        "debut_year": [None] * n,
        "self_declared_gender": [None] * n,
        "attributes_consent": [_bool(False)] * n,
    })


def _tracks(track_ids, titles, artist_ids, label_id: str, genres,
            audio: pd.DataFrame) -> pd.DataFrame:
    n = len(track_ids)
    df = pd.DataFrame({
        "track_id": list(track_ids),
        "isrc": [None] * n,
        "title": list(titles),
        "artist_id": list(artist_ids),
        "album_id": [None] * n,
        "label_id": [label_id] * n,
        "release_date": [None] * n,
        "duration_ms": np.full(n, PLAY_MS, dtype=np.int64),
        "genre": list(genres),
    })
    for col in AUDIO_COLUMNS:
        df[col] = audio[col].array
    return df


def _labels(label_id: str, name: str) -> pd.DataFrame:
    return pd.DataFrame({"label_id": [label_id], "name": [name], "kind": ["independent"]})


def _events(event_ids, user_ids, track_ids, ts_ms, reason_start, context_ids) -> pd.DataFrame:
    n = len(event_ids)
    return pd.DataFrame({
        "event_id": event_ids,
        "user_id": user_ids,
        "track_id": track_ids,
        "ts": _iso_ts(ts_ms),
        "ms_played": np.full(n, PLAY_MS, dtype=np.int64),
        "reason_start": reason_start,
        "reason_end": ["trackdone"] * n,
        "skipped": [_bool(False)] * n,
        "shuffle": [_bool(False)] * n,
        "context_type": ["user_collection"] * n,
        "context_id": context_ids,
        "device": ["desktop"] * n,
        "country": [None] * n,
    })


def _write(home, ds_list: list[str], snapshots: dict[str, pd.DataFrame],
           events: pd.DataFrame, event_day: np.ndarray, progress: Progress) -> dict[str, int]:
    """Write every contract table into every ds folder; return the row counts."""
    rows: dict[str, int] = {}
    blobs: dict[str, bytes] = {}
    for table, (ext, _) in RAW_TABLES.items():
        if table in DAILY_TABLES:
            continue
        frame = snapshots.get(table, _empty(table))
        if ext == "jsonl":
            blobs[table] = "".join(
                json.dumps(rec, ensure_ascii=False) + "\n"
                for rec in frame.loc[:, list(RAW_TABLES[table][1])].to_dict("records")
            ).encode("utf-8")
        else:
            blobs[table] = _csv_bytes(frame, table)
        rows[table] = len(frame)
    rows["listening_events"] = len(events)
    rows["feedback"] = 0
    feedback = _csv_bytes(_empty("feedback"), "feedback")
    _say(progress, f"writing {len(ds_list)} ds folders ({len(events)} events)")
    for i, ds in enumerate(ds_list):
        folder = raw_path(home, ds, "listening_events").parent
        folder.mkdir(parents=True, exist_ok=True)
        raw_path(home, ds, "listening_events").write_bytes(
            _csv_bytes(events[event_day == i], "listening_events"))
        raw_path(home, ds, "feedback").write_bytes(feedback)
        for table, blob in blobs.items():
            raw_path(home, ds, table).write_bytes(blob)
    return dict(sorted(rows.items()))


def _finish(home, summary: dict) -> dict:
    path = Path(home) / "raw" / "_adapter.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(summary, sort_keys=True, indent=2, ensure_ascii=False) + "\n",
                    encoding="utf-8")
    return summary


def _common_derived(prefix: str, audio_note: str) -> dict[str, str]:
    return {
        "users": f"one listener per {prefix}; signup_date = first ds - 1 year, tier premium, "
                 "age_band unknown, personalisation_consent true, audit_consent false, "
                 "country and deletion_requested_at empty",
        "artists.label_id": "every artist on the single placeholder label; country, debut_year, "
                            "self_declared_gender empty, attributes_consent false",
        "labels": "one placeholder label of kind independent (the data has no labels)",
        "tracks.duration_ms": f"constant {PLAY_MS} (the data has no durations); isrc, album_id, "
                              "release_date empty",
        "tracks.audio": audio_note,
        "listening_events.constants": "context_type user_collection, skipped false, shuffle false, "
                                      f"ms_played {PLAY_MS}, reason_end trackdone, device desktop, "
                                      "country empty",
        "feedback": "empty (header only): the data has no explicit feedback",
        "editorial_placements": "empty (header only): the data has no editorial placements",
        "royalty_pool": "empty (header only): the data has no revenue",
        "user_controls": "empty file: the data has no user controls",
        "governance_overrides": "empty (header only)",
    }


# --- Last.fm HetRec 2011 -----------------------------------------------------------

def _lastfm_genres(src: Path) -> dict[str, str]:
    """artistID → most frequent normalised tag (ties: alphabetically first)."""
    tags = _read_tsv(Path(src) / "tags.dat")
    tagged = _read_tsv(Path(src) / "user_taggedartists.dat")
    names = tags.set_index("tagID")["tagValue"].str.strip().str.lower()
    names = names.str.replace(r"\s+", "_", regex=True)
    tagged = tagged.assign(genre=tagged["tagID"].map(names))
    tagged = tagged[tagged["genre"].notna() & (tagged["genre"] != "")]
    counts = tagged.groupby(["artistID", "genre"]).size().rename("n").reset_index()
    counts = counts.sort_values(["artistID", "n", "genre"], ascending=[True, False, True],
                                kind="mergesort")
    best = counts.drop_duplicates("artistID", keep="first")
    return dict(zip(best["artistID"], best["genre"]))


def _lastfm_layout(rng: np.random.Generator, n_plays: int, days: int, user: str):
    """Place one user's plays: (day index, ms since the day's midnight) per play."""
    lo, hi = LFM_SESSION_PLAYS
    lens = rng.integers(lo, hi + 1, size=n_plays // lo + 1)
    ends = np.cumsum(lens)
    k = int(np.searchsorted(ends, n_plays, side="left")) + 1
    lens = lens[:k].copy()
    lens[-1] = n_plays - (ends[k - 2] if k > 1 else 0)
    first = np.concatenate(([0], np.cumsum(lens)[:-1]))
    gaps = rng.integers(LFM_GAP_MS[0], LFM_GAP_MS[1] + 1, size=n_plays)
    gaps[first] = 0
    run = np.cumsum(gaps)
    within = run - np.repeat(run[first], lens)
    span = within[first + lens - 1]
    # Deal sessions round-robin over the days in a seeded day order, so the days
    # that get one session more differ between users.
    session_day = rng.permutation(rng.permutation(days)[np.arange(k) % days])
    start = np.empty(k, dtype=np.int64)
    for d in np.unique(session_day):
        idx = np.flatnonzero(session_day == d)
        # The day's last play starts a full break before midnight, so sessions on
        # consecutive days are also at least a break apart.
        free = DAY_MS - 1 - len(idx) * LFM_BREAK_MS - int(span[idx].sum())
        if free < 0:
            raise ValueError(f"user {user}: {int(lens[idx].sum())} plays do not fit in one day; "
                             "use more days")
        cuts = np.sort(rng.integers(0, free + 1, size=len(idx)))
        start[idx] = cuts + np.concatenate(([0], np.cumsum(span[idx][:-1] + LFM_BREAK_MS)))
    session = np.repeat(np.arange(k), lens)
    return session_day[session], start[session] + within


def lastfm_hetrec(src, home, end_ds: str = "2011-05-31", days: int = 14,
                  sample_users: int | None = None, seed: int = 0, audio_src=None,
                  progress: Progress = None) -> dict:
    """Map Last.fm HetRec 2011 onto the raw contract under ``<home>/raw``; return the summary."""
    src = Path(src)
    _require(src, "user_artists.dat", "artists.dat", "tags.dat", "user_taggedartists.dat")
    ds_list = _ds_list(end_ds, days)
    _say(progress, "lastfm-hetrec: reading user_artists.dat")
    pairs = _read_tsv(src / "user_artists.dat")
    pairs = pd.DataFrame({"user": pd.to_numeric(pairs["userID"]).astype(np.int64),
                          "artist": pd.to_numeric(pairs["artistID"]).astype(np.int64),
                          "weight": pd.to_numeric(pairs["weight"]).astype(np.int64)})
    if (pairs["weight"] < 0).any():
        raise ValueError("user_artists.dat has negative weights")
    users = np.sort(pairs["user"].unique())
    if sample_users is not None:
        users = users[: int(sample_users)]
        pairs = pairs[pairs["user"].isin(users)]
    pairs = pairs.sort_values(["user", "artist"], kind="mergesort").reset_index(drop=True)
    # ceil(log2(1 + w)) computed exactly on integers: it equals w's bit length.
    pairs["plays"] = np.array([int(w).bit_length() for w in pairs["weight"]], dtype=np.int64)

    _say(progress, "lastfm-hetrec: catalogue, genres and audio features")
    listed = _read_tsv(src / "artists.dat")
    artist_names = dict(zip(pd.to_numeric(listed["id"]).astype(np.int64), listed["name"]))
    genres = _lastfm_genres(src)
    artist_ids = np.sort(pairs["artist"].unique())
    names = pd.Series([artist_names.get(int(a)) for a in artist_ids], dtype=object)
    audio, found = _audio_for(names, _audio_table(src, audio_src))
    matched = int(found.sum())
    tracks = _tracks([f"lfm-t{a}" for a in artist_ids], names,
                     [f"lfm-a{a}" for a in artist_ids], "lfm-unknown",
                     [genres.get(str(a), "unknown") for a in artist_ids], audio)
    artists = _artists([f"lfm-a{a}" for a in artist_ids], list(names), "lfm-unknown")

    _say(progress, f"lastfm-hetrec: laying out {int(pairs['plays'].sum())} plays")
    day_start = _day_start_ms(ds_list)
    parts_user, parts_artist, parts_day, parts_ts, parts_seq = [], [], [], [], []
    bounds = np.flatnonzero(np.diff(pairs["user"].to_numpy())) + 1
    for chunk in np.split(np.arange(len(pairs)), bounds):
        if len(chunk) == 0:
            continue
        user = int(pairs["user"].iat[chunk[0]])
        plays = np.repeat(pairs["artist"].to_numpy()[chunk], pairs["plays"].to_numpy()[chunk])
        if len(plays) == 0:
            continue
        rng = np.random.default_rng([int(seed), user])
        plays = rng.permutation(plays)
        day, offset = _lastfm_layout(rng, len(plays), len(ds_list), f"lfm-u{user}")
        parts_user.append(np.full(len(plays), user, dtype=np.int64))
        parts_artist.append(plays)
        parts_day.append(day)
        parts_ts.append(day_start[day] + offset)
        parts_seq.append(np.arange(len(plays)))
    if parts_user:
        ev_user, ev_artist, ev_day, ev_ts, ev_seq = (
            np.concatenate(p) for p in (parts_user, parts_artist, parts_day, parts_ts, parts_seq))
    else:
        ev_user = ev_artist = ev_day = ev_ts = ev_seq = np.zeros(0, dtype=np.int64)
    order = np.lexsort((ev_seq, ev_user, ev_ts))
    ev_user, ev_artist = ev_user[order], ev_artist[order]
    ev_day, ev_ts = ev_day[order], ev_ts[order]
    n = len(order)
    events = _events([f"lfm-e{i}" for i in range(n)], [f"lfm-u{u}" for u in ev_user],
                     [f"lfm-t{a}" for a in ev_artist], ev_ts, ["clickrow"] * n, [None] * n)

    snapshots = {
        "tracks": tracks,
        "artists": artists,
        "labels": _labels("lfm-unknown", "Unknown label (Last.fm HetRec)"),
        "users": _users([f"lfm-u{u}" for u in users], _year_before(ds_list[0])),
    }
    rows = _write(home, ds_list, snapshots, events, ev_day, progress)
    derived = _common_derived(
        "Last.fm user (lfm-u<userID>)",
        "tempo, energy, valence, danceability, acousticness, key, mode, loudness = the artist's "
        f"means in {AUDIO_FILE} joined by exact artist name, else empty",
    )
    derived.update({
        "tracks": "one catalogue track per artist: track_id lfm-t<artistID>, title = artist name, "
                  "artist_id lfm-a<artistID>",
        "tracks.genre": "the artist's most frequent tag in user_taggedartists.dat/tags.dat "
                        "(lower-cased, spaces -> _, ties alphabetical), else unknown",
        "listening_events.count": "each (user, artist) pair becomes ceil(log2(1 + weight)) plays: "
                                  "keeps the order of play counts with a small event log",
        "listening_events.ts": "a user's plays shuffled, cut into sessions of "
                               f"{LFM_SESSION_PLAYS[0]}-{LFM_SESSION_PLAYS[1]} plays 3.5-4 min "
                               "apart, sessions dealt evenly over the days, >= 30 min apart, "
                               "at seeded times",
        "listening_events.event_id": "lfm-e<n>, n numbering all events in (ts, user) order",
        "listening_events.context": "context_id empty, reason_start clickrow",
    })
    return _finish(home, {
        "source": "lastfm-hetrec",
        "ds_list": ds_list,
        "rows": rows,
        "derived": derived,
        "params": {"end_ds": end_ds, "days": int(days), "sample_users": sample_users,
                   "seed": int(seed)},
        "audio_matched": {"tracks": matched, "of": len(tracks)},
    })


# --- MPD subset ----------------------------------------------------------------------

def _mpd_rows(src: Path) -> pd.DataFrame:
    for name in ("playlist_tracks.csv.gz", "playlist_tracks.csv"):
        if (src / name).is_file():
            path = src / name
            break
    else:
        raise FileNotFoundError(f"dataset file not found: {src / 'playlist_tracks.csv.gz'}")
    df = pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, encoding="utf-8")
    df["pid"] = pd.to_numeric(df["pid"]).astype(np.int64)
    df["pos"] = pd.to_numeric(df["pos"]).astype(np.int64)
    return df


def mpd(src, home, end_ds: str = "2017-11-01", days: int = 14,
        sample_playlists: int | None = None, seed: int = 0, audio_src=None,
        progress: Progress = None) -> dict:
    """Map the MPD playlist subset onto the raw contract under ``<home>/raw``; return the
    summary."""
    src = Path(src)
    ds_list = _ds_list(end_ds, days)
    _say(progress, "mpd: reading playlist_tracks")
    rows_in = _mpd_rows(src)
    pids = set(rows_in["pid"].tolist())
    if (src / "playlists.csv").is_file():
        playlists = pd.read_csv(src / "playlists.csv", dtype=str, keep_default_na=False,
                                na_filter=False, usecols=["pid"])
        pids |= set(pd.to_numeric(playlists["pid"]).astype(np.int64).tolist())
    if sample_playlists is not None:
        rows_in = rows_in[rows_in["pid"] < int(sample_playlists)]
        pids = {p for p in pids if p < int(sample_playlists)}
    rows_in = rows_in.sort_values(["pid", "pos"], kind="mergesort").reset_index(drop=True)

    _say(progress, "mpd: catalogue and audio features")
    track_code, track_uris = pd.factorize(rows_in["track_uri"], sort=False)
    artist_code, artist_names = pd.factorize(rows_in["artist_name"], sort=False)
    first = pd.Series(np.arange(len(rows_in))).groupby(track_code).first().to_numpy()
    track_artist = artist_code[first]
    names = pd.Series(np.asarray(artist_names, dtype=object))
    artist_audio, found = _audio_for(names, _audio_table(src, audio_src))
    audio = artist_audio.iloc[track_artist].reset_index(drop=True)
    matched = int(found[track_artist].sum())
    tracks = _tracks([f"mpd-t{i}" for i in range(len(track_uris))],
                     rows_in["track_name"].to_numpy()[first],
                     [f"mpd-a{a}" for a in track_artist], "mpd-unknown",
                     ["unknown"] * len(track_uris), audio)
    artists = _artists([f"mpd-a{i}" for i in range(len(names))], list(names), "mpd-unknown")

    _say(progress, f"mpd: laying out {len(rows_in)} plays")
    day_start = _day_start_ms(ds_list)
    pid = rows_in["pid"].to_numpy()
    bounds = np.flatnonzero(np.diff(pid)) + 1
    starts_at = np.concatenate(([0], bounds)) if len(pid) else np.zeros(0, dtype=np.int64)
    lengths = np.diff(np.concatenate((starts_at, [len(pid)]))) if len(pid) else starts_at
    session_start = np.empty(len(starts_at), dtype=np.int64)
    for j, (at, n) in enumerate(zip(starts_at, lengths)):
        p = int(pid[at])
        latest = DAY_MS - 1 - (int(n) - 1) * MPD_GAP_MS
        if latest < 0:
            raise ValueError(f"playlist {p}: {n} tracks do not fit in one day")
        lo, hi = min(MPD_START_MS[0], latest), min(MPD_START_MS[1], latest)
        session_start[j] = np.random.default_rng([int(seed), p]).integers(lo, hi + 1)
    index_in = np.arange(len(pid)) - np.repeat(starts_at, lengths)
    ev_day = pid % len(ds_list)
    ev_ts = day_start[ev_day] + np.repeat(session_start, lengths) + index_in * MPD_GAP_MS
    order = np.lexsort((index_in, pid, ev_ts))
    n = len(order)
    ev_day = ev_day[order]
    events = _events([f"mpd-e{i}" for i in range(n)], [f"mpd-p{p}" for p in pid[order]],
                     [f"mpd-t{t}" for t in track_code[order]], ev_ts[order],
                     np.where(index_in[order] == 0, "clickrow", "trackdone").astype(object),
                     [f"mpd-pl{p}" for p in pid[order]])

    snapshots = {
        "tracks": tracks,
        "artists": artists,
        "labels": _labels("mpd-unknown", "Unknown label (MPD)"),
        "users": _users([f"mpd-p{p}" for p in sorted(pids)], _year_before(ds_list[0])),
    }
    rows = _write(home, ds_list, snapshots, events, ev_day, progress)
    derived = _common_derived(
        "playlist (mpd-p<pid>)",
        "tempo, energy, valence, danceability, acousticness, key, mode, loudness = the artist's "
        f"aggregate in {AUDIO_FILE} joined by exact artist name (artist-level means, not the "
        "track's own values), else empty",
    )
    derived.update({
        "tracks": "track_id mpd-t<n>, n = index of the distinct track_uri in (pid, pos) "
                  "first-appearance order; title = track_name; artist = its first artist_name",
        "tracks.genre": "unknown (the data has no genres)",
        "artists": "artist_id mpd-a<n> by exact artist_name in first-appearance order "
                   "(equal names are one artist)",
        "listening_events.ts": "a playlist's tracks in pos order are one session on ds number "
                               "(pid mod days), 3.5 min apart from a seeded start between "
                               "06:00 and 22:00 UTC",
        "listening_events.event_id": "mpd-e<n>, n numbering all events in (ts, pid, pos) order",
        "listening_events.context": "context_id mpd-pl<pid>; reason_start clickrow for the "
                                    "first play, trackdone after",
    })
    return _finish(home, {
        "source": "mpd",
        "ds_list": ds_list,
        "rows": rows,
        "derived": derived,
        "params": {"end_ds": end_ds, "days": int(days), "sample_playlists": sample_playlists,
                   "seed": int(seed)},
        "audio_matched": {"tracks": matched, "of": len(tracks)},
    })


ADAPTERS = {"lastfm-hetrec": lastfm_hetrec, "mpd": mpd}
