"""Playlist and listening-log formats: Spotify Million Playlist Dataset JSON (in `mpd`), Last.fm-1K TSV logs.

Neither format carries audio features. Tracks are kept as ids (features NaN) and the report says how
many lack features; pass ``features=`` (a Spotify feature CSV or a `Catalog`) to join them, by track
id first and then by (artist, track name), case-insensitively.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.catalog.join import attach_features, id_only_tracks, report_missing_features
from musicgym.catalog.model import Catalog, CatalogError, Playlists
from musicgym.catalog.mpd import load_mpd_json
from musicgym.catalog.report import LoadReport

__all__ = ["LASTFM_FIELDS", "attach_features", "load_lastfm_tsv", "load_mpd_json"]

LASTFM_FIELDS = ("userid", "timestamp", "artist_id", "artist", "track_id", "track")


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
    tracks = id_only_tracks(first["key"].tolist(), first["track"].tolist(), first["artist"].tolist(), [""] * len(first))
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
    report_missing_features(tracks, report)
    return Catalog(tracks, Playlists(pls, titles, ordered=True, users=users), name=name or paths[0].name, report=report)
