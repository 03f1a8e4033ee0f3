"""Spotify audio-feature CSVs: the tidytuesday ``spotify_songs.csv`` and the common Kaggle variants.

Column names are matched case-insensitively against the aliases in `ALIASES`. The 11 features of
`FEATURES_11` and a track id are required; every other column is optional. A track that appears on
several rows (e.g. in several playlists) becomes one catalog row; ``playlist_id`` / ``playlist_name``
columns become the catalog's playlists.

The file is read by `musicgym.catalog.csvfile.read_table` (encodings, delimiter detection, malformed and
cut-short rows). Rows that cannot be used are dropped and listed in the catalog's `LoadReport` with
their line number (line 1 is the header) and the reason, or, with ``errors="raise"``, stop the load with
that message. A row is dropped for: a track id that cannot be one (`musicgym.catalog.values.track_id_problems`);
an audio feature that is missing, unparsable, infinite, outside Spotify's documented range (`RANGES`),
or (key, mode) not a whole number. A row is kept with a value set unknown, and listed in
``report.changed``, for a popularity outside [0, 100] or a release year that is unparsable or outside
[1900, next year]. In a file separated by semicolons or tabs, decimal commas (``0,5``) are read as
decimal points (noted).
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.catalog.csvfile import read_table
from musicgym.catalog.model import AUDIO_FEATURES, COLUMNS, FEATURES_11, Catalog, CatalogError, Playlists
from musicgym.catalog.report import LoadReport
from musicgym.catalog.values import (
    SPOTIFY_ID,
    YEAR_MIN,
    RowFlags,
    parse_float,
    parse_year,
    track_id_problems,
    year_max,
)

__all__ = ["ALIASES", "RANGES", "load_feature_csv", "merge_tracks", "parse_year", "playlists_from_rows",
           "read_feature_rows"]

#: canonical column -> accepted spellings (first match wins)
ALIASES: dict[str, tuple[str, ...]] = {
    "track_id": ("track_id", "id", "uri", "track_uri", "spotify_id"),
    "name": ("track_name", "name", "track", "title", "song"),
    "artist": ("track_artist", "artists", "artist", "artist_name"),
    "album": ("track_album_name", "album", "album_name"),
    "genre": ("playlist_genre", "genre", "track_genre"),
    "subgenre": ("playlist_subgenre", "subgenre"),
    "popularity": ("track_popularity", "popularity"),
    "year": ("year", "release_date", "track_album_release_date", "album_release_date", "decade"),
    "playlist_id": ("playlist_id", "pid"),
    "playlist_name": ("playlist_name", "playlist"),
}
#: Spotify's documented ranges; a value outside is reported as out of range.
RANGES: dict[str, tuple[float, float]] = {
    **{c: (0.0, 1.0) for c in ("danceability", "energy", "speechiness", "acousticness",
                               "instrumentalness", "liveness", "valence")},
    "key": (-1, 11), "mode": (0, 1), "loudness": (-100.0, 10.0), "tempo": (0.0, 400.0),
    "duration_ms": (0.0, 1e8),
}  # fmt: skip
#: how a missing feature value is written
MISSING = ("", "NA", "NaN", "nan", "null", "None")
#: features that are whole numbers (pitch class, major/minor)
INTEGER_FEATURES: tuple[str, ...] = ("key", "mode")


def _resolve_columns(columns: list[str], source: str) -> dict[str, str]:
    """Map canonical names to the file's columns; raise if a required one is missing."""
    lower = {c.strip().lower(): c for c in columns}
    found: dict[str, str] = {}
    for canon, aliases in ALIASES.items():
        for a in aliases:
            if a in lower:
                found[canon] = lower[a]
                break
    for feat in AUDIO_FEATURES:
        if feat in lower:
            found[feat] = lower[feat]
    missing = [f for f in FEATURES_11 if f not in found]
    if "track_id" not in found:
        missing.insert(0, "track_id (or one of: " + ", ".join(ALIASES["track_id"][1:]) + ")")
    if missing:
        raise CatalogError(f"{source}: missing required column(s) {missing}; columns present: {columns}")
    return found


def _clean_artist(s: pd.Series) -> pd.Series:
    """Kaggle's ``artists`` column holds Python-list strings ("['A', 'B']"): join them with ", "."""

    def one(v: str) -> str:
        if isinstance(v, str) and v.startswith("[") and v.endswith("]"):
            try:
                items = ast.literal_eval(v)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return v
            if isinstance(items, list):
                return ", ".join(str(x) for x in items)
        return v

    return s.map(one)


def _decimal_commas(text: pd.Series, sep: str) -> tuple[pd.Series, bool]:
    """In a file not separated by commas, ``0,5`` is a decimal comma: read it as ``0.5``."""
    if sep == ",":
        return text, False
    comma = text.str.fullmatch(r"[+-]?\d*,\d+(?:[eE][+-]?\d+)?")
    if not comma.any():
        return text, False
    return text.where(~comma, text.str.replace(",", ".", regex=False)), True


