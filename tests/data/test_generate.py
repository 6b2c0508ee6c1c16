"""Tests for the synthetic raw-data generator (xs tier, three days)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from setlist import schema
from setlist.data.generate import SIZE_TIERS, generate

DAYS = 3
END = "2026-11-23"
EVENT_COLS = schema.RAW_TABLES["listening_events"][1]
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FLOAT_RE = re.compile(r"^-?\d+(\.\d{1,6})?$")


# --- fixtures -------------------------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    home = tmp_path_factory.mktemp("gen_a")
    messages = []
    summary = generate(home, tier="xs", days=DAYS, seed=0, end_ds=END, progress=messages.append)
    return home, summary, messages


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("gen_bad")
    summary = generate(home, tier="xs", days=DAYS, seed=0, end_ds=END, inject_bad=2)
    return home, summary


@pytest.fixture(scope="module")
def data(run):
    home, summary, _ = run
    return load(home, summary["ds_list"])


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load(home: Path, ds_list: list[str]) -> dict:
    last = ds_list[-1]
    events = {ds: read_csv(schema.raw_path(home, ds, "listening_events")) for ds in ds_list}
    feedback = {ds: read_csv(schema.raw_path(home, ds, "feedback")) for ds in ds_list}
    tracks = {r["track_id"]: r for r in read_csv(schema.raw_path(home, last, "tracks"))}
    users = {r["user_id"]: r for r in read_csv(schema.raw_path(home, last, "users"))}
    placements = read_csv(schema.raw_path(home, last, "editorial_placements"))
    return {"events": events, "feedback": feedback, "tracks": tracks, "users": users,
            "placements": placements, "ds_list": ds_list}


def all_events(data: dict) -> list[dict]:
    return [dict(r, ds=ds) for ds, rows in data["events"].items() for r in rows]


def ms_of(ts: str) -> int:
    t = dt.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.timezone.utc)
    return round(t.timestamp() * 1000)


def day_ms(ds: str) -> int:
    return ms_of(f"{ds}T00:00:00.000Z")


def raw_files(home: Path) -> dict[str, bytes]:
    root = Path(home) / "raw"
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def sessions(data: dict) -> list[list[dict]]:
    """Each user's plays split at gaps of 30 min or more after the previous play ends."""
    by_user = defaultdict(list)
    for r in all_events(data):
        by_user[r["user_id"]].append((ms_of(r["ts"]), r))
    out = []
    for plays in by_user.values():
        plays.sort(key=lambda p: p[0])
        current, prev_end = [], None
        for start, r in plays:
            if prev_end is not None and start - prev_end >= 30 * 60_000:
                out.append(current)
                current = []
            current.append(r)
            prev_end = start + int(r["ms_played"])
        out.append(current)
    return out


# --- determinism --------------------------------------------------------------------------
def test_same_seed_is_byte_identical_and_other_seed_differs(run, tmp_path):
    home, summary, _ = run
    again = tmp_path / "again"
    assert generate(again, tier="xs", days=DAYS, seed=0, end_ds=END) == summary
    first, second = raw_files(home), raw_files(again)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], name

    other = tmp_path / "other"
    generate(other, tier="xs", days=DAYS, seed=1, end_ds=END)
    third = raw_files(other)
    for ds in summary["ds_list"]:
        name = f"{ds}/listening_events.csv"
        assert third[name] != first[name]


# --- layout, counts, summary -------------------------------------------------------------
def test_every_day_has_every_table_with_contract_header(run):
    home, summary, _ = run
    assert summary["ds_list"] == ["2026-11-21", "2026-11-22", "2026-11-23"]
    for ds in summary["ds_list"]:
        for table, (ext, cols) in schema.RAW_TABLES.items():
            path = schema.raw_path(home, ds, table)
            assert path.exists(), path
            if ext == "csv":
                with open(path, newline="", encoding="utf-8") as f:
                    assert tuple(next(csv.reader(f))) == cols, table
            else:
                for line in path.read_text(encoding="utf-8").splitlines():
                    assert tuple(sorted(json.loads(line))) == tuple(sorted(cols))


