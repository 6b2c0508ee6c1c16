"""The input contract: raw tables, their columns and allowed values.

Everything that produces raw files (the synthetic generator, the Last.fm and
MPD adapters) and everything that reads them (ingest, clean) uses these names,
so a schema change is one edit here.

Raw layout under the home folder::

    raw/<ds>/<table>.<ext>

Daily tables (``listening_events``, ``feedback``) hold the rows of that day.
Every other table is a full snapshot as delivered on that day.
"""

from __future__ import annotations

# --- column name constants used across stages -------------------------------
USER = "user_id"
TRACK = "track_id"
ARTIST = "artist_id"
LABEL = "label_id"
DS = "ds"
TS = "ts"

CONTEXT_TYPES = (
    "editorial_playlist",
    "algorithmic_playlist",
    "user_collection",
    "search",
    "radio",
    "charts",
    "other",
)
# Which contexts count as which source in influence reports and exports.
CONTEXT_SOURCE = {
    "editorial_playlist": "editorial",
    "algorithmic_playlist": "algorithmic",
    "radio": "algorithmic",
    "user_collection": "organic",
    "search": "organic",
    "charts": "organic",
    "other": "organic",
}
FEEDBACK_ACTIONS = ("like", "save", "add_to_playlist", "ban", "unban")
LABEL_KINDS = ("major", "independent", "self_released")
TIERS = ("free", "premium")
OVERRIDE_ACTIONS = ("suppress", "demote", "boost")
DEVICES = ("mobile", "desktop", "web", "speaker", "car", "tv")

# --- raw tables: (file extension, ordered columns) ----------------------------
# ``ts`` columns are ISO-8601 UTC strings such as 2026-11-23T18:04:05.123Z.
RAW_TABLES: dict[str, tuple[str, tuple[str, ...]]] = {
    "listening_events": ("csv", (
        "event_id", "user_id", "track_id", "ts", "ms_played", "reason_start",
        "reason_end", "skipped", "shuffle", "context_type", "context_id",
        "device", "country",
    )),
    "feedback": ("csv", ("user_id", "track_id", "ts", "action")),
    "tracks": ("csv", (
        "track_id", "isrc", "title", "artist_id", "album_id", "label_id",
        "release_date", "duration_ms", "genre", "tempo", "energy", "valence",
        "danceability", "acousticness", "key", "mode", "loudness",
    )),
    # self_declared_* are optional, audit-only, used only with attributes_consent.
    "artists": ("csv", (
        "artist_id", "name", "label_id", "country", "debut_year",
        "self_declared_gender", "attributes_consent",
    )),
    "labels": ("csv", ("label_id", "name", "kind")),
    "users": ("csv", (
        "user_id", "signup_date", "country", "tier", "age_band",
        "personalisation_consent", "audit_consent", "deletion_requested_at",
    )),
    "editorial_placements": ("csv", (
        "playlist_id", "track_id", "position", "start_ds", "end_ds",
    )),
    "royalty_pool": ("csv", ("period", "country", "tier", "currency", "net_revenue")),
    # JSON lines; the list columns are JSON arrays of strings.
    "user_controls": ("jsonl", (
        "user_id", "novelty", "locked_artist_ids", "locked_eras",
        "seed_track_ids", "excluded_artist_ids",
    )),
    "governance_overrides": ("csv", (
        "target_type", "target_id", "action", "reason", "start_ds", "end_ds",
        "requested_by",
    )),
}
DAILY_TABLES = ("listening_events", "feedback")
SNAPSHOT_TABLES = tuple(t for t in RAW_TABLES if t not in DAILY_TABLES)
LIST_COLUMNS = ("locked_artist_ids", "locked_eras", "seed_track_ids", "excluded_artist_ids")

# --- quarantine reasons (machine-readable, checked in this order) --------------
QUARANTINE_REASONS = (
    "malformed",           # wrong number of fields / unparseable line
    "bad_encoding",        # text that is not valid UTF-8 (decoded as U+FFFD)
    "null_key",            # a key column is empty
    "bad_timestamp",       # ts / date does not parse
    "bad_value",           # a number or boolean does not parse, or is out of range
    "bad_enum",            # a categorical value outside the contract
    "negative_duration",   # ms_played < 0
    "future_timestamp",    # ts at or after the end of the logical date
    "too_late",            # ts older than the accepted lateness window
    "unknown_user",        # user_id not in the users snapshot of the day
    "unknown_track",       # track_id not in the tracks snapshot of the day
    "impossible_duration", # ms_played longer than the track + slack
    "duplicate",           # key seen earlier in the batch or in an earlier ds
)

def raw_path(home, ds: str, table: str):
    """Path of one raw file: ``<home>/raw/<ds>/<table>.<ext>``."""
    from pathlib import Path
    ext, _ = RAW_TABLES[table]
    return Path(home) / "raw" / ds / f"{table}.{ext}"
