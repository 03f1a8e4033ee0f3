"""Compute the figures that calibrate MusicGym's synthetic catalog generator.

Reads the tidytuesday ``spotify_songs.csv`` (28,356 tracks, 471 playlists) and writes
``musicgym/catalog/calibration.json``: figures only, never rows of the data.

What is measured, per playlist subgenre (24 of them, each with its parent genre):
    * the share of tracks in that subgenre;
    * 33 quantiles (0, 1/32, ..., 1) of each of the 14 generated columns (12 Spotify audio
      features, popularity and release year), the marginals of a Gaussian copula;
    * the 14x14 correlation matrix of the columns' normal scores, the copula itself.
Across the catalog:
    * the distribution of tracks per artist (how many artists have 1, 2, ... tracks);
    * the intra-artist correlation (ICC) of each column's normal scores, so that tracks by one
      artist resemble each other as much as they do in the real data;
    * playlist length quantiles and the number of playlists per track.

Usage::

    python experiments/calibrate_catalog.py --csv ../shared/data/tidytuesday_spotify_songs/spotify_songs.csv
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

COLUMNS = [
    "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "duration_ms", "popularity", "year",
]  # fmt: skip
N_QUANTILES = 33


@dataclass
class Args:
    """Command-line arguments."""

    csv: Path
    """Path of the tidytuesday spotify_songs.csv."""
    out: Path = Path(__file__).resolve().parents[1] / "musicgym" / "catalog" / "calibration.json"
    """Where to write the figures."""


def normal_scores(x: np.ndarray) -> np.ndarray:
    """Rank-based normal scores (ties get their average rank)."""
    ranks = stats.rankdata(x)
    return stats.norm.ppf(ranks / (len(x) + 1))


def main(args: Args) -> None:
    """Measure the figures and write them as JSON."""
    df = pd.read_csv(args.csv)
    df["popularity"] = df["track_popularity"]
    df["year"] = pd.to_numeric(df["track_album_release_date"].str[:4], errors="coerce")
    playlists = df.groupby("playlist_id")["track_id"].apply(lambda s: s.drop_duplicates().size)
    # One row per track: its first playlist's genre/subgenre (the row order of the file).
    tracks = df.drop_duplicates("track_id").dropna(subset=["year"]).reset_index(drop=True)
    n_tracks = len(tracks)
    qs = np.linspace(0.0, 1.0, N_QUANTILES)

    subgenres = {}
    for (genre, sub), part in tracks.groupby(["playlist_genre", "playlist_subgenre"]):
        z = np.column_stack([normal_scores(part[c].to_numpy(float)) for c in COLUMNS])
        corr = np.corrcoef(z, rowvar=False)
        subgenres[sub] = {
            "genre": genre,
            "share": round(len(part) / n_tracks, 6),
            "quantiles": {c: [round(float(v), 6) for v in np.quantile(part[c], qs)] for c in COLUMNS},
            "corr": [[round(float(v), 4) for v in row] for row in corr],
        }

    # Intra-artist correlation of normal scores (one-way ANOVA estimator, artists with >= 2 tracks).
    z_all = pd.DataFrame({c: normal_scores(tracks[c].to_numpy(float)) for c in COLUMNS})
    z_all["artist"] = tracks["track_artist"].fillna("?").to_numpy()
    multi = z_all.groupby("artist").filter(lambda g: len(g) >= 2)
    icc = {}
    for c in COLUMNS:
        groups = multi.groupby("artist")[c]
        n_i = groups.size().to_numpy(float)
        means = groups.mean().to_numpy()
        grand = multi[c].mean()
        k = len(n_i)
        n = n_i.sum()
        msb = np.sum(n_i * (means - grand) ** 2) / (k - 1)
        msw = groups.var(ddof=1).fillna(0).to_numpy() @ (n_i - 1) / (n - k)
        n0 = (n - np.sum(n_i**2) / n) / (k - 1)
        icc[c] = round(float(max(0.0, (msb - msw) / (msb + (n0 - 1) * msw))), 4)

    per_artist = tracks["track_artist"].fillna("?").value_counts().value_counts().sort_index()
    figures = {
        "source": "tidytuesday 2020-01-21 spotify_songs.csv (figures only)",
        "n_tracks": n_tracks,
        "columns": COLUMNS,
        "quantile_levels": [round(float(q), 6) for q in qs],
        "subgenres": subgenres,
        "artist_icc": icc,
        "tracks_per_artist": {str(int(k)): int(v) for k, v in per_artist.items()},
        "playlist_length_quantiles": [int(v) for v in np.quantile(playlists.to_numpy(), qs)],
        "playlists_per_track": round(len(playlists) / n_tracks, 6),
        "playlist_memberships_per_track": round(int(playlists.sum()) / n_tracks, 6),
    }
    args.out.write_text(json.dumps(figures, indent=1) + "\n")
    print(f"wrote {args.out} ({n_tracks} tracks, {len(subgenres)} subgenres, {len(playlists)} playlists)")
    print("artist ICC:", icc)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--csv", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Args.out)
    ns = parser.parse_args()
    main(Args(csv=ns.csv, out=ns.out))
