"""Deterministic synthetic raw data for every table of the input contract.

The generator is the default source of the flow (raw files -> ingest -> ...):
``generate(home, tier, days, seed, end_ds)`` writes ``<home>/raw/<ds>/<table>.<ext>``
for ``days`` consecutive logical dates ending at ``end_ds``. Daily tables
(``listening_events``, ``feedback``) hold that day's rows; every other table is a
full snapshot as delivered on that day.

Shape assumptions (what the downstream stages can rely on finding):

* Catalog: about eight tracks per artist; artist fame and track popularity are
  Zipf-like (play weight ~ 1 / rank^1.05), so a few tracks take a large share of
  plays and most of the catalog is a long tail. About 35% of artists sit on the
  three majors, mostly the famous ones; the rest are on independents or share the
  ``l-self`` self-released label. About 10% of artists are emerging (debut in the
  last two years, low fame). Audio features are drawn per genre. A few albums are
  released inside the window (new releases, boosted for some weeks); the tracks
  snapshot lists them from the first day, but nobody plays them before release.
* Users: a Dirichlet taste over genres, a preferred mix of contexts, a dozen
  favourite tracks and a log-normal activity level, so plays per user are skewed.
  About 0.5% request deletion inside the window; ``deletion_requested_at`` shows up
  in the users snapshot from that day on and the user stops playing at that instant.
* Listening: sessions of 3-25 plays, each play starting after the previous one
  ends (gaps < 30 min inside a session, > 30 min between sessions), session starts
  follow a diurnal curve in the listener's local time. Each session has one context
  (collection, algorithmic playlist, editorial playlist, search, radio, charts,
  other) that decides how tracks are picked: favourites, genre taste, global
  popularity or the editorial playlist. Skips follow a logistic model: more likely
  after a jump in energy or tempo, less likely for tracks in the listener's taste.
* Editorial playlists (20, or one per 400 tracks with at least 4 on small
  catalogs; 30-50 tracks each) give placed tracks a clear lift;
  their plays carry ``context_type=editorial_playlist`` and the playlist id, and
  only reference tracks placed in that playlist on that date.

Identical arguments give byte-identical files: every random draw comes from a
``numpy`` generator seeded by ``(seed, stream, ...)``, per day and per chunk of
users (50,000, fewer when a chunk would exceed about a million plays a day), and
the current time is never read. Chunks are appended to the day's files as they
are simulated, so tier ``l`` never holds a whole day of events in memory.

``inject_bad=N`` appends N rows per quarantine reason to the last day's
``listening_events.csv`` (see ``_bad_rows``) and records the counts in
``raw/<last ds>/_injected.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from setlist import schema

# --- sizes --------------------------------------------------------------------
# Totals over all generated days; events are spread over the days.
SIZE_TIERS: dict[str, dict[str, int]] = {
    "xs": {"users": 1_000, "tracks": 2_000, "events": 50_000},
    "s": {"users": 10_000, "tracks": 10_000, "events": 1_000_000},
    "m": {"users": 100_000, "tracks": 50_000, "events": 10_000_000},
    "l": {"users": 1_000_000, "tracks": 200_000, "events": 100_000_000},
}
# Users are simulated in chunks (part of the seed derivation, so the layout is a
# function of the arguments only): 50,000 users, fewer when few days must hold
# many plays, so a chunk stays near a million plays at most.
USER_CHUNK = 50_000
MAX_CHUNK_PLAYS = 1_000_000

DAY_MS = 86_400_000
SESSION_GAP_MS = 30 * 60_000 + 1_000  # strictly more than the 30 min sessionisation gap
MAX_SESSIONS_PER_DAY = 10
N_FAVOURITES = 12
# Editorial playlists: 20, fewer on tiny catalogs so their ~40 slots each stay a
# small part of the catalog (as on a real service).
N_PLAYLISTS = 20

# Random streams: the first entropy word after the seed, so streams never collide.
_S_CATALOG, _S_USERS, _S_PLACEMENTS, _S_PROFILE, _S_DAY, _S_CONTROLS, _S_INJECT, _S_POOL = range(1, 9)

# --- vocabularies -------------------------------------------------------------
GENRES = (
    "pop", "rock", "hip_hop", "electronic", "jazz", "classical", "indie", "metal",
    "folk", "r_and_b", "latin", "country", "reggae", "blues", "soundtrack",
)
_G = len(GENRES)
_GENRE_SHARE = np.array(
    [.16, .12, .12, .10, .04, .04, .08, .05, .04, .07, .06, .05, .03, .02, .02])
_GENRE_SHARE = _GENRE_SHARE / _GENRE_SHARE.sum()
# How much more a genre's tracks are streamed than their catalog share suggests.
_GENRE_POP = np.array(
    [1.6, 1.0, 1.5, 1.1, 0.5, 0.4, 0.8, 0.7, 0.6, 1.1, 1.2, 0.9, 0.6, 0.4, 0.5])
# tempo mean, tempo sd, energy, valence, danceability, acousticness, loudness dB, median seconds
_GENRE_AUDIO = np.array([
    [118, 18, .68, .55, .68, .18, -6.0, 205],   # pop
    [124, 22, .75, .48, .50, .12, -6.5, 235],   # rock
    [96, 20, .65, .50, .75, .15, -6.5, 200],    # hip_hop
    [126, 14, .80, .45, .70, .05, -5.5, 240],   # electronic
    [110, 30, .38, .55, .52, .70, -12.0, 300],  # jazz
    [100, 30, .18, .30, .28, .92, -20.0, 330],  # classical
    [118, 24, .55, .45, .52, .35, -8.0, 225],   # indie
    [135, 28, .92, .30, .38, .02, -4.5, 270],   # metal
    [110, 24, .35, .50, .50, .78, -11.0, 220],  # folk
    [100, 18, .55, .55, .68, .25, -7.0, 215],   # r_and_b
    [112, 22, .75, .70, .76, .20, -5.5, 205],   # latin
    [115, 22, .60, .58, .58, .30, -7.0, 200],   # country
    [88, 12, .58, .70, .75, .20, -7.5, 230],    # reggae
    [102, 24, .48, .48, .52, .50, -9.5, 250],   # blues
    [100, 28, .32, .28, .30, .70, -15.0, 180],  # soundtrack
])

COUNTRIES = ("US", "GB", "DE", "SE", "FR", "BR", "NG", "KR", "JP", "MX")
_ARTIST_COUNTRY_W = np.array([.30, .12, .07, .06, .07, .09, .05, .07, .08, .09])
_USER_COUNTRY_W = np.array([.28, .10, .08, .04, .07, .12, .05, .06, .08, .12])
_UTC_OFFSET_H = np.array([-5, 0, 1, 1, 1, -3, 1, 9, 9, -6])
_PREMIUM_SHARE = np.array([.52, .55, .50, .62, .48, .35, .20, .40, .42, .35])
# Only currencies with two decimals; the others are settled in USD.
CURRENCY = {"US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "SE": "SEK",
            "BR": "BRL", "NG": "USD", "KR": "USD", "JP": "USD", "MX": "USD"}
# Monthly premium price in the pool currency; free listeners bring ad revenue.
_PREMIUM_ARPU = np.array([11.99, 11.99, 10.99, 129.0, 10.99, 21.90, 2.50, 8.50, 7.50, 6.00])
_FREE_ARPU_SHARE = 0.09
_ROYALTY_SHARE = 0.52
# Genre taste leanings by listener country (multipliers on the global share).
_COUNTRY_GENRE_BIAS = {
    "US": {"hip_hop": 1.5, "country": 1.8},
    "GB": {"indie": 1.5, "rock": 1.3},
    "DE": {"electronic": 1.6, "metal": 1.4},
    "SE": {"electronic": 1.5, "metal": 1.6, "pop": 1.2},
    "FR": {"hip_hop": 1.4, "electronic": 1.3},
    "BR": {"latin": 4.0, "pop": 1.2},
    "NG": {"hip_hop": 1.8, "reggae": 2.5, "r_and_b": 1.5},
    "KR": {"pop": 1.8, "r_and_b": 1.3},
    "JP": {"pop": 1.5, "soundtrack": 3.0, "jazz": 1.5},
    "MX": {"latin": 4.5},
}

AGE_BANDS = ("18-24", "25-34", "35-44", "45-54", "55+")
_AGE_W = np.array([.26, .31, .19, .13, .11])
_DEVICE_W = np.array([.55, .15, .08, .10, .07, .05])  # order of schema.DEVICES
GENDERS = ("female", "male", "non_binary", "")
_GENDER_W = np.array([.35, .55, .04, .06])
ERAS = ("1970s", "1980s", "1990s", "2000s", "2010s", "2020s")

# Listening hours in local time (relative weights, 00h..23h).
_DIURNAL = np.array([
    0.9, 0.5, 0.3, 0.2, 0.2, 0.3, 0.8, 1.6, 2.2, 2.0, 1.8, 1.8,
    1.9, 1.9, 1.8, 1.9, 2.2, 2.6, 2.8, 2.8, 2.6, 2.2, 1.8, 1.3])
_WEEKDAY = np.array([0.96, 0.95, 0.97, 0.99, 1.05, 1.08, 1.00])  # Monday first

# Contexts in schema.CONTEXT_TYPES order.
_CTX = {c: i for i, c in enumerate(schema.CONTEXT_TYPES)}
_CTX_W = np.array([.14, .24, .32, .12, .10, .05, .03])
_SHUFFLE_P = np.array([.35, .15, .45, .05, 0.0, .20, .10])
_SKIP_CTX = np.array([.2, .1, -.3, -.6, .3, .2, 0.0])
# Track pick per context: favourite, genre taste, global popularity, session genre, editorial.
_MODE_P = np.array([
    [0, 0, 0, 0, 1],          # editorial_playlist
    [.25, .60, .15, 0, 0],    # algorithmic_playlist
    [.70, .25, .05, 0, 0],    # user_collection
    [.30, .30, .40, 0, 0],    # search
    [.10, .10, .10, .70, 0],  # radio
    [0, 0, 1, 0, 0],          # charts
    [.20, .30, .50, 0, 0],    # other
])
_FAV, _TASTE, _GLOBAL, _SGENRE, _EDITORIAL = range(5)
_ALG_IDS = ("alg-daily-mix-1", "alg-daily-mix-2", "alg-daily-mix-3",
            "alg-discover-weekly", "alg-release-radar", "alg-on-repeat")

REASON_START = ("clickrow", "playbtn", "appload", "remote", "trackdone", "fwdbtn", "backbtn")
REASON_END = ("trackdone", "fwdbtn", "backbtn", "clickrow", "endplay", "logout")
_RS_FIRST_W = np.array([.45, .35, .10, .10])
# reason_start of a play continues the previous play's reason_end.
_RS_FROM_RE = np.array([4, 5, 6, 0, 1, 1])
FEEDBACK_RATES = {  # per play: (like, save, add_to_playlist, ban)
    "completed": (.025, .012, .010, 0.0),
    "skipped": (.002, .001, 0.0, .012),
}
_UNBAN_P = 0.05
_BAN = schema.FEEDBACK_ACTIONS.index("ban")

_MAJOR_NAMES = ("Meridian Music Group", "Northstar Records", "Halcyon Entertainment")
_LABEL_WORDS = (
    "Foxglove", "Saltmarsh", "Blue Heron", "Copperline", "Lantern", "Quarry", "Wildfern",
    "Tidewater", "Brass Tack", "Kettle", "Paper Moon", "Orchard", "Slow Burn", "Ironwood",
    "Velvet Static", "Harbour", "Nightjar", "Low Tide", "Grain", "Cobalt")
_LABEL_SUFFIX = ("Records", "Recordings", "Sound", "Music", "Tapes")
_FIRST = ("Mara", "Jonas", "Aiko", "Tunde", "Lucía", "Sven", "Chloé", "Min-jun", "Diego",
          "Ava", "Oskar", "Imani", "Léa", "Kenji", "Zoe", "Mateo", "Björn", "Ife", "Nora",
          "Rafael", "Yuna", "Elliot", "Amara", "Felix", "Sofía", "Hana", "Caleb", "Noor")
_LAST = ("Quinn", "Lindqvist", "Tanaka", "Adeyemi", "Moreau", "Park", "Silva", "Becker",
         "Okafor", "Hughes", "Ramírez", "Sato", "Nilsson", "Dubois", "Kim", "Costa",
         "Walker", "Schmidt", "Mensah", "Reyes", "Holm", "Ito", "Bennett", "Cruz")
_ADJ = ("Velvet", "Midnight", "Golden", "Silent", "Electric", "Paper", "Neon", "Crimson",
        "Hollow", "Wild", "Slow", "Broken", "Northern", "Lucky", "Burning", "Quiet",
        "Lonely", "Bright", "Blue", "Sweet", "Último", "Fading", "Open", "Strange")
_NOUN = ("Owls", "Rivers", "Echoes", "Lights", "Hearts", "Machines", "Satellites", "Tigers",
         "Ghosts", "Horses", "Waves", "Mirrors", "Kites", "Wolves", "Embers", "Gardens")
_WORD = ("Echo", "Summer", "Highway", "Heart", "Dream", "Fire", "Rain", "City", "Night",
         "Ocean", "Corazón", "Sommarnatt", "Saudade", "Nuit Blanche", "Paradise", "Gravity",
         "Shadow", "Morning", "Dance", "Home", "Signal", "Stranger", "Honey", "Thunder",
         "Mañana", "Café Noir", "Skyline", "Letters", "Tokyo", "Lagos")


# --- public entry point -------------------------------------------------------
def generate(home, tier: str = "xs", days: int = 7, seed: int = 0, end_ds: str = "2026-11-23",
             inject_bad: int = 0, progress: Callable[[str], None] | None = None) -> dict:
    """Write ``days`` days of raw files ending at ``end_ds`` under ``<home>/raw/``.

    Returns ``{"tier", "seed", "days", "ds_list", "rows", "injected"}`` (also
    written to ``<home>/raw/_generated.json``); ``rows`` counts the data rows
    written per table over all days, injected rows included.
    """
    if tier not in SIZE_TIERS:
        raise ValueError(f"unknown tier {tier!r}; expected one of {sorted(SIZE_TIERS)}")
    if int(days) < 1:
        raise ValueError("days must be at least 1")
    if int(seed) < 0:
        raise ValueError("seed must be a non-negative integer")
    if int(inject_bad) < 0:
        raise ValueError("inject_bad must be >= 0")
    days, seed, inject_bad = int(days), int(seed), int(inject_bad)
    size = SIZE_TIERS[tier]
    end = dt.date.fromisoformat(end_ds)
    ds_list = [(end - dt.timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    day0 = _day_number(ds_list[0])

    cat = _build_catalog(np.random.default_rng([seed, _S_CATALOG]), size["tracks"], day0, days)
    users = _build_users(np.random.default_rng([seed, _S_USERS]), size["users"], day0, days,
                         size["events"])
    placements = _build_placements(np.random.default_rng([seed, _S_PLACEMENTS]), cat, day0, days)
    profile = _ProfileMaker(seed, cat, users, day0)

    snapshots = {
        "tracks": _tracks_csv(cat),
        "artists": _artists_csv(cat),
        "labels": _labels_csv(cat),
        "editorial_placements": _placements_csv(placements),
        "royalty_pool": _royalty_csv(np.random.default_rng([seed, _S_POOL]), users, ds_list),
        "user_controls": _controls_jsonl(seed, cat, users, profile),
        "governance_overrides": _overrides_csv(cat, ds_list),
    }
    snapshot_rows = {t: _count_rows(b, t) for t, b in snapshots.items()}

    rows = {t: 0 for t in schema.RAW_TABLES}
    injected = {r: 0 for r in schema.QUARANTINE_REASONS}
    weekday = np.array([_WEEKDAY[dt.date.fromisoformat(d).weekday()] for d in ds_list])
    weekday = weekday / weekday.mean()

    for d, ds in enumerate(ds_list):
        folder = Path(home) / "raw" / ds
        folder.mkdir(parents=True, exist_ok=True)
        day = day0 + d
        for table, body in snapshots.items():
            _write_atomic(schema.raw_path(home, ds, table), [body])
            rows[table] += snapshot_rows[table]
        users_body = _users_csv(users, day)
        _write_atomic(schema.raw_path(home, ds, "users"), [users_body])
        rows["users"] += users.n

        day_state = _DayState(cat, placements, day)
        last = d == days - 1
        n_events, n_feedback, day_injected = _write_daily_tables(
            home, ds, seed, day, weekday[d], cat, users, profile, day_state,
            inject_bad if last else 0)
        if last and inject_bad:
            injected = day_injected
        rows["listening_events"] += n_events
        rows["feedback"] += n_feedback

        marker = folder / "_injected.json"
        if last and inject_bad:
            marker.write_text(json.dumps(injected, sort_keys=True, indent=2) + "\n", encoding="utf-8")
        elif marker.exists():
            # A marker left by an earlier run would describe rows that are no longer there.
            marker.unlink()
        if progress is not None:
            progress(f"{ds}: {n_events:,} events")

    summary = {"tier": tier, "seed": seed, "days": days, "ds_list": ds_list,
               "rows": rows, "injected": injected}
    out = Path(home) / "raw" / "_generated.json"
    out.write_text(json.dumps(summary, sort_keys=True, indent=2) + "\n", encoding="utf-8")
    return summary


def _write_daily_tables(home, ds: str, seed: int, day: int, day_factor: float, cat, users, profile,
                        day_state, inject_bad: int) -> tuple[int, int, dict]:
    """Simulate one day chunk by chunk, appending to the day's two daily files.

    Files are written under a ``.partial`` name and renamed when complete, so a
    crash never leaves a truncated table under the contract name.
    """
    ev_path = schema.raw_path(home, ds, "listening_events")
    fb_path = schema.raw_path(home, ds, "feedback")
    ev_tmp, fb_tmp = _tmp(ev_path), _tmp(fb_path)
    n_events = n_feedback = 0
    injected: dict = {}
    dupe_source = None
    try:
        with open(ev_tmp, "wb") as ev_f, open(fb_tmp, "wb") as fb_f:
            ev_f.write(_header("listening_events"))
            fb_f.write(_header("feedback"))
            for c in range(users.n_chunks):
                rng = np.random.default_rng([seed, _S_DAY, day, c])
                ev, fb = _simulate_chunk(rng, c, day, day_factor, cat, users, profile, day_state)
                ev_cols = _event_columns(ev, cat, users, day_state, day, first_id=n_events + 1)
                ev_f.write(_csv_body(schema.RAW_TABLES["listening_events"][1], ev_cols))
                fb_f.write(_csv_body(schema.RAW_TABLES["feedback"][1], _feedback_columns(fb, cat, users)))
                if inject_bad and dupe_source is None and len(ev["ts"]):
                    dupe_source = ev_cols
                n_events += len(ev["ts"])
                n_feedback += len(fb["ts"])
            if inject_bad:
                rng = np.random.default_rng([seed, _S_INJECT])
                bad, injected = _bad_rows(rng, inject_bad, cat, users, day, n_events + 1, dupe_source)
                ev_f.write(b"".join(bad))
                n_events += len(bad)
    except BaseException:
        for p in (ev_tmp, fb_tmp):
            p.unlink(missing_ok=True)
        raise
    os.replace(ev_tmp, ev_path)
    os.replace(fb_tmp, fb_path)
    return n_events, n_feedback, injected


# --- small helpers --------------------------------------------------------------
_EPOCH = dt.date(1970, 1, 1)


def _day_number(ds: str) -> int:
    return (dt.date.fromisoformat(ds) - _EPOCH).days


def _ds(day: int) -> str:
    return (_EPOCH + dt.timedelta(days=int(day))).isoformat()


def _ids(prefix: str, n: int, width: int) -> np.ndarray:
    return np.array([f"{prefix}{i:0{width}d}" for i in range(1, n + 1)], dtype=object)


def _cdf(weights: np.ndarray, axis: int = -1) -> np.ndarray:
    """Cumulative weights scaled so the last entry is exactly 1.0.

    Sampling is ``searchsorted(cdf, u, side="right")`` with u in [0, 1): entries
    with zero weight repeat the previous value and so can never be picked.
    """
    c = np.cumsum(weights, axis=axis, dtype=np.float64)
    last = np.take(c, [-1], axis=axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return c / last


def _pick(cdf_table: np.ndarray, row: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Categorical draws: category of ``cdf_table[row[i]]`` for uniform ``u[i]``.

    The rows are laid end to end as ``r + cdf`` so one searchsorted serves every
    draw without materialising a (draws x categories) matrix.
    """
    n_rows, k = cdf_table.shape
    keys = (np.arange(n_rows)[:, None] + cdf_table).ravel()
    idx = np.searchsorted(keys, row + np.minimum(u, 1 - 1e-9), side="right") - row * k
    return np.clip(idx, 0, k - 1)


