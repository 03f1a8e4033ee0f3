from __future__ import annotations

import csv
import json

import pandas as pd
import pytest

from musicgym.catalog import CatalogError, lastfm, load_catalog
from musicgym.catalog.textfile import utf8_blocks
from tests.conftest import SHARED_DATA


def mpd_doc():
    def track(i, artist="A"):
        return {"pos": i, "track_uri": f"spotify:track:T{i}", "track_name": f"Song {i}", "artist_name": artist, "album_name": "Al"}

    return {
        "info": {"slice": "0-1"},
        "playlists": [
            {"name": "Road trip", "pid": 0, "tracks": [track(1), track(0), track(2)]},
            {"name": "Chill", "pid": 1, "tracks": [track(2), track(3, "B"), {"pos": 2, "track_name": "no uri"}]},
        ],
    }


def test_mpd_playlists_titles_and_order(tmp_path):
    p = tmp_path / "mpd.slice.json"
    p.write_text(json.dumps(mpd_doc()))
    cat = load_catalog(p)
    assert cat.playlists.titles == ["Road trip", "Chill"]
    ids = cat.tracks["track_id"].tolist()
    assert [[ids[i] for i in pl] for pl in cat.playlists.tracks] == [["T0", "T1", "T2"], ["T2", "T3"]]
    # tracks without features are kept and reported, the uri-less entry is dropped and reported
    assert not cat.has_features.any()
    assert any("4 of 4 tracks have no audio features" in n for n in cat.report.notes)
    assert len(cat.report.dropped) == 1 and "track entry #2 has no track_uri" in cat.report.dropped[0].reason
    with pytest.raises(CatalogError, match="needs audio features"):
        _ = cat.features_11


def test_mpd_joins_features_by_id(tmp_path):
    p = tmp_path / "mpd.json"
    p.write_text(json.dumps(mpd_doc()))
    feats = tmp_path / "f.csv"
    feats.write_text(
        "id,name,artists,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo\n"
        "T1,Song 1,A,0.5,0.6,5,-6,1,0.05,0.1,0,0.1,0.5,120\n"
        "T3,Other,B,0.7,0.6,5,-6,1,0.05,0.1,0,0.1,0.5,120\n"
    )
    cat = load_catalog(p, features=feats)
    assert int(cat.has_features.sum()) == 2
    only = cat.with_features_only()
    assert len(only) == 2
    assert sum(len(x) for x in only.playlists.tracks) == 2
    assert sorted(d.reason for d in only.report.dropped if "no audio features" in d.reason) == [
        "track 'T0' has no audio features",
        "track 'T2' has no audio features",
    ]


def test_truncated_mpd_json_is_clear(tmp_path):
    p = tmp_path / "cut.json"
    p.write_text(json.dumps(mpd_doc())[:-40])
    with pytest.raises(CatalogError, match=r"invalid JSON at line \d+, column \d+.*truncated"):
        load_catalog(p)


def test_json_that_is_not_mpd(tmp_path):
    p = tmp_path / "x.json"
    p.write_text("[1, 2]")
    with pytest.raises(CatalogError, match="not an MPD slice"):
        load_catalog(p)


LOG = [
    "u1\t2009-05-04T10:00:00Z\tA1\tArtist\tT1\tOne",
    "u1\t2009-05-04T10:04:00Z\tA1\tArtist\tT2\tTwo",
    "u1\t2009-05-04T11:00:00Z\tA1\tArtist\t\tThree",  # 56 min gap: new session, no track id
    "u1\tnot-a-time\tA1\tArtist\tT2\tTwo",
    "u2\t2009-05-04T10:01:00Z\tA2\tOther\tT1\tOne",
    "short\tline",
]


