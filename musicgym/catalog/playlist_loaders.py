"""Playlist and listening-log formats: Spotify Million Playlist Dataset JSON, Last.fm-1K TSV logs.

Neither format carries audio features. Tracks are kept as ids (features NaN) and the report says how
many lack features; pass ``features=`` (a Spotify feature CSV or a `Catalog`) to join them, by track
id first and then by (artist, track name), case-insensitively.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.catalog.model import AUDIO_FEATURES, COLUMNS, Catalog, CatalogError, Playlists
from musicgym.catalog.report import LoadReport

LASTFM_FIELDS = ("userid", "timestamp", "artist_id", "artist", "track_id", "track")


def _empty_tracks(ids: list[str], names: list[str], artists: list[str], albums: list[str]) -> pd.DataFrame:
    df = pd.DataFrame({"track_id": ids, "name": names, "artist": artists, "album": albums})
    df["genre"] = ""
    df["subgenre"] = ""
    for c in ("popularity", "year", *AUDIO_FEATURES):
        df[c] = np.nan
    return df.loc[:, list(COLUMNS)]


def attach_features(tracks: pd.DataFrame, features: Catalog, report: LoadReport) -> pd.DataFrame:
    """Fill audio features, genre, popularity and year from `features` by id, then by (artist, name)."""
    src = features.tracks
    by_id = pd.Series(np.arange(len(src)), index=src["track_id"])
    match = tracks["track_id"].map(by_id)
    key_src = src["artist"].str.lower().str.strip() + "\x1f" + src["name"].str.lower().str.strip()
    by_key = pd.Series(np.arange(len(src)), index=key_src).groupby(level=0).first()
    key = tracks["artist"].str.lower().str.strip() + "\x1f" + tracks["name"].str.lower().str.strip()
    match = match.fillna(key.map(by_key))
    hit = match.notna().to_numpy()
    rows = match[hit].astype(int).to_numpy()
    tracks = tracks.copy()
    for c in (*AUDIO_FEATURES, "genre", "subgenre", "popularity", "year"):
        col = tracks[c].to_numpy(dtype=object if c in ("genre", "subgenre") else np.float64).copy()
        col[hit] = src[c].to_numpy()[rows]
        tracks[c] = col
    report.note(f"audio features joined for {int(hit.sum())} of {len(tracks)} tracks from {features.name}")
    return tracks


def _report_missing_features(tracks: pd.DataFrame, report: LoadReport) -> None:
    missing = int(tracks["danceability"].isna().sum())
    if missing:
        report.note(
            f"{missing} of {len(tracks)} tracks have no audio features (kept as ids; "
            "catalog.with_features_only() drops them, reported)"
        )


def load_mpd_json(paths: list[Path], features: Catalog | None = None, name: str | None = None) -> Catalog:
    """Load Spotify Million Playlist Dataset slices (``{"info":..., "playlists": [...]}``)."""
    report = LoadReport(source=", ".join(str(p) for p in paths))
    ids: dict[str, int] = {}
    names: list[str] = []
    artists: list[str] = []
    albums: list[str] = []
    pls: list[np.ndarray] = []
    titles: list[str] = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"playlist file not found: {path}")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise CatalogError(
                f"{path}: invalid JSON at line {e.lineno}, column {e.colno}: {e.msg} (a truncated file?)"
            ) from e
        if not isinstance(doc, dict) or not isinstance(doc.get("playlists"), list):
            raise CatalogError(f"{path}: not an MPD slice: expected an object with a 'playlists' list")
        for k, pl in enumerate(doc["playlists"]):
            report.rows_read += 1
            if not isinstance(pl, dict) or not isinstance(pl.get("tracks"), list):
                report.drop(None, f"playlist #{k} in {path.name} has no 'tracks' list")
                continue
            rows = []
            entries = sorted(pl["tracks"], key=lambda t: t.get("pos", 0) if isinstance(t, dict) else 0)
            for t in entries:
                uri = t.get("track_uri") if isinstance(t, dict) else None
                if not uri:
                    report.drop(None, f"track entry without track_uri in playlist {pl.get('pid', k)} ({path.name})")
                    continue
                tid = str(uri).removeprefix("spotify:track:")
                if tid not in ids:
                    ids[tid] = len(names)
                    names.append(str(t.get("track_name", "")))
                    artists.append(str(t.get("artist_name", "")))
                    albums.append(str(t.get("album_name", "")))
                rows.append(ids[tid])
            pls.append(np.array(list(dict.fromkeys(rows)), dtype=np.int64))
            titles.append(str(pl.get("name", "")))
    if not names:
        raise CatalogError(f"{report.source}: no tracks found in any playlist")
    tracks = _empty_tracks(list(ids), names, artists, albums)
    if features is not None:
        tracks = attach_features(tracks, features, report)
    _report_missing_features(tracks, report)
    return Catalog(tracks, Playlists(pls, titles, ordered=False), name=name or paths[0].name, report=report)


def load_lastfm_tsv(
    paths: list[Path],
    session_gap_minutes: float = 20.0,
    features: Catalog | None = None,
    errors: str = "report",
    name: str | None = None,
) -> Catalog:
    r"""Load Last.fm-1K style logs (``userid \\t timestamp \\t artist id \\t artist \\t track id \\t track``).

    Plays are sorted by user and time and split into listening sessions wherever two consecutive plays
    of a user are more than `session_gap_minutes` apart. A track is identified by its MusicBrainz id, or
    by "artist - track" where the log has no id.
    """
    if session_gap_minutes <= 0:
        raise ValueError(f"session_gap_minutes must be positive, got {session_gap_minutes}")
    report = LoadReport(source=", ".join(str(p) for p in paths))
    frames = []
    for path in paths:
        if not path.exists():
            raise FileNotFoundError(f"listening log not found: {path}")
        good = []
        with path.open(encoding="utf-8", newline="") as fh:
            for lineno, fields in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), start=1):
                report.rows_read += 1
                reason = None
                if len(fields) != len(LASTFM_FIELDS):
                    reason = f"expected {len(LASTFM_FIELDS)} tab-separated fields, found {len(fields)}"
                elif not fields[0] or not fields[5]:
                    reason = "empty user id or track name"
                if reason is None:
                    ts = pd.to_datetime(fields[1], utc=True, errors="coerce")
                    if pd.isna(ts):
                        reason = f"unparsable timestamp {fields[1]!r}"
                if reason is not None:
                    if errors == "raise":
                        raise CatalogError(f"{path}, line {lineno}: {reason}")
                    report.drop(lineno, f"{reason} ({path.name})")
                    continue
                good.append((*fields, ts))
        if report.rows_read == 0:
            raise CatalogError(f"{path}: the file is empty")
        frames.append(pd.DataFrame(good, columns=[*LASTFM_FIELDS, "time"]))
    log = pd.concat(frames, ignore_index=True)
    if len(log) == 0:
        raise CatalogError(f"{report.source}: every line was dropped\n{report.summary()}")
    log["key"] = log["track_id"].where(log["track_id"] != "", log["artist"] + " - " + log["track"])
    log = log.sort_values(["userid", "time"], kind="stable").reset_index(drop=True)
    first = log.drop_duplicates("key")
    tracks = _empty_tracks(first["key"].tolist(), first["track"].tolist(), first["artist"].tolist(), [""] * len(first))
    row_of = pd.Series(np.arange(len(first)), index=first["key"].to_numpy())
    rows = row_of.loc[log["key"]].to_numpy()
    gap = log["time"].diff().dt.total_seconds().to_numpy() > session_gap_minutes * 60
    new_user = (log["userid"] != log["userid"].shift()).to_numpy()
    session = np.cumsum(gap | new_user) - 1
    bounds = np.flatnonzero(np.diff(session)) + 1
    pls = np.split(rows, bounds)
    starts = np.concatenate([[0], bounds])
    users = log["userid"].to_numpy()[starts].tolist()
    titles = [f"{u} {t:%Y-%m-%d %H:%M}" for u, t in zip(users, log["time"].iloc[starts], strict=True)]
    report.note(f"{len(pls)} sessions split at {session_gap_minutes:g}-minute gaps from {len(log)} plays")
    if features is not None:
        tracks = attach_features(tracks, features, report)
    _report_missing_features(tracks, report)
    return Catalog(tracks, Playlists(pls, titles, ordered=True, users=users), name=name or paths[0].name, report=report)
