"""A listening-session listener calibrated to real streaming logs: graded skips, satiation, leaving.

`SessionListener` simulates the hidden listener of a music streaming session: each track it is played
it skips very early, early, before the end, or plays to the end (the four graded outcomes of Spotify's
Music Streaming Sessions Dataset, MSSD: Brost, Mehrotra & Jehan, "The Music Streaming Sessions
Dataset", WWW 2019), it may like it, and after each track it may leave. The reward is the minutes it
listened (or the fraction of the track), so an agent trades a safe track now against a longer
session. The model and its terms are documented on the class; `musicgym.realism` fits its parameters
to real logs and ships the fit in ``assets/session_listener.json``, which ``SessionListener()`` loads.

Everything is batched over sessions (``rows``) and runs in a few numba kernels, so that the single env
(B = 1) and the native vector env (B = 1,024) share one implementation; per-session state is a ring
buffer of the last `history` plays with their power-law activation weights.
"""

from __future__ import annotations

import json
import math
import weakref
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar

import numba
import numpy as np
import pandas as pd

from musicgym import vexp
from musicgym.catalog import Catalog, CatalogError
from musicgym.catalog.model import TASTE_FEATURES
from musicgym.listeners.base import Listener
from musicgym.paths import ASSETS
from musicgym.prefetch import AHEAD, prefetch

#: The shipped fitted default (written by `musicgym.realism.calibrate`).
DEFAULT_PARAMS_PATH = ASSETS / "session_listener.json"
#: Version of the JSON written by `musicgym.realism.calibrate` and read by `load_params`.
SCHEMA_VERSION = 1
#: The four graded outcomes, in order of how much of the track was heard (MSSD's nested flags:
#: skip_1 implies skip_2 implies skip_3; not_skipped is the complement of skip_3 in this model).
OUTCOMES: tuple[str, ...] = ("skip_1", "skip_2", "skip_3", "not_skipped")
#: The named terms of the linear predictor (each is a reward component of `respond`, prefixed ``term_``).
TERMS: tuple[str, ...] = ("listener", "taste", "genre", "transition", "satiation", "familiarity", "position", "mood")