def test_lastfm_sessions_split_at_gap(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("\n".join(LOG) + "\n")
    cat = load_catalog(p)
    ids = cat.tracks["track_id"].tolist()
    sessions = [[ids[i] for i in s] for s in cat.playlists.tracks]
    assert sessions == [["T1", "T2"], ["Artist - Three"], ["T1"]]
    assert cat.playlists.ordered
    assert cat.playlists.users == ["u1", "u1", "u2"]
    reasons = {d.line: d.reason for d in cat.report.dropped}
    assert set(reasons) == {4, 6}
    assert "unparsable timestamp" in reasons[4] and "expected 6 tab-separated fields, found 2" in reasons[6]


def test_lastfm_raise_mode_and_gap_argument(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("\n".join(LOG) + "\n")
    with pytest.raises(CatalogError, match="line 4: unparsable timestamp"):
        load_catalog(p, errors="raise")
    cat = load_catalog(p, session_gap_minutes=120)
    assert len(cat.playlists) == 2
    with pytest.raises(ValueError, match="session_gap_minutes"):
        load_catalog(p, session_gap_minutes=0)


# ---------------------------------------------------------------- MPD: encodings and entry checks (findings 2, 4)
def uri(i):
    return "spotify:track:" + f"{i:022d}"


def entry(i, pos=None, **over):
    t = {"pos": i if pos is None else pos, "track_uri": uri(i), "track_name": f"Song {i}", "artist_name": "A", "album_name": "Al"}
    t.update(over)
    return t


def write_json(tmp_path, doc, encoding="utf-8", name="mpd.json"):
    p = tmp_path / name
    p.write_bytes(json.dumps(doc, ensure_ascii=False).encode(encoding))
    return p


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_mpd_with_a_byte_order_mark_loads(tmp_path, encoding):
    cat = load_catalog(write_json(tmp_path, {"playlists": [{"name": "Café", "pid": 0, "tracks": [entry(0), entry(1)]}]}, encoding))
    assert cat.playlists.titles == ["Café"] and len(cat) == 2


def test_mpd_that_is_not_utf8_names_file_line_and_column(tmp_path):
    p = tmp_path / "mpd.json"
    p.write_bytes(json.dumps({"playlists": [{"name": "Café", "tracks": [entry(0)]}]}, ensure_ascii=False, indent=1).encode("latin-1"))
    with pytest.raises(CatalogError, match=r"mpd\.json: not valid UTF-8 text: byte\(s\) e9 at line 4, column \d+"):
        load_catalog(p)
    assert load_catalog(p, encoding="latin-1").playlists.titles == ["Café"]


def test_mpd_entries_are_checked_and_each_bad_one_reported_with_its_place(tmp_path):
    tracks = [entry(0), entry(1, pos="1"), entry(2, pos=None), entry(3, pos=-1), entry(4, pos=True), entry(5, track_uri=12345),
              entry(6, track_uri="spotify:album:0000000000000000000006"), ["not", "an", "entry"], entry(8, track_name=1999),
              entry(9, artist_name=["A", "B"]), entry(10, track_uri=None)]
    tracks[2]["pos"] = None
    doc = {"playlists": [{"name": 7, "pid": 42, "tracks": tracks}]}
    cat = load_catalog(write_json(tmp_path, doc))
    reasons = [d.reason for d in cat.report.dropped]
    assert reasons == [
        "mpd.json: playlist pid 42 (#0), track entry #1 has pos '1' (a string), not a position (a whole number from 0)",
        "mpd.json: playlist pid 42 (#0), track entry #2 has pos null, not a position (a whole number from 0)",
        "mpd.json: playlist pid 42 (#0), track entry #3 has pos -1 (a number), not a position (a whole number from 0)",
        "mpd.json: playlist pid 42 (#0), track entry #4 has pos True (a boolean), not a position (a whole number from 0)",
        "mpd.json: playlist pid 42 (#0), track entry #5 has track_uri 12345 (a number), not a Spotify track URI 'spotify:track:<id>'",
        "mpd.json: playlist pid 42 (#0), track entry #6 has track_uri 'spotify:album:0000000000000000000006', not a Spotify track URI 'spotify:track:<id>'",
        "mpd.json: playlist pid 42 (#0), track entry #7 is ['not', 'an', 'entry'] (a list), not an object",
        "mpd.json: playlist pid 42 (#0), track entry #10 has no track_uri",
    ]
    assert cat.tracks["track_id"].tolist() == [f"{i:022d}" for i in (0, 8, 9)]
    assert cat.tracks["name"].tolist()[1] == "1999" and cat.tracks["artist"].tolist()[2] == ""
    changed = [c.reason for c in cat.report.changed]
    assert len(changed) == 3 and "track_name is 1999 (a number)" in changed[0] and "artist_name is ['A', 'B'] (a list)" in changed[1]
    assert "name is 7 (a number), not a string (title left empty)" in changed[2] and cat.playlists.titles == [""]


def test_mpd_playlists_without_usable_entries_are_dropped(tmp_path):
    doc = {"playlists": [{"pid": 1, "tracks": [entry(0, pos="x")]}, {"pid": 2, "tracks": [entry(1)]}, "junk"]}
    cat = load_catalog(write_json(tmp_path, doc))
    assert len(cat.playlists) == 1
    assert [d.reason.split(", track")[0] for d in cat.report.dropped] == [
        "mpd.json: playlist pid 1 (#0)", "mpd.json: playlist pid 1 (#0) has no usable track entries",
        "mpd.json: playlist #2 has no 'tracks' list"]


def test_mpd_order_follows_pos_and_repeats_are_noted(tmp_path):
    doc = {"playlists": [{"pid": 0, "tracks": [entry(2, pos=0), entry(1, pos=1), entry(2, pos=2)]}]}
    cat = load_catalog(write_json(tmp_path, doc))
    assert [cat.tracks["track_id"][i] for i in cat.playlists.tracks[0]] == [f"{2:022d}", f"{1:022d}"]
    assert any("1 track entries repeat a track" in n for n in cat.report.notes)


@pytest.mark.parametrize("text,match", [("[" * 100_000 + "]" * 100_000, "nested too deeply"), ('{"playlists": [' + "9" * 5000 + "]}", "invalid JSON"),
                                        ('{"playlists": [{"pid": 1, "tracks": [{"pos": 0, "track_uri": "spot', "truncated file")])
def test_json_that_cannot_be_read_is_named(tmp_path, text, match):
    p = tmp_path / "bad.json"
    p.write_text(text)
    with pytest.raises(CatalogError, match=rf"bad\.json: .*{match}"):
        load_catalog(p)


# ---------------------------------------------------------------- Last.fm: vectorised reading (finding 5)
def reference_lastfm(path, gap_minutes=20.0):
    """The loader's specification, line by line: fields, drops, sort, sessions, track keys."""
    good, dropped = [], []
    with open(path, encoding="utf-8", newline="") as fh:
        for n, fields in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
            if len(fields) != 6:
                dropped.append((n, f"expected 6 tab-separated fields, found {len(fields)}"))
            elif not fields[0] or not fields[5]:
                dropped.append((n, "empty user id or track name"))
            else:
                ts = pd.to_datetime(fields[1], utc=True, errors="coerce", format="ISO8601")
                if pd.isna(ts):
                    dropped.append((n, f"unparsable timestamp {fields[1]!r}"))
                else:
                    key = fields[4] or f"{fields[3]} - {fields[5]}"
                    good.append((fields[0], ts, key, len(good)))
    good.sort(key=lambda g: (g[0], g[1], g[3]))
    sessions, titles = [], []
    for i, (user, ts, key, _) in enumerate(good):
        if i == 0 or user != good[i - 1][0] or (ts - good[i - 1][1]).total_seconds() > gap_minutes * 60:
            sessions.append([])
            titles.append(f"{user} {ts:%Y-%m-%d %H:%M}")
        sessions[-1].append(key)
    return sessions, titles, dropped


LOG_WITH_EVERY_PROBLEM = [
    "u2\t2009-05-04T10:01:00Z\tA2\tOther\tT1\tOne",
    "u1\t2009-05-04T10:00:00Z\tA1\tArtist\tT1\tOne",
    "",
    "u1\t2009-05-04T10:04:00+00:00\tA1\tArtist\tT2\tTwo \"quoted\"",
    "u1\t2009-05-04T10:04:00Z\tA1\tArtist\t\tSame Second",
    "u1\t2009-05-04T11:00:00Z\tA1\tArtist\t\tThree",
    "u1\tnot-a-time\tA1\tArtist\tT2\tTwo",
    "u1\t2009-02-30T10:00:00Z\tA1\tArtist\tT2\tTwo",
    "\t2009-05-04T12:00:00Z\tA1\tArtist\tT2\tTwo",
    "u3\t2009-05-04T12:00:00Z\tA1\tArtist\tT2\t",
    "short\tline",
    "too\tmany\tfields\there\tand\there\ttoo",
    "u3\t2009-05-04T12:30:00Z\tA3\t坂本龍一\t\tComposition 0919",
    "u4\t2009-05-04T12:30:00Z\tA4\tCR\tT9\tBefore a lone CR\ru4\t2009-05-04T12:31:00Z\tA4\tCR\tT8\tAfter it",
]


def lastfm_fixture_paths(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("\n".join(LOG_WITH_EVERY_PROBLEM) + "\n", encoding="utf-8")
    return [p, SHARED_DATA / "lastfm1k_sample" / "userid-timestamp-artid-artname-traid-traname.tsv"]


@pytest.mark.parametrize("engine", ["auto", "pandas"])
def test_lastfm_loader_matches_the_line_by_line_reference(tmp_path, monkeypatch, engine):
    monkeypatch.setattr(lastfm, "ENGINE", engine)
    for path in lastfm_fixture_paths(tmp_path):
        if not path.exists():
            continue
        cat = lastfm.load_lastfm_tsv([path])
        sessions, titles, dropped = reference_lastfm(path)
        ids = cat.tracks["track_id"].tolist()
        assert [[ids[i] for i in s] for s in cat.playlists.tracks] == sessions
        assert cat.playlists.titles == titles
        assert [(d.line, d.reason.rsplit(" (", 1)[0]) for d in cat.report.dropped] == dropped
        first_seen = list(dict.fromkeys(k for s in sessions for k in s))
        assert ids == first_seen


def test_lastfm_blocks_do_not_change_the_result(tmp_path, monkeypatch):
    path = lastfm_fixture_paths(tmp_path)[0]
    whole = lastfm.load_lastfm_tsv([path])
    monkeypatch.setattr(lastfm, "utf8_blocks", lambda p, e: utf8_blocks(p, e, block_bytes=7))
    small = lastfm.load_lastfm_tsv([path])
    assert small.fingerprint == whole.fingerprint and small.playlists.titles == whole.playlists.titles
    assert [(d.line, d.reason) for d in small.report.dropped] == [(d.line, d.reason) for d in whole.report.dropped]


def test_lastfm_last_line_without_end_of_line_is_kept_and_listed(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("\n".join(LOG[:3]))
    cat = load_catalog(p)
    assert sum(len(s) for s in cat.playlists.tracks) == 3
    (c,) = cat.report.changed
    assert c.line == 3 and "may be cut short" in c.reason and "'Three'" in c.reason


def test_lastfm_that_is_not_utf8_names_file_line_and_column(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_bytes(("\n".join(LOG[:2] + ["u1\t2009-05-04T11:00:00Z\tA1\tBjörk\t\tJóga"]) + "\n").encode("latin-1"))
    with pytest.raises(CatalogError, match=r"log\.tsv: not valid UTF-8 text: byte\(s\) f6 at line 3, column 30"):
        load_catalog(p)
    cat = load_catalog(p, encoding="latin-1")
    assert "Björk - Jóga" in cat.tracks["track_id"].tolist()


def test_lastfm_utf16_with_byte_order_mark_and_crlf_loads(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_bytes(("\r\n".join(LOG[:3]) + "\r\n").encode("utf-16"))
    cat = load_catalog(p)
    assert [len(s) for s in cat.playlists.tracks] == [2, 1] and cat.tracks["name"].tolist() == ["One", "Two", "Three"]


def test_lastfm_line_with_a_nul_byte_is_dropped(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("\n".join([LOG[0], LOG[1].replace("Two", "T\x00wo")]) + "\n")
    cat = load_catalog(p)
    assert [(d.line, d.reason.split(" (")[0]) for d in cat.report.dropped] == [(2, "holds a NUL byte")]


def test_a_comma_separated_file_given_as_lastfm_log_is_named(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("u1,2009-05-04T10:00:00Z,A1,Artist,T1,One\n")
    with pytest.raises(CatalogError, match=r"log\.tsv: line 1 has no tab but 5 commas: this file looks comma-separated"):
        load_catalog(p)


def test_a_session_gap_that_is_not_a_number_is_named(tmp_path):
    p = tmp_path / "log.tsv"
    p.write_text("\n".join(LOG) + "\n")
    with pytest.raises(TypeError, match="session_gap_minutes must be a number of minutes, got '20'"):
        load_catalog(p, session_gap_minutes="20")
