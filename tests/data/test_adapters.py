"""Adapters on the real public datasets: expected numbers computed here from the source files."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from setlist.data.adapters import ADAPTERS, lastfm_hetrec, mpd
from setlist.schema import DAILY_TABLES, RAW_TABLES, SNAPSHOT_TABLES, raw_path

DATASETS = Path(__file__).resolve().parents[3] / "shared" / "datasets"
LASTFM = DATASETS / "lastfm-hetrec2011"
MPD = DATASETS / "mpd-followers-ge10"
AUDIO = DATASETS / "artist-audio-aggregates" / "data_by_artist.csv"
TS_FORMAT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

if not (LASTFM.is_dir() and MPD.is_dir() and AUDIO.is_file()):
    if os.environ.get("SETLIST_REQUIRE_SERVICES") == "1":
        raise RuntimeError(f"{DATASETS} not found beside the checkout (SETLIST_REQUIRE_SERVICES=1)")
    pytest.skip("../shared/datasets not found beside the checkout", allow_module_level=True)


def _read(home, ds, table) -> pd.DataFrame:
    return pd.read_csv(raw_path(home, ds, table), dtype=str, keep_default_na=False)


def _all_files(home) -> dict[str, bytes]:
    root = Path(home) / "raw"
    return {str(p.relative_to(root)): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


def _events(home, ds_list) -> pd.DataFrame:
    return pd.concat([_read(home, ds, "listening_events").assign(ds=ds) for ds in ds_list],
                     ignore_index=True)


def _audio_names() -> set[str]:
    return set(pd.read_csv(AUDIO, dtype=str, keep_default_na=False)["artists"])


def _check_layout(home, summary, end_ds):
    ds_list = summary["ds_list"]
    expected = pd.date_range(end=end_ds, periods=14, freq="D").strftime("%Y-%m-%d").tolist()
    assert ds_list == expected
    assert sorted(p.name for p in (Path(home) / "raw").iterdir() if p.is_dir()) == expected
    assert json.loads((Path(home) / "raw" / "_adapter.json").read_text()) == summary
    for ds in ds_list:
        for table, (ext, columns) in RAW_TABLES.items():
            path = raw_path(home, ds, table)
            assert path.is_file(), path
            if ext == "jsonl":
                assert path.read_bytes() == b""
            else:
                text = path.read_bytes().decode("utf-8")  # strict: every file is valid UTF-8
                assert text.split("\n", 1)[0] == ",".join(columns)
                assert "\r" not in text and "\ufffd" not in text
    for table in SNAPSHOT_TABLES:
        first = raw_path(home, ds_list[0], table).read_bytes()
        assert all(raw_path(home, ds, table).read_bytes() == first for ds in ds_list)
    for table in ("feedback", "editorial_placements", "royalty_pool", "governance_overrides"):
        assert summary["rows"][table] == 0
    assert "feedback" in DAILY_TABLES

    events = _events(home, ds_list)
    assert events["event_id"].is_unique
    assert events["ts"].str.match(TS_FORMAT).all()
    assert (events["ts"].str[:10] == events["ds"]).all()
    assert events["ds"].nunique() == len(ds_list)  # every day has plays
    assert (events["skipped"] == "false").all() and (events["ms_played"] == "210000").all()
    assert (events["context_type"] == "user_collection").all() and (events["country"] == "").all()
    assert summary["rows"]["listening_events"] == len(events)
    users = _read(home, ds_list[0], "users")
    assert (users["signup_date"] == f"{int(ds_list[0][:4]) - 1}{ds_list[0][4:]}").all()
    assert (users["personalisation_consent"] == "true").all()
    assert (users["audit_consent"] == "false").all()
    tracks = _read(home, ds_list[0], "tracks")
    assert set(events["track_id"]) <= set(tracks["track_id"])
    assert set(events["user_id"]) <= set(users["user_id"])
    assert set(tracks["artist_id"]) == set(_read(home, ds_list[0], "artists")["artist_id"])
    return events, users, tracks


# --- Last.fm HetRec ---------------------------------------------------------------

@pytest.fixture(scope="module")
def lastfm_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("lastfm")
    messages: list[str] = []
    summary = lastfm_hetrec(LASTFM, home, sample_users=50, progress=messages.append)
    return home, summary, messages


def test_lastfm_counts_match_the_source(lastfm_run):
    home, summary, messages = lastfm_run
    assert summary["source"] == "lastfm-hetrec" and messages
    events, users, tracks = _check_layout(home, summary, "2011-05-31")

    pairs = pd.read_csv(LASTFM / "user_artists.dat", sep="\t")
    kept = sorted(pairs["userID"].unique())[:50]
    pairs = pairs[pairs["userID"].isin(kept)]
    plays = np.ceil(np.log2(1 + pairs["weight"].to_numpy(dtype=float))).astype(int)

    assert users["user_id"].tolist() == [f"lfm-u{u}" for u in kept]
    assert len(events) == plays.sum() == summary["rows"]["listening_events"]
    assert len(tracks) == pairs["artistID"].nunique() == summary["rows"]["tracks"]
    per_pair = events.groupby(["user_id", "track_id"]).size()
    expected = pd.Series(plays, index=pd.MultiIndex.from_arrays(
        [[f"lfm-u{u}" for u in pairs["userID"]], [f"lfm-t{a}" for a in pairs["artistID"]]],
        names=["user_id", "track_id"]))
    pd.testing.assert_series_equal(per_pair.sort_index(), expected.sort_index(), check_names=False)
    assert (events["reason_start"] == "clickrow").all() and (events["device"] == "desktop").all()


def test_lastfm_catalogue_names_genres_and_audio(lastfm_run):
    home, summary, _ = lastfm_run
    ds = summary["ds_list"][-1]
    tracks = _read(home, ds, "tracks").set_index("track_id")
    names = pd.read_csv(LASTFM / "artists.dat", sep="\t", quoting=3, dtype=str,
                        keep_default_na=False, encoding="utf-8").set_index("id")["name"]
    aids = [t[len("lfm-t"):] for t in tracks.index]
    assert tracks["title"].tolist() == names.loc[aids].tolist()
    assert (tracks["artist_id"] == ["lfm-a" + a for a in aids]).all()

    tags = pd.read_csv(LASTFM / "tags.dat", sep="\t", dtype=str, encoding="iso-8859-1",
                       keep_default_na=False, quoting=3)
    tagged = pd.read_csv(LASTFM / "user_taggedartists.dat", sep="\t", dtype=str)
    tagged = tagged.merge(tags, on="tagID")
    tagged["genre"] = tagged["tagValue"].str.strip().str.lower().str.split().str.join("_")
    counts = tagged.groupby(["artistID", "genre"]).size().reset_index(name="n")
    best = {}
    for artist, group in counts.groupby("artistID"):
        top = group["n"].max()
        best[artist] = min(group.loc[group["n"] == top, "genre"])
    assert tracks["genre"].tolist() == [best.get(a, "unknown") for a in aids]

    matched = tracks["title"].isin(_audio_names())
    assert (tracks["tempo"] != "").sum() == matched.sum() == summary["audio_matched"]["tracks"]
    assert ((tracks["key"] != "") == matched).all()
    assert tracks.loc[matched, "key"].str.fullmatch(r"\d+").all()


def test_lastfm_sessions_do_not_overlap(lastfm_run):
    home, summary, _ = lastfm_run
    events = _events(home, summary["ds_list"])
    ts = pd.to_datetime(events["ts"], format="%Y-%m-%dT%H:%M:%S.%fZ", utc=True)
    gaps = ts.groupby(events["user_id"]).apply(lambda s: s.sort_values().diff().dt.total_seconds())
    gaps = gaps.dropna()
    assert (gaps >= 210).all()
    # Gaps are either inside a session (<= 4 minutes) or between sessions (>= 30 minutes).
    assert ((gaps <= 240) | (gaps >= 1800)).all()


def test_lastfm_is_deterministic(lastfm_run, tmp_path, capsys):
    home, _, _ = lastfm_run
    ADAPTERS["lastfm-hetrec"](LASTFM, tmp_path, sample_users=50)
    assert capsys.readouterr().out == ""
    assert _all_files(tmp_path) == _all_files(home)


def test_lastfm_without_audio_and_too_few_days(tmp_path):
    src = tmp_path / "lastfm"  # no artist-audio-aggregates beside it
    src.mkdir()
    for f in LASTFM.iterdir():
        (src / f.name).symlink_to(f)
    summary = lastfm_hetrec(src, tmp_path / "home", days=3, sample_users=5, seed=7)
    tracks = _read(tmp_path / "home", summary["ds_list"][0], "tracks")
    assert summary["audio_matched"]["tracks"] == 0 and (tracks["tempo"] == "").all()
    with pytest.raises(ValueError, match="do not fit"):
        lastfm_hetrec(LASTFM, tmp_path / "other", days=1, sample_users=5)


# --- MPD subset ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def mpd_source():
    rows = pd.read_csv(MPD / "playlist_tracks.csv.gz", dtype=str, keep_default_na=False)
    rows["pid"] = rows["pid"].astype(int)
    rows["pos"] = rows["pos"].astype(int)
    return rows[rows["pid"] < 100].sort_values(["pid", "pos"])


@pytest.fixture(scope="module")
def mpd_run(tmp_path_factory):
    home = tmp_path_factory.mktemp("mpd")
    return home, mpd(MPD, home, sample_playlists=100)


def test_mpd_counts_match_the_source(mpd_run, mpd_source):
    home, summary = mpd_run
    assert summary["source"] == "mpd"
    events, users, tracks = _check_layout(home, summary, "2017-11-01")
    assert users["user_id"].tolist() == [f"mpd-p{p}" for p in range(100)]
    assert len(events) == len(mpd_source)
    assert len(tracks) == mpd_source["track_uri"].nunique()
    first = mpd_source.drop_duplicates("track_uri")
    assert tracks["track_id"].tolist() == [f"mpd-t{i}" for i in range(len(first))]
    assert tracks["title"].tolist() == first["track_name"].tolist()
    artists = _read(home, summary["ds_list"][0], "artists")
    assert artists["name"].tolist() == mpd_source["artist_name"].drop_duplicates().tolist()
    expected_audio = first["artist_name"].isin(_audio_names()).sum()
    assert 0 < expected_audio < len(first)
    assert (tracks["tempo"] != "").sum() == expected_audio == summary["audio_matched"]["tracks"]
    assert (tracks["genre"] == "unknown").all()


def test_mpd_sessions_keep_playlist_order(mpd_run, mpd_source):
    home, summary = mpd_run
    ds_list = summary["ds_list"]
    events = _events(home, ds_list)
    titles = _read(home, ds_list[0], "tracks").set_index("track_id")["title"]
    events["title"] = titles.loc[events["track_id"]].to_numpy()
    events["t"] = pd.to_datetime(events["ts"], format="%Y-%m-%dT%H:%M:%S.%fZ", utc=True)
    for pid, source in mpd_source.groupby("pid"):
        played = events[events["user_id"] == f"mpd-p{pid}"].sort_values("t")
        assert played["title"].tolist() == source["track_name"].tolist()
        steps = played["t"].diff().dropna().dt.total_seconds()
        assert (steps == 210).all()  # strictly increasing, 3.5 minutes apart
        assert (played["ds"] == ds_list[pid % 14]).all()
        assert (played["context_id"] == f"mpd-pl{pid}").all()
        assert played["reason_start"].tolist() == ["clickrow"] + ["trackdone"] * (len(played) - 1)


def test_mpd_is_deterministic(mpd_run, tmp_path):
    home, _ = mpd_run
    mpd(MPD, tmp_path, sample_playlists=100)
    assert _all_files(tmp_path) == _all_files(home)
