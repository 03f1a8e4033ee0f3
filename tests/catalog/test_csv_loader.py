from __future__ import annotations

import numpy as np
import pytest

from musicgym.catalog import CatalogError, load_catalog

HEADER = "track_id,track_name,track_artist,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,duration_ms"
ROW = "{id},{name},Artist,0.5,0.6,5,-6.0,1,0.05,0.1,0.0,0.1,0.5,{tempo},200000"


def write(tmp_path, text, name="songs.csv"):
    p = tmp_path / name
    p.write_text(text)
    return p


def good_rows(n=3):
    return [ROW.format(id=f"t{i}", name=f"Song {i}", tempo=100 + i) for i in range(n)]


def test_loads_minimal_csv(tmp_path):
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *good_rows()])))
    assert len(cat) == 3
    assert list(cat.tracks["track_id"]) == ["t0", "t1", "t2"]
    assert cat.features_11.shape == (3, 11)
    assert cat.report.dropped == []


def test_missing_file_names_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_catalog(tmp_path / "nope.csv")


def test_unknown_preset_lists_presets():
    with pytest.raises(CatalogError, match="presets are default"):
        load_catalog("not-a-catalog")


def test_empty_file(tmp_path):
    with pytest.raises(CatalogError, match="empty"):
        load_catalog(write(tmp_path, ""))


def test_header_only(tmp_path):
    with pytest.raises(CatalogError, match="no data rows"):
        load_catalog(write(tmp_path, HEADER + "\n"))


def test_missing_required_column_is_named(tmp_path):
    header = HEADER.replace(",energy", "")
    row = ROW.replace(",0.6", "", 1).format(id="a", name="x", tempo=100)
    with pytest.raises(CatalogError, match=r"missing required column\(s\) \['energy'\]"):
        load_catalog(write(tmp_path, f"{header}\n{row}\n"))


def test_missing_id_column(tmp_path):
    header = HEADER.replace("track_id", "something")
    with pytest.raises(CatalogError, match="track_id"):
        load_catalog(write(tmp_path, "\n".join([header, *good_rows()])))


def test_unparsable_number_reported_with_line(tmp_path):
    rows = good_rows()
    rows[1] = rows[1].replace("0.6", "loud", 1)
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))
    assert len(cat) == 2
    assert len(cat.report.dropped) == 1
    d = cat.report.dropped[0]
    assert d.line == 3
    assert "unparsable number in column 'energy'" in d.reason and "'loud'" in d.reason
    assert "1 dropped" in cat.report.summary()


def test_unparsable_number_raises_in_raise_mode(tmp_path):
    rows = good_rows()
    rows[2] = rows[2].replace("0.6", "loud", 1)
    with pytest.raises(CatalogError, match=r"line 4: unparsable number in column 'energy'"):
        load_catalog(write(tmp_path, "\n".join([HEADER, *rows])), errors="raise")


@pytest.mark.parametrize("value,reason", [("", "missing value"), ("NaN", "missing value"), ("inf", "non-finite"), ("1.7", "out of range")])
def test_bad_feature_values_dropped_and_reported(tmp_path, value, reason):
    rows = good_rows()
    rows[0] = rows[0].replace("0.5,0.6", f"{value},0.6", 1)
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))
    assert len(cat) == 2
    assert [d.line for d in cat.report.dropped] == [2]
    assert reason in cat.report.dropped[0].reason and "danceability" in cat.report.dropped[0].reason


def test_every_row_bad_is_an_error(tmp_path):
    rows = [r.replace("0.6", "x", 1) for r in good_rows()]
    with pytest.raises(CatalogError, match="every row was dropped"):
        load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))


def test_conflicting_duplicate_ids_raise_with_lines(tmp_path):
    rows = good_rows(2) + [ROW.format(id="t0", name="Song 0", tempo=150)]
    with pytest.raises(CatalogError, match=r"duplicate track id 't0' with conflicting 'tempo' values at lines songs.csv:2, songs.csv:4"):
        load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))


def test_consistent_duplicates_merge_and_playlists_form(tmp_path):
    header = HEADER + ",playlist_id,playlist_name"
    rows = [
        ROW.format(id="a", name="A", tempo=100) + ",p1,Morning",
        ROW.format(id="b", name="B", tempo=101) + ",p1,Morning",
        ROW.format(id="a", name="A", tempo=100) + ",p2,Evening",
        ROW.format(id="c", name="C", tempo=102) + ",p2,Evening",
        ROW.format(id="c", name="C", tempo=102) + ",p2,Evening",
    ]
    cat = load_catalog(write(tmp_path, "\n".join([header, *rows])))
    assert len(cat) == 3
    assert cat.playlists.titles == ["Morning", "Evening"]
    assert [p.tolist() for p in cat.playlists.tracks] == [[0, 1], [0, 2]]
    notes = " ".join(cat.report.notes)
    assert "merged into one catalog row" in notes and "kept once" in notes


def test_kaggle_variant_columns(tmp_path):
    text = (
        "id,name,artists,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,"
        "liveness,valence,tempo,duration_ms,release_date,genre\n"
        "spotify:track:X1,Hey,\"['Ann', 'Bo']\",0.5,0.6,5,-6,1,0.05,0.1,0,0.1,0.5,120,200000,1999-05-01,Rock\n"
        "X2,Yo,['Cy'],0.5,0.6,5,-6,1,0.05,0.1,0,0.1,0.5,120,200000,2005,pop\n"
    )
    cat = load_catalog(write(tmp_path, text))
    t = cat.tracks
    assert list(t["track_id"]) == ["X1", "X2"]
    assert list(t["artist"]) == ["Ann, Bo", "Cy"]
    assert list(t["year"]) == [1999.0, 2005.0]
    assert list(t["genre"]) == ["rock", "pop"]


def test_decade_labels_parse(tmp_path):
    text = HEADER + ",decade\n" + "\n".join(
        ROW.format(id=f"t{i}", name="s", tempo=100 + i) + f",{d}" for i, d in enumerate(["60s", "1990s", "10s", "?"])
    )
    cat = load_catalog(write(tmp_path, text))
    assert cat.tracks["year"].tolist()[:3] == [1960.0, 1990.0, 2010.0]
    assert np.isnan(cat.tracks["year"].iloc[3])
    assert any("no parsable year" in n for n in cat.report.notes)


def test_missing_names_kept_and_noted(tmp_path):
    rows = good_rows()
    rows[0] = rows[0].replace("Song 0", "")
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))
    assert len(cat) == 3
    assert any("no track name" in n for n in cat.report.notes)


def test_malformed_quoting_is_clear(tmp_path):
    text = HEADER + "\n" + good_rows(1)[0] + "\n" + 'x,"unterminated,0.5\n'
    with pytest.raises(CatalogError, match="malformed CSV"):
        load_catalog(write(tmp_path, text))


def test_mixed_kinds_refused(tmp_path):
    a = write(tmp_path, "\n".join([HEADER, *good_rows()]))
    b = write(tmp_path, "{}", name="x.json")
    with pytest.raises(CatalogError, match="mixed file kinds"):
        load_catalog([a, b])
