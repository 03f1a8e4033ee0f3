"""Tracks known by id only (MPD playlists, Last.fm logs): their table, and features joined from a feature catalog."""

from __future__ import annotations

import numpy as np
import pandas as pd

from musicgym.catalog.model import AUDIO_FEATURES, COLUMNS, Catalog
from musicgym.catalog.report import LoadReport


def id_only_tracks(ids: list[str], names: list[str], artists: list[str], albums: list[str]) -> pd.DataFrame:
    """A tracks table with ids and names, and unknown (NaN / "") genre, popularity, year and audio features."""
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


def report_missing_features(tracks: pd.DataFrame, report: LoadReport) -> None:
    """Note how many tracks have no audio features (kept as ids)."""
    missing = int(tracks["danceability"].isna().sum())
    if missing:
        report.note(
            f"{missing} of {len(tracks)} tracks have no audio features (kept as ids; "
            "catalog.with_features_only() drops them, reported)"
        )