def _segment_starts(seg: np.ndarray) -> np.ndarray:
    """For a sorted segment-id array, the index where each element's segment begins."""
    if len(seg) == 0:
        return np.zeros(0, dtype=np.int64)
    is_start = np.r_[True, seg[1:] != seg[:-1]]
    return np.maximum.accumulate(np.where(is_start, np.arange(len(seg)), 0))


def _segment_excl_cumsum(values: np.ndarray, seg: np.ndarray) -> np.ndarray:
    cs = np.cumsum(values) - values
    return cs - cs[_segment_starts(seg)]


def _tmp(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _write_atomic(path: Path, parts: list[bytes]) -> None:
    tmp = _tmp(path)
    with open(tmp, "wb") as f:
        for p in parts:
            f.write(p)
    os.replace(tmp, path)


def _count_rows(body: bytes, table: str) -> int:
    # Generated text fields never contain line breaks, so lines == rows.
    n = body.count(b"\n")
    return n - 1 if schema.RAW_TABLES[table][0] == "csv" else n


# --- catalog ----------------------------------------------------------------------
@dataclass
class _Catalog:
    n_tracks: int
    n_artists: int
    n_indie: int
    # artists
    artist_genre: np.ndarray
    artist_country: np.ndarray
    artist_label: np.ndarray
    artist_fame: np.ndarray
    artist_emerging: np.ndarray
    artist_debut: np.ndarray
    artist_name: list
    artist_gender: np.ndarray
    artist_consent: np.ndarray
    label_name: list
    # tracks
    track_artist: np.ndarray
    track_album: np.ndarray
    track_label: np.ndarray
    release_day: np.ndarray
    duration: np.ndarray
    genre: np.ndarray
    tempo: np.ndarray
    energy: np.ndarray
    valence: np.ndarray
    dance: np.ndarray
    acoustic: np.ndarray
    key: np.ndarray
    mode: np.ndarray
    loudness: np.ndarray
    pop_w: np.ndarray
    pop_rank: np.ndarray
    title: list
    isrc: list
    new_release: np.ndarray
    # id strings
    track_ids: pa.Array
    artist_ids: np.ndarray
    label_ids: np.ndarray


def _label_codes(n_labels: int) -> list[str]:
    codes = []
    for i in range(n_labels):
        v = (i * 7919 + 1234) % 17576  # spreads the registrant codes over AAA..ZZZ
        codes.append(chr(65 + v // 676) + chr(65 + v // 26 % 26) + chr(65 + v % 26))
    return codes


def _build_catalog(rng: np.random.Generator, n_tracks: int, day0: int, days: int) -> _Catalog:
    n_artists = max(1, n_tracks // 8)
    n_indie = max(5, n_artists // 200)
    n_labels = 3 + n_indie + 1
    end_day = day0 + days - 1
    end_year = (_EPOCH + dt.timedelta(days=end_day)).year

    # Artists: fame is Zipf-like over a random order; emerging artists come from
    # outside the top and are pushed far down.
    a_genre = rng.choice(_G, n_artists, p=_GENRE_SHARE)
    a_country = rng.choice(len(COUNTRIES), n_artists, p=_ARTIST_COUNTRY_W)
    fame_rank = rng.permutation(n_artists)
    fame = 1.0 / (fame_rank + 1.0) ** 0.8
    emerging = np.zeros(n_artists, dtype=bool)
    cand = np.flatnonzero(fame_rank >= max(1, n_artists // 20))
    if len(cand):
        emerging[rng.choice(cand, min(len(cand), max(1, round(0.10 * n_artists))), replace=False)] = True
    fame = np.where(emerging, fame * 0.05, fame)
    debut = np.where(emerging, end_year - rng.integers(0, 2, n_artists),
                     np.maximum(1960, end_year - 2 - np.floor(rng.exponential(14.0, n_artists))))
    debut = debut.astype(np.int64)

    # Labels: the famous are mostly on majors (about 35% of artists overall).
    rank_frac = fame_rank / max(1, n_artists)
    p_major = np.where(emerging, 0.04, 0.06 + 0.9 * np.exp(-3.2 * rank_frac))
    is_major = rng.random(n_artists) < p_major
    major = rng.choice(3, n_artists, p=[.40, .35, .25])
    indie_w = 1.0 / np.arange(1, n_indie + 1) ** 0.9
    indie = rng.choice(n_indie, n_artists, p=indie_w / indie_w.sum())
    self_rel = rng.random(n_artists) < np.where(emerging, 0.5, 0.3)
    label = np.where(is_major, major, np.where(self_rel, n_labels - 1, 3 + indie))

    consent = rng.random(n_artists) < 0.60
    gender = np.where(consent, rng.choice(len(GENDERS), n_artists, p=_GENDER_W), len(GENDERS) - 1)
    artist_name = _artist_names(rng, n_artists)

    # Tracks: every artist has at least one; the famous have more.
    w = rng.lognormal(0.0, 0.7, n_artists) * np.where(emerging, 0.3, 1.0) * (1 + 2 * (1 - rank_frac))
    extra = rng.multinomial(max(0, n_tracks - n_artists), w / w.sum())
    per_artist = 1 + extra
    t_artist = np.repeat(np.arange(n_artists), per_artist)

    # Albums: singles, EPs and albums cut from each artist's tracks in order.
    album_sizes = rng.choice([1, 4, 5, 6, 8, 10, 12, 14], size=n_tracks + n_artists,
                             p=[.40, .07, .07, .06, .10, .12, .10, .08])
    t_album = np.empty(n_tracks, dtype=np.int64)
    owners: list[int] = []
    pos = k = 0
    for a, cnt in enumerate(per_artist):
        left = int(cnt)
        while left > 0:
            size = min(left, int(album_sizes[k]))
            t_album[pos:pos + size] = len(owners)
            owners.append(a)
            pos += size
            left -= size
            k += 1
    album_artist = np.array(owners, dtype=np.int64)
    n_albums = len(album_artist)

    # Release dates skew recent within each career, and careers end, so old
    # artists stopped releasing long ago. A few albums come out inside the window.
    career_days = (8 + rng.exponential(14.0, n_artists)) * 365.25
    a_lo = np.array([(dt.date(int(y), 1, 1) - _EPOCH).days for y in debut])
    a_hi = np.where(emerging, day0 - 1, np.minimum(day0 - 1, a_lo + career_days)).astype(np.int64)
    hi = a_hi[album_artist]
    lo = np.minimum(a_lo[album_artist], hi - 30)
    frac = np.where(emerging[album_artist], rng.random(n_albums), rng.beta(1.3, 1.0, n_albums))
    album_day = (lo + np.floor(frac * (hi - lo))).astype(np.int64)
    n_new = min(n_albums, max(2, round(0.015 * n_albums)))
    # New releases come from artists still active, famous or emerging.
    active = a_hi[album_artist] >= day0 - 1
    new_w = (fame[album_artist] ** 0.5 + np.where(emerging[album_artist], fame.max() * 0.05, 0.0)) * active
    if new_w.sum() == 0:
        new_w = np.ones(n_albums)
    new_albums = rng.choice(n_albums, n_new, replace=False, p=new_w / new_w.sum())
    album_day[new_albums] = day0 + rng.integers(0, days, n_new)
    release_day = album_day[t_album]
    first_release_year = np.full(n_artists, 10_000)
    np.minimum.at(first_release_year, album_artist,
                  np.array([(_EPOCH + dt.timedelta(days=int(x))).year for x in album_day]))
    debut = np.minimum(debut, first_release_year)

    # Genre: mostly the artist's own.
    g = np.where(rng.random(n_tracks) < 0.85, a_genre[t_artist], rng.choice(_G, n_tracks, p=_GENRE_SHARE))
    prof = _GENRE_AUDIO[g]
    tempo = np.clip(rng.normal(prof[:, 0], prof[:, 1]), 60, 200)
    conc = 5.0
    energy = rng.beta(prof[:, 2] * conc, (1 - prof[:, 2]) * conc)
    valence = rng.beta(prof[:, 3] * conc, (1 - prof[:, 3]) * conc)
    dance = rng.beta(prof[:, 4] * conc, (1 - prof[:, 4]) * conc)
    acoustic = rng.beta(np.maximum(prof[:, 5], .02) * conc, (1 - np.minimum(prof[:, 5], .98)) * conc)
    loud = np.clip(prof[:, 6] + 6 * (energy - prof[:, 2]) + rng.normal(0, 2.0, n_tracks), -30, 0)
    duration = np.clip(rng.lognormal(np.log(prof[:, 7] * 1000), 0.25), 90_000, 420_000).astype(np.int64)
    key = rng.integers(0, 12, n_tracks)
    mode = (rng.random(n_tracks) < 0.62).astype(np.int64)

    # Popularity: artist fame plus track luck, ranked into a Zipf curve.
    age_years = np.maximum(0, end_day - release_day) / 365.25
    score = (np.log(fame[t_artist]) + 0.9 * rng.normal(0, 1, n_tracks)
             + np.log(_GENRE_POP[g]) - 0.2 * np.log1p(age_years))
    order = np.argsort(-score, kind="stable")
    pop_rank = np.empty(n_tracks, dtype=np.int64)
    pop_rank[order] = np.arange(n_tracks)
    pop_w = 1.0 / (pop_rank + 1.0) ** 1.05

    title = _titles(rng, n_tracks)
    codes = _label_codes(n_labels)
    cc = np.array(COUNTRIES)[a_country[t_artist]]
    yy = np.array([(_EPOCH + dt.timedelta(days=int(x))).year % 100 for x in release_day])
    reg = np.array(codes)[label[t_artist]]
    prefix = np.char.add(np.char.add(cc.astype(str), reg.astype(str)), np.char.zfill(yy.astype(str), 2))
    # Designation code unique within (country, registrant, year), as real ISRCs are.
    order = np.lexsort((np.arange(n_tracks), prefix))
    sp = prefix[order]
    seq_sorted = np.arange(n_tracks) - _segment_starts(sp) + 1
    seq = np.empty(n_tracks, dtype=np.int64)
    seq[order] = seq_sorted
    isrc = [f"{p}{s:05d}" for p, s in zip(prefix.tolist(), seq.tolist())]

    label_names = list(_MAJOR_NAMES)
    for i in range(n_indie):
        label_names.append(f"{_LABEL_WORDS[i % len(_LABEL_WORDS)]} "
                           f"{_LABEL_SUFFIX[(i // len(_LABEL_WORDS) + i) % len(_LABEL_SUFFIX)]}"
                           + (f" {i // len(_LABEL_WORDS) + 1}" if i >= len(_LABEL_WORDS) else ""))
    label_names.append("Self-released")
    label_ids = np.array([f"l{i:04d}" for i in range(1, n_labels)] + ["l-self"], dtype=object)

    new_release = release_day >= day0
    return _Catalog(
        n_tracks=n_tracks, n_artists=n_artists, n_indie=n_indie,
        artist_genre=a_genre, artist_country=a_country, artist_label=label, artist_fame=fame,
        artist_emerging=emerging, artist_debut=debut, artist_name=artist_name,
        artist_gender=gender, artist_consent=consent, label_name=label_names,
        track_artist=t_artist, track_album=t_album, track_label=label[t_artist],
        release_day=release_day, duration=duration, genre=g, tempo=tempo, energy=energy,
        valence=valence, dance=dance, acoustic=acoustic, key=key, mode=mode, loudness=loud,
        pop_w=pop_w, pop_rank=pop_rank, title=title, isrc=isrc, new_release=new_release,
        track_ids=pa.array(_ids("t", n_tracks, 6), type=pa.string()),
        artist_ids=_ids("a", n_artists, 5), label_ids=label_ids,
    )


def _artist_names(rng: np.random.Generator, n: int) -> list[str]:
    kind = rng.choice(4, n, p=[.45, .30, .20, .05])
    i1, i2, i3 = rng.integers(0, 1 << 30, (3, n))
    names = []
    for k, a, b, c in zip(kind.tolist(), i1.tolist(), i2.tolist(), i3.tolist()):
        if k == 0:
            names.append(f"{_FIRST[a % len(_FIRST)]} {_LAST[b % len(_LAST)]}")
        elif k == 1:
            names.append(f"The {_ADJ[a % len(_ADJ)]} {_NOUN[b % len(_NOUN)]}")
        elif k == 2:
            names.append(f"{_ADJ[a % len(_ADJ)]} {_WORD[c % len(_WORD)]}")
        else:  # duos, written the way their releases credit them
            names.append(f"{_FIRST[a % len(_FIRST)]}, {_FIRST[b % len(_FIRST)]} & {_LAST[c % len(_LAST)]}")
    return names


def _titles(rng: np.random.Generator, n: int) -> list[str]:
    kind = rng.choice(6, n, p=[.40, .25, .15, .10, .06, .04])
    i1, i2 = rng.integers(0, 1 << 30, (2, n))
    out = []
    for k, a, b in zip(kind.tolist(), i1.tolist(), i2.tolist()):
        w1, w2, adj = _WORD[a % len(_WORD)], _WORD[b % len(_WORD)], _ADJ[b % len(_ADJ)]
        if k == 0:
            out.append(f"{adj} {w1}")
        elif k == 1:
            out.append(w1)
        elif k == 2:
            out.append(f"{w1} of {w2}")
        elif k == 3:
            out.append(f"{w1} (Live)")
        elif k == 4:
            out.append(f"{w1}, Pt. {b % 3 + 2}")
        else:
            out.append(f'The Song Called "{w1}"')
    return out


# --- users --------------------------------------------------------------------------
@dataclass
class _Users:
    n: int
    n_chunks: int
    chunk_size: int
    country: np.ndarray
    tier: np.ndarray
    age: np.ndarray
    signup_day: np.ndarray
    p_consent: np.ndarray
    a_consent: np.ndarray
    deletion_ms: np.ndarray  # int64 epoch ms; max int64 when no request
    deletion_day: np.ndarray
    device: np.ndarray
    sessions_mean: np.ndarray  # expected sessions on an average day
    user_ids: pa.Array


_NEVER = np.iinfo(np.int64).max


def _expected_capped_poisson(m: np.ndarray, cap: int) -> np.ndarray:
    """E[min(Poisson(m), cap)] = sum_{k<cap} P(X > k)."""
    pmf = np.exp(-m)
    cdf = pmf.copy()
    total = np.zeros_like(m)
    for k in range(cap):
        total += 1.0 - cdf
        pmf = pmf * m / (k + 1)
        cdf = cdf + pmf
    return total


def _session_length_pmf() -> np.ndarray:
    # 3 + NegBin(2, 2/9), mass above 25 folded onto 25.
    from math import comb
    p, r = 2 / 9, 2
    pmf = np.array([comb(k + r - 1, k) * p ** r * (1 - p) ** k for k in range(23)])
    pmf[-1] += 1.0 - pmf.sum()
    return pmf


def _session_lengths(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.minimum(3 + rng.negative_binomial(2, 2 / 9, n), 25)


def _build_users(rng: np.random.Generator, n: int, day0: int, days: int, events: int) -> _Users:
    country = rng.choice(len(COUNTRIES), n, p=_USER_COUNTRY_W)
    tier = (rng.random(n) < _PREMIUM_SHARE[country]).astype(np.int64)  # 1 = premium
    age = rng.choice(len(AGE_BANDS), n, p=_AGE_W)
    min_day = (dt.date(2012, 1, 1) - _EPOCH).days
    signup = np.maximum(min_day, day0 - 1 - np.floor(rng.exponential(600.0, n))).astype(np.int64)
    p_consent = rng.random(n) < 0.92
    a_consent = rng.random(n) < 0.60
    device = rng.choice(len(schema.DEVICES), n, p=_DEVICE_W)
    activity = rng.lognormal(-0.5, 1.0, n) * np.where(tier == 1, 1.3, 1.0) * np.where(age == 0, 1.2, 1.0)

    n_del = min(n, max(1, round(0.005 * n)))
    deleted = rng.choice(n, n_del, replace=False)
    deletion_day = np.full(n, _NEVER, dtype=np.int64)
    deletion_ms = np.full(n, _NEVER, dtype=np.int64)
    del_day = day0 + rng.integers(0, days, n_del)
    deletion_day[deleted] = del_day
    deletion_ms[deleted] = del_day * DAY_MS + rng.integers(0, DAY_MS, n_del)

    # Scale activity so the expected total plays meet the tier's event count.
    mean_len = float(np.dot(_session_length_pmf(), np.arange(3, 26)))
    target_sessions = events / days / mean_len
    lo, hi = 0.0, 1.0
    while _expected_capped_poisson(hi * activity, MAX_SESSIONS_PER_DAY).sum() < target_sessions and hi < 1e6:
        hi *= 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if _expected_capped_poisson(mid * activity, MAX_SESSIONS_PER_DAY).sum() < target_sessions:
            lo = mid
        else:
            hi = mid
    per_user_day = events / days / max(1, n)
    chunk = USER_CHUNK
    if per_user_day * USER_CHUNK > MAX_CHUNK_PLAYS:
        chunk = max(1_000, int(MAX_CHUNK_PLAYS / per_user_day) // 1_000 * 1_000)
    return _Users(
        n=n, n_chunks=(n + chunk - 1) // chunk, chunk_size=chunk, country=country, tier=tier, age=age,
        signup_day=signup, p_consent=p_consent, a_consent=a_consent, deletion_ms=deletion_ms,
        deletion_day=deletion_day, device=device, sessions_mean=hi * activity,
        user_ids=pa.array(_ids("u", n, 7), type=pa.string()),
    )


class _ProfileMaker:
    """Per-chunk listener profiles (taste, context mix, favourites).

    Drawn from their own stream per chunk so every day sees the same listeners.
    """

    def __init__(self, seed: int, cat: _Catalog, users: _Users, day0: int):
        self.seed, self.cat, self.users = seed, cat, users
        bias = np.ones((len(COUNTRIES), _G))
        for ci, c in enumerate(COUNTRIES):
            for gname, m in _COUNTRY_GENRE_BIAS.get(c, {}).items():
                bias[ci, GENRES.index(gname)] = m
        alpha = bias * _GENRE_SHARE
        self.alpha = 2.0 * alpha / alpha.sum(axis=1, keepdims=True)
        # Favourites come from what was out before the window, flattened so that
        # listeners' favourites reach well into the tail.
        released = cat.release_day < day0
        self.fav_sampler = _GenreSampler(cat, np.where(released, cat.pop_w ** 0.8, 0.0))
        self.fav_cdf = _cdf(1.0 / np.arange(1, N_FAVOURITES + 1) ** 0.7)

    def chunk(self, c: int) -> dict:
        lo = c * self.users.chunk_size
        hi = min(self.users.n, lo + self.users.chunk_size)
        n = hi - lo
        rng = np.random.default_rng([self.seed, _S_PROFILE, c])
        taste = rng.gamma(self.alpha[self.users.country[lo:hi]])
        taste = taste / np.maximum(taste.sum(axis=1, keepdims=True), 1e-300)
        ctx_mix = rng.dirichlet(3.0 * _CTX_W, n)
        fav_genre = _pick(_cdf(_restrict(taste, self.fav_sampler.available)),
                          np.repeat(np.arange(n), N_FAVOURITES), rng.random(n * N_FAVOURITES))
        favs = self.fav_sampler.sample(fav_genre, rng.random(n * N_FAVOURITES)).reshape(n, N_FAVOURITES)
        return {"lo": lo, "hi": hi, "taste": taste, "ctx_cdf": _cdf(ctx_mix), "favs": favs}


def _restrict(taste: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Taste limited to genres that have something to play (uniform if none left)."""
    t = taste * available
    return np.where(t.sum(axis=1, keepdims=True) > 0, t, available.astype(float))


class _GenreSampler:
    """Draws a track of a given genre with probability proportional to ``weights``."""

    def __init__(self, cat: _Catalog, weights: np.ndarray):
        self.order = np.argsort(cat.genre, kind="stable")
        g_sorted = cat.genre[self.order]
        w = weights[self.order]
        keys = np.empty(len(w))
        self.available = np.zeros(_G, dtype=bool)
        bounds = np.searchsorted(g_sorted, np.arange(_G + 1))
        for g in range(_G):
            a, b = bounds[g], bounds[g + 1]
            seg = w[a:b]
            if b > a and seg.sum() > 0:
                keys[a:b] = g + _cdf(seg)
                self.available[g] = True
            else:
                keys[a:b] = g
        self.keys = keys

    def sample(self, genre: np.ndarray, u: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.keys, genre + np.minimum(u, 1 - 1e-12), side="right")
        return self.order[np.minimum(idx, len(self.keys) - 1)]


# --- editorial placements ------------------------------------------------------------
@dataclass
class _Placements:
    playlist: np.ndarray
    track: np.ndarray
    position: np.ndarray
    start: np.ndarray
    end: np.ndarray
    followers: np.ndarray
    playlist_ids: list


def _build_placements(rng: np.random.Generator, cat: _Catalog, day0: int, days: int) -> _Placements:
    n_pl = min(N_PLAYLISTS, max(4, cat.n_tracks // 400))
    followers = 1.0 / np.arange(1, n_pl + 1) ** 0.7
    # The three biggest playlists are cross-genre (hits, new music, chill); the
    # rest follow a genre.
    pl_genre = np.r_[[-1, -2, -3], rng.choice(_G, n_pl - 3, p=_GENRE_SHARE)]
    start = day0 - rng.integers(7, 91, n_pl)
    if days > 1:
        n_late = max(1, n_pl // 7)  # playlists launched inside the window
        late = rng.choice(np.arange(3, n_pl), n_late, replace=False)
        start[late] = day0 + rng.integers(1, days, n_late)
    end = day0 + days - 1 + rng.integers(7, 61, n_pl)

    rows = []
    for p in range(n_pl):
        size = int(rng.integers(30, 51))
        pool_w = _playlist_pool(cat, pl_genre[p], int(start[p]))
        pool = np.flatnonzero(pool_w > 0)
        size = min(size, len(pool))
        if size == 0:
            continue
        chosen = rng.choice(pool, size, replace=False, p=pool_w[pool] / pool_w[pool].sum())
        in_list = set(chosen.tolist())
        for pos, t in enumerate(chosen.tolist(), start=1):
            first_rot = int(start[p]) + 1
            if days > 1 and max(first_rot, day0 + 1) < day0 + days and rng.random() < 0.2:
                # Rotation: the slot gets a different track part-way through the window.
                k = int(rng.integers(max(first_rot, day0 + 1), day0 + days))
                w2 = _playlist_pool(cat, pl_genre[p], k)
                fresh = cat.new_release & (cat.release_day <= k)
                if rng.random() < 0.5 and (w2 * fresh).sum() > 0:
                    w2 = w2 * fresh
                w2[list(in_list)] = 0.0
                if w2.sum() > 0:
                    t2 = int(rng.choice(len(w2), p=w2 / w2.sum()))
                    in_list.add(t2)
                    rows.append((p, t, pos, int(start[p]), k - 1))
                    rows.append((p, t2, pos, k, int(end[p])))
                    continue
            rows.append((p, t, pos, int(start[p]), int(end[p])))
    arr = np.array(rows, dtype=np.int64).reshape(-1, 5)
    order = np.lexsort((arr[:, 3], arr[:, 2], arr[:, 0]))
    arr = arr[order]
    return _Placements(playlist=arr[:, 0], track=arr[:, 1], position=arr[:, 2], start=arr[:, 3],
                       end=arr[:, 4], followers=followers,
                       playlist_ids=[f"ed{i:03d}" for i in range(1, n_pl + 1)])


def _playlist_pool(cat: _Catalog, genre: int, day: int) -> np.ndarray:
    released = cat.release_day <= day
    if genre == -1:    # hits: the head of the catalog
        w = cat.pop_w ** 1.2
    elif genre == -2:  # new music: released in the last four months
        w = np.where(cat.release_day >= day - 120, cat.pop_w ** 0.3, 0.0)
    elif genre == -3:  # chill: calm, acoustic tracks
        w = np.where((cat.energy < 0.45) & (cat.acoustic > 0.4), cat.pop_w ** 0.5, 0.0)
    else:
        w = np.where(cat.genre == genre, cat.pop_w ** 0.5, 0.0)
    return np.where(released, w, 0.0)


# --- one day --------------------------------------------------------------------------
class _DayState:
    """Per-day samplers: what is released, new-release boosts, live placements."""

    def __init__(self, cat: _Catalog, pl: _Placements, day: int):
        age = day - cat.release_day
        released = age >= 0
        boost = np.where(released & (age < 60), 1.0 + 1.5 * np.exp(-age / 14.0), 1.0)
        w = np.where(released, cat.pop_w * boost, 0.0)
        self.global_cdf = _cdf(w)
        self.genre = _GenreSampler(cat, w)
        live = (pl.start <= day) & (pl.end >= day)
        self.pl_track = pl.track[live]
        pl_of = pl.playlist[live]
        pos = pl.position[live]
        self.active = np.unique(pl_of)
        self.pl_ids = pl.playlist_ids
        # Concatenated per-playlist cdfs (p + cdf) so one searchsorted draws a slot.
        keys = np.empty(len(pl_of))
        for p in self.active:
            m = pl_of == p
            keys[m] = p + _cdf(1.0 / np.sqrt(pos[m]))
        self.pl_keys = keys
        self.pl_cdf = _cdf(pl.followers[self.active]) if len(self.active) else np.ones(0)

    def playlist_track(self, playlist: np.ndarray, u: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.pl_keys, playlist + np.minimum(u, 1 - 1e-12), side="right")
        return self.pl_track[np.minimum(idx, len(self.pl_track) - 1)]


def _diurnal_cdf() -> np.ndarray:
    hours = np.arange(24)
    utc = np.stack([_DIURNAL[(hours + off) % 24] for off in _UTC_OFFSET_H])
    return _cdf(utc, axis=1)


_DIURNAL_CDF = _diurnal_cdf()


def _simulate_chunk(rng, c, day, day_factor, cat: _Catalog, users: _Users, profile: _ProfileMaker,
                    st: _DayState) -> tuple[dict, dict]:
    """One day of plays (and feedback) for the users of chunk ``c``, as code arrays."""
    prof = profile.chunk(c)
    lo, hi = prof["lo"], prof["hi"]
    n = hi - lo
    day_start = day * DAY_MS

    # Sessions per listener today.
    n_sess = np.minimum(rng.poisson(users.sessions_mean[lo:hi] * day_factor), MAX_SESSIONS_PER_DAY)
    n_sess[users.deletion_day[lo:hi] < day] = 0
    s_user = np.repeat(np.arange(n), n_sess)
    S = len(s_user)
    ctx = _pick(prof["ctx_cdf"], s_user, rng.random(S))
    # Listeners without personalisation consent get no algorithmic playlists;
    # they fall back to editorial ones, as the product does.
    no_consent = ~users.p_consent[lo + s_user]
    ctx[(ctx == _CTX["algorithmic_playlist"]) & no_consent] = _CTX["editorial_playlist"]
    if len(st.active) == 0:
        ctx[ctx == _CTX["editorial_playlist"]] = _CTX["charts"]
    length = _session_lengths(rng, S)
    shuffle = rng.random(S) < _SHUFFLE_P[ctx]
    device = np.where(rng.random(S) < 0.75, users.device[lo + s_user],
                      rng.choice(len(schema.DEVICES), S, p=_DEVICE_W))
    taste_cdf = _cdf(_restrict(prof["taste"], st.genre.available))
    s_genre = _pick(taste_cdf, s_user, rng.random(S))
    s_playlist = (st.active[np.searchsorted(st.pl_cdf, rng.random(S), side="right")]
                  if len(st.active) else np.zeros(S, dtype=np.int64))
    alg_id = rng.integers(0, len(_ALG_IDS), S)
    first_reason = rng.choice(len(_RS_FIRST_W), S, p=_RS_FIRST_W)

    # Plays.
    N = int(length.sum())
    p_sess = np.repeat(np.arange(S), length)
    p_user = s_user[p_sess]
    s_first = np.cumsum(length) - length
    pos = np.arange(N) - s_first[p_sess]
    p_ctx = ctx[p_sess]
    mode = _pick(_cdf(_MODE_P), p_ctx, rng.random(N))
    u = rng.random(N)
    track = np.empty(N, dtype=np.int64)
    m = mode == _FAV
    fav_k = np.minimum(np.searchsorted(profile.fav_cdf, u[m], side="right"), N_FAVOURITES - 1)
    track[m] = prof["favs"][p_user[m], fav_k]
    m = mode == _TASTE
    g = _pick(taste_cdf, p_user[m], rng.random(int(m.sum())))
    track[m] = st.genre.sample(g, u[m])
    m = mode == _SGENRE
    track[m] = st.genre.sample(s_genre[p_sess[m]], u[m])
    m = mode == _GLOBAL
    track[m] = np.minimum(np.searchsorted(st.global_cdf, u[m], side="right"), cat.n_tracks - 1)
    m = mode == _EDITORIAL
    if m.any():
        track[m] = st.playlist_track(s_playlist[p_sess[m]], u[m])

    # Skips: a logistic model of the jump from the previous track and taste fit.
    e, tp = cat.energy[track], cat.tempo[track]
    prev = np.maximum(np.arange(N) - 1, 0)
    not_first = pos > 0
    de = np.where(not_first, np.abs(e - e[prev]), 0.0)
    dtempo = np.where(not_first, np.abs(tp - tp[prev]), 0.0)
    taste = prof["taste"]
    fit = taste[p_user, cat.genre[track]] / np.maximum(taste.max(axis=1), 1e-12)[p_user]
    logit = (-0.9 + 4.0 * de + 0.012 * dtempo - 1.6 * fit - 1.0 * (mode == _FAV)
             + _SKIP_CTX[p_ctx] + 0.25 * shuffle[p_sess])
    skipped = rng.random(N) < 1.0 / (1.0 + np.exp(-logit))

    dur = cat.duration[track]
    last_in_session = pos == length[p_sess] - 1
    early = np.clip(rng.lognormal(np.log(7000), 0.8, N), 500, 29_000)
    late = 30_000 + rng.random(N) * np.maximum(0.6 * dur - 30_000, 0)
    ms = np.where(skipped, np.where(rng.random(N) < 0.85, early, late), dur - rng.integers(0, 1500, N))
    # A session often ends mid-track without a skip (the listener stops).
    stop = last_in_session & ~skipped & (rng.random(N) < 0.3)
    ms = np.where(stop, dur * (0.3 + 0.65 * rng.random(N)), ms)
    ms = np.minimum(ms, dur).astype(np.int64)
    skip_end = rng.choice(3, N, p=[.85, .10, .05]) + 1  # fwdbtn, backbtn, clickrow
    reason_end = np.where(skipped, skip_end, np.where(stop, 4 + (rng.random(N) < 0.3), 0))
    reason_start = np.where(not_first, _RS_FROM_RE[reason_end[prev]], first_reason[p_sess])

    # Timing: plays back to back inside a session, sessions spread over the day.
    step = ms + rng.integers(1, 3001, N)
    offset = _segment_excl_cumsum(step, p_sess)
    s_dur = np.add.reduceat(step, s_first) if N else np.zeros(0, dtype=np.int64)
    # Each session needs its own length plus the gap before the next one; the
    # day's last session needs no trailing gap, so a session may end at midnight.
    need = s_dur + SESSION_GAP_MS
    # A heavy listener's sessions can overflow the day: drop the ones that do.
    fits = _segment_excl_cumsum(need, s_user) + s_dur <= DAY_MS
    hour = _pick(_DIURNAL_CDF, users.country[lo + s_user], rng.random(S))
    frac = (hour + rng.random(S)) / 24.0
    kept = np.flatnonzero(fits)
    kept = kept[np.lexsort((frac[kept], s_user[kept]))]
    k_user = s_user[kept]
    n_kept = np.bincount(k_user, minlength=n)
    slack = (DAY_MS + SESSION_GAP_MS * (n_kept > 0)
             - np.bincount(k_user, weights=need[kept], minlength=n).astype(np.int64))
    before = _segment_excl_cumsum(need[kept], k_user)
    s_start = np.zeros(S, dtype=np.int64)
    s_start[kept] = day_start + np.floor(frac[kept] * slack[k_user]).astype(np.int64) + before
    ts = s_start[p_sess] + offset

    keep = fits[p_sess] & (ts < users.deletion_ms[lo + p_user])
    order = np.flatnonzero(keep)
    order = order[np.lexsort((pos[order], p_user[order], ts[order]))]
    ev = {
        "user": lo + p_user[order], "track": track[order], "ts": ts[order], "ms": ms[order],
        "reason_start": reason_start[order], "reason_end": reason_end[order],
        "skipped": skipped[order], "shuffle": shuffle[p_sess][order], "ctx": p_ctx[order],
        "playlist": s_playlist[p_sess][order], "alg": alg_id[p_sess][order],
        "genre": s_genre[p_sess][order], "device": device[p_sess][order],
    }
    return ev, _feedback(rng, ev, users)


def _feedback(rng: np.random.Generator, ev: dict, users: _Users) -> dict:
    """Explicit feedback on some plays of the chunk, after the play, same day.

    Action codes index ``schema.FEEDBACK_ACTIONS`` (like, save, add_to_playlist,
    ban, unban); an unban follows a few bans later in the day.
    """
    n = len(ev["ts"])
    rates = np.where(ev["skipped"][:, None], np.array(FEEDBACK_RATES["skipped"]),
                     np.array(FEEDBACK_RATES["completed"]))
    drawn = (rng.random(n)[:, None] >= np.cumsum(rates, axis=1)).sum(axis=1)
    idx = np.flatnonzero(drawn < rates.shape[1])  # the others left no feedback
    act = drawn[idx]
    ms = ev["ms"][idx]
    # Bans come right after the skip; the others during or shortly after the play.
    delay = np.where(act == _BAN, 200 + rng.random(len(idx)) * (ms + 5_000),
                     1_000 + rng.random(len(idx)) * (ms + 60_000)).astype(np.int64)
    ts = ev["ts"][idx] + delay
    unban = (act == _BAN) & (rng.random(len(idx)) < _UNBAN_P)
    u_idx = idx[unban]
    u_ts = ts[unban] + 60_000 + (rng.random(len(u_idx)) * 3_600_000).astype(np.int64)
    user = np.r_[ev["user"][idx], ev["user"][u_idx]]
    track = np.r_[ev["track"][idx], ev["track"][u_idx]]
    ts = np.r_[ts, u_ts]
    action = np.r_[act, np.full(len(u_idx), schema.FEEDBACK_ACTIONS.index("unban"))]
    day_end = (ev["ts"][0] // DAY_MS + 1) * DAY_MS if n else 0
    ok = (ts < day_end) & (ts < users.deletion_ms[user])
    order = np.flatnonzero(ok)
    order = order[np.lexsort((action[order], track[order], user[order], ts[order]))]
    return {"user": user[order], "track": track[order], "ts": ts[order], "action": action[order]}


# --- encoding -----------------------------------------------------------------------
_NEEDS_QUOTES = r'[,"\r\n]'


def _str_array(v) -> pa.Array:
    if isinstance(v, pa.ChunkedArray):
        v = v.combine_chunks()
    if isinstance(v, pa.Array):
        return v if v.type == pa.string() else v.cast(pa.string())
    a = np.asarray(v)
    if a.dtype == bool:
        return pc.if_else(pa.array(a), "true", "false")
    if a.dtype.kind in "iu":
        return pa.array(a).cast(pa.string())
    if a.dtype.kind == "f":
        raise TypeError("format floats explicitly before writing")
    return pa.array(a.tolist() if a.dtype == object else a, type=pa.string())


def _take(vocab, codes: np.ndarray) -> pa.Array:
    return pa.array(list(vocab), type=pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))


def _header(table: str) -> bytes:
    return (",".join(schema.RAW_TABLES[table][1]) + "\n").encode("utf-8")


def _csv_body(columns, data: dict) -> pa.Buffer:
    """CSV rows (no header), quoted like Python's csv.QUOTE_MINIMAL; null -> empty."""
    cols = []
    n = None
    for name in columns:
        a = _str_array(data[name])
        n = len(a) if n is None else n
        needs = pc.fill_null(pc.match_substring_regex(a, _NEEDS_QUOTES), False)
        if pc.any(needs).as_py():
            quoted = pc.binary_join_element_wise('"', pc.replace_substring(a, '"', '""'), '"', "")
            a = pc.if_else(needs, quoted, a)
        cols.append(pc.fill_null(a, ""))
    if not n:
        return pa.py_buffer(b"")
    cols[-1] = pc.binary_join_element_wise(cols[-1], "\n", "")
    return _buffer_of(pc.binary_join_element_wise(*cols, ","))


def _buffer_of(a: pa.Array) -> pa.Buffer:
    """The concatenated values of a string array, without copying them."""
    offsets = np.frombuffer(a.buffers()[1], dtype=np.int32)[a.offset:a.offset + len(a) + 1]
    return a.buffers()[2].slice(int(offsets[0]), int(offsets[-1] - offsets[0]))


def _iso_ms(ms: np.ndarray) -> pa.Array:
    """Epoch milliseconds -> ``YYYY-MM-DDTHH:MM:SS.mmmZ`` without per-row Python."""
    ms = np.asarray(ms, dtype=np.int64)
    n = len(ms)
    day = ms // DAY_MS
    rem = ms - day * DAY_MS
    udays, inv = np.unique(day, return_inverse=True)
    dates = np.datetime_as_string(udays.astype("datetime64[D]"))
    dbytes = np.frombuffer("".join(dates.tolist()).encode("ascii"), dtype=np.uint8).reshape(-1, 10)
    out = np.empty((n, 24), dtype=np.uint8)
    out[:, :10] = dbytes[inv.reshape(-1)]
    h, mi, s, f = rem // 3_600_000, rem // 60_000 % 60, rem // 1000 % 60, rem % 1000
    out[:, 10] = ord("T")
    out[:, 11], out[:, 12] = 48 + h // 10, 48 + h % 10
    out[:, 13] = out[:, 16] = ord(":")
    out[:, 14], out[:, 15] = 48 + mi // 10, 48 + mi % 10
    out[:, 17], out[:, 18] = 48 + s // 10, 48 + s % 10
    out[:, 19] = ord(".")
    out[:, 20], out[:, 21], out[:, 22] = 48 + f // 100, 48 + f // 10 % 10, 48 + f % 10
    out[:, 23] = ord("Z")
    return pa.array(out.view("S24").reshape(-1)).cast(pa.string())


def _dates(days: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(days, dtype=np.int64).astype("datetime64[D]"))


def _fixed(x: np.ndarray, decimals: int) -> pa.Array:
    # Rounded floats print in their shortest form, so never more than `decimals`
    # decimals; adding 0.0 turns -0.0 into 0.0.
    return pa.array(np.round(np.asarray(x, dtype=np.float64), decimals) + 0.0).cast(pa.string())


def _event_columns(ev: dict, cat: _Catalog, users: _Users, st: _DayState, day: int,
                   first_id: int) -> dict:
    n = len(ev["ts"])
    seq = pc.utf8_lpad(pa.array(np.arange(first_id, first_id + n, dtype=np.int64)).cast(pa.string()), 8, "0")
    prefix = "e" + _ds(day).replace("-", "") + "-"
    user_ids = users.user_ids.take(pa.array(ev["user"]))
    # One vocabulary of context ids, indexed per play; collections are per user.
    vocab = (list(st.pl_ids) + list(_ALG_IDS) + [f"radio-{g}" for g in GENRES]
             + ["search"] + [f"charts-{c.lower()}" for c in COUNTRIES] + ["charts-global", "other"])
    n_pl, n_alg = len(st.pl_ids), len(_ALG_IDS)
    base_radio = n_pl + n_alg
    base_charts = base_radio + _G + 1
    ctx = ev["ctx"]
    # Charts sessions mostly play the listener's country chart (two in three).
    local_chart = (ev["alg"] % 5) != 0
    code = np.select(
        [ctx == _CTX["editorial_playlist"], ctx == _CTX["algorithmic_playlist"],
         ctx == _CTX["radio"], ctx == _CTX["search"], ctx == _CTX["charts"]],
        [ev["playlist"], n_pl + ev["alg"], base_radio + ev["genre"], base_radio + _G,
         np.where(local_chart, base_charts + users.country[ev["user"]], base_charts + len(COUNTRIES))],
        default=len(vocab) - 1)
    ctx_id = _take(vocab, code)
    coll = pc.binary_join_element_wise("coll-", user_ids, "")
    ctx_id = pc.if_else(pa.array(ctx == _CTX["user_collection"]), coll, ctx_id)
    return {
        "event_id": pc.binary_join_element_wise(prefix, seq, ""),
        "user_id": user_ids,
        "track_id": cat.track_ids.take(pa.array(ev["track"])),
        "ts": _iso_ms(ev["ts"]),
        "ms_played": ev["ms"],
        "reason_start": _take(REASON_START, ev["reason_start"]),
        "reason_end": _take(REASON_END, ev["reason_end"]),
        "skipped": ev["skipped"],
        "shuffle": ev["shuffle"],
        "context_type": _take(schema.CONTEXT_TYPES, ctx),
        "context_id": ctx_id,
        "device": _take(schema.DEVICES, ev["device"]),
        "country": _take(COUNTRIES, users.country[ev["user"]]),
    }


def _feedback_columns(fb: dict, cat: _Catalog, users: _Users) -> dict:
    return {
        "user_id": users.user_ids.take(pa.array(fb["user"])),
        "track_id": cat.track_ids.take(pa.array(fb["track"])),
        "ts": _iso_ms(fb["ts"]),
        "action": _take(schema.FEEDBACK_ACTIONS, fb["action"]),
    }


# --- snapshots ------------------------------------------------------------------------
def _table_bytes(table: str, data: dict) -> bytes:
    return _header(table) + _csv_body(schema.RAW_TABLES[table][1], data).to_pybytes()


def _tracks_csv(cat: _Catalog) -> bytes:
    return _table_bytes("tracks", {
        "track_id": cat.track_ids,
        "isrc": np.array(cat.isrc, dtype=object),
        "title": np.array(cat.title, dtype=object),
        "artist_id": cat.artist_ids[cat.track_artist],
        "album_id": np.array([f"al{i + 1:05d}" for i in cat.track_album.tolist()], dtype=object),
        "label_id": cat.label_ids[cat.track_label],
        "release_date": _dates(cat.release_day),
        "duration_ms": cat.duration,
        "genre": np.array(GENRES, dtype=object)[cat.genre],
        "tempo": _fixed(cat.tempo, 3),
        "energy": _fixed(cat.energy, 3),
        "valence": _fixed(cat.valence, 3),
        "danceability": _fixed(cat.dance, 3),
        "acousticness": _fixed(cat.acoustic, 3),
        "key": cat.key,
        "mode": cat.mode,
        "loudness": _fixed(cat.loudness, 2),
    })


def _artists_csv(cat: _Catalog) -> bytes:
    gender = np.array(GENDERS, dtype=object)[cat.artist_gender]
    gender[gender == ""] = None
    return _table_bytes("artists", {
        "artist_id": cat.artist_ids,
        "name": np.array(cat.artist_name, dtype=object),
        "label_id": cat.label_ids[cat.artist_label],
        "country": np.array(COUNTRIES, dtype=object)[cat.artist_country],
        "debut_year": cat.artist_debut,
        "self_declared_gender": gender,
        "attributes_consent": cat.artist_consent,
    })


def _labels_csv(cat: _Catalog) -> bytes:
    kinds = ["major"] * 3 + ["independent"] * cat.n_indie + ["self_released"]
    return _table_bytes("labels", {
        "label_id": cat.label_ids,
        "name": np.array(cat.label_name, dtype=object),
        "kind": np.array(kinds, dtype=object),
    })


def _placements_csv(pl: _Placements) -> bytes:
    return _table_bytes("editorial_placements", {
        "playlist_id": np.array(pl.playlist_ids, dtype=object)[pl.playlist],
        "track_id": pc.cast(pa.array([f"t{t + 1:06d}" for t in pl.track.tolist()]), pa.string()),
        "position": pl.position,
        "start_ds": _dates(pl.start),
        "end_ds": _dates(pl.end),
    })


def _users_csv(users: _Users, day: int) -> bytes:
    visible = users.deletion_day <= day
    deletion = pa.array(np.full(users.n, None, dtype=object), type=pa.string())
    if visible.any():
        stamps = _iso_ms(np.where(visible, users.deletion_ms, 0))
        deletion = pc.if_else(pa.array(visible), stamps, deletion)
    return _table_bytes("users", {
        "user_id": users.user_ids,
        "signup_date": _dates(users.signup_day),
        "country": np.array(COUNTRIES, dtype=object)[users.country],
        "tier": np.array(schema.TIERS, dtype=object)[users.tier],
        "age_band": np.array(AGE_BANDS, dtype=object)[users.age],
        "personalisation_consent": users.p_consent,
        "audit_consent": users.a_consent,
        "deletion_requested_at": deletion,
    })


def _royalty_csv(rng: np.random.Generator, users: _Users, ds_list: list[str]) -> bytes:
    periods = sorted({d[:7] for d in ds_list})
    counts = np.zeros((len(COUNTRIES), 2))
    np.add.at(counts, (users.country, users.tier), 1)
    rows: dict[str, list[str]] = {k: [] for k in schema.RAW_TABLES["royalty_pool"][1]}
    for period in periods:
        for ci, c in enumerate(COUNTRIES):
            for ti, t in enumerate(schema.TIERS):
                arpu = _PREMIUM_ARPU[ci] * (1.0 if t == "premium" else _FREE_ARPU_SHARE)
                amount = counts[ci, ti] * arpu * _ROYALTY_SHARE * rng.uniform(0.95, 1.05)
                value = max(Decimal("1.00"), Decimal(repr(float(amount))).quantize(
                    Decimal("0.01"), rounding=ROUND_HALF_UP))
                rows["period"].append(period)
                rows["country"].append(c)
                rows["tier"].append(t)
                rows["currency"].append(CURRENCY[c])
                rows["net_revenue"].append(f"{value:.2f}")
    return _table_bytes("royalty_pool", {k: np.array(v, dtype=object) for k, v in rows.items()})


def _controls_jsonl(seed: int, cat: _Catalog, users: _Users, profile: _ProfileMaker) -> bytes:
    top = np.argsort(-cat.artist_fame, kind="stable")[:200]
    lines = []
    for c in range(users.n_chunks):
        prof = profile.chunk(c)
        lo, hi = prof["lo"], prof["hi"]
        rng = np.random.default_rng([seed, _S_CONTROLS, c])
        n = hi - lo
        chosen = np.flatnonzero(users.p_consent[lo:hi] & (rng.random(n) < 0.2))
        k = len(chosen)
        novelty = np.round(rng.beta(2.0, 2.5, k), 2)
        n_lock, n_era, n_seed, n_excl = (rng.integers(0, 3, k), rng.integers(0, 2, k),
                                         rng.integers(0, 3, k), rng.integers(0, 3, k))
        era = rng.integers(0, len(ERAS), k)
        excl_cand = rng.choice(top, (k, 6))
        for j, i in enumerate(chosen.tolist()):
            favs = prof["favs"][i].tolist()
            fav_artists = list(dict.fromkeys(cat.track_artist[favs].tolist()))
            locked = fav_artists[:n_lock[j]]
            seeds = list(dict.fromkeys(favs))[:n_seed[j]]
            excluded = [a for a in dict.fromkeys(excl_cand[j].tolist()) if a not in fav_artists][:n_excl[j]]
            row = {
                "user_id": f"u{lo + i + 1:07d}",
                "novelty": float(novelty[j]),
                "locked_artist_ids": sorted(cat.artist_ids[locked].tolist()),
                "locked_eras": [ERAS[era[j]]] if n_era[j] else [],
                "seed_track_ids": sorted(f"t{t + 1:06d}" for t in seeds),
                "excluded_artist_ids": sorted(cat.artist_ids[excluded].tolist()),
            }
            lines.append(json.dumps(row, sort_keys=True, ensure_ascii=False))
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _overrides_csv(cat: _Catalog, ds_list: list[str]) -> bytes:
    by_fame = np.argsort(-cat.artist_fame, kind="stable")
    established = by_fame[~cat.artist_emerging[by_fame]]
    suppressed = int(established[min(len(established) - 1, max(1, cat.n_artists // 10))])
    day0, last = _day_number(ds_list[0]), _day_number(ds_list[-1])
    old = np.flatnonzero(cat.release_day < day0)
    demoted = int(old[np.argsort(cat.pop_rank[old], kind="stable")][min(5, len(old) - 1)])
    has_release = np.zeros(cat.n_artists, dtype=bool)
    has_release[cat.track_artist[cat.release_day <= last]] = True
    candidates = by_fame[cat.artist_emerging[by_fame] & has_release[by_fame]]
    boosted = int(candidates[0]) if len(candidates) else int(by_fame[-1])
    start = lambda back: ds_list[max(0, len(ds_list) - 1 - back)]  # noqa: E731
    later = lambda n: _ds(last + n)  # noqa: E731
    rows = [
        ("artist", cat.artist_ids[suppressed], "suppress",
         "Rights dispute: distribution paused pending review", start(2), later(14),
         "trust-and-safety@example.org"),
        ("track", f"t{demoted + 1:06d}", "demote",
         "Suspected artificial streaming under investigation", start(1), later(6),
         "content-integrity@example.org"),
        ("artist", cat.artist_ids[boosted], "boost",
         "Emerging artist programme", start(2), later(27),
         "editorial-programming@example.org"),
    ]
    cols = schema.RAW_TABLES["governance_overrides"][1]
    return _table_bytes("governance_overrides",
                        {c: np.array([r[i] for r in rows], dtype=object) for i, c in enumerate(cols)})


# --- bad input ----------------------------------------------------------------------
def _bad_rows(rng: np.random.Generator, n: int, cat: _Catalog, users: _Users, day: int,
              first_id: int, dupe_source: dict | None) -> tuple[list[bytes], dict]:
    """N rows per quarantine reason, each tripping that reason and no earlier one.

    Apart from the defect, a row is valid: a consenting user who has not asked
    for deletion, a released track, a time inside the day, contract enums and a
    fresh event id. ``malformed`` rows alternate between a missing last field
    (12 fields) and one extra field (14 fields); ``duplicate`` rows are byte
    copies of earlier rows of the same file, event id included.
    """
    cols = schema.RAW_TABLES["listening_events"][1]
    eligible = np.flatnonzero(users.p_consent & (users.deletion_ms == _NEVER))
    released = np.flatnonzero(cat.release_day <= day)
    prefix = "e" + _ds(day).replace("-", "") + "-"
    out: list[bytes] = []
    next_id = first_id
    for reason in schema.QUARANTINE_REASONS:
        if reason == "duplicate":
            continue
        for i in range(n):
            u = int(rng.choice(eligible))
            t = int(rng.choice(released))
            ts = day * DAY_MS + int(rng.integers(0, DAY_MS))
            dur = int(cat.duration[t])
            row = {
                "event_id": f"{prefix}{next_id:08d}", "user_id": f"u{u + 1:07d}",
                "track_id": f"t{t + 1:06d}", "ts": ts, "ms_played": str(dur),
                "reason_start": "clickrow", "reason_end": "trackdone", "skipped": "false",
                "shuffle": "false", "context_type": "search", "context_id": "search",
                "device": schema.DEVICES[users.device[u]], "country": COUNTRIES[users.country[u]],
            }
            next_id += 1
            if reason == "bad_encoding":
                row["context_id"] = b"search-\xff\xfe"
            elif reason == "null_key":
                row["user_id"] = ""
            elif reason == "bad_timestamp":
                row["ts"] = "not-a-time"
            elif reason == "bad_value":
                row["ms_played"] = "abc"
            elif reason == "bad_enum":
                row["context_type"] = "telepathy"
            elif reason == "negative_duration":
                row["ms_played"] = "-5000"
            elif reason == "future_timestamp":
                row["ts"] = ts + 2 * DAY_MS
            elif reason == "too_late":
                row["ts"] = ts - 30 * DAY_MS
            elif reason == "unknown_user":
                row["user_id"] = "u9999999"
            elif reason == "unknown_track":
                row["track_id"] = "t999999"
            elif reason == "impossible_duration":
                row["ms_played"] = str(20 * dur)
            if isinstance(row["ts"], int):
                row["ts"] = _iso_ms(np.array([row["ts"]]))[0].as_py()
            fields = [v if isinstance(v, bytes) else str(v).encode("utf-8") for v in (row[c] for c in cols)]
            if reason == "malformed":
                fields = fields[:-1] if i % 2 == 0 else fields + [b"extra"]
            out.append(b",".join(fields) + b"\n")
    if n:
        if not dupe_source or len(dupe_source["event_id"]) == 0:
            raise ValueError("cannot inject duplicates: the day has no events to copy")
        m = len(dupe_source["event_id"])
        pick = np.sort(rng.choice(m, n, replace=m < n))
        taken = {}
        for c in cols:
            v = dupe_source[c]
            taken[c] = v.take(pa.array(pick)) if isinstance(v, pa.Array) else np.asarray(v)[pick]
        body = _csv_body(cols, taken).to_pybytes()
        out.extend(line + b"\n" for line in body.split(b"\n")[:-1])
    order = rng.permutation(len(out))
    return [out[i] for i in order], {r: n for r in schema.QUARANTINE_REASONS}
