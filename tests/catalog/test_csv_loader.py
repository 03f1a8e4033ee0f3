from __future__ import annotations

import numpy as np
import pytest

from musicgym.catalog import CatalogError, load_catalog

HEADER = "track_id,track_name,track_artist,danceability,energy,key,loudness,mode,speechiness,acousticness,instrumentalness,liveness,valence,tempo,duration_ms"
ROW = "{id},{name},Artist,0.5,0.6,5,-6.0,1,0.05,0.1,0.0,0.1,0.5,{tempo},200000"


def write(tmp_path, text, name="songs.csv", eol=True):
    """Write `text`, ending it with an end-of-line (as every complete text file) unless eol=False."""
    p = tmp_path / name
    p.write_text(text + ("\n" if eol and text and not text.endswith("\n") else ""))
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
    assert [(c.line, c.reason.split(":")[0]) for c in cat.report.changed] == [(5, "no release year in column 'decade'")]


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


# ---------------------------------------------------------------- cut-short files (finding 1)
def test_a_last_line_without_end_of_line_is_kept_and_listed_with_its_last_value(tmp_path):
    rows = good_rows(3)
    rows[2] = rows[2].replace("200000", "236")  # as if "236765" had been cut after "236"
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows]), eol=False))
    assert len(cat) == 3 and cat.report.dropped == []
    assert [(c.line, "may be cut short" in c.reason, "'236'" in c.reason) for c in cat.report.changed] == [(4, True, True)]
    assert "1 changed" in cat.report.summary()


def test_a_complete_file_lists_nothing(tmp_path):
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *good_rows(3)])))
    assert cat.report.dropped == [] and cat.report.changed == []


def test_a_last_line_cut_inside_quotes_is_dropped(tmp_path):
    text = "\n".join([HEADER + ",track_album_name", *(r + ",Album" for r in good_rows(2))]) + "\n"
    text += good_rows(3)[2] + ',"Half an Alb'
    cat = load_catalog(write(tmp_path, text, eol=False))
    assert len(cat) == 2
    assert [(d.line, "ends inside this line's quoted field" in d.reason) for d in cat.report.dropped] == [(4, True)]


def test_a_last_line_cut_before_its_last_fields_is_dropped(tmp_path):
    cut = good_rows(3)[2][:30]
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *good_rows(2), cut]), eol=False))
    assert len(cat) == 2
    (d,) = cat.report.dropped
    assert d.line == 4 and "expected 15 comma-separated fields" in d.reason and "without an end-of-line" in d.reason


def test_a_quote_never_closed_over_several_lines_raises_naming_the_line(tmp_path):
    text = "\n".join([HEADER, good_rows(1)[0], 'x,"unterminated,0.5', *good_rows(3)[1:]])
    with pytest.raises(CatalogError, match=r"songs\.csv: malformed CSV: the quoted field opened at line 3 is never closed"):
        load_catalog(write(tmp_path, text))


# ---------------------------------------------------------------- rows of the wrong width, line numbers
def test_rows_of_the_wrong_width_are_dropped_with_their_line_and_the_rest_loads(tmp_path):
    rows = good_rows(4)
    rows[1] += ",extra"
    rows[2] = rows[2].rsplit(",", 2)[0]
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))
    assert len(cat) == 2
    assert [(d.line, d.reason) for d in cat.report.dropped] == [
        (3, "expected 15 comma-separated fields (as the header), found 16 (songs.csv)"),
        (4, "expected 15 comma-separated fields (as the header), found 13 (songs.csv)"),
    ]


@pytest.mark.parametrize("quoted", [False, True])
def test_line_numbers_count_blank_lines_and_quoted_line_breaks(tmp_path, quoted):
    name = '"Two\nLines"' if quoted else "Plain"
    rows = [ROW.format(id="a", name=name, tempo=100), "", ROW.format(id="b", name="B", tempo=101).replace("0.6", "x", 1)]
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))
    assert [d.line for d in cat.report.dropped] == [5 if quoted else 4]
    assert cat.tracks["name"].tolist() == ["Two\nLines" if quoted else "Plain"]


def test_crlf_and_lone_cr_line_ends(tmp_path):
    text = HEADER + "\r\n" + good_rows(1)[0] + "\r\n" + good_rows(2)[1] + "\r" + good_rows(3)[2] + "\r\n"
    p = tmp_path / "songs.csv"
    p.write_bytes(text.encode())
    cat = load_catalog(p)
    assert cat.tracks["track_id"].tolist() == ["t0", "t1", "t2"] and cat.report.changed == []
    assert cat.tracks["duration_ms"].tolist() == [200000.0] * 3


