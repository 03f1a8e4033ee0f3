"""Property-based tests of the loaders: whatever the bytes, a load either succeeds with every dropped or
changed row in the report, or raises ValueError / TypeError / CatalogError naming the file.

Each property writes its input to a new file (the catalog cache is keyed by path), loads it through the
public `load_catalog` / `load_mssd_log`, and checks the outcome against an independent reading of the
input. Exhaustive truncations (every cut of a small file) are marked slow; hypothesis samples them in
the fast suite.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from musicgym.catalog import Catalog, CatalogError, load_catalog, load_mssd_log
from musicgym.catalog.csv_loader import RANGES
from musicgym.catalog.model import AUDIO_FEATURES
from musicgym.catalog.mssd import MSSD_COLUMNS

ALLOWED = (ValueError, TypeError, CatalogError)
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
#: for properties that load a whole catalog per example (about 30 ms of CPU each)
FEW = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
_DIR = Path(tempfile.mkdtemp(prefix="musicgym-properties-"))
_COUNTER = itertools.count()

FEATURES = ["danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness", "instrumentalness",
            "liveness", "valence", "tempo", "duration_ms"]
HEADER = ["track_id", "track_name", "track_artist", *FEATURES, "track_album_release_date"]
VALID_ROWS = [
    ["4uLU6hMCjMI75M1A2tKUQC", "Never, Gonna", "Rick", "0.721", "0.939", "8", "-4.339", "1", "0.0338", "0.0308", "0",
     "0.359", "0.8", "113.309", "236765", "1987-07-27"],
    ["0VjIjW4GlUZAMYd2vXMi3b", "Blinding \"Lights\"", "The Weeknd", "0.514", "0.73", "1", "-5.934", "1", "0.0598",
     "0.00146", "9.54e-05", "0.0897", "0.334", "171.005", "200040", "2020-03-20"],
    ["7qiZfU4dY1lWllzX7mPBI3", "Shape of You", "Ed Sheeran", "0.825", "0.652", "1", "-3.183", "0", "0.0802", "0.581",
     "0", "0.0931", "0.931", "95.977", "233713", "2017"],
    ["6habFhsOp2NvshLv26DqMb", "Despacito", "Luis Fonsi", "0.66", "0.786", "2", "-4.757", "1", "0.17", "0.209", "0",
     "0.112", "0.846", "177.833", "228200", "2017-01-12"],
]


@pytest.fixture(scope="module", autouse=True)
def _remove_inputs():
    yield
    shutil.rmtree(_DIR, ignore_errors=True)


def new_path(suffix: str) -> Path:
    return _DIR / f"in{next(_COUNTER)}{suffix}"


def write(data: bytes, suffix: str) -> Path:
    p = new_path(suffix)
    p.write_bytes(data)
    return p


def csv_text(rows: list[list[str]], sep: str = ",", header: list[str] = HEADER) -> str:
    out = io.StringIO()
    w = csv.writer(out, delimiter=sep, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return out.getvalue()


def load_or_error(path: Path, loader=load_catalog, **kw):
    """The loaded object, or the allowed exception, which must name the file; anything else fails the test."""
    try:
        return loader(path, **kw)
    except ALLOWED as e:
        assert path.name in str(e), f"{type(e).__name__} does not name the file: {e}"
        return e


def kept_and_reported(cat: Catalog) -> None:
    """Every row read is either a catalog row (ids are unique here) or a dropped row with a line number."""
    assert len(cat) + len(cat.report.dropped) == cat.report.rows_read
    assert all(d.line is not None and d.reason for d in cat.report.dropped)


# ---------------------------------------------------------------- random bytes, every format
@FAST
@given(data=st.binary(max_size=400), suffix=st.sampled_from([".csv", ".json", ".tsv"]))
def test_random_bytes_load_or_raise_an_allowed_error_naming_the_file(data, suffix):
    load_or_error(write(data, suffix))


@FAST
@given(data=st.binary(max_size=300))
def test_random_bytes_after_a_valid_header_load_or_raise_naming_the_file(data):
    result = load_or_error(write(csv_text(VALID_ROWS[:1]).encode() + data, ".csv"))
    if isinstance(result, Catalog):
        assert len(result) + len(result.report.dropped) >= result.report.rows_read - 1  # duplicates merge


@FAST
@given(data=st.binary(max_size=300))
def test_random_bytes_as_an_mssd_log_load_or_raise_naming_the_file(data):
    load_or_error(write(",".join(MSSD_COLUMNS).encode() + b"\n" + data, ".csv"), load_mssd_log)


# ---------------------------------------------------------------- truncation at every position
def _original_rows(text: str) -> dict[str, list[float]]:
    return {r[0]: [float(v) for v in r[3:15]] for r in csv.reader(io.StringIO(text)) if r and r[0] != "track_id"}


TRUNCATED_CSV = csv_text(VALID_ROWS[:2]).encode()  # a quoted field with a comma and quotes, and a plain row


def check_csv_cut(data: bytes, cut: int) -> None:
    original = _original_rows(data.decode())
    result = load_or_error(write(data[:cut], ".csv"))
    if not isinstance(result, Catalog):
        return
    kept_and_reported(result)
    changed_lines = {c.line for c in result.report.changed}
    for line, (tid, feats) in enumerate(zip(result.tracks["track_id"], result.tracks[FEATURES].to_numpy(), strict=True),
                                        start=2):
        same = tid in original and np.allclose(feats, original[tid], equal_nan=True)
        assert same or line in changed_lines, (cut, tid, feats)


@FEW
@given(cut=st.integers(0, len(TRUNCATED_CSV)))
def test_a_csv_cut_anywhere_never_loads_a_changed_row_silently(cut):
    check_csv_cut(TRUNCATED_CSV, cut)


@pytest.mark.slow
def test_a_csv_cut_at_every_position_never_loads_a_changed_row_silently():
    for cut in range(len(TRUNCATED_CSV) + 1):
        check_csv_cut(TRUNCATED_CSV, cut)


def test_a_json_cut_at_every_position_loads_whole_or_raises_naming_the_file():
    doc = {"playlists": [{"pid": p, "name": f"P{p}", "tracks": [
        {"pos": i, "track_uri": f"spotify:track:{p}{i:021d}", "track_name": "Ñame"} for i in range(3)]} for p in range(2)]}
    data = json.dumps(doc, ensure_ascii=False).encode()
    for cut in range(len(data) + 1):
        result = load_or_error(write(data[:cut], ".json"))
        assert isinstance(result, Exception) == (cut < len(data)) or data[cut:].strip() == b""


LOG = [
    "u1\t2009-05-04T10:00:00Z\tA1\tArtist\tT1\tOne",
    "u1\t2009-05-04T10:04:00Z\tA1\tArtist\tT2\tTwo \"2\"",
    "u1\t2009-05-04T11:00:00Z\tA1\tBjörk\t\tThree",
    "u2\t2009-05-04T10:01:00Z\tA2\tOther\tT1\tOne",
]


LOG_BYTES = ("\n".join(LOG) + "\n").encode()


def check_lastfm_cut(cut: int) -> None:
    whole = {(line.split("\t")[0], line.split("\t")[5]) for line in LOG}
    result = load_or_error(write(LOG_BYTES[:cut], ".tsv"))
    if not isinstance(result, Catalog):
        return
    names = result.tracks["name"].tolist()
    assert sum(len(s) for s in result.playlists.tracks) + len(result.report.dropped) == result.report.rows_read
    changed = {c.line for c in result.report.changed}
    last_line = LOG_BYTES[:cut].count(b"\n") + 1
    for s, user in zip(result.playlists.tracks, result.playlists.users, strict=True):
        for i in s:
            assert (user, names[i]) in whole or last_line in changed, (cut, names[i])


@FEW
@given(cut=st.integers(0, len(LOG_BYTES)))
def test_a_lastfm_log_cut_anywhere_never_loads_a_changed_play_silently(cut):
    check_lastfm_cut(cut)


@pytest.mark.slow
def test_a_lastfm_log_cut_at_every_position_never_loads_a_changed_play_silently():
    for cut in range(len(LOG_BYTES) + 1):
        check_lastfm_cut(cut)


MSSD_BYTES = ("\n".join([",".join(MSSD_COLUMNS), *(
    ",".join(["s1", str(k), "2", f"t{k}", "false", "false", "false", "true", "0", "1", "0", "0", "0", "0", "true", "12",
              "2018-07-15", "true", "radio", "trackdone", "trackdone"]) for k in (1, 2))]) + "\n").encode()


def check_mssd_cut(cut: int) -> None:
    result = load_or_error(write(MSSD_BYTES[:cut], ".csv"), load_mssd_log)
    if isinstance(result, Exception):
        return
    assert len(result.plays) + len(result.report.dropped) == result.report.rows_read
    changed = {c.line for c in result.report.changed}
    for line, end in zip(result.plays["_line"], result.plays["hist_user_behavior_reason_end"], strict=True):
        assert end == "trackdone" or line in changed


@FEW
@given(cut=st.integers(len(MSSD_BYTES) // 2, len(MSSD_BYTES)))
def test_an_mssd_log_cut_anywhere_never_loads_a_changed_row_silently(cut):
    check_mssd_cut(cut)


@pytest.mark.slow
def test_an_mssd_log_cut_at_every_position_never_loads_a_changed_row_silently():
    for cut in range(len(MSSD_BYTES) + 1):
        check_mssd_cut(cut)


# ---------------------------------------------------------------- encodings and delimiters
names = st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), min_size=1, max_size=12)


@FEW
@given(name=names, encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "utf-32", "latin-1", "utf-16-le"]))
def test_an_encoded_csv_loads_as_its_utf8_twin_or_raises_naming_the_file(name, encoding):
    rows = [list(r) for r in VALID_ROWS]
    rows[0][1] = name
    text = csv_text(rows)
    reference = load_catalog(write(text.encode(), ".csv"))
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        return
    result = load_or_error(write(data, ".csv"))
    readable = encoding in ("utf-8", "utf-8-sig", "utf-16", "utf-32") or (encoding == "latin-1" and text.isascii())
    if readable:
        assert isinstance(result, Catalog) and result.fingerprint == reference.fingerprint
        assert result.tracks["name"].tolist() == reference.tracks["name"].tolist()
    else:
        assert isinstance(result, Exception)


@FEW
@given(sep=st.sampled_from([",", ";", "\t", "|"]), name=names)
def test_a_csv_in_any_delimiter_loads_as_its_comma_twin(sep, name):
    rows = [list(r) for r in VALID_ROWS]
    rows[1][1] = name
    reference = load_catalog(write(csv_text(rows).encode(), ".csv"))
    result = load_or_error(write(csv_text(rows, sep).encode(), ".csv"))
    assert isinstance(result, Catalog), result
    assert result.fingerprint == reference.fingerprint and result.tracks["name"].tolist() == reference.tracks["name"].tolist()


# ---------------------------------------------------------------- numeric extremes
extreme = st.one_of(
    st.sampled_from(["NaN", "nan", "inf", "-inf", "Infinity", "1e308", "-1e308", "1e-308", "1e999", "-0", "0", "",
                     " ", "-236765", "99999999999999999999", "0x10", "1_000", "1,5", "5.", ".5", "+3", "١", "1e5"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
)


@settings(max_examples=40, deadline=None)
@given(cells=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(range(3, 15)), extreme), min_size=1, max_size=6))
def test_numeric_extremes_are_kept_in_range_or_dropped_and_reported(cells):
    rows = [list(r) for r in VALID_ROWS]
    for r, c, v in cells:
        rows[r][c] = v
    result = load_or_error(write(csv_text(rows).encode(), ".csv"))
    if not isinstance(result, Catalog):
        assert "every row was dropped" in str(result)
        return
    kept_and_reported(result)
    for feat in AUDIO_FEATURES:
        x = result.tracks[feat].to_numpy(np.float64)
        lo, hi = RANGES[feat]
        assert np.all(np.isfinite(x) & (x >= lo) & (x <= hi)), feat
    originals = {r[0]: r for r in rows}
    for tid, feats in zip(result.tracks["track_id"], result.tracks[FEATURES].to_numpy(), strict=True):
        assert np.array_equal(feats, [float(v) for v in originals[tid][3:15]])


@FEW
@given(picks=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from(["0.1", "0.2", "0.9"])),
                      min_size=1, max_size=8))
def test_duplicated_ids_with_conflicting_features_raise_naming_file_and_lines_or_merge(picks):
    rows = [list(VALID_ROWS[i]) for i, _, _ in picks]
    for row, (_, j, v) in zip(rows, picks, strict=True):
        row[3 + j] = v  # one of danceability, energy, key (out of whole numbers: dropped), loudness
    path = write(csv_text(rows).encode(), ".csv")
    result = load_or_error(path)
    if isinstance(result, Catalog):
        kept_and_merged = len(result) + len(result.report.dropped) <= result.report.rows_read
        assert kept_and_merged
        for tid, feats in zip(result.tracks["track_id"], result.tracks[FEATURES].to_numpy(), strict=True):
            assert any(np.array_equal(feats, [float(v) for v in row[3:15]]) for row in rows if row[0] == tid)
    elif "duplicate track id" in str(result):
        assert re.search(rf"{re.escape(path.name)}:\d+, {re.escape(path.name)}:\d+", str(result))


# ---------------------------------------------------------------- MPD entries of any shape
json_value = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats(allow_nan=False) | st.text(max_size=5),
                          lambda c: st.lists(c, max_size=2) | st.dictionaries(st.text(max_size=3), c, max_size=2),
                          max_leaves=4)
uris = st.one_of(st.integers(0, 5).map(lambda i: f"spotify:track:{i:022d}"), json_value,
                 st.sampled_from(["spotify:album:0000000000000000000001", "spotify:track:", "spotify:track:a-b"]))
entries = st.one_of(st.fixed_dictionaries({"pos": st.one_of(st.integers(-1, 5), json_value), "track_uri": uris},
                                          optional={"track_name": json_value, "artist_name": json_value}), json_value)


def _valid_entry(t: object) -> bool:
    return (isinstance(t, dict) and isinstance(t.get("track_uri"), str)
            and re.fullmatch(r"spotify:track:[0-9A-Za-z]+", t["track_uri"]) is not None
            and isinstance(t.get("pos"), int) and not isinstance(t.get("pos"), bool) and t["pos"] >= 0)


@settings(max_examples=80, deadline=None)
@given(playlists=st.lists(st.lists(entries, max_size=5), min_size=1, max_size=3))
def test_mpd_entries_of_any_shape_are_used_or_reported_one_by_one(playlists):
    doc = {"playlists": [{"pid": k, "tracks": t} for k, t in enumerate(playlists)]}
    result = load_or_error(write(json.dumps(doc).encode(), ".json"))
    valid = [t for pl in playlists for t in pl if _valid_entry(t)]
    if not valid:
        assert isinstance(result, Exception) and "no usable tracks" in str(result)
        return
    assert isinstance(result, Catalog)
    assert set(result.tracks["track_id"]) == {t["track_uri"].removeprefix("spotify:track:") for t in valid}
    reported = [d for d in result.report.dropped if "track entry #" in d.reason]
    assert len(reported) == sum(len(pl) for pl in playlists) - len(valid)


# ---------------------------------------------------------------- MSSD cells of any value
MSSD_ROW = ["s1", "1", "2", "t1", "false", "false", "false", "true", "0", "1", "0", "0", "0", "0", "true", "12",
            "2018-07-15", "true", "radio", "trackdone", "trackdone"]


@FEW
@given(cells=st.lists(st.tuples(st.integers(0, 1), st.sampled_from([1, 2, 4, 5, 6, 7, 12, 15, 17]),
                                extreme | st.sampled_from(["True", "FALSE", "1", "0", "yes", "t"])), max_size=5))
def test_mssd_cells_of_any_value_give_checked_plays_or_reported_drops(cells):
    rows = [list(MSSD_ROW), [*MSSD_ROW[:1], "2", *MSSD_ROW[2:]]]
    for r, c, v in cells:
        rows[r][c] = v
    data = "\n".join([",".join(MSSD_COLUMNS), *(",".join(r) for r in rows)]) + "\n"
    result = load_or_error(write(data.encode(), ".csv"), load_mssd_log)
    if isinstance(result, Exception):
        assert "every row was dropped" in str(result)
        return
    p = result.plays
    assert len(p) + len(result.report.dropped) == result.report.rows_read == 2
    assert ((p["session_position"] >= 1) & (p["session_position"] <= p["session_length"])).all()
    assert (p["skip_2"] <= p["skip_3"]).all() and (p["skip_1"] <= p["skip_2"]).all() and (~(p["not_skipped"] & p["skip_3"])).all()
