"""The 21 binary song attributes of `MusicGym/Preference-v0` (after the AH-DQN project's 21 features).

The AH-DQN project described each song by 21 binary attributes: decades, genres and styles. MusicGym
derives the same kind of attributes from any catalog with Spotify audio features. Each rule:

Decades (6), from the release year; a track with no known year has none of them:
    ``pre_1980s``: year < 1980; ``1980s``, ``1990s``, ``2000s``, ``2010s``: that decade;
    ``2020s``: year >= 2020.
Genres (6), from the catalog's genre (the tidytuesday playlist genres); a track whose genre is not one
of these (or unknown) has none of them:
    ``pop``, ``rap``, ``rock``, ``latin``, ``r&b``, ``edm``.
Moods and styles (9), from audio features, with thresholds from Spotify's feature documentation
where it gives one:
    ``danceable``: danceability >= 0.7;
    ``acoustic``: acousticness >= 0.5 (Spotify: 1.0 = high confidence the track is acoustic);
    ``instrumental``: instrumentalness >= 0.5 (Spotify: above 0.5 is meant to be instrumental);
    ``happy``: valence >= 0.6;
    ``sad``: valence <= 0.3;
    ``high_energy``: energy >= 0.8;
    ``live``: liveness >= 0.8 (Spotify: above 0.8 gives a strong likelihood of a live recording);
    ``speechy``: speechiness >= 0.33 (Spotify: 0.33-0.66 mixes music and speech, above is spoken);
    ``fast``: tempo >= 130 BPM.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DECADES: tuple[str, ...] = ("pre_1980s", "1980s", "1990s", "2000s", "2010s", "2020s")
GENRES: tuple[str, ...] = ("pop", "rap", "rock", "latin", "r&b", "edm")
#: (name, feature, comparison, threshold)
MOOD_RULES: tuple[tuple[str, str, str, float], ...] = (
    ("danceable", "danceability", ">=", 0.7),
    ("acoustic", "acousticness", ">=", 0.5),
    ("instrumental", "instrumentalness", ">=", 0.5),
    ("happy", "valence", ">=", 0.6),
    ("sad", "valence", "<=", 0.3),
    ("high_energy", "energy", ">=", 0.8),
    ("live", "liveness", ">=", 0.8),
    ("speechy", "speechiness", ">=", 0.33),
    ("fast", "tempo", ">=", 130.0),
)
ATTRIBUTE_NAMES: tuple[str, ...] = DECADES + GENRES + tuple(r[0] for r in MOOD_RULES)
assert len(ATTRIBUTE_NAMES) == 21


def attribute_matrix(tracks: pd.DataFrame) -> np.ndarray:
    """(N, 21) float32 0/1 matrix of `ATTRIBUTE_NAMES` for a catalog's tracks table."""
    n = len(tracks)
    out = np.zeros((n, len(ATTRIBUTE_NAMES)), dtype=np.float32)
    year = tracks["year"].to_numpy(np.float64)
    known = ~np.isnan(year)
    edges = [(-np.inf, 1980), (1980, 1990), (1990, 2000), (2000, 2010), (2010, 2020), (2020, np.inf)]
    for j, (lo, hi) in enumerate(edges):
        out[:, j] = known & (year >= lo) & (year < hi)
    genre = tracks["genre"].astype(str).str.lower().to_numpy()
    for j, g in enumerate(GENRES):
        out[:, len(DECADES) + j] = genre == g
    base = len(DECADES) + len(GENRES)
    for j, (_, col, op, thr) in enumerate(MOOD_RULES):
        x = tracks[col].to_numpy(np.float64)
        out[:, base + j] = x >= thr if op == ">=" else x <= thr
    return out