@dataclass(frozen=True)
class SessionParams:
    """The parameters of `SessionListener` (see its docstring for the model they enter).

    The calibrated ones (`musicgym.realism.calibrate.FREE` lists them) are fitted to MSSD and Last.fm
    (the defaults here are only the calibration's starting point; the fit ships in
    ``assets/session_listener.json``); the others are fixed by a published figure or by a modelling
    choice stated here, because no target we have identifies them. In particular the taste, genre and
    transition weights: the targets are measured under the behaviour policy, which plays the
    listener's own playlist, so they hardly depend on how fast a listener's liking falls off away from
    its taste; the fixed values make that fall-off steep (``experiments/realism_report.py`` prints
    the skip rates of random and taste-greedy policies against the behaviour policy's).

    Attributes:
        cut_1: theta_1, logit cut between "skipped very early" (skip_1) and the rest (calibrated).
        cut_2: theta_2, cut below which a track is skipped early (skip_2) (calibrated).
        cut_3: theta_3, cut below which a track is skipped before its end (skip_3) (calibrated).
        like_margin: a completed track is liked when the latent exceeds ``cut_3 + like_margin``. Not
            calibrated (none of our logs records likes): 2 logits above the completion cut.
        listener_sd: sigma_u, standard deviation of a listener's own offset u (calibrated).
        taste_weight: beta_taste, weight of the audio-feature taste match 1 - D (D: RMS distance from
            the listener's taste centre in within-playlist standard deviations). Fixed at 1: one logit
            per within-playlist standard deviation.
        taste_noise: spread of the listener's taste centre around its source playlist's mean, in
            within-playlist standard deviations. Fixed at 0.5.
        genre_weight: beta_genre, weight of the genre log-ratio log(g_r[genre] / q[genre]) (g_r the
            listener's genre mix, q the catalog's genre shares). Fixed at 0.5.
        transition_weight: beta_trans, weight of the jump from the previous track, (J - J0) with J the
            RMS feature distance between the two tracks and J0 the mean between consecutive tracks of
            the catalog's playlists. Fixed at 0.5.
        artist_satiation: beta_artist, weight of the artist's ACT-R activation. Fixed at 1.
        genre_satiation: beta_genre_sat, weight of the genre's ACT-R activation (calibrated).
        familiarity_weight: beta_fam, height of the mere-exposure inverted U of a replayed track.
            Fixed at 0.5.
        familiarity_peak: A*, the track activation at which a replay pleases most (0.1: one play about
            14 minutes of listening ago, with the LFM-2b decay). Fixed.
        first_track: beta_first, bonus of the session's first track (the listener chose it) (calibrated).
        position_slope: beta_pos, weight of log(position) (calibrated).
        mood_weight: beta_mood, weight of the recent-skip mood m (calibrated).
        mood_decay: rho, how much of the mood carries to the next track (calibrated).
        leave_base: gamma_0, intercept of the leave hazard (calibrated).
        leave_skip: gamma_skip, weight of the mood (recent skips) in the leave hazard. Fixed at log 2: a
            skip doubles the odds of leaving right after it. None of our targets conditions a session's
            end on skips (MSSD's hazards and Last.fm's lengths are marginal), and a free fit drifts to
            about 0, trading it against the other leave terms; so the listener leaves more after skips
            by this stated choice, not by a fit.
        leave_position: gamma_pos, weight of log(position) in the leave hazard (calibrated).
        leave_sd: sigma_v, standard deviation of a listener's own leave propensity v (calibrated).
        decay: d, power-law decay exponent of activations: 0.86, the exponent of relistening against
            the time since the last play for gaps under a week (LFM-2b; Reiter-Haas, Parada-Cabaleiro,
            Schedl, Motamedi, Tkalcic & Lex, "Predicting Music Relistening Behavior Using the ACT-R
            Framework", RecSys 2021).
        decay_offset: c, minutes added to the age of a play so that a play just started has a finite
            activation (ACT-R's presentation duration). Fixed at 1 minute.
        skip_1_fraction: a track skipped very early is heard for a uniform fraction below this (0.1).
        skip_2_fraction: a track skipped early is heard for a uniform fraction below this (0.33); a
            track skipped later for a uniform fraction between this and 1. MSSD does not publish the
            thresholds of its flags: these two are modelling choices.
    """

    cut_1: float = -0.1
    cut_2: float = 0.5
    cut_3: float = 1.3
    like_margin: float = 2.0
    listener_sd: float = 0.8
    taste_weight: float = 1.0
    taste_noise: float = 0.5
    genre_weight: float = 0.5
    transition_weight: float = 0.5
    artist_satiation: float = 1.0
    genre_satiation: float = 0.0
    familiarity_weight: float = 0.5
    familiarity_peak: float = 0.1
    first_track: float = 0.2
    position_slope: float = 0.25
    mood_weight: float = 1.2
    mood_decay: float = 0.3
    leave_base: float = -3.5
    leave_skip: float = math.log(2.0)
    leave_position: float = 0.5
    leave_sd: float = 1.5
    decay: float = 0.86
    decay_offset: float = 1.0
    skip_1_fraction: float = 0.1
    skip_2_fraction: float = 0.33

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ValueError(f"SessionParams.{f.name} must be a finite number, got {v!r}")
        if not self.cut_1 < self.cut_2 < self.cut_3:
            raise ValueError(f"the cuts must increase: cut_1 < cut_2 < cut_3, got {self.cut_1}, {self.cut_2}, "
                             f"{self.cut_3}")
        for name in ("like_margin", "decay", "decay_offset", "familiarity_peak"):
            if getattr(self, name) <= 0:
                raise ValueError(f"SessionParams.{name} must be positive, got {getattr(self, name)}")
        for name in ("listener_sd", "taste_noise", "leave_sd"):
            if getattr(self, name) < 0:
                raise ValueError(f"SessionParams.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.mood_decay < 1.0:
            raise ValueError(f"SessionParams.mood_decay must be in [0, 1), got {self.mood_decay}")
        if not 0.0 < self.skip_1_fraction < self.skip_2_fraction < 1.0:
            raise ValueError("SessionParams needs 0 < skip_1_fraction < skip_2_fraction < 1, got "
                             f"{self.skip_1_fraction}, {self.skip_2_fraction}")

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SessionParams:
        """Parameters from a dict; unknown names are an error that lists the accepted ones."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown SessionParams {unknown}; accepted: {sorted(names)}")
        return cls(**{k: float(v) for k, v in values.items()})

    def to_dict(self) -> dict[str, float]:
        """The parameters as a plain dict."""
        return asdict(self)

    def with_values(self, **values: float) -> SessionParams:
        """A copy with some parameters changed."""
        return replace(self, **values)

    def vector(self) -> np.ndarray:
        """The parameters as the float64 vector the kernels read (see ``_P_*``)."""
        return np.array([getattr(self, n) for n in _PARAM_ORDER], dtype=np.float64)


_PARAM_ORDER = tuple(f.name for f in fields(SessionParams))
(_P_CUT1, _P_CUT2, _P_CUT3, _P_LIKE, _P_USD, _P_TASTE, _P_NOISE, _P_GENRE, _P_TRANS, _P_ART, _P_GSAT, _P_FAM,
 _P_FAMPEAK, _P_FIRST, _P_POS, _P_MOOD, _P_RHO, _P_L0, _P_LSKIP, _P_LPOS, _P_LSD, _P_DECAY, _P_OFFSET, _P_F1,
 _P_F2) = range(len(_PARAM_ORDER))
_N_TERMS = len(TERMS)
_EXPECTED = 10 + _N_TERMS  # `_respond`'s column of the expected reward


def load_params(path: str | Path | None = None) -> SessionParams:
    """The parameters in a calibration JSON (default: the shipped fit for the default catalog).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file's schema version is not `SCHEMA_VERSION`, or a parameter is invalid.
    """
    path = Path(path) if path is not None else DEFAULT_PARAMS_PATH
    if not path.exists():
        raise FileNotFoundError(f"no listener calibration at {path}; run musicgym.realism.calibrate.calibrate(...)")
    doc = json.loads(path.read_text())
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path}: schema_version {doc.get('schema_version')!r}, expected {SCHEMA_VERSION}")
    return SessionParams.from_dict(doc["params"])


# ---------------------------------------------------------------------------------------------------- population
@dataclass(frozen=True)
class Population:
    """What a catalog tells about listeners, derived once per catalog (`population`).

    Attributes:
        within_sd: (9,) pooled within-playlist standard deviation of the z-scored taste features.
        genre_share: (G,) the catalog's genre shares q ("" is a genre of its own).
        centres: (P, 9) float32 mean scaled features of each source playlist.
        genre_counts: (P, G) float32 genre counts of each source playlist.
        playlists: the source playlists (catalog rows), those with at least 2 tracks.
        from_artists: True where the catalog has no playlists and artists' tracks stood in for them.
        jump: J0, mean RMS scaled distance between consecutive tracks of the source playlists.
        track_rows: (N, 16) float32, one 64-byte-aligned row per track, what the kernels read per
            candidate: the 9 taste features (z-scored over the catalog, divided by `within_sd`, so that
            distances count within-playlist standard deviations), the duration in minutes (the
            catalog's median where unknown), and in columns 10, 11 the artist and genre codes as int32
            bits (read them through `artist` / `genre` or ``track_rows.view(np.int32)``).
    """

    within_sd: np.ndarray
    genre_share: np.ndarray
    centres: np.ndarray
    genre_counts: np.ndarray
    playlists: list[np.ndarray]
    from_artists: bool
    jump: float
    track_rows: np.ndarray

    @property
    def features(self) -> np.ndarray:
        """(N, 9) float32 view: the scaled taste features."""
        return self.track_rows[:, :_D]

    @property
    def minutes(self) -> np.ndarray:
        """(N,) float32 view: the durations in minutes."""
        return self.track_rows[:, _T_MINUTES]

    @property
    def artist(self) -> np.ndarray:
        """(N,) int32 view: the artist codes."""
        return self.track_rows.view(np.int32)[:, _T_ARTIST]

    @property
    def genre(self) -> np.ndarray:
        """(N,) int32 view: the genre codes."""
        return self.track_rows.view(np.int32)[:, _T_GENRE]


#: One population per catalog object (the catalog's fingerprint leaves out artists, which the listener uses).
_populations: weakref.WeakKeyDictionary[Catalog, Population] = weakref.WeakKeyDictionary()


def population(catalog: Catalog) -> Population:
    """The listener population prior of `catalog`: its playlists' taste centres, genre mixes and spread.

    Each listener's taste comes from one source playlist (a random one, at `SessionListener.sample`).
    A catalog without playlists uses each artist's tracks (artists with 2+ tracks) as playlists.

    Raises:
        CatalogError: a track lacks audio features, or no playlist (or artist) has 2 tracks.
    """
    if catalog in _populations:
        return _populations[catalog]
    catalog.require_features("SessionListener")
    tracks = catalog.tracks
    x = tracks.loc[:, list(TASTE_FEATURES)].to_numpy(np.float64)
    sd = x.std(axis=0)
    z = (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    artist = pd.factorize(tracks["artist"].astype(str))[0].astype(np.int32)
    genre_codes, genre_names = pd.factorize(tracks["genre"].astype(str))
    genre = genre_codes.astype(np.int32)
    n_genres = len(genre_names)
    dur = tracks["duration_ms"].to_numpy(np.float64) / 60_000.0
    ok = np.isfinite(dur) & (dur > 0)
    minutes = np.where(ok, dur, np.median(dur[ok]) if ok.any() else 3.5)
    playlists = [p for p in catalog.playlists.tracks if len(p) >= 2]
    from_artists = not playlists
    if from_artists:
        order = np.argsort(artist, kind="stable")
        bounds = np.flatnonzero(np.diff(artist[order])) + 1
        playlists = [g for g in np.split(order, bounds) if len(g) >= 2]
    if not playlists:
        raise CatalogError(f"SessionListener draws listeners from playlists, but catalog {catalog.name!r} has "
                           "no playlist with 2 or more tracks, nor an artist with 2 or more tracks")
    lens = np.array([len(p) for p in playlists])
    starts = np.r_[0, np.cumsum(lens)[:-1]]
    flat = np.concatenate(playlists)
    means = np.add.reduceat(z[flat], starts, axis=0) / lens[:, None]
    resid = z[flat] - np.repeat(means, lens, axis=0)
    within = np.sqrt((resid**2).sum(axis=0) / max(len(flat) - len(playlists), 1))
    within = np.maximum(within, 1e-3)
    feats = (z / within).astype(np.float32)
    same = np.repeat(np.arange(len(playlists)), lens)
    step = same[1:] == same[:-1]
    jumps = np.sqrt(((feats[flat[1:]] - feats[flat[:-1]]) ** 2).mean(axis=1))[step]
    counts = np.zeros((len(playlists), n_genres), dtype=np.float32)
    np.add.at(counts, (same, genre[flat]), 1.0)
    share = np.bincount(genre, minlength=n_genres) / len(genre)
    pop = Population(within, share, (means / within).astype(np.float32), counts, playlists, from_artists,
                     float(jumps.mean()) if jumps.size else 1.0, _track_rows(feats, minutes, artist, genre))
    _populations[catalog] = pop
    return pop


def _track_rows(feats: np.ndarray, minutes: np.ndarray, artist: np.ndarray, genre: np.ndarray) -> np.ndarray:
    """`Population.track_rows`: (N, 16) float32 rows aligned to 64 bytes (one cache line per track)."""
    n = len(feats)
    raw = np.zeros(n * _T_WIDTH + 16, dtype=np.float32)
    skip = (-raw.ctypes.data % 64) // 4
    rows = raw[skip : skip + n * _T_WIDTH].reshape(n, _T_WIDTH)
    rows[:, :_D] = feats
    rows[:, _T_MINUTES] = minutes
    ints = rows.view(np.int32)
    ints[:, _T_ARTIST] = artist
    ints[:, _T_GENRE] = genre
    return rows


# ---------------------------------------------------------------------------------------------------- kernels
# The state lives in few arrays, so that a kernel call passes few arguments (numba's dispatch costs about
# 0.4 us per argument, which matters at B = 1):
#   sess_f (B, 4 + D + G) float64: listener offset u, time (minutes heard), mood, leave propensity v, taste
#       centre (D), genre log-ratios (G);
#   sess_i (B, 3) int64: tracks heard, previous track (-1: none), left (0/1);
#   buf_i (B, 3, H) int32: ring buffer of the last H plays: track, artist, genre (-1: empty);
#   buf_w (B, H) float32: each play's activation weight (age + c) ** -d now (refreshed after every play,
#       since every weight decays); buf_t (B, H) float64: each play's start time (only `_hear` reads it);
#   trk (N, 16) float32, one 64-byte cache line per track: the 9 scaled taste features, the duration in
#       minutes, and (read through the int32 view trk_int of the same memory) artist and genre codes;
#   par: `SessionParams.vector()` extended with J0, exp(-cut_c) and 1 / familiarity_peak (`_P_JUMP`,
#       `_P_E1`..`_P_E3`, `_P_INVPEAK`).
# Scoring a candidate costs one cache miss (its trk row): the step is memory-bound at B = 1,024. A row's
# candidates are scored together (`_block_terms`): each term is a branch-free loop over the candidates,
# which numba vectorises; the activations are sums over the filled part of the buffer, not lookups.
_SF_U, _SF_TIME, _SF_MOOD, _SF_LEAVE, _SF_CENTRE = range(5)
_SI_POS, _SI_PREV, _SI_LEFT = range(3)
_P_JUMP, _P_E1, _P_E2, _P_E3, _P_INVPEAK = range(len(_PARAM_ORDER), len(_PARAM_ORDER) + 5)
_D = len(TASTE_FEATURES)
_INV_SQRT_D = 1.0 / math.sqrt(_D)
_T_MINUTES, _T_ARTIST, _T_GENRE, _T_WIDTH = _D, _D + 1, _D + 2, 16
_TABLE_STEP = 16.0  # activation weights: a table at 1/16-minute resolution ...
_TABLE_MINUTES = 1024.0  # ... up to this age (older plays use the exact power)
_BEST_BLOCK = 64  # `_best` scores the catalog in blocks of this many tracks


@numba.njit(cache=True, nogil=True)
def _decay(age, table, par):
    """(age + c) ** -d: linear interpolation in the 1/16-minute table, the exact power beyond it."""
    x = age * _TABLE_STEP
    if x < table.shape[0] - 1:
        i = int(x)
        f = x - i
        return table[i] + f * (table[i + 1] - table[i])
    return (age + par[_P_OFFSET]) ** (-par[_P_DECAY])


@numba.njit(cache=True, nogil=True, inline="always")
def _row_setup(r, sess_f, sess_i, buf_w, trk, par, centre, prev_f):
    """Row r's track-independent terms (listener, position, mood), has_prev and the filled buffer length.

    Also copies the row's taste centre and its previous track's features into the scratch arrays.
    """
    pos = sess_i[r, _SI_POS] + 1
    position = par[_P_POS] * math.log(pos) + (par[_P_FIRST] if pos == 1 else 0.0)
    mood = -par[_P_MOOD] * sess_f[r, _SF_MOOD]
    for k in range(_D):
        centre[k] = sess_f[r, _SF_CENTRE + k]
    prev = sess_i[r, _SI_PREV]
    if prev >= 0:
        for k in range(_D):
            prev_f[k] = trk[prev, k]
    return sess_f[r, _SF_U], position, mood, prev >= 0, min(pos - 1, buf_w.shape[1])


@numba.njit(cache=True, nogil=True, inline="always")
def _lanes(m):
    """The count m rounded up to a multiple of 8: the block loops run over whole vectors (`_block`)."""
    return (m + 7) & ~7


@numba.njit(cache=True, nogil=True, inline="always")
def _block(width):
    """Scratch for a block of up to `width` tracks, one array per field (`_load`, `_block_terms`).

    (feature columns (D, w) float32; artist, genre and track ids (w,) int32; five float32 accumulators
    (w,); the five terms (5, w) float64, w = `_lanes`(width).) Laid out this way, each term is a loop over
    the block's tracks that numba vectorises (the loops over features and plays run outside it). The
    loops run over a whole number of 8-wide vectors: with a remainder (20 candidates: 16 + 4) LLVM runs
    the remainder, or the whole loop when it is shorter than its unrolled vector body, one track at a
    time (in a micro-benchmark of the play loop: 2.2 times as long over 20 tracks as over 24). The slots past the
    tracks loaded are padding: zero features and id -1, which no play has, so they match nothing; their
    terms are computed and never read.
    """
    f32, i32 = np.float32, np.int32
    w = _lanes(width)
    return (np.zeros((_D, w), dtype=f32), np.full(w, -1, dtype=i32), np.full(w, -1, dtype=i32),
            np.full(w, -1, dtype=i32), np.empty(w, dtype=f32), np.empty(w, dtype=f32),
            np.empty(w, dtype=f32), np.empty(w, dtype=f32), np.empty(w, dtype=f32),
            np.empty((5, w)))


@numba.njit(cache=True, nogil=True, inline="always")
def _load(c, t, trk, trk_int, blk):
    """Put track t's row into slot c of a block (`_block`)."""
    cols, art, gen, tid = blk[0], blk[1], blk[2], blk[3]
    for k in range(_D):
        cols[k, c] = trk[t, k]
    art[c] = trk_int[t, _T_ARTIST]
    gen[c] = trk_int[t, _T_GENRE]
    tid[c] = np.int32(t)


@numba.njit(cache=True, nogil=True, inline="always")
def _sq_dist(cols, c, x):
    """Squared distance (float32) of slot c's features from x, summed over the features in order."""
    s = np.float32(0.0)
    for k in range(_D):
        d = cols[k, c] - x[k]
        s += d * d
    return s


# The five terms of a track from its sums (`_block_terms`); b_* are the weights, read once per block
@numba.njit(cache=True, nogil=True, inline="always")
def _taste_term(s_taste, b_taste):  # noqa: D103
    return b_taste * (1.0 - math.sqrt(np.float64(s_taste)) * _INV_SQRT_D)


@numba.njit(cache=True, nogil=True, inline="always")
def _transition_term(s_jump, b_trans, j0):  # noqa: D103
    return -b_trans * (math.sqrt(np.float64(s_jump)) * _INV_SQRT_D - j0)


@numba.njit(cache=True, nogil=True, inline="always")
def _satiation_term(a_art, a_gen, b_art, b_gsat):  # noqa: D103
    return -b_art * np.float64(a_art) - b_gsat * np.float64(a_gen)


@numba.njit(cache=True, nogil=True, inline="always")
def _familiarity_term(a_trk, b_fam, inv_peak):  # noqa: D103
    y = np.float64(a_trk) * inv_peak
    return b_fam * y * (2.0 - y)


@numba.njit(cache=True, nogil=True, inline="always")
def _block_terms(r, m, blk, centre, prev_f, has_prev, n, sess_f, buf_i, buf_w, par):
    """taste, genre, transition, satiation, familiarity of a block's first m tracks for row r (after `_row_setup`).

    Returns the (5, width) terms, ``[:, c]`` for slot c (`_load`). Every slot's arithmetic is the same
    sequence of operations whatever its position and the block's size (one track, m == 1, goes through
    the same helpers without the block loops), so a track's terms do not depend on the tracks beside it.
    """
    cols, art, gen, tid, s_taste, s_jump, a_art, a_gen, a_trk, terms = blk
    b_taste, b_genre, b_trans, b_art, b_fam = par[_P_TASTE], par[_P_GENRE], par[_P_TRANS], par[_P_ART], par[_P_FAM]
    b_gsat, j0, inv_peak = par[_P_GSAT], par[_P_JUMP], par[_P_INVPEAK]
    g0 = _SF_CENTRE + _D  # the genre log-ratios' first column of sess_f
    zero = np.float32(0.0)
    if m == 1:  # one track (a response, a regret)
        aa = ag = at = zero
        for j in range(n):
            wj = buf_w[r, j]
            aa += wj if art[0] == buf_i[r, 1, j] else zero
            ag += wj if gen[0] == buf_i[r, 2, j] else zero
            at += wj if tid[0] == buf_i[r, 0, j] else zero
        terms[0, 0] = _taste_term(_sq_dist(cols, 0, centre), b_taste)
        terms[1, 0] = b_genre * sess_f[r, g0 + gen[0]]
        terms[2, 0] = _transition_term(_sq_dist(cols, 0, prev_f), b_trans, j0) if has_prev else 0.0
        terms[3, 0] = _satiation_term(aa, ag, b_art, b_gsat)
        terms[4, 0] = _familiarity_term(at, b_fam, inv_peak)
        return terms
    # whole vectors (`_block`): slots m.. hold padding (or, in `_best`, an earlier block's tracks), and the
    # genre term reads sess_f at their genre (-1: the last taste column; any id: a genre column). One loop
    # per sum or term, each of which vectorises (the genre term's lookup does not): a loop over all five
    # terms ran one track at a time.
    w = _lanes(m)  # within the block's width (`_block`: m <= width)
    for c in range(w):  # the feature loop (D fixed) unrolls, and the loop over the tracks vectorises
        s_taste[c] = _sq_dist(cols, c, centre)
        s_jump[c] = _sq_dist(cols, c, prev_f)
    for c in range(w):
        a_art[c] = a_gen[c] = a_trk[c] = 0.0
    for j in range(n):
        wj = buf_w[r, j]
        bt, ba, bg = buf_i[r, 0, j], buf_i[r, 1, j], buf_i[r, 2, j]
        for c in range(w):
            a_art[c] += wj if art[c] == ba else zero
            a_gen[c] += wj if gen[c] == bg else zero
            a_trk[c] += wj if tid[c] == bt else zero
    t_taste, t_genre, t_trans, t_sat, t_fam = terms[0], terms[1], terms[2], terms[3], terms[4]
    for c in range(w):
        t_taste[c] = _taste_term(s_taste[c], b_taste)
    for c in range(w):
        t_genre[c] = b_genre * sess_f[r, g0 + gen[c]]
    if has_prev:
        for c in range(w):
            t_trans[c] = _transition_term(s_jump[c], b_trans, j0)
    else:
        for c in range(w):
            t_trans[c] = 0.0
    for c in range(w):
        t_sat[c] = _satiation_term(a_art[c], a_gen[c], b_art, b_gsat)
    for c in range(w):
        t_fam[c] = _familiarity_term(a_trk[c], b_fam, inv_peak)
    return terms


@numba.njit(cache=True, nogil=True, inline="always")
def _clipped(eta):
    """The linear predictor clipped to [-40, 40], where every probability is 0 or 1 to double precision anyway."""
    return min(max(eta, -40.0), 40.0)


@numba.njit(cache=True, nogil=True, inline="always")
def _cumulative_exp(e, par):
    """`_cumulative` from e = exp(clipped eta): P(skip_c) = 1 / d_c, d_c = 1 + e e^-cut_c.

    One division: 1 / d_1 = d_2 d_3 / (d_1 d_2 d_3); the clip keeps the product finite.
    """
    d1 = 1.0 + e * par[_P_E1]
    d2 = 1.0 + e * par[_P_E2]
    d3 = 1.0 + e * par[_P_E3]
    inv = 1.0 / (d1 * d2 * d3)
    return d2 * d3 * inv, d1 * d3 * inv, d1 * d2 * inv


@numba.njit(cache=True, nogil=True, inline="always")
def _cumulative(eta, par):
    """P(skip_1), P(skip_2), P(skip_3) = sigmoid(cut_c - eta): one exp and one division (`_cumulative_exp`)."""
    return _cumulative_exp(vexp.exp(_clipped(eta)), par)


@numba.njit(cache=True, nogil=True, inline="always")
def _eta(base, terms, c):
    """Slot c's linear predictor: the row's base (listener + position + mood), then its terms in order.

    Every kernel sums in this order, so a track's expected reward is one number wherever it is computed.
    """
    return base + terms[0, c] + terms[1, c] + terms[2, c] + terms[3, c] + terms[4, c]


@numba.njit(cache=True, nogil=True, inline="always")
def _reward(c1, c2, c3, t, trk, par, reward_minutes):
    """E[reward] of track t from its cumulative probabilities.

    E[fraction heard] = 1 - f2/2 P1 - (1 - f1)/2 P2 - (1 - f2)/2 P3, times the track's minutes.
    """
    f1, f2 = par[_P_F1], par[_P_F2]
    f = 1.0 - 0.5 * (f2 * c1 + (1.0 - f1) * c2 + (1.0 - f2) * c3)
    return f * trk[t, _T_MINUTES] if reward_minutes else f


@numba.njit(cache=True, nogil=True, inline="always")
def _block_exp(base, terms, m, e):
    """e[c] = exp(clipped eta) of a block's first m slots (`_cumulative_exp` takes it): a loop that vectorises.

    The same numbers as `_cumulative`'s exp of each slot's eta (`_eta`), which `_respond` takes.
    """
    for c in range(m):
        e[c] = vexp.exp(_clipped(_eta(base, terms, c)))


@numba.njit(cache=True, nogil=True)
def _expected(rows, tracks, sess_f, sess_i, buf_i, buf_w, trk, trk_int, par, reward_minutes,
              probabilities):
    """(R, K, 1) expected reward, or with `probabilities` (R, K, 4) probabilities of the exclusive outcomes."""
    n_rows, n_k = tracks.shape
    out = np.empty((n_rows, n_k, 4 if probabilities else 1))
    centre = np.zeros(_D, dtype=np.float32)
    prev_f = np.zeros(_D, dtype=np.float32)
    blk = _block(n_k)
    e = np.empty(n_k)
    for i in range(n_rows):
        r = rows[i]
        if i + AHEAD < n_rows:  # the candidates' track rows of a later session (`musicgym.prefetch`)
            for j in range(n_k):
                prefetch(trk, tracks[i + AHEAD, j], 0)
        for j in range(n_k):  # independent loads: a large catalog's cache misses overlap
            _load(j, tracks[i, j], trk, trk_int, blk)
        u, position, mood, has_prev, n = _row_setup(r, sess_f, sess_i, buf_w, trk, par, centre, prev_f)
        terms = _block_terms(r, n_k, blk, centre, prev_f, has_prev, n, sess_f, buf_i, buf_w, par)
        _block_exp(u + position + mood, terms, n_k, e)
        for j in range(n_k):
            c1, c2, c3 = _cumulative_exp(e[j], par)
            if probabilities:
                out[i, j, 0] = c1
                out[i, j, 1] = c2 - c1
                out[i, j, 2] = c3 - c2
                out[i, j, 3] = 1.0 - c3
            else:
                out[i, j, 0] = _reward(c1, c2, c3, tracks[i, j], trk, par, reward_minutes)
    return out


@numba.njit(cache=True, nogil=True)
def _respond(rows, tracks, u, sess_f, sess_i, buf_i, buf_w, trk, trk_int, par, reward_minutes):
    """Sample each row's outcome (u[:, 0]), fraction heard (u[:, 1]) and leaving (u[:, 2]).

    Returns (R, 10 + 8 + 1) float64: skip_1, skip_2, skip_3, not_skipped, fraction, minutes, liked, left,
    leave probability, reward, the 8 terms (`TERMS`), then the expected reward before the draw (column
    `_EXPECTED`: the same number as `_expected`'s for the track, from the same linear predictor).
    """
    n_rows = rows.shape[0]
    out = np.empty((n_rows, _EXPECTED + 1))
    f1, f2 = par[_P_F1], par[_P_F2]
    centre = np.zeros(_D, dtype=np.float32)
    prev_f = np.zeros(_D, dtype=np.float32)
    blk = _block(1)
    for i in range(n_rows):
        r = rows[i]
        t = tracks[i]
        if i + AHEAD < n_rows:
            prefetch(trk, tracks[i + AHEAD], 0)
        _load(0, t, trk, trk_int, blk)
        lu, position, mood, has_prev, n = _row_setup(r, sess_f, sess_i, buf_w, trk, par, centre, prev_f)
        terms = _block_terms(r, 1, blk, centre, prev_f, has_prev, n, sess_f, buf_i, buf_w, par)
        taste, genre, transition, satiation, familiarity = (terms[0, 0], terms[1, 0], terms[2, 0], terms[3, 0],
                                                            terms[4, 0])
        eta = _eta(lu + position + mood, terms, 0)
        c1, c2, c3 = _cumulative(eta, par)
        out[i, _EXPECTED] = _reward(c1, c2, c3, t, trk, par, reward_minutes)
        x = u[i, 0]
        s1 = x < c1
        s2 = x < c2
        s3 = x < c3
        if s1:
            frac = u[i, 1] * f1
        elif s2:
            frac = f1 + u[i, 1] * (f2 - f1)
        elif s3:
            frac = f2 + u[i, 1] * (1.0 - f2)
        else:
            frac = 1.0
        # the same logistic latent as the outcome: liked iff eta + logit(x) > cut_3 + like_margin
        like_p = 1.0 / (1.0 + math.exp(min(par[_P_CUT3] + par[_P_LIKE] - eta, 700.0)))
        new_mood = par[_P_RHO] * sess_f[r, _SF_MOOD] + (1.0 if s2 else 0.0)
        h_eta = (par[_P_L0] + sess_f[r, _SF_LEAVE] + par[_P_LSKIP] * new_mood
                 + par[_P_LPOS] * math.log(sess_i[r, _SI_POS] + 1))
        hazard = 1.0 / (1.0 + math.exp(min(-h_eta, 700.0)))
        mins = frac * trk[t, _T_MINUTES]
        out[i, 0] = 1.0 if s1 else 0.0
        out[i, 1] = 1.0 if s2 else 0.0
        out[i, 2] = 1.0 if s3 else 0.0
        out[i, 3] = 0.0 if s3 else 1.0
        out[i, 4] = frac
        out[i, 5] = mins
        out[i, 6] = 1.0 if x >= 1.0 - like_p else 0.0
        out[i, 7] = 1.0 if u[i, 2] < hazard else 0.0
        out[i, 8] = hazard
        out[i, 9] = mins if reward_minutes else frac
        out[i, 10] = lu
        out[i, 11] = taste
        out[i, 12] = genre
        out[i, 13] = transition
        out[i, 14] = satiation
        out[i, 15] = familiarity
        out[i, 16] = position
        out[i, 17] = mood
    return out


@numba.njit(cache=True, nogil=True)
def _hear(rows, tracks, heard, skipped, left, sess_f, sess_i, buf_i, buf_w, buf_t, trk_int, table,
          par):
    """Row i heard `heard[i]` minutes of tracks[i]: push it, advance time and mood, refresh the weights."""
    hist = buf_i.shape[2]
    for i in range(rows.shape[0]):
        r = rows[i]
        t = tracks[i]
        slot = sess_i[r, _SI_POS] % hist
        buf_i[r, 0, slot] = t
        buf_i[r, 1, slot] = trk_int[t, _T_ARTIST]
        buf_i[r, 2, slot] = trk_int[t, _T_GENRE]
        buf_t[r, slot] = sess_f[r, _SF_TIME]
        now = sess_f[r, _SF_TIME] + heard[i]
        sess_f[r, _SF_TIME] = now
        sess_f[r, _SF_MOOD] = par[_P_RHO] * sess_f[r, _SF_MOOD] + skipped[i]
        sess_i[r, _SI_POS] += 1
        sess_i[r, _SI_PREV] = t
        sess_i[r, _SI_LEFT] = left[i]
        for j in range(min(sess_i[r, _SI_POS], hist)):
            buf_w[r, j] = _decay(now - buf_t[r, j], table, par)


@numba.njit(cache=True, nogil=True)
def _best(rows, exclude, sess_f, sess_i, buf_i, buf_w, trk, trk_int, par, reward_minutes):
    """Each row's catalog track of highest expected reward, not in its exclude row (-1 padded)."""
    n_rows = rows.shape[0]
    n_tracks = trk.shape[0]
    best = np.full(n_rows, -1, dtype=np.int64)
    value = np.zeros(n_rows)
    banned = np.zeros(n_tracks, dtype=np.bool_)
    centre = np.zeros(_D, dtype=np.float32)
    prev_f = np.zeros(_D, dtype=np.float32)
    blk = _block(_BEST_BLOCK)
    e = np.empty(_BEST_BLOCK)
    for i in range(n_rows):
        r = rows[i]
        for j in range(exclude.shape[1]):
            if exclude[i, j] >= 0:
                banned[exclude[i, j]] = True
        u, position, mood, has_prev, n = _row_setup(r, sess_f, sess_i, buf_w, trk, par, centre, prev_f)
        base = u + position + mood
        top = -1.0
        t = 0
        while t < n_tracks:  # blocks of up to _BEST_BLOCK unbanned tracks, in track order
            m = 0
            while t < n_tracks and m < _BEST_BLOCK:
                if not banned[t]:
                    _load(m, t, trk, trk_int, blk)
                    m += 1
                t += 1
            terms = _block_terms(r, m, blk, centre, prev_f, has_prev, n, sess_f, buf_i, buf_w, par)
            _block_exp(base, terms, m, e)
            for c in range(m):
                c1, c2, c3 = _cumulative_exp(e[c], par)
                v = _reward(c1, c2, c3, blk[3][c], trk, par, reward_minutes)
                if v > top:
                    top = v
                    best[i] = blk[3][c]
        value[i] = top if best[i] >= 0 else 0.0
        for j in range(exclude.shape[1]):
            if exclude[i, j] >= 0:
                banned[exclude[i, j]] = False
    return best, value


# ---------------------------------------------------------------------------------------------------- listener
class SessionListener(Listener):
    """Hidden listeners of streaming sessions who skip, finish, like and leave, calibrated to MSSD.

    **Who the listener is** (drawn by `sample`, hidden: ``observation_dim = 0``; a new listener every
    episode, so the env is a POMDP). Each listener takes its taste from one source playlist of the
    catalog, drawn uniformly (the population prior of `population`):

    * a taste centre mu_r: the playlist's mean of the 9 taste features plus N(0, ``taste_noise``^2)
      noise, in units of the pooled within-playlist standard deviation, which also scales every
      distance below (features are z-scored over the catalog first);
    * a genre mix g_r ~ Dirichlet(genre counts of the playlist + G q), q the catalog's genre shares;
    * an own offset u_r ~ N(0, ``listener_sd``^2) (some listeners skip more than others);
    * an own leave propensity v_r ~ N(0, ``leave_sd``^2) (some listeners stay longer than others).

    **How it answers a track** t at position k (1 = the session's first track): an ordinal
    (cumulative-logit) model over MSSD's four graded outcomes. With the linear predictor

    ``eta = listener + taste + genre + transition + satiation + familiarity + position + mood``

    * listener = u_r;
    * taste = ``taste_weight`` (1 - D(t, mu_r)), D the RMS scaled feature distance to the centre;
    * genre = ``genre_weight`` clip(log(g_r[genre_t] / q[genre_t]), -4, 4);
    * transition = -``transition_weight`` (J(t, t_prev) - J0), J the RMS scaled distance from the
      previous track and J0 its mean between consecutive tracks of the catalog's playlists (0 at k = 1);
    * satiation = -``artist_satiation`` A_artist(t) - ``genre_satiation`` A_genre(t), where an ACT-R
      base-level activation A = sum over earlier plays of (age + c)^-d sums the power-law decayed
      plays of the artist (genre): ages in minutes of the session's listening time, d = ``decay``
      (0.86, LFM-2b), c = ``decay_offset``;
    * familiarity = ``familiarity_weight`` y (2 - y), y = A_track(t) / ``familiarity_peak``: the
      inverted U of mere exposure; a replay after a while pleases (y near 1), a replay right away bores
      (y > 2 is negative), an unheard track scores 0;
    * position = ``position_slope`` log k + ``first_track`` [k = 1];
    * mood = -``mood_weight`` m, with m <- ``mood_decay`` m + [skip_2] after each track: a skip makes
      the next skip likelier;

    P(skip_1) = sigmoid(``cut_1`` - eta), P(skip_2) = sigmoid(``cut_2`` - eta), P(skip_3) =
    sigmoid(``cut_3`` - eta) (nested, as MSSD's flags), not_skipped = not skip_3. The fraction heard is
    uniform in [0, f1) (skip_1), [f1, f2) (skip_2 only), [f2, 1) (skip_3 only), 1 (played to the end),
    f1 = ``skip_1_fraction``, f2 = ``skip_2_fraction``; a completed track is liked when the same
    logistic latent exceeds ``cut_3 + like_margin``.

    **Leaving.** After each track the listener leaves with probability
    sigmoid(``leave_base`` + v_r + ``leave_skip`` m' + ``leave_position`` log k), m' the mood including
    this track's skip; `is_terminal` is True after that step's response (the env also truncates, at 50
    tracks by default).

    **Reward** (`reward`): ``"minutes"`` (default), the minutes of the track heard, so a skipped
    track earns little and a listener who leaves early earns nothing more; or ``"fraction"``, the
    fraction of the track heard. `respond` also returns every outcome flag, ``fraction_heard``,
    ``minutes``, ``liked``, ``left``, ``leave_probability`` and each term's contribution
    ``term_<name>`` (`TERMS`). `expected_reward` is the exact expectation of the reward given the
    hidden state (one step); `outcome_probabilities` gives the four outcomes' probabilities.

    **For an env built on it.** Call it in the protocol's order (`sample`, `initial_tracks`, `start`;
    then per step `respond`, `update`, `is_terminal`). The listener is hidden: what a deployed
    recommender would see, and so what an env may show, is the response to the tracks played (the
    outcome flags, fraction heard and like of the last n tracks); ``leave_probability`` and the
    ``term_*`` components are the hidden model's and belong in ``info`` for analysis, not in
    observations. `source_playlist` (the listener's source) is hidden too; the behaviour policy of
    `musicgym.realism.simulate` uses it to replay what the real logs' listeners chose.

    **Time** is the session's cumulative minutes listened; the activations of the last `history` plays
    (a ring buffer per session, 50 by default = the env's truncation) decay with it.

    Args:
        params: a `SessionParams`, a dict of parameters (the rest from the shipped fit), or the path of
            a calibration JSON. Default: the shipped fit (``assets/session_listener.json``).
        reward: ``"minutes"`` or ``"fraction"``.
        history: plays kept per session for satiation and familiarity (at least 1).
        start_from_taste: True: the session starts from the first track of the listener's source
            playlist (`initial_tracks`; the listener chose it, as MSSD sessions start); False: the env
            draws the start.
    """

    components: ClassVar[tuple[str, ...]] = (*OUTCOMES, "fraction_heard", "minutes", "liked", "left",
                                             "leave_probability", *(f"term_{t}" for t in TERMS))
    #: the arrays holding the sessions' state (what an env snapshot saves and restores)
    state_attributes: ClassVar[tuple[str, ...]] = ("_sess_f", "_sess_i", "_buf_i", "_buf_w", "_buf_t",
                                                   "source_playlist")
    observation_dim = 0
    reward_range = (0.0, np.inf)
    REWARDS: ClassVar[tuple[str, ...]] = ("minutes", "fraction")

    def __init__(self, params: SessionParams | dict[str, float] | str | Path | None = None, reward: str = "minutes",
                 history: int = 50, start_from_taste: bool = True) -> None:
        if params is None or isinstance(params, (str, Path)):
            params = load_params(params)
        elif isinstance(params, dict):
            params = SessionParams.from_dict({**load_params().to_dict(), **params})
        elif not isinstance(params, SessionParams):
            raise TypeError(f"params must be a SessionParams, a dict, a path or None, got {type(params).__name__}")
        if reward not in self.REWARDS:
            raise ValueError(f"reward must be one of {self.REWARDS}, got {reward!r}")
        if isinstance(history, bool) or not isinstance(history, (int, np.integer)) or history < 1:
            raise ValueError(f"history must be an integer >= 1, got {history!r}")
        if not isinstance(start_from_taste, (bool, np.bool_)):
            raise TypeError(f"start_from_taste must be True or False, got {start_from_taste!r}")
        self.params = params
        self.reward = reward
        self.history = int(history)
        self.start_from_taste = bool(start_from_taste)
        if reward == "fraction":
            self.reward_range = (0.0, 1.0)

    # ------------------------------------------------------------------ life cycle
    def setup(self, catalog: Catalog, num: int) -> None:
        """Derive the catalog's population prior and per-track arrays; allocate `num` sessions' state."""
        super().setup(catalog, num)
        pop = population(catalog)
        self.pop = pop
        p = self.params
        self._par = np.concatenate([p.vector(), [pop.jump, math.exp(-p.cut_1), math.exp(-p.cut_2),
                                                 math.exp(-p.cut_3), 1.0 / p.familiarity_peak]])
        self._reward_minutes = self.reward == "minutes"
        d, n_genres = pop.features.shape[1], len(pop.genre_share)
        self._trk = pop.track_rows
        self._trk_int = pop.track_rows.view(np.int32)
        self._log_share = np.log(pop.genre_share)
        self._genre_prior = len(pop.genre_share) * pop.genre_share
        n = self.num
        self._sess_f = np.zeros((n, _SF_CENTRE + d + n_genres))
        self._sess_i = np.zeros((n, 3), dtype=np.int64)
        self._sess_i[:, _SI_PREV] = -1
        self._buf_i = np.full((n, 3, self.history), -1, dtype=np.int32)
        self._buf_w = np.zeros((n, self.history), dtype=np.float32)
        self._buf_t = np.zeros((n, self.history))
        #: each session's source playlist (an index into ``pop.playlists``), hidden from agents
        self.source_playlist = np.zeros(n, dtype=np.int64)
        ages = np.arange(int(_TABLE_MINUTES * _TABLE_STEP) + 1) / _TABLE_STEP
        self._table = (ages + p.decay_offset) ** (-p.decay)

    def sample(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Draw a new listener for each session in `rows` (source playlist, taste centre, genre mix, offset)."""
        rows = np.asarray(rows, dtype=np.int64)
        pop, p = self.pop, self.params
        m = len(rows)
        # one row: the scalar draw is the same number and costs a quarter of a sized one
        src = np.array([rng.integers(0, len(pop.playlists))]) if m == 1 else rng.integers(0, len(pop.playlists), size=m)
        self.source_playlist[rows] = src
        # the same draws whatever the parameters (common random numbers for the calibration)
        u = p.listener_sd * rng.standard_normal(m)
        v = p.leave_sd * rng.standard_normal(m)
        d = pop.features.shape[1]
        centre = pop.centres[src] + p.taste_noise * rng.standard_normal((m, d))
        g = rng.standard_gamma(pop.genre_counts[src] + self._genre_prior)  # = gamma(shape), drawn faster
        g /= g.sum(axis=1, keepdims=True)
        # log(0) would be -inf, clipped to -4 anyway: a floor below exp(-4) gives the same affinities
        aff = np.clip(np.log(np.maximum(g, 1e-300)) - self._log_share, -4.0, 4.0)
        block = np.zeros((m, self._sess_f.shape[1]))
        block[:, 0], block[:, 3] = u, v
        block[:, _SF_CENTRE:_SF_CENTRE + d] = centre
        block[:, _SF_CENTRE + d:] = aff
        self._sess_f[rows] = block
        self._sess_i[rows] = (0, -1, 0)
        self._buf_i[rows] = -1
        self._buf_w[rows] = 0.0

    def initial_tracks(self, rows: np.ndarray) -> np.ndarray | None:
        """The first track of each listener's source playlist (``start_from_taste``), else None."""
        if not self.start_from_taste:
            return None
        return np.array([self.pop.playlists[s][0] for s in self.source_playlist[rows]], dtype=np.int64)

    def start(self, rows: np.ndarray, tracks: np.ndarray) -> None:
        """The (R, S) start tracks, heard to the end (they count as positions 1..S of the session)."""
        rows = np.asarray(rows, dtype=np.int64)
        tracks = np.asarray(tracks, dtype=np.int64).reshape(len(rows), -1)
        zero, stay = np.zeros(len(rows)), np.zeros(len(rows), dtype=np.int64)
        for j in range(tracks.shape[1]):
            t = np.ascontiguousarray(tracks[:, j])
            _hear(rows, t, self._trk[t, _T_MINUTES].astype(np.float64), zero, stay, self._sess_f, self._sess_i,
                  self._buf_i, self._buf_w, self._buf_t, self._trk_int, self._table, self._par)

    # ------------------------------------------------------------------ one step
    def respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        """Sample each listener's graded outcome, fraction heard, like and leaving (3 uniforms per row)."""
        rows = np.asarray(rows, dtype=np.int64)
        out = _respond(rows, np.asarray(tracks, dtype=np.int64), rng.random((len(rows), 3)), self._sess_f,
                       self._sess_i, self._buf_i, self._buf_w, self._trk, self._trk_int, self._par,
                       self._reward_minutes)
        return {name: out[:, k] for k, name in enumerate(_RESPONSE_COLUMNS)}

    def update(self, rows: np.ndarray, tracks: np.ndarray, response: dict[str, np.ndarray]) -> None:
        """Push the tracks into the history, advance time by the minutes heard, update mood; note who left."""
        _hear(np.asarray(rows, dtype=np.int64), np.asarray(tracks, dtype=np.int64), response["minutes"],
              response["skip_2"], response["left"].astype(np.int64), self._sess_f, self._sess_i, self._buf_i,
              self._buf_w, self._buf_t, self._trk_int, self._table, self._par)

    def is_terminal(self, rows: np.ndarray) -> np.ndarray:
        """(R,) bool: the listener left after the last track."""
        return self._sess_i[rows, _SI_LEFT] != 0

    # ------------------------------------------------------------------ what a planner may ask
    def _expected(self, rows: np.ndarray, tracks: np.ndarray, probabilities: bool) -> np.ndarray:
        t = np.asarray(tracks, dtype=np.int64)
        return _expected(np.asarray(rows, dtype=np.int64), np.ascontiguousarray(t.reshape(t.shape[0], -1)),
                         self._sess_f, self._sess_i, self._buf_i, self._buf_w, self._trk, self._trk_int, self._par,
                         self._reward_minutes, probabilities)

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """E[reward] of playing `tracks` now ((R,) or (R, K)): minutes (or fraction) over the 4 outcomes."""
        return self._expected(rows, tracks, False).reshape(np.shape(tracks))

    def outcome_probabilities(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """Probabilities of the exclusive outcomes (skip_1; skip_2 only; skip_3 only; not skipped).

        Returns (R, 4) for (R,) `tracks`, (R, K, 4) for (R, K), for `tracks` played now.
        """
        return self._expected(rows, tracks, True).reshape(*np.shape(tracks), 4)

    def best_tracks(self, rows: np.ndarray, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The catalog track of highest expected reward per session (one pass over the catalog, no (R, N) array)."""
        exclude = np.asarray(exclude, dtype=np.int64).reshape(len(rows), -1)
        return _best(np.asarray(rows, dtype=np.int64), exclude, self._sess_f, self._sess_i, self._buf_i,
                     self._buf_w, self._trk, self._trk_int, self._par, self._reward_minutes)

    def feedback_text(self, response: dict[str, Any]) -> str:
        """E.g. "skipped early (0:41 heard)", "played to the end, liked (3:32)"."""
        if response["skip_1"]:
            what = "skipped very early"
        elif response["skip_2"]:
            what = "skipped early"
        elif response["skip_3"]:
            what = "skipped before the end"
        else:
            what = "played to the end"
        if response["liked"]:
            what += ", liked"
        secs = int(round(float(response["minutes"]) * 60))
        text = f"{what} ({secs // 60}:{secs % 60:02d} heard)"
        return text + ", then left" if response["left"] else text


_RESPONSE_COLUMNS = (*OUTCOMES, "fraction_heard", "minutes", "liked", "left", "leave_probability", "reward",
                     *(f"term_{t}" for t in TERMS))
