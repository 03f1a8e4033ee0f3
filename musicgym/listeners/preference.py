"""The AH-DQN project's virtual user: preferences over 21 binary song attributes.

A user's preference vector p has one weight in [-1, 1] per attribute, drawn uniformly at reset. The
reward of a song with attribute vector a (0/1) is the dot product ``p . a`` divided by ``scale``
(default 5, about the number of attributes a song has, so rewards mostly lie in [-1, 1]); ranking
songs by reward is ranking them by inner product, which the shared attributes index does exactly.
After a song the user rewarded positively, preferences drift toward that song:
``p <- (1 - drift) p + drift a`` (the project's online mode, where the listener updates preferences).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from musicgym.catalog import ATTRIBUTE_NAMES, Catalog
from musicgym.checks import check_number
from musicgym.listeners.base import Listener

N_ATTR = len(ATTRIBUTE_NAMES)


@numba.njit(cache=True, nogil=True)
def _value(prefs, attrs, rows, tracks, scale, out):  # noqa: D103 (a kernel)
    """The reward p . a / scale per row for (R,) or (R, K) tracks, as float64 (float32 arithmetic), into `out`."""
    flat_t = tracks.reshape(rows.shape[0], -1)
    flat_o = out.reshape(rows.shape[0], -1)
    s = np.float32(scale)
    for i in range(rows.shape[0]):
        r = rows[i]
        for j in range(flat_t.shape[1]):
            t = flat_t[i, j]
            acc = np.float32(0.0)
            for m in range(prefs.shape[1]):
                acc += attrs[t, m] * prefs[r, m]
            flat_o[i, j] = np.float64(acc / s)


@numba.njit(cache=True, nogil=True)
def _drift(prefs, attrs, rows, tracks, reward, drift):  # noqa: D103 (a kernel)
    """P <- (1 - drift) p + drift a for the rows whose reward was positive."""
    keep = np.float32(1.0 - drift)
    move = np.float32(drift)
    for i in range(rows.shape[0]):
        if reward[i] > 0:
            r = rows[i]
            for m in range(prefs.shape[1]):
                prefs[r, m] = keep * prefs[r, m] + move * attrs[tracks[i], m]


class PreferenceUser(Listener):
    """Users with preferences over the 21 song attributes (module docstring).

    Args:
        drift: rate at which preferences move toward a positively rewarded song (0.05).
        scale: the dot product is divided by this (5).
    """

    components = ("dot_product",)
    state_attributes = ("prefs",)
    reset_options = ("preferences",)
    observation_dim = N_ATTR

    def __init__(self, drift: float = 0.05, scale: float = 5.0) -> None:
        self.drift = check_number("drift", drift, 0.0, 1.0)
        # the reward divides by it: a positive but denormal scale would divide by zero in the kernel
        self.scale = check_number("reward_scale", scale, 1e-6)
        self.reward_range = (-N_ATTR / self.scale, N_ATTR / self.scale)

    def setup(self, catalog: Catalog, num: int) -> None:
        """The catalog's attributes and the shared inner-product index over them."""
        from musicgym.index import CandidateIndex

        super().setup(catalog, num)
        catalog.require_features("MusicGym/Preference-v0")
        self.attrs = catalog.attributes
        self.index = CandidateIndex.for_catalog(catalog, "attributes")
        self.prefs = np.zeros((self.num, N_ATTR), dtype=np.float32)

    def sample(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Draw new preferences for `rows`, uniform in [-1, 1]."""
        self.prefs[rows] = rng.uniform(-1.0, 1.0, size=(len(rows), N_ATTR))

    def set_options(self, rows: np.ndarray, options: dict[str, Any]) -> None:
        """``preferences``: 21 numbers in [-1, 1] (a person's stated preferences)."""
        if "preferences" in options:
            self.set_preferences(rows, options["preferences"])

    def set_preferences(self, rows: np.ndarray, preferences: Any) -> None:
        """Set the preferences of `rows` (21 numbers in [-1, 1], one per attribute)."""
        try:
            p = np.asarray(preferences, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"preferences must be {N_ATTR} numbers in [-1, 1] (one per attribute: "
                             f"{', '.join(ATTRIBUTE_NAMES)}), got {preferences!r:.80}") from None
        if p.shape != (N_ATTR,) or not np.isfinite(p).all() or np.abs(p).max() > 1:
            raise ValueError(f"preferences must be {N_ATTR} numbers in [-1, 1] (one per attribute: "
                             f"{', '.join(ATTRIBUTE_NAMES)}), got shape {p.shape}")
        self.prefs[rows] = p

    def observe(self, rows: np.ndarray) -> np.ndarray:
        """(R, 21) the current preferences."""
        return self.prefs[rows]

    def respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        """``p . a / scale``."""
        reward = np.empty(len(rows))
        _value(self.prefs, self.attrs, rows, tracks, self.scale, reward)
        return {"reward": reward, "dot_product": reward * self.scale}

    def update(self, rows: np.ndarray, tracks: np.ndarray, response: dict[str, np.ndarray]) -> None:
        """Drift toward the songs that got a positive reward."""
        _drift(self.prefs, self.attrs, rows, tracks, np.asarray(response["reward"], dtype=np.float64), self.drift)

    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """The reward is deterministic given the hidden preferences."""
        tracks = np.ascontiguousarray(tracks, dtype=np.int64)
        out = np.empty(tracks.shape)
        _value(self.prefs, self.attrs, rows, tracks, self.scale, out)
        return out

    def best_tracks(self, rows: np.ndarray, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The preferences' best inner-product match in the shared attributes index, played songs excluded."""
        ids, _ = self.index.search(self.prefs[rows], 1, exclude=exclude)
        best = ids[:, 0]
        return best, np.where(best >= 0, self.expected_reward(rows, np.maximum(best, 0)), 0.0)