# ---------------------------------------------------------------- encodings (finding 2)
def test_a_latin1_file_names_file_line_column_and_the_way_out(tmp_path):
    rows = good_rows(3)
    rows[1] = rows[1].replace("Song 1", "Café")
    p = tmp_path / "songs.csv"
    p.write_bytes(("\n".join([HEADER, *rows]) + "\n").encode("latin-1"))
    with pytest.raises(CatalogError, match=r"songs\.csv: not valid UTF-8 text: byte\(s\) e9 at line 3, column 7.*encoding='latin-1'"):
        load_catalog(p)
    cat = load_catalog(p, encoding="latin-1")
    assert cat.tracks["name"].tolist()[1] == "Café"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-32"])
def test_files_with_a_byte_order_mark_load(tmp_path, encoding):
    p = tmp_path / "songs.csv"
    p.write_bytes(("\n".join([HEADER, *good_rows(3)]) + "\n").replace("Song 1", "Sóng").encode(encoding))
    cat = load_catalog(p)
    assert cat.tracks["track_id"].tolist() == ["t0", "t1", "t2"] and cat.tracks["name"].iloc[1] == "Sóng"


def test_utf16_without_byte_order_mark_is_named(tmp_path):
    p = tmp_path / "songs.csv"
    p.write_bytes(("\n".join([HEADER, *good_rows(3)]) + "\n").encode("utf-16-le"))
    with pytest.raises(CatalogError, match=r"songs\.csv: line 1 holds a NUL byte.*utf-16-le"):
        load_catalog(p)


def test_unknown_encoding_names_the_argument(tmp_path):
    with pytest.raises(ValueError, match="encoding 'klingon'"):
        load_catalog(write(tmp_path, "\n".join([HEADER, *good_rows()])), encoding="klingon")


# ---------------------------------------------------------------- delimiters (finding 3)
@pytest.mark.parametrize("sep,word", [(";", "semicolon"), ("\t", "tab"), ("|", "pipe")])
def test_files_separated_otherwise_are_detected_and_noted(tmp_path, sep, word):
    text = "\n".join(line.replace(",", sep) for line in [HEADER, *good_rows(3)])
    if sep == ";":  # European spreadsheets also write decimal commas
        text = text.replace("0.5", "0,5")
    cat = load_catalog(write(tmp_path, text))
    assert len(cat) == 3 and cat.report.dropped == []
    assert cat.tracks["danceability"].tolist() == [0.5] * 3
    assert any(f"{word}-separated (detected from the header line)" in n for n in cat.report.notes)
    assert (sep == ";") == any("decimal comma" in n for n in cat.report.notes)


def test_a_semicolon_file_with_a_ragged_row_names_the_delimiter(tmp_path):
    rows = [r.replace(",", ";") for r in good_rows(3)]
    rows[1] += ";x"
    cat = load_catalog(write(tmp_path, "\n".join([HEADER.replace(",", ";"), *rows])))
    assert [(d.line, "expected 15 semicolon-separated fields" in d.reason) for d in cat.report.dropped] == [(3, True)]


# ---------------------------------------------------------------- ids, years, whole numbers (finding 4)
def spotify_ids(n, seed=0):
    alphabet = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
    return ["".join(r) for r in np.random.default_rng(seed).choice(alphabet, size=(n, 22))]


def spotify_rows(ids):
    return [ROW.format(id=i, name=f"Song {k}", tempo=100 + k) for k, i in enumerate(ids)]


def test_track_ids_are_checked_for_type_and_format(tmp_path):
    ok = spotify_ids(50)
    ids = [*ok, "12345", "spotify:album:0VjIjW4GlUZAMYd2vXMi3c", "spotify:track:bad-id!", "two words",
           "https://open.spotify.com/track/1Ab9CdEfGhIjKlMnOpQrSt?si=x", f"spotify:track:{ok[0][:-1]}X"]
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *spotify_rows(ids)])))
    reasons = {d.line: d.reason for d in cat.report.dropped}
    assert sorted(reasons) == [52, 53, 54, 55]
    assert "not a Spotify track id" in reasons[52] and "'12345'" in reasons[52]
    assert "a Spotify album URI" in reasons[53]
    assert "malformed Spotify track URI" in reasons[54]
    assert "holds whitespace" in reasons[55]
    assert cat.tracks["track_id"].tolist()[-2:] == ["1Ab9CdEfGhIjKlMnOpQrSt", ok[0][:-1] + "X"]
    assert any("open.spotify.com links" in n for n in cat.report.notes)


