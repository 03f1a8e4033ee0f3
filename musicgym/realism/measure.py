"""Recompute the figures of `musicgym.realism.targets` from the public data samples beside the repo.

``python -m musicgym.realism.measure [DATA_DIR]`` prints every figure that `targets` writes as a
constant, from the files described in each folder's README.txt under DATA_DIR (default:
``$MUSICGYM_SHARED_DATA``, else ``../shared/data`` beside the repository). The data files are never
committed; a figure whose file is absent is skipped with a note.

* ``mssd_skip_sample/very_small.csv``: 201 real MSSD plays in 11 sessions (the exact log schema).
* ``lastfm1k_sample/userid-timestamp-artid-artname-traid-traname.tsv``: the first 5,000 plays of the
  Last.fm-1K log (Celma 2010), split into sessions at gaps over 20 minutes.
* ``tidytuesday_spotify_songs/spotify_songs.csv`` (Spotify Web API features of 471 playlists) and
  ``mpd_slice0_partial/mpd.slice.0-999.first_complete_playlists.json`` (37 Million Playlist Dataset
  playlists, features joined from the tidytuesday file): how far consecutive playlist tracks lie apart
  in audio features, against random pairs.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from musicgym.catalog.model import TASTE_FEATURES
from musicgym.realism.stats import plays_from_mssd, statistics

MSSD_SAMPLE = "mssd_skip_sample/very_small.csv"
LASTFM_SAMPLE = "lastfm1k_sample/userid-timestamp-artid-artname-traid-traname.tsv"
TIDYTUESDAY = "tidytuesday_spotify_songs/spotify_songs.csv"
MPD_SLICE = "mpd_slice0_partial/mpd.slice.0-999.first_complete_playlists.json"
#: Last.fm splits listening into sessions at gaps longer than this (the convention of the project's loader).
SESSION_GAP_MINUTES = 20.0


def data_dir() -> Path:
    """``$MUSICGYM_SHARED_DATA``, else ``shared/data`` beside the repository checkout."""
    env = os.environ.get("MUSICGYM_SHARED_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


def mssd_sample(path: Path) -> dict[str, float]:
    """The `stats.STATISTICS` figures of an MSSD-format CSV, its shuffle share and size.

    Not reach@k: MSSD holds sessions of 10+ plays only.
    """
    log = pd.read_csv(path)
    out = {k: v for k, v in statistics(plays_from_mssd(log)).items() if not k.startswith("reach@")}
    out["shuffle_share"] = float(log["hist_user_behavior_is_shuffle"].astype(bool).mean())
    out["plays"] = float(len(log))
    out["sessions"] = float(log["session_id"].nunique())
    return out


def lastfm_sessions(path: Path, gap_minutes: float = SESSION_GAP_MINUTES) -> dict[str, float]:
    """Session figures of a Last.fm-1K log: lengths and within-session artist / track repeat rates.

    A play "repeats an artist" when its artist was already played earlier in the same session (the
    share of such plays is the artist repeat rate); likewise for tracks (by artist and track name).
    """
    df = pd.read_csv(path, sep="\t", header=None, quoting=csv.QUOTE_NONE, dtype=str,
                     names=["user", "timestamp", "artist_id", "artist", "track_id", "track"])
    df["time"] = pd.to_datetime(df["timestamp"], utc=True)
    df = df.sort_values(["user", "time"], kind="stable").reset_index(drop=True)
    gap = df.groupby("user")["time"].diff().dt.total_seconds().div(60.0)
    df["session"] = (gap.isna() | (gap > gap_minutes)).cumsum()
    df["track_key"] = df["artist"].fillna("") + "\x1f" + df["track"].fillna("")
    lengths = df.groupby("session").size().to_numpy()
    artist_repeat = df.duplicated(["session", "artist"]).mean()
    track_repeat = df.duplicated(["session", "track_key"]).mean()
    return {
        "sessions": float(len(lengths)),
        "plays": float(len(df)),
        "length_mean": float(lengths.mean()),
        "length_median": float(np.median(lengths)),
        "length_share_10_plus": float((lengths >= 10).mean()),
        **{f"reach@{k}": float((lengths >= k).mean()) for k in (2, 3, 5, 10)},
        "artist_repeat_rate": float(artist_repeat),
        "track_repeat_rate": float(track_repeat),
    }


def _rms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a - b) ** 2).mean(axis=1))


def transition_ratio(features: np.ndarray, sequences: list[np.ndarray], seed: int = 0,
                     pairs: int = 200_000) -> float:
    """Mean RMS distance between consecutive tracks of `sequences` over that of random pairs of tracks.

    `features` are (N, F) z-scored features; each sequence is an array of rows, -1 where a track has no
    features (a pair with such a track is left out). 1 means consecutive tracks are as far apart as
    random ones; smaller means smoother transitions.
    """
    a = np.concatenate([s[:-1] for s in sequences if len(s) > 1])
    b = np.concatenate([s[1:] for s in sequences if len(s) > 1])
    ok = (a >= 0) & (b >= 0)
    consecutive = _rms(features[a[ok]], features[b[ok]]).mean()
    rng = np.random.default_rng(seed)
    i, j = rng.integers(0, len(features), pairs), rng.integers(0, len(features), pairs)
    return float(consecutive / _rms(features[i], features[j]).mean())


def _zscore(x: np.ndarray) -> np.ndarray:
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


def playlist_transitions(tidytuesday: Path, mpd: Path | None = None) -> dict[str, float]:
    """Transition smoothness (`transition_ratio`) of the tidytuesday playlists (file order) and MPD playlists."""
    songs = pd.read_csv(tidytuesday)
    tracks = songs.drop_duplicates("track_id").reset_index(drop=True)
    z = _zscore(tracks.loc[:, list(TASTE_FEATURES)].to_numpy(np.float64))
    row = pd.Series(np.arange(len(tracks)), index=tracks["track_id"])
    seqs = [row[g["track_id"]].to_numpy() for _, g in songs.groupby("playlist_id", sort=False)]
    out = {"tidytuesday_ratio": transition_ratio(z, seqs), "tidytuesday_playlists": float(len(seqs))}
    if mpd is not None and mpd.exists():
        doc = json.loads(mpd.read_text(encoding="utf-8"))
        key = (tracks["track_artist"].astype(str).str.lower().str.strip() + "\x1f"
               + tracks["track_name"].astype(str).str.lower().str.strip())
        by_key = pd.Series(np.arange(len(tracks)), index=key).groupby(level=0).first()
        mpd_seqs, joined, total = [], 0, 0
        for pl in doc["playlists"]:
            items = sorted(pl["tracks"], key=lambda t: t["pos"])
            ids = [t["track_uri"].rsplit(":", 1)[-1] for t in items]
            keys = [f"{t['artist_name'].lower().strip()}\x1f{t['track_name'].lower().strip()}" for t in items]
            rows = np.array([int(row.get(i, by_key.get(k, -1))) for i, k in zip(ids, keys, strict=True)])
            joined += int((rows >= 0).sum())
            total += len(rows)
            mpd_seqs.append(rows)
        out["mpd_ratio"] = transition_ratio(z, mpd_seqs)
        out["mpd_tracks_with_features"] = float(joined)
        out["mpd_tracks"] = float(total)
    return out


def main(argv: list[str] | None = None) -> None:
    """Print every figure, skipping those whose data file is absent."""
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else data_dir()
    jobs = (
        ("MSSD sample", MSSD_SAMPLE, lambda p: mssd_sample(p)),
        ("Last.fm-1K sample", LASTFM_SAMPLE, lambda p: lastfm_sessions(p)),
        ("playlist transitions", TIDYTUESDAY, lambda p: playlist_transitions(p, root / MPD_SLICE)),
    )
    for title, rel, job in jobs:
        path = root / rel
        if not path.exists():
            print(f"{title}: skipped, {path} is absent")
            continue
        print(f"{title} ({path}):")
        for k, v in job(path).items():
            print(f"  {k:28s} {v:.4f}")


if __name__ == "__main__":
    main()
