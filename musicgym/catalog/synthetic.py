"""A synthetic catalog generator calibrated to real Spotify figures.

The figures live in ``calibration.json`` beside this file, written by
``experiments/calibrate_catalog.py`` from the tidytuesday ``spotify_songs.csv`` (figures only, no rows).

How a catalog of `n_tracks` is drawn (all from one ``np.random.Generator``):

1. Artists: track counts per artist are drawn from the real tracks-per-artist distribution until they
   cover `n_tracks`; each artist gets one subgenre, drawn with the real subgenre shares.
2. Audio features, popularity and year, per subgenre, from a Gaussian copula: normal scores with the
   subgenre's real 14x14 correlation matrix, mapped through the subgenre's real marginal quantiles.
   Each artist contributes a shared component whose weight is the real intra-artist correlation (ICC)
   of each column, so one artist's tracks resemble each other as much as in the real data.
   Popularity therefore keeps its real skew (many tracks near 0, few hits).
3. Albums: each artist's tracks are grouped into albums of 1-12 tracks that share a release year.
4. Playlists, genre- and mood-coherent, with titles: a playlist picks a subgenre and a seed track;
   its other tracks are drawn from the same genre with weight
   ``(popularity + 1) ** 1.5 * exp(-||taste - taste_seed||^2 / 0.05)`` (x4 for the seed's artist), and
   ordered by a nearest-neighbour walk through taste space, so that the next track is predictable from
   the last. Titles combine the playlist's mood (from its mean valence, energy, acousticness,
   danceability) with its subgenre, e.g. "Chill Neo Soul" or "Trap Workout".
   Playlists are denser than tidytuesday's (471 playlists over 28k tracks) so that collaborative
   filtering has co-occurrences to learn from: by default one playlist per 5 tracks, lengths drawn
   from the real length quantiles halved (median about 25).

Same seed, same catalog, on every machine and supported numpy / pandas version (checked against
numpy 1.26 + pandas 2.1, numpy 2.0 + pandas 3.0 and numpy 2.4 + pandas 3.1, and pinned by tests):

* every weighted draw goes through `_weighted_choice`, numpy's own algorithm written out over
  ``Generator.random()`` (whose stream numpy keeps), so a faster ``Generator.choice`` in a later
  numpy cannot change a catalog; uniform draws use ``Generator.integers``. The one remaining
  ``Generator.choice`` (a uniform subsample of a large genre without replacement) is pinned by
  ``test_generator_output_is_pinned``.
* Features pass through BLAS, ``ndtr`` and ``interp``, whose last bits may differ between machines,
  and are then rounded to Spotify's 3-4 decimals, which absorbs them; playlist weights use ``exp`` and
  ``**`` but only feed comparisons with uniform draws, which a last-bit difference changes with
  probability about 1e-16 per draw. The fingerprint hashes rounded values too (`Catalog.fingerprint`).
* No pandas sort or groupby decides anything: artist names are made unique by ``groupby.cumcount``,
  which numbers repeats in row order on every pandas version.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.special import ndtr

from musicgym.catalog.model import COLUMNS, TASTE_FEATURES, Catalog, CatalogError, Playlists
from musicgym.catalog.report import LoadReport

CALIBRATION_PATH = Path(__file__).with_name("calibration.json")

_SYLLABLES = (
    "ka ri lo ma ne so ta vi lu ze mo ra di ny el an or is ba co fe ga ho ju ki le mi no pa qu re "
    "si tu va we xa yo zu"
).split()
_WORDS = (
    "love night fire heart dream gold rain city light summer river shadow sky wild blue velvet "
    "midnight echo ocean neon sugar storm paradise diamond ghost thunder silver honey electric "
    "moon sun dance fever stone star road heaven broken young forever alive dark sweet lonely "
    "crazy lost free high slow golden"
).split()
_MOODS = (
    # (title word, valence, energy, acousticness, danceability): the closest profile names the mood
    ("Chill", 0.45, 0.40, 0.45, 0.60),
    ("Workout", 0.55, 0.92, 0.05, 0.70),
    ("Party", 0.75, 0.85, 0.05, 0.80),
    ("Happy", 0.85, 0.70, 0.20, 0.70),
    ("Sad", 0.20, 0.40, 0.50, 0.50),
    ("Acoustic", 0.45, 0.35, 0.80, 0.55),
    ("Late Night", 0.35, 0.60, 0.15, 0.72),
    ("Feel Good", 0.70, 0.65, 0.20, 0.68),
)
_TITLE_TEMPLATES = ("{mood} {sub}", "{sub} {mood}", "{mood} {sub} Hits", "Best of {sub}", "{sub} Mix")


@lru_cache(maxsize=1)
def calibration() -> dict:
    """The real-data figures the generator is calibrated to."""
    return json.loads(CALIBRATION_PATH.read_text())


def _weighted_choice(
    rng: np.random.Generator, p: np.ndarray, size: int | None = None, replace: bool = True
) -> np.ndarray | int:
    """``rng.choice(len(p), size, replace, p=p)`` as numpy (1.17 to 2.4 at least) draws it, from ``rng.random()``.

    With replacement: inverse-CDF lookup of uniforms. Without: numpy's rounds of draws against the CDF
    of the weights not yet chosen, keeping the first occurrence of each index within a round.
    """
    p = np.ascontiguousarray(p, dtype=np.float64)
    if replace:
        cdf = np.cumsum(p)
        cdf /= cdf[-1]
        u = rng.random(size) if size is not None else rng.random()
        idx = cdf.searchsorted(u, side="right")
        return int(idx) if size is None else np.asarray(idx, dtype=np.int64)
    if np.count_nonzero(p > 0) < size:
        raise ValueError("fewer non-zero weights than draws")
    p = p.copy()
    found = np.zeros(size, dtype=np.int64)
    n_found = 0
    while n_found < size:
        x = rng.random(size - n_found)
        if n_found:
            p[found[:n_found]] = 0
        cdf = np.cumsum(p)
        cdf /= cdf[-1]
        new = cdf.searchsorted(x, side="right")
        _, first = np.unique(new, return_index=True)
        first.sort()
        new = new.take(first)
        found[n_found : n_found + new.size] = new
        n_found += new.size
    return found


def _uniform_choice(rng: np.random.Generator, items: np.ndarray, size: int | tuple[int, ...]) -> np.ndarray:
    """``rng.choice(items, size)`` (uniform, with replacement) as numpy draws it: ``rng.integers``."""
    return items[rng.integers(0, len(items), size=size, dtype=np.int64)]


def _names(rng: np.random.Generator, n: int, words: int) -> np.ndarray:
    parts = _uniform_choice(rng, np.array(_WORDS), (n, words))
    out = parts[:, 0]
    for j in range(1, words):
        out = np.char.add(np.char.add(out, " "), parts[:, j])
    return np.char.title(out)


def _artist_names(rng: np.random.Generator, n: int) -> np.ndarray:
    sy = np.array(_SYLLABLES)
    first = np.char.add(_uniform_choice(rng, sy, n), _uniform_choice(rng, sy, n))
    last = np.char.add(np.char.add(_uniform_choice(rng, sy, n), _uniform_choice(rng, sy, n)),
                       _uniform_choice(rng, sy, n))
    names = np.char.title(np.char.add(np.char.add(first, " "), last))
    # Make names unique by suffixing repeats; distinct artists must not merge.
    s = pd.Series(names)
    dup = s.groupby(s).cumcount()
    return np.where(dup > 0, s + " " + (dup + 1).astype(str), s).astype(object)


def _draw_artists(rng: np.random.Generator, n_tracks: int, cal: dict) -> np.ndarray:
    counts = np.array([int(k) for k in cal["tracks_per_artist"]])
    freq = np.array(list(cal["tracks_per_artist"].values()), dtype=float)
    mean = (counts * freq).sum() / freq.sum()
    draws = counts[_weighted_choice(rng, freq / freq.sum(), size=int(n_tracks / mean * 1.2) + 10)]
    while draws.sum() < n_tracks:
        draws = np.concatenate([draws, counts[_weighted_choice(rng, freq / freq.sum(), size=len(draws))]])
    artist_of_track = np.repeat(np.arange(len(draws)), draws)[:n_tracks]
    return artist_of_track


def _features(rng: np.random.Generator, artist: np.ndarray, sub_of_artist: np.ndarray, cal: dict) -> np.ndarray:
    cols = cal["columns"]
    levels = np.array(cal["quantile_levels"])
    icc = np.array([cal["artist_icc"][c] for c in cols])
    subs = list(cal["subgenres"])
    n_artists = sub_of_artist.size
    out = np.empty((artist.size, len(cols)))
    sub_of_track = sub_of_artist[artist]
    for s, name in enumerate(subs):
        info = cal["subgenres"][name]
        chol = np.linalg.cholesky(np.asarray(info["corr"]) + 1e-6 * np.eye(len(cols)))
        rows = np.flatnonzero(sub_of_track == s)
        if rows.size == 0:
            continue
        artists_here = np.flatnonzero(sub_of_artist == s)
        shared = np.zeros((n_artists, len(cols)))
        shared[artists_here] = rng.standard_normal((artists_here.size, len(cols))) @ chol.T
        own = rng.standard_normal((rows.size, len(cols))) @ chol.T
        z = np.sqrt(icc) * shared[artist[rows]] + np.sqrt(1.0 - icc) * own
        u = ndtr(z)
        for j, c in enumerate(cols):
            out[rows, j] = np.interp(u[:, j], levels, info["quantiles"][c])
    # Spotify reports features to about 3-4 significant decimals; so do we (it keeps assets small).
    decimals = {"key": 0, "mode": 0, "popularity": 0, "year": 0, "duration_ms": 0, "loudness": 3, "tempo": 3}
    for j, c in enumerate(cols):
        out[:, j] = np.round(out[:, j], decimals.get(c, 4))
    return out


def _albums(rng: np.random.Generator, artist: np.ndarray, year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Group each artist's consecutive tracks into albums of 1-12 tracks sharing the first track's year."""
    n = artist.size
    size = rng.integers(1, 13, size=n)
    album = np.empty(n, dtype=np.int64)
    new_year = year.copy()
    a_id, i = 0, 0
    # artist ids are contiguous runs (np.repeat), so albums never span two artists
    starts = np.flatnonzero(np.r_[True, artist[1:] != artist[:-1]])
    ends = np.r_[starts[1:], n]
    for s, e in zip(starts, ends, strict=True):
        i = s
        while i < e:
            j = min(e, i + int(size[i]))
            album[i:j] = a_id
            new_year[i:j] = year[i]
            a_id += 1
            i = j
    return album, new_year


