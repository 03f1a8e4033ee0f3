"""The `Catalog` data model: tracks aligned by row, their playlists/sessions, and feature views."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from musicgym.catalog.attributes import ATTRIBUTE_NAMES, attribute_matrix
from musicgym.catalog.report import LoadReport

#: The Spotify audio features, in Spotify's own order.
AUDIO_FEATURES: tuple[str, ...] = (
    "danceability", "energy", "key", "loudness", "mode", "speechiness", "acousticness",
    "instrumentalness", "liveness", "valence", "tempo", "duration_ms",
)  # fmt: skip
#: The 11 features the PPO listener project feeds its VAE (all audio features but duration).
FEATURES_11: tuple[str, ...] = AUDIO_FEATURES[:11]
#: The 9 "taste" features of the DQN project, in that project's order.
TASTE_FEATURES: tuple[str, ...] = (
    "acousticness", "danceability", "energy", "instrumentalness", "liveness", "loudness",
    "speechiness", "tempo", "valence",
)  # fmt: skip
#: Metadata columns every catalog has (empty string / NaN where unknown).
METADATA: tuple[str, ...] = ("track_id", "name", "artist", "album", "genre", "subgenre", "popularity", "year")
COLUMNS: tuple[str, ...] = METADATA + AUDIO_FEATURES


#: significant decimal digits of the audio features and years that `Catalog.fingerprint` hashes
FINGERPRINT_DIGITS = 9


class CatalogError(ValueError):
    """A catalog cannot be built or lacks what a caller needs."""


def canonical_floats(x: np.ndarray, digits: int = FINGERPRINT_DIGITS) -> np.ndarray:
    """`x` rounded to `digits` significant decimal digits, C-contiguous float64 (NaN one NaN, -0.0 as 0.0).

    A value with at most `digits` significant digits comes back bit for bit (the decimal is scaled to
    an integer exactly and divided back with one correctly rounded division), and so does any value
    within a few units in the last place of it. Only +, *, /, rint and frexp are used: the result is
    the same on every machine and numpy version. The scale is at most 1e22, so values below about
    1e-13 in magnitude keep fewer digits.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    out = np.array(x, copy=True)
    ok = np.isfinite(x) & (x != 0)
    v = x[ok]
    e2 = np.frexp(v)[1].astype(np.int64)  # |v| in [2**(e2 - 1), 2**e2)
    q = np.clip(digits - 1 - ((e2 - 1) * 30103) // 100000, -22, 22)  # 30103 / 1e5 ~ log10(2)
    up = q >= 0
    scale = 10.0 ** np.abs(q)
    r = np.empty_like(v)
    r[up] = np.rint(v[up] * scale[up]) / scale[up]
    r[~up] = np.rint(v[~up] / scale[~up]) * scale[~up]
    out[ok] = r + 0.0
    out[np.isnan(x)] = np.nan
    out[x == 0] = 0.0
    return out


@dataclass
class Playlists:
    """Lists of catalog rows: playlists (unordered sets with titles) or listening sessions (ordered).

    Attributes:
        tracks: one int64 array of catalog row indices per playlist.
        titles: one title per playlist ("" where unknown).
        ordered: True for listening sessions / playlists whose order is meaningful.
        users: optional owner (user id) per playlist, "" where unknown.
    """

    tracks: list[np.ndarray] = field(default_factory=list)
    titles: list[str] = field(default_factory=list)
    ordered: bool = False
    users: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.tracks = [np.asarray(t, dtype=np.int64) for t in self.tracks]
        if not self.titles:
            self.titles = [""] * len(self.tracks)
        if not self.users:
            self.users = [""] * len(self.tracks)
        if not (len(self.titles) == len(self.tracks) == len(self.users)):
            raise CatalogError(
                f"playlists: {len(self.tracks)} track lists but {len(self.titles)} titles "
                f"and {len(self.users)} users"
            )

    def __len__(self) -> int:
        return len(self.tracks)

    def subset(self, indices: list[int]) -> Playlists:
        """The playlists at `indices` (tracks, titles and users kept together)."""
        return Playlists([self.tracks[i] for i in indices], [self.titles[i] for i in indices], self.ordered,
                         [self.users[i] for i in indices])


class Catalog:
    """A music catalog: one row per track, aligned across metadata, audio features and views.

    Args:
        tracks: a DataFrame with the columns in `COLUMNS` (``track_id`` unique). Audio features may
            be NaN only for tracks known by id alone (e.g. MPD tracks without a feature file);
            ``has_features`` tells which rows have them.
        playlists: optional `Playlists` over the catalog's rows.
        name: a human-readable name ("default", a file name...).
        report: the `LoadReport` of the loader that built it (dropped rows and why).

    Raises:
        CatalogError: a column is missing, ids are not unique, a playlist names a row that does not exist.
    """

    def __init__(
        self,
        tracks: pd.DataFrame,
        playlists: Playlists | None = None,
        name: str = "catalog",
        report: LoadReport | None = None,
    ) -> None:
        missing = [c for c in COLUMNS if c not in tracks.columns]
        if missing:
            raise CatalogError(f"catalog {name!r}: missing columns {missing}; a catalog needs {list(COLUMNS)}")
        if len(tracks) == 0:
            raise CatalogError(f"catalog {name!r} has no tracks")
        tracks = tracks.loc[:, list(COLUMNS)].reset_index(drop=True)
        dup = tracks["track_id"].duplicated()
        if dup.any():
            raise CatalogError(f"catalog {name!r}: duplicate track ids, e.g. {tracks['track_id'][dup].iloc[0]!r}")
        feats = tracks.loc[:, list(AUDIO_FEATURES)].to_numpy(np.float64)
        if np.isinf(feats).any():
            raise CatalogError(f"catalog {name!r}: infinite audio feature values")
        self.tracks = tracks
        self.playlists = playlists if playlists is not None else Playlists()
        n = len(tracks)
        rows = np.concatenate(self.playlists.tracks) if len(self.playlists) else np.zeros(0, np.int64)
        if rows.size and (rows.min() < 0 or rows.max() >= n):
            i = next(i for i, pl in enumerate(self.playlists.tracks) if pl.size and (pl.min() < 0 or pl.max() >= n))
            raise CatalogError(f"catalog {name!r}: playlist {i} refers to rows outside 0..{n - 1}")
        self.name = name
        self.report = report if report is not None else LoadReport(source=name)

    def __len__(self) -> int:
        return len(self.tracks)

    def __repr__(self) -> str:
        return (
            f"Catalog({self.name!r}, tracks={len(self)}, playlists={len(self.playlists)}, "
            f"with_features={int(self.has_features.sum())})"
        )

    # ------------------------------------------------------------------ identity
    @cached_property
    def fingerprint(self) -> str:
        """A stable hash of the catalog's content (ids, features, genres, years, playlists).

        Audio features and years are hashed after rounding to `FINGERPRINT_DIGITS` significant digits
        (`canonical_floats`), so that the last-bit differences of another pandas parser, BLAS or libm
        do not change the fingerprint. Values given to at most that many digits (every Spotify
        feature file, the synthetic generator's output) hash exactly as their float64 bytes did
        before the rounding was introduced: the embedded default catalog keeps its fingerprint.
        """
        h = hashlib.sha256()
        h.update("\x1f".join(self.tracks["track_id"].astype(str)).encode())
        h.update(canonical_floats(self.tracks.loc[:, list(AUDIO_FEATURES)].to_numpy(np.float64)).tobytes())
        h.update("\x1f".join(self.tracks["genre"].astype(str)).encode())
        h.update(canonical_floats(np.nan_to_num(self.tracks["year"].to_numpy(np.float64), nan=-1)).tobytes())
        for pl in self.playlists.tracks:
            h.update(pl.tobytes() + b"|")
        h.update(b"ordered" if self.playlists.ordered else b"unordered")
        return h.hexdigest()[:16]

    @cached_property
    def has_features(self) -> np.ndarray:
        """Boolean mask of rows whose 11 core audio features (`FEATURES_11`) are all known."""
        return ~self.tracks.loc[:, list(FEATURES_11)].isna().any(axis=1).to_numpy()

    # ------------------------------------------------------------------ what callers need
    def require_tracks(self, minimum: int, what: str) -> None:
        """Raise `CatalogError` naming `what` unless the catalog has at least `minimum` tracks.

        An env calls it before it sizes its spaces, e.g. ``catalog.require_tracks(k + 1, "Taste-v0 with
        window=5")``, so that a one-track catalog gets that sentence rather than a range error.
        """
        if len(self) < minimum:
            raise CatalogError(
                f"{what} needs at least {minimum} tracks, but catalog {self.name!r} has {len(self)}"
                + ("" if len(self) > 1 else "; load a larger catalog (e.g. 'default')")
            )

    def require_playlists(self, minimum: int, what: str) -> None:
        """Raise `CatalogError` naming `what` unless the catalog has at least `minimum` non-empty playlists."""
        n = sum(1 for p in self.playlists.tracks if len(p))
        if n < minimum:
            raise CatalogError(
                f"{what} needs at least {minimum} playlists or sessions, but catalog {self.name!r} has {n}"
            )

    # ------------------------------------------------------------------ feature views
    def require_features(self, what: str) -> None:
        """Raise `CatalogError` naming `what` unless every track has its audio features."""
        missing = int((~self.has_features).sum())
        if missing:
            raise CatalogError(
                f"{what} needs audio features for every track, but catalog {self.name!r} lacks them for "
                f"{missing} of {len(self)} tracks; load a feature CSV alongside (features=...) or use "
                "catalog.with_features_only()"
            )

    def _minmax(self, columns: tuple[str, ...]) -> np.ndarray:
        self.require_features(f"the {len(columns)}-D feature view")
        x = self.tracks.loc[:, list(columns)].to_numpy(np.float64)
        lo, hi = x.min(axis=0), x.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return ((x - lo) / span).astype(np.float32)

    @cached_property
    def features_11(self) -> np.ndarray:
        """(N, 11) float32: `FEATURES_11` min-max scaled to [0, 1] over the catalog (as the PPO project)."""
        return self._minmax(FEATURES_11)

    @cached_property
    def taste_features(self) -> np.ndarray:
        """(N, 9) float32: `TASTE_FEATURES` min-max scaled to [0, 1] over the catalog.

        Loudness and tempo are the only features not already in [0, 1]; min-max scaling puts all
        nine on one scale so that cosine similarity is not dominated by tempo (the DQN project
        scaled its features the same way before taking means and cosines).
        """
        return self._minmax(TASTE_FEATURES)

    @cached_property
    def attributes(self) -> np.ndarray:
        """(N, 21) float32 binary song attributes; see `musicgym.catalog.attributes` for each rule."""
        self.require_features("the 21 binary attributes")
        return attribute_matrix(self.tracks)

    @property
    def attribute_names(self) -> tuple[str, ...]:
        """Names of the 21 binary attribute columns."""
        return ATTRIBUTE_NAMES

    # ------------------------------------------------------------------ derived catalogs
    def with_features_only(self) -> Catalog:
        """A catalog of the rows that have audio features, playlists re-indexed (others dropped and reported)."""
        keep = self.has_features
        if keep.all():
            return self
        if not keep.any():
            raise CatalogError(f"catalog {self.name!r}: no track has audio features")
        new_row = np.full(len(self), -1, dtype=np.int64)
        new_row[keep] = np.arange(int(keep.sum()))
        report = self.report.copy()
        for row in np.flatnonzero(~keep):
            report.drop(None, f"track {self.tracks['track_id'].iat[row]!r} has no audio features")
        pls = [new_row[p][new_row[p] >= 0] for p in self.playlists.tracks]
        playlists = Playlists(pls, list(self.playlists.titles), self.playlists.ordered, list(self.playlists.users))
        return Catalog(self.tracks[keep], playlists, name=self.name, report=report)

    def describe(self) -> str:
        """A few lines on what the catalog holds, and the load report."""
        genres = self.tracks["genre"].replace("", "unknown").value_counts()
        lines = [
            repr(self),
            f"fingerprint {self.fingerprint}",
            f"artists {self.tracks['artist'].nunique()}, genres {({k: int(v) for k, v in genres.head(8).items()})}",
        ]
        if len(self.playlists):
            sizes = np.array([len(p) for p in self.playlists.tracks])
            kind = "sessions" if self.playlists.ordered else "playlists"
            lines.append(f"{kind} {len(sizes)}: length median {np.median(sizes):.0f}, max {sizes.max()}")
        lines.append(self.report.summary())
        return "\n".join(lines)