def test_short_ids_are_fine_where_the_file_does_not_use_spotify_ids(tmp_path):
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *good_rows(3)])))
    assert len(cat) == 3 and cat.report.dropped == []


@pytest.mark.parametrize("value,kept", [("3020", False), ("1850-01-01", False), ("0000", False), ("1999-04-01", True)])
def test_release_years_out_of_range_become_unknown_and_are_listed(tmp_path, value, kept):
    rows = [r + f",{y}" for r, y in zip(good_rows(2), ["2001", value], strict=True)]
    cat = load_catalog(write(tmp_path, "\n".join([HEADER + ",release_date", *rows])))
    assert len(cat) == 2 and cat.report.dropped == []
    if kept:
        assert cat.tracks["year"].tolist() == [2001.0, 1999.0] and cat.report.changed == []
    else:
        assert np.isnan(cat.tracks["year"].iloc[1])
        (c,) = cat.report.changed
        assert c.line == 3 and "release year outside [1900, " in c.reason and repr(value) in c.reason


def test_popularity_out_of_range_becomes_unknown_and_is_listed(tmp_path):
    rows = [r + f",{p}" for r, p in zip(good_rows(3), ["50", "250", "lots"], strict=True)]
    cat = load_catalog(write(tmp_path, "\n".join([HEADER + ",popularity", *rows])))
    assert cat.tracks["popularity"].tolist()[0] == 50.0 and cat.tracks["popularity"].iloc[1:].isna().all()
    assert [c.line for c in cat.report.changed] == [3, 4]


@pytest.mark.parametrize("column,value", [("key", "5.5"), ("mode", "0.3")])
def test_key_and_mode_must_be_whole_numbers(tmp_path, column, value):
    rows = good_rows(2)
    rows[1] = rows[1].replace(",5,-6.0,1,", ",5.5,-6.0,1," if column == "key" else ",5,-6.0,0.3,")
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))
    (d,) = cat.report.dropped
    assert d.line == 3 and f"not a whole number in column '{column}'" in d.reason and value in d.reason


@pytest.mark.parametrize("value,reason", [("1e308", "out of range"), ("-1e308", "out of range"), ("1e999", "non-finite"),
                                          ("-200000", "out of range"), ("nan", "missing value")])
def test_numeric_extremes_of_duration_are_dropped(tmp_path, value, reason):
    rows = good_rows(2)
    rows[1] = rows[1].replace("200000", value)
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))
    (d,) = cat.report.dropped
    assert d.line == 3 and reason in d.reason and "'duration_ms'" in d.reason


def test_seventeen_digit_numbers_are_read_exactly(tmp_path):
    rng = np.random.default_rng(0)
    values = rng.random(50)
    rows = [ROW.format(id=f"t{i}", name="s", tempo=100).replace("0.5,0.6", f"{v:.17g},0.6", 1) for i, v in enumerate(values)]
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))
    assert np.array_equal(cat.tracks["danceability"].to_numpy(), values)


def test_conflicting_duplicate_ids_raise_naming_file_and_lines(tmp_path):
    rows = good_rows(2) + [good_rows(1)[0].replace("0.5,0.6", "0.9,0.6", 1)]
    with pytest.raises(CatalogError, match=r"duplicate track id 't0' with conflicting 'danceability' values at lines songs\.csv:2, songs\.csv:4"):
        load_catalog(write(tmp_path, "\n".join([HEADER, *rows])))


def test_a_one_track_catalog_loads_and_has_every_view(tmp_path):
    cat = load_catalog(write(tmp_path, "\n".join([HEADER, *good_rows(1)])))
    assert len(cat) == 1
    assert cat.features_11.shape == (1, 11) and cat.taste_features.shape == (1, 9) and cat.attributes.shape == (1, 21)
    assert "tracks=1" in cat.describe()
    with pytest.raises(CatalogError, match=r"Taste-v0 with window=5 needs at least 6 tracks, but catalog 'songs\.csv' has 1"):
        cat.require_tracks(6, "Taste-v0 with window=5")


def test_a_catalog_spec_of_the_wrong_type_is_named():
    with pytest.raises(TypeError, match="catalog must be a preset name, a path"):
        load_catalog(12345)
    with pytest.raises(TypeError, match="catalog files must be paths"):
        load_catalog([12345])