def _features(raw: pd.DataFrame, cols: dict[str, str], sep: str, flag: RowFlags) -> tuple[dict[str, np.ndarray], bool]:
    """The audio features as floats (all columns parsed in one pass); bad values flagged feature by feature.

    A value is flagged when missing, unparsable, non-finite, outside `RANGES`, or (key, mode) not whole.
    """
    present = [f for f in AUDIO_FEATURES if f in cols]
    n = len(raw)
    flat = pd.Series(raw.loc[:, [cols[f] for f in present]].to_numpy(dtype=object).ravel(order="F"), dtype=object)
    flat, commas = _decimal_commas(flat.str.strip(), sep)
    num = parse_float(flat).to_numpy(np.float64).reshape(len(present), n)
    text = flat.to_numpy(dtype=object).reshape(len(present), n)
    out = {f: np.full(n, np.nan) for f in AUDIO_FEATURES}
    for j, feat in enumerate(present):
        _check_feature(num[j], text[j], feat, cols[feat], flag)
        out[feat] = num[j]
    return out, commas


def _check_feature(num: np.ndarray, text: np.ndarray, feat: str, column: str, flag: RowFlags) -> None:
    empty = np.isnan(num) & np.isin(text, MISSING)
    lo, hi = RANGES[feat]
    with np.errstate(invalid="ignore"):
        flag(empty, f"missing value in column '{column}'")
        flag(np.isnan(num) & ~empty, lambda i: f"unparsable number in column '{column}': {text[i]!r}")
        flag(np.isinf(num), lambda i: f"non-finite value in column '{column}': {text[i]!r}")
        flag((num < lo) | (num > hi), lambda i: f"value out of range [{lo}, {hi}] in column '{column}': {text[i]}")
        if feat in INTEGER_FEATURES:
            flag(num != np.round(num), lambda i: f"not a whole number in column '{column}': {text[i]!r}")


def _optional_numbers(
    raw: pd.DataFrame, cols: dict[str, str], keep: np.ndarray, lines: np.ndarray, path: Path, report: LoadReport
) -> tuple[np.ndarray, np.ndarray]:
    """Popularity and release year: a value that is unparsable or out of range becomes unknown (reported)."""
    popularity = year = np.full(len(raw), np.nan)
    if "popularity" in cols:
        text = raw[cols["popularity"]].str.strip().to_numpy(dtype=object)
        popularity = parse_float(pd.Series(text, dtype=object)).to_numpy(np.float64)
        with np.errstate(invalid="ignore"):
            bad = (text != "") & ~((popularity >= 0) & (popularity <= 100))
        _changed(bad & keep, f"popularity in column '{cols['popularity']}' is not a number in [0, 100]", text,
                 lines, path, report)
        popularity = np.where(bad, np.nan, popularity)
    if "year" in cols:
        text = raw[cols["year"]].str.strip().to_numpy(dtype=object)
        year = parse_year(pd.Series(text, dtype=object)).to_numpy(np.float64)
        lo, hi = YEAR_MIN, year_max()
        _changed((text != "") & np.isnan(year) & keep, f"no release year in column '{cols['year']}'", text, lines,
                 path, report)
        with np.errstate(invalid="ignore"):
            wrong = ~np.isnan(year) & ~((year >= lo) & (year <= hi))
        _changed(wrong & keep, f"release year outside [{lo}, {hi}] in column '{cols['year']}'", text, lines, path,
                 report)
        year = np.where(wrong, np.nan, year)
    return popularity, year


def _changed(mask: np.ndarray, what: str, text: np.ndarray, lines: np.ndarray, path: Path, report: LoadReport) -> None:
    for i in np.flatnonzero(mask):
        report.change(int(lines[i]), f"{what}: {text[i]!r} (kept, set unknown) ({path.name})")


def read_feature_rows(
    paths: list[Path], errors: str = "report", encoding: str | None = None
) -> tuple[pd.DataFrame, LoadReport]:
    """Read Spotify feature CSVs into one canonical frame (one row per file row) and a report.

    The frame has the catalog's `COLUMNS` plus ``playlist_id``, ``playlist_name``, ``_source`` and
    ``_line``; bad rows are already dropped (and reported).
    """
    if errors not in ("report", "raise"):
        raise ValueError(f"errors must be 'report' or 'raise', got {errors!r}")
    source = ", ".join(str(p) for p in paths)
    report = LoadReport(source=source)
    frames = []
    for path in paths:
        table = read_table(path, report, errors, encoding)
        raw, lines = table.rows, table.lines
        cols = _resolve_columns(table.columns, str(path))
        flag = RowFlags(len(raw))
        ids, id_problems = track_id_problems(raw[cols["track_id"]], cols["track_id"])
        flag(id_problems != "", id_problems.__getitem__)
        columns: dict[str, object] = {"_source": str(path), "_line": lines, "track_id": ids.to_numpy(dtype=object)}
        feats, commas = _features(raw, cols, table.sep, flag)
        columns.update(feats)
        for canon in ("name", "artist", "album", "genre", "subgenre", "playlist_id", "playlist_name"):
            columns[canon] = raw[cols[canon]].str.strip().to_numpy(dtype=object) if canon in cols else ""
        out = pd.DataFrame(columns, index=raw.index)
        if "artist" in cols:
            out["artist"] = _clean_artist(out["artist"])
        out["genre"] = out["genre"].str.lower()
        bad = flag.bad
        out["popularity"], out["year"] = _optional_numbers(raw, cols, ~bad, lines, path, report)
        if bad.any():
            if errors == "raise":
                first = int(np.flatnonzero(bad)[0])
                raise CatalogError(f"{path}, line {lines[first]}: {flag.reasons[first]}")
            for i in np.flatnonzero(bad):
                report.drop(int(lines[i]), f"{flag.reasons[i]} ({path.name})")
        _notes(path, raw[cols["track_id"]], out, bad, cols, commas, report)
        frames.append(out[~bad])
    rows = pd.concat(frames, ignore_index=True)
    if len(rows) == 0:
        raise CatalogError(f"{source}: every row was dropped\n{report.summary()}")
    return rows, report


