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
    assert len(cat.report.dropped) == 1 and "without track_uri" in cat.report.dropped[0].reason
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