def _taste(df: pd.DataFrame) -> np.ndarray:
    x = df.loc[:, list(TASTE_FEATURES)].to_numpy(np.float64)
    lo, hi = x.min(0), x.max(0)
    return (x - lo) / np.where(hi > lo, hi - lo, 1.0)


def _order_walk(taste: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Order a playlist by a greedy nearest-neighbour walk from its first (seed) track."""
    x = taste[members]
    d = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    order = [0]
    left = np.ones(len(members), bool)
    left[0] = False
    for _ in range(len(members) - 1):
        nxt = int(np.argmin(np.where(left, d[order[-1]], np.inf)))
        order.append(nxt)
        left[nxt] = False
    return members[np.array(order)]


def _playlists(
    rng: np.random.Generator, df: pd.DataFrame, sub_index: np.ndarray, n_playlists: int, cal: dict
) -> Playlists:
    subs = list(cal["subgenres"])
    shares = np.array([cal["subgenres"][s]["share"] for s in subs])
    taste = _taste(df)
    pop_w = (df["popularity"].to_numpy(np.float64) + 1.0) ** 1.5
    genre = df["genre"].to_numpy()
    artist = df["artist"].to_numpy()
    by_genre = {g: np.flatnonzero(genre == g) for g in np.unique(genre)}
    by_sub = {s: np.flatnonzero(sub_index == s) for s in range(len(subs))}
    len_q = np.array(cal["playlist_length_quantiles"], dtype=float) / 2.0
    levels = np.array(cal["quantile_levels"])
    lengths = np.clip(np.round(np.interp(rng.random(n_playlists), levels, len_q)), 5, 60).astype(int)
    mood_profiles = np.array([m[1:] for m in _MOODS])
    tracks, titles = [], []
    for p in range(n_playlists):
        s = _weighted_choice(rng, shares / shares.sum())
        pool_s = by_sub[s]
        if pool_s.size == 0:
            continue
        seed = int(pool_s[_weighted_choice(rng, pop_w[pool_s] / pop_w[pool_s].sum())])
        pool = by_genre[genre[seed]]
        if pool.size > 3000:
            pool = rng.choice(pool, 3000, replace=False)
        pool = pool[pool != seed]
        w = pop_w[pool] * np.exp(-((taste[pool] - taste[seed]) ** 2).sum(1) / 0.05)
        w = w * np.where(artist[pool] == artist[seed], 4.0, 1.0) + 1e-12
        k = min(lengths[p] - 1, pool.size)
        picks = pool[_weighted_choice(rng, w / w.sum(), size=k, replace=False)]
        members = _order_walk(taste, np.concatenate([[seed], picks]))
        tracks.append(members)
        prof = df.iloc[members][["valence", "energy", "acousticness", "danceability"]].to_numpy().mean(0)
        mood = _MOODS[int(np.argmin(((mood_profiles - prof) ** 2).sum(1)))][0]
        template = _TITLE_TEMPLATES[int(rng.integers(len(_TITLE_TEMPLATES)))]
        titles.append(template.format(mood=mood, sub=subs[s].title()))
    return Playlists(tracks, titles, ordered=True)


def synthetic(n_tracks: int = 20_000, seed: int = 0, n_playlists: int | None = None) -> Catalog:
    """Draw a synthetic catalog of `n_tracks` calibrated to real Spotify figures (see module docstring).

    Args:
        n_tracks: number of tracks, 10 to 10,000,000.
        seed: seed of the ``np.random.Generator`` every draw comes from; same seed, same catalog.
        n_playlists: number of playlists; default ``min(n_tracks // 5, 20_000)``.
    """
    if not isinstance(n_tracks, (int, np.integer)) or not 10 <= n_tracks <= 10_000_000:
        raise CatalogError(f"n_tracks must be an integer from 10 to 10,000,000, got {n_tracks!r}")
    if n_playlists is not None and n_playlists < 0:
        raise CatalogError(f"n_playlists must be >= 0, got {n_playlists}")
    cal = calibration()
    rng = np.random.default_rng(seed)
    subs = list(cal["subgenres"])
    shares = np.array([cal["subgenres"][s]["share"] for s in subs])
    artist = _draw_artists(rng, n_tracks, cal)
    n_artists = int(artist.max()) + 1
    sub_of_artist = _weighted_choice(rng, shares / shares.sum(), size=n_artists)
    feats = _features(rng, artist, sub_of_artist, cal)
    cols = cal["columns"]
    df = pd.DataFrame(feats, columns=cols)
    album, df["year"] = _albums(rng, artist, df["year"].to_numpy())
    sub_index = sub_of_artist[artist]
    df["track_id"] = np.char.add(f"syn{seed}-", np.char.zfill(np.arange(n_tracks).astype(str), 7))
    df["name"] = _names(rng, n_tracks, 2)
    df["artist"] = _artist_names(rng, n_artists)[artist]
    df["album"] = _names(rng, int(album.max()) + 1, 2)[album]
    df["genre"] = np.array([cal["subgenres"][s]["genre"] for s in subs], dtype=object)[sub_index]
    df["subgenre"] = np.array(subs, dtype=object)[sub_index]
    df = df.loc[:, list(COLUMNS)]
    n_pl = min(n_tracks // 5, 20_000) if n_playlists is None else n_playlists
    playlists = _playlists(rng, df, sub_index, n_pl, cal) if n_pl else Playlists()
    report = LoadReport(source=f"synthetic(n_tracks={n_tracks}, seed={seed})", rows_read=n_tracks)
    return Catalog(df, playlists, name=f"synthetic-{n_tracks}-seed{seed}", report=report)
