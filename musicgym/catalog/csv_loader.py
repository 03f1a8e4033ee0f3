"""Spotify audio-feature CSVs: the tidytuesday ``spotify_songs.csv`` and the common Kaggle variants.

Column names are matched case-insensitively against the aliases in `ALIASES`. The 11 features of
`FEATURES_11` and a track id are required; every other column is optional. A track that appears on
several rows (e.g. in several playlists) becomes one catalog row; ``playlist_id`` / ``playlist_name``
columns become the catalog's playlists.

Rows that cannot be used are dropped and listed in the catalog's `LoadReport` with their line number
(line 1 is the header) and the reason, or, with ``errors="raise"``, stop the load with that message.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.catalog.model import AUDIO_FEATURES, COLUMNS, FEATURES_11, Catalog, CatalogError, Playlists
from musicgym.catalog.report import LoadReport

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


def _clean_id(s: pd.Series) -> pd.Series:
    """Spotify URIs ``spotify:track:XYZ`` become ``XYZ``."""
    return s.str.strip().str.replace(r"^spotify:track:", "", regex=True)


def _clean_artist(s: pd.Series) -> pd.Series:
    """Kaggle's ``artists`` column holds Python-list strings ("['A', 'B']"): join them with ", "."""

    def one(v: str) -> str:
        if isinstance(v, str) and v.startswith("[") and v.endswith("]"):
            try:
                items = ast.literal_eval(v)
                if isinstance(items, list):
                    return ", ".join(str(x) for x in items)
            except (ValueError, SyntaxError):
                return v
        return v

    return s.map(one)


def parse_year(s: pd.Series) -> pd.Series:
    """Years from ``2019-06-14``, ``2019``, ``1960`` or decade labels like ``60s`` / ``1960s``; NaN otherwise."""
    s = s.astype(str).str.strip()
    four = pd.to_numeric(s.str.extract(r"^(\d{4})", expand=False), errors="coerce").astype(float)
    two = pd.to_numeric(s.str.extract(r"^(\d{2})s$", expand=False), errors="coerce").astype(float)
    two = pd.Series(np.where(two < 30, 2000 + two, 1900 + two), index=s.index)
    return four.fillna(two)


class _Flagger:
    """Marks rows bad with the first reason found for each (later reasons do not overwrite)."""

    def __init__(self, bad: pd.Series, reasons: pd.Series) -> None:
        self.bad, self.reasons = bad, reasons

    def __call__(self, mask: pd.Series, text: pd.Series | str) -> None:
        new = mask & ~self.bad
        self.reasons[new] = text if isinstance(text, str) else text[new]
        self.bad[new] = True


def _read_frame(path: Path, **kw) -> pd.DataFrame:
    if not path.exists():
        raise FileNotFoundError(f"catalog file not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, **kw)
    except pd.errors.EmptyDataError as e:
        raise CatalogError(f"{path}: the file is empty (no header, no rows)") from e
    except pd.errors.ParserError as e:
        raise CatalogError(f"{path}: malformed CSV: {e}") from e
    except UnicodeDecodeError as e:
        raise CatalogError(f"{path}: not UTF-8 text ({e})") from e
    if len(df) == 0:
        raise CatalogError(f"{path}: the file has a header but no data rows")
    return df


def read_feature_rows(paths: list[Path], errors: str = "report") -> tuple[pd.DataFrame, LoadReport]:
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
        raw = _read_frame(path)
        cols = _resolve_columns(list(raw.columns), str(path))
        report.rows_read += len(raw)
        out = pd.DataFrame(index=raw.index)
        out["_source"] = str(path)
        out["_line"] = raw.index.to_numpy() + 2
        out["track_id"] = _clean_id(raw[cols["track_id"]])
        bad = pd.Series(False, index=raw.index)
        reasons = pd.Series("", index=raw.index, dtype=object)
        flag = _Flagger(bad, reasons)
        flag(out["track_id"] == "", f"empty track id in column '{cols['track_id']}'")
        for feat in AUDIO_FEATURES:
            if feat not in cols:
                out[feat] = np.nan
                continue
            text = raw[cols[feat]].str.strip()
            num = pd.to_numeric(text, errors="coerce")
            empty = text.isin(["", "NA", "NaN", "nan", "null", "None"])
            flag(empty, f"missing value in column '{cols[feat]}'")
            flag(num.isna() & ~empty, "unparsable number in column '" + cols[feat] + "': " + text.map(repr))
            flag(np.isinf(num), f"non-finite value in column '{cols[feat]}'")
            lo, hi = RANGES[feat]
            flag((num < lo) | (num > hi), f"value out of range [{lo}, {hi}] in column '{cols[feat]}': " + text)
            out[feat] = num
        for canon in ("name", "artist", "album", "genre", "subgenre", "playlist_id", "playlist_name"):
            out[canon] = raw[cols[canon]].str.strip() if canon in cols else ""
        if "artist" in cols:
            out["artist"] = _clean_artist(out["artist"])
        out["genre"] = out["genre"].str.lower()
        out["popularity"] = pd.to_numeric(raw[cols["popularity"]], errors="coerce") if "popularity" in cols else np.nan
        out["year"] = parse_year(raw[cols["year"]]) if "year" in cols else np.nan
        if bad.any():
            first = bad.idxmax()
            if errors == "raise":
                raise CatalogError(f"{path}, line {first + 2}: {reasons[first]}")
            for i in np.flatnonzero(bad.to_numpy()):
                report.drop(int(i) + 2, f"{reasons.iat[i]} ({path.name})")
        for canon, what in (("name", "track name"), ("artist", "artist")):
            n_missing = int((out.loc[~bad, canon] == "").sum()) if canon in cols else 0
            if n_missing:
                report.note(f"{path.name}: {n_missing} rows have no {what} (kept, {what} left empty)")
        if "year" in cols:
            n_noyear = int(out.loc[~bad, "year"].isna().sum())
            if n_noyear:
                report.note(
                    f"{path.name}: {n_noyear} rows have no parsable year in '{cols['year']}' (kept, year unknown)"
                )
        frames.append(out[~bad])
    rows = pd.concat(frames, ignore_index=True)
    if len(rows) == 0:
        raise CatalogError(f"{source}: every row was dropped\n{report.summary()}")
    return rows, report


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


def load_feature_csv(paths: list[Path], errors: str = "report", name: str | None = None) -> Catalog:
    """Load one or more Spotify audio-feature CSVs as one `Catalog`."""
    rows, report = read_feature_rows(paths, errors)
    tracks, track_row = merge_tracks(rows, report)
    playlists = playlists_from_rows(rows, track_row, report)
    return Catalog(tracks, playlists, name=name or paths[0].name, report=report)