def test_row_counts_and_summary(run, data):
    home, summary, messages = run
    sizes = SIZE_TIERS["xs"]
    for ds in data["ds_list"]:
        assert len(read_csv(schema.raw_path(home, ds, "users"))) == sizes["users"] == 1000
        assert len(read_csv(schema.raw_path(home, ds, "tracks"))) == sizes["tracks"] == 2000
    total = sum(len(rows) for rows in data["events"].values())
    assert abs(total - 50_000) <= 5_000
    assert summary["rows"]["listening_events"] == total
    assert summary["rows"]["feedback"] == sum(len(r) for r in data["feedback"].values())
    assert summary["rows"]["users"] == DAYS * 1000
    assert summary["injected"] == {r: 0 for r in schema.QUARANTINE_REASONS}
    written = json.loads((Path(home) / "raw" / "_generated.json").read_text())
    assert written == summary
    assert len(messages) == DAYS and messages[0].startswith("2026-11-21: ")
    assert not (Path(home) / "raw" / END / "_injected.json").exists()


def test_catalog_shape(run):
    home, _, _ = run
    labels = read_csv(schema.raw_path(home, END, "labels"))
    kinds = Counter(r["kind"] for r in labels)
    assert kinds["major"] == 3 and kinds["self_released"] == 1 and kinds["independent"] >= 5
    assert {r["label_id"]: r["kind"] for r in labels}["l-self"] == "self_released"
    artists = read_csv(schema.raw_path(home, END, "artists"))
    assert len(artists) == 2000 // 8
    kind_of = {r["label_id"]: r["kind"] for r in labels}
    major_share = sum(kind_of[a["label_id"]] == "major" for a in artists) / len(artists)
    assert 0.25 < major_share < 0.45
    assert all(a["self_declared_gender"] == "" for a in artists if a["attributes_consent"] == "false")
    assert {a["self_declared_gender"] for a in artists} <= {"female", "male", "non_binary", ""}
    emerging = [a for a in artists if int(a["debut_year"]) >= 2025]
    assert 0.05 < len(emerging) / len(artists) < 0.2
    tracks = read_csv(schema.raw_path(home, END, "tracks"))
    assert len({t["isrc"] for t in tracks}) == len(tracks)
    assert len({t["genre"] for t in tracks}) == 15
    for t in tracks:
        assert re.fullmatch(r"[A-Z]{2}[A-Z]{3}\d{7}", t["isrc"])
        assert 90_000 <= int(t["duration_ms"]) <= 420_000
        assert 60 <= float(t["tempo"]) <= 200 and -30 <= float(t["loudness"]) <= 0
        for c in ("energy", "valence", "danceability", "acousticness"):
            assert 0 <= float(t[c]) <= 1 and FLOAT_RE.match(t[c])
        assert 0 <= int(t["key"]) <= 11 and t["mode"] in ("0", "1")
        assert DATE_RE.match(t["release_date"]) and "1960-01-01" <= t["release_date"] <= END
    assert sum(t["release_date"] >= "2026-11-21" for t in tracks) > 0  # new releases in the window


# --- events -----------------------------------------------------------------------------
def test_events_are_valid_and_consistent(data):
    users, tracks = data["users"], data["tracks"]
    ids = set()
    for ds, rows in data["events"].items():
        start, end = day_ms(ds), day_ms(ds) + 86_400_000
        for r in rows:
            assert r["event_id"] not in ids
            ids.add(r["event_id"])
            assert r["event_id"].startswith("e" + ds.replace("-", "") + "-")
            assert TS_RE.match(r["ts"]) and start <= ms_of(r["ts"]) < end
            user, track = users[r["user_id"]], tracks[r["track_id"]]
            assert track["release_date"] <= ds  # nothing is played before release
            assert 0 <= int(r["ms_played"]) <= int(track["duration_ms"])
            assert r["skipped"] in ("true", "false") and r["shuffle"] in ("true", "false")
            assert r["context_type"] in schema.CONTEXT_TYPES and r["context_id"]
            assert r["device"] in schema.DEVICES
            assert r["country"] == user["country"]
            if user["deletion_requested_at"]:
                assert ms_of(r["ts"]) < ms_of(user["deletion_requested_at"])
            if r["context_type"] == "user_collection":
                assert r["context_id"] == "coll-" + r["user_id"]


