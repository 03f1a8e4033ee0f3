from __future__ import annotations

import json

import pytest

from musicgym.catalog import CatalogError, load_catalog


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