def _notes(path: Path, raw_ids: pd.Series, out: pd.DataFrame, bad: np.ndarray, cols: dict[str, str], commas: bool,
           report: LoadReport) -> None:
    """What the report should say about the rows kept: decimal commas, link ids, odd ids, missing names."""
    kept = out[~bad]
    if commas:
        report.note(f"{path.name}: numbers with a decimal comma (0,5) read as 0.5")
    links = int(raw_ids[~bad].str.contains("open.spotify.com", regex=False).sum())
    if links:
        report.note(f"{path.name}: {links} track ids given as open.spotify.com links (the id kept)")
    odd = int((~kept["track_id"].astype(str).str.fullmatch(SPOTIFY_ID.pattern)).sum())
    if odd and odd < len(kept):
        report.note(f"{path.name}: {odd} track ids are not Spotify ids of 22 letters or digits (kept)")
    for canon, what in (("name", "track name"), ("artist", "artist")):
        n_missing = int((kept[canon] == "").sum()) if canon in cols else 0
        if n_missing:
            report.note(f"{path.name}: {n_missing} rows have no {what} (kept, {what} left empty)")


def merge_tracks(rows: pd.DataFrame, report: LoadReport) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per track id. Returns the tracks and, for each input row, its track's catalog row.

    Raises:
        CatalogError: an id appears with different audio features (naming the id and the lines).
    """
    feats = [f for f in AUDIO_FEATURES]
    first = rows.groupby("track_id", sort=False).head(1)
    if len(first) < len(rows):
        ref = first.set_index("track_id").loc[rows["track_id"], feats].to_numpy(np.float64)
        got = rows[feats].to_numpy(np.float64)
        diff = ~np.isclose(ref, got, rtol=1e-9, atol=1e-12, equal_nan=True)
        if diff.any():
            i = int(np.flatnonzero(diff.any(axis=1))[0])
            tid = rows["track_id"].iat[i]
            col = feats[int(np.flatnonzero(diff[i])[0])]
            lines = rows.loc[rows["track_id"] == tid, ["_source", "_line"]]
            where = ", ".join(f"{Path(s).name}:{ln}" for s, ln in lines.itertuples(index=False))
            raise CatalogError(
                f"duplicate track id {tid!r} with conflicting '{col}' values at lines {where}; "
                "fix the file or remove one of the rows"
            )
        report.note(f"{len(rows) - len(first)} rows repeat a track already read (merged into one catalog row)")
    tracks = first.reset_index(drop=True)
    row_of = pd.Series(np.arange(len(tracks)), index=tracks["track_id"])
    return tracks.loc[:, list(COLUMNS)], row_of.loc[rows["track_id"]].to_numpy()


def playlists_from_rows(rows: pd.DataFrame, track_row: np.ndarray, report: LoadReport) -> Playlists:
    """Playlists from ``playlist_id`` / ``playlist_name`` columns, in file order, repeats removed."""
    if (rows["playlist_id"] == "").all() and (rows["playlist_name"] == "").all():
        return Playlists()
    key = rows["playlist_id"].where(rows["playlist_id"] != "", rows["playlist_name"])
    tracks, titles = [], []
    repeats = 0
    for _, idx in key.groupby(key, sort=False).groups.items():
        rws = track_row[np.asarray(rows.index.get_indexer(idx))]
        uniq = pd.unique(rws)
        repeats += len(rws) - len(uniq)
        tracks.append(uniq)
        titles.append(rows["playlist_name"].loc[idx[0]])
    if repeats:
        report.note(f"{repeats} rows repeat a track within the same playlist (kept once)")
    return Playlists(tracks, titles, ordered=False)


def load_feature_csv(
    paths: list[Path], errors: str = "report", name: str | None = None, encoding: str | None = None
) -> Catalog:
    """Load one or more Spotify audio-feature CSVs as one `Catalog` (`encoding`: see `musicgym.catalog.textfile`)."""
    rows, report = read_feature_rows(paths, errors, encoding)
    tracks, track_row = merge_tracks(rows, report)
    playlists = playlists_from_rows(rows, track_row, report)
    return Catalog(tracks, playlists, name=name or paths[0].name, report=report)