def test_sessions_do_not_overlap_and_have_realistic_lengths(data):
    all_sessions = sessions(data)
    for s in all_sessions:
        for a, b in zip(s, s[1:]):
            assert ms_of(b["ts"]) > ms_of(a["ts"]) + int(a["ms_played"])
    # Sessions are 3-25 plays; a day boundary can join two of them, or a
    # deletion request cut one short.
    lengths = sorted(len(s) for s in all_sessions)
    assert 3 <= lengths[len(lengths) // 2] <= 15
    assert sum(3 <= n <= 25 for n in lengths) / len(lengths) > 0.97


def test_long_tail_popularity(data):
    plays = Counter(r["track_id"] for r in all_events(data))
    counts = sorted((plays.get(t, 0) for t in data["tracks"]), reverse=True)
    total = sum(counts)
    assert sum(counts[:20]) / total > 0.15        # top 1% of tracks
    assert sum(c <= 5 for c in counts) / len(counts) > 0.30
    per_user = sorted(Counter(r["user_id"] for r in all_events(data)).values())
    median = per_user[len(per_user) // 2]
    assert per_user[int(len(per_user) * 0.99)] > 4 * median  # heavy listeners


def test_skips_rise_with_energy_jumps(data):
    energy = {t: float(r["energy"]) for t, r in data["tracks"].items()}
    small, big = [], []
    for s in sessions(data):
        for a, b in zip(s, s[1:]):
            jump = abs(energy[b["track_id"]] - energy[a["track_id"]])
            if jump < 0.1:
                small.append(b["skipped"] == "true")
            elif jump > 0.4:
                big.append(b["skipped"] == "true")
    assert len(small) > 1000 and len(big) > 1000
    assert sum(big) / len(big) > sum(small) / len(small) + 0.15
    skipped = [int(r["ms_played"]) for r in all_events(data) if r["skipped"] == "true"]
    assert sum(ms < 30_000 for ms in skipped) / len(skipped) > 0.75


def test_editorial_plays_come_from_live_placements_and_lift_tracks(data):
    live = set()
    placed_days = Counter()
    for p in data["placements"]:
        assert p["start_ds"] <= p["end_ds"] and int(p["position"]) >= 1
        for ds in data["ds_list"]:
            if p["start_ds"] <= ds <= p["end_ds"]:
                live.add((ds, p["playlist_id"], p["track_id"]))
                placed_days[(ds, p["track_id"])] += 1
    assert live, "some placements overlap the window"
    editorial = [r for r in all_events(data) if r["context_type"] == "editorial_playlist"]
    assert len(editorial) > 1000
    for r in editorial:
        assert (r["ds"], r["context_id"], r["track_id"]) in live

    # Lift: among tracks with similar organic (non-editorial) plays, those on a
    # playlist get clearly more plays in total.
    organic = Counter(r["track_id"] for r in all_events(data) if r["context_type"] != "editorial_playlist")
    total = Counter(r["track_id"] for r in all_events(data))
    placed_all_window = {t for (ds, t) in placed_days if all((d, t) in placed_days for d in data["ds_list"])}
    for low, high in ((0, 5), (6, 20)):
        bucket = [t for t in data["tracks"] if low <= organic.get(t, 0) <= high]
        placed = [total[t] for t in bucket if t in placed_all_window]
        others = [total[t] for t in bucket if not any((d, t) in placed_days for d in data["ds_list"])]
        assert len(placed) >= 5 and len(others) >= 5
        assert sum(placed) / len(placed) > 2 * sum(others) / len(others)


def test_feedback_follows_plays(data):
    plays = defaultdict(list)
    for r in all_events(data):
        plays[(r["user_id"], r["track_id"])].append(ms_of(r["ts"]))
    actions = Counter()
    for ds, rows in data["feedback"].items():
        for r in rows:
            t = ms_of(r["ts"])
            assert day_ms(ds) <= t < day_ms(ds) + 86_400_000
            assert any(p < t for p in plays[(r["user_id"], r["track_id"])])
            actions[r["action"]] += 1
    assert set(actions) <= set(schema.FEEDBACK_ACTIONS)
    n_events = sum(len(r) for r in data["events"].values())
    assert 0.01 < sum(actions.values()) / n_events < 0.08
    assert actions["like"] > actions["ban"] > 0


# --- snapshots ---------------------------------------------------------------------------
def test_snapshots_are_stable_except_deletion_requests(run):
    home, summary, _ = run
    first, last = summary["ds_list"][0], summary["ds_list"][-1]
    for table in schema.SNAPSHOT_TABLES:
        if table != "users":
            a = schema.raw_path(home, first, table).read_bytes()
            assert all(schema.raw_path(home, ds, table).read_bytes() == a for ds in summary["ds_list"])
    per_day = {ds: read_csv(schema.raw_path(home, ds, "users")) for ds in summary["ds_list"]}
    requested = {}
    for ds, rows in per_day.items():
        for base, r in zip(per_day[first], rows):
            assert {k: v for k, v in r.items() if k != "deletion_requested_at"} == \
                   {k: v for k, v in base.items() if k != "deletion_requested_at"}
            if r["deletion_requested_at"]:
                stamp = r["deletion_requested_at"]
                assert TS_RE.match(stamp) and stamp[:10] <= ds
                requested.setdefault(r["user_id"], stamp)
                assert requested[r["user_id"]] == stamp
    final = [r for r in per_day[last] if r["deletion_requested_at"]]
    assert len(final) == 5  # 0.5% of 1,000
    assert all(first <= r["deletion_requested_at"][:10] <= last for r in final)
    # ...and a request is absent from snapshots before its day.
    for r in final:
        for ds, rows in per_day.items():
            has = next(x for x in rows if x["user_id"] == r["user_id"])["deletion_requested_at"] != ""
            assert has == (ds >= r["deletion_requested_at"][:10])


def test_users_and_small_tables_follow_the_contract(run, data):
    home, _, _ = run
    users = list(data["users"].values())
    assert all(re.fullmatch(r"u\d{7}", u["user_id"]) for u in users)
    assert all(u["signup_date"] < "2026-11-21" for u in users)
    assert {u["tier"] for u in users} == set(schema.TIERS)
    premium = sum(u["tier"] == "premium" for u in users) / len(users)
    consent = sum(u["personalisation_consent"] == "true" for u in users) / len(users)
    assert 0.38 < premium < 0.52 and 0.88 < consent < 0.96
    assert {u["age_band"] for u in users} == {"18-24", "25-34", "35-44", "45-54", "55+"}

    pool = read_csv(schema.raw_path(home, END, "royalty_pool"))
    assert len(pool) == 1 * 10 * 2  # one period x countries x tiers
    for r in pool:
        assert r["period"] == "2026-11" and r["tier"] in schema.TIERS
        assert re.fullmatch(r"\d+\.\d{2}", r["net_revenue"]) and float(r["net_revenue"]) > 0
    assert {r["country"]: r["currency"] for r in pool}["GB"] == "GBP"

    controls = [json.loads(line) for line in
                schema.raw_path(home, END, "user_controls").read_text(encoding="utf-8").splitlines()]
    assert 0.1 < len(controls) / 1000 < 0.3
    for c in controls:
        assert data["users"][c["user_id"]]["personalisation_consent"] == "true"
        assert 0 <= c["novelty"] <= 1 and round(c["novelty"], 2) == c["novelty"]
        assert len(c["locked_artist_ids"]) <= 2 and len(c["locked_eras"]) <= 1
        assert len(c["seed_track_ids"]) <= 2 and len(c["excluded_artist_ids"]) <= 2
        assert not set(c["locked_artist_ids"]) & set(c["excluded_artist_ids"])
        assert all(t in data["tracks"] for t in c["seed_track_ids"])

    overrides = read_csv(schema.raw_path(home, END, "governance_overrides"))
    assert [o["action"] for o in overrides] == ["suppress", "demote", "boost"]
    assert all(o["start_ds"] <= END <= o["end_ds"] and o["reason"] and o["requested_by"] for o in overrides)


def test_csv_quoting_matches_python_csv(run):
    # Titles and names contain commas and quotes: the bytes must be what the
    # csv module writes with QUOTE_MINIMAL and "\n" line ends.
    home, _, _ = run
    for table in ("tracks", "artists"):
        raw = schema.raw_path(home, END, table).read_bytes()
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
        out = io.StringIO(newline="")
        csv.writer(out, lineterminator="\n").writerows(rows)
        assert out.getvalue().encode("utf-8") == raw
        assert b'"' in raw or table == "artists"


# --- bad input -----------------------------------------------------------------------------
def classify(raw: bytes, users: dict, tracks: dict, seen: set, ds: str) -> str | None:
    """A reference reading of the quarantine rules, first matching reason wins."""
    text = raw.decode("utf-8", errors="replace")
    fields = next(csv.reader([text]))
    if len(fields) != len(EVENT_COLS):
        return "malformed"
    if "\ufffd" in text:
        return "bad_encoding"
    r = dict(zip(EVENT_COLS, fields))
    if not (r["event_id"] and r["user_id"] and r["track_id"]):
        return "null_key"
    try:
        ts = ms_of(r["ts"])
    except ValueError:
        return "bad_timestamp"
    try:
        ms = int(r["ms_played"])
    except ValueError:
        return "bad_value"
    if r["skipped"] not in ("true", "false") or r["shuffle"] not in ("true", "false"):
        return "bad_value"
    if r["context_type"] not in schema.CONTEXT_TYPES or r["device"] not in schema.DEVICES:
        return "bad_enum"
    if ms < 0:
        return "negative_duration"
    if ts >= day_ms(ds) + 86_400_000:
        return "future_timestamp"
    if ts < day_ms(ds) - 3 * 86_400_000:
        return "too_late"
    if r["user_id"] not in users:
        return "unknown_user"
    if r["track_id"] not in tracks:
        return "unknown_track"
    if ms > int(tracks[r["track_id"]]["duration_ms"]) + 10_000:
        return "impossible_duration"
    if r["event_id"] in seen:
        return "duplicate"
    seen.add(r["event_id"])
    return None


def test_inject_bad_adds_one_row_per_reason_and_leaves_the_rest(run, bad_run, data):
    home, summary, _ = run
    bad_home, bad_summary = bad_run
    assert bad_summary["injected"] == {r: 2 for r in schema.QUARANTINE_REASONS}
    marker = json.loads((Path(bad_home) / "raw" / END / "_injected.json").read_text())
    assert marker == {r: 2 for r in schema.QUARANTINE_REASONS}

    clean_files, bad_files = raw_files(home), raw_files(bad_home)
    name = f"{END}/listening_events.csv"
    for f in clean_files:
        if f not in (name, "_generated.json"):
            assert clean_files[f] == bad_files[f], f
    clean, dirty = clean_files[name], bad_files[name]
    assert dirty.startswith(clean)  # normal rows untouched, bad rows appended
    assert dirty.count(b"\n") - clean.count(b"\n") == 26
    assert bad_summary["rows"]["listening_events"] == summary["rows"]["listening_events"] + 26

    users, tracks = data["users"], data["tracks"]
    seen = set()
    for line in data["events"]["2026-11-22"] + data["events"]["2026-11-21"]:
        seen.add(line["event_id"])
    lines = dirty.split(b"\n")[1:-1]
    n_clean = clean.count(b"\n") - 1
    verdicts = [classify(line, users, tracks, seen, END) for line in lines]
    assert all(v is None for v in verdicts[:n_clean])
    assert Counter(verdicts[n_clean:]) == {r: 2 for r in schema.QUARANTINE_REASONS}
    # Bad rows carry fresh ids, except the duplicates, which copy earlier rows.
    ids = [line.split(b",")[0] for line in lines[n_clean:]]
    dupes = [i for i, v in zip(ids, verdicts[n_clean:]) if v == "duplicate"]
    assert len(set(ids)) == len(ids) and all(d in clean for d in dupes)
