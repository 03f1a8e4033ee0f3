"""Supervised reference policies: fitted on a catalog's playlists, they rank tracks for a history.

Each one is an `Agent` (``learn`` fits it; ``total_timesteps`` is ignored, no env steps are used) and
acts in any MusicGym env: in candidates mode it plays the slot whose track it scores highest, in
catalog mode its top-ranked unplayed track. It reads the session's ``history`` and ``candidates``
from ``info`` (``uses_info = True``; `musicgym.evaluate` passes it). For offline evaluation it has
``rank(histories, k)`` (see `musicgym.offline`).

* ``popularity``: how many training playlists hold each track; the same ranking for every history.
* ``item_cf``: item-based collaborative filtering (`agents.item_cf.ItemCF`); a history with no
  co-occurrence evidence falls back to popularity.
* ``user_cf``: user/playlist-based collaborative filtering: the history is compared (cosine over
  tracks) with every training playlist; the `n_neighbours` most similar playlists vote for their
  tracks with their similarity; popularity breaks ties.

``save(path)`` writes the fitted state as data only (arrays, sparse matrices as their arrays, tensors;
`musicgym.agents.persist`), never a pickle. ``device`` is accepted by every policy (one setting for a
whole sweep); ``popularity``, ``item_cf`` and ``user_cf`` compute with numpy and scipy on the CPU.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from musicgym.agents.base import Agent
from musicgym.agents.hyperparams import Device, Int, Spec
from musicgym.agents.item_cf import ItemCF, binary_rows, csr_from_state, csr_state, top_unplayed
from musicgym.agents.persist import AgentFileError, read_agent_file, write_agent_file
from scipy import sparse

from musicgym.catalog import Playlists, load_catalog


def _pad(histories: list[np.ndarray]) -> np.ndarray:
    width = max([len(h) for h in histories] + [1])
    out = np.full((len(histories), width), -1, dtype=np.int64)
    for i, h in enumerate(histories):
        out[i, : len(h)] = h
    return out


class RankingPolicy(Agent):
    """Base of the reference policies (see module docstring)."""

    uses_info = True
    HYPERPARAMS: ClassVar[dict[str, Any]] = {"device": "cpu"}
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {"device": Device()}

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        # the catalog alone is enough to fit and rank (a catalog without audio features too); the
        # env is built only when the policy acts in it
        self.catalog = load_catalog(self.env_kwargs.get("catalog", "default"))
        self.n = len(self.catalog)
        self.fitted = False

    @cached_property
    def action_mode(self) -> str:
        """The env's documented ``action_mode`` (the env is built on first use: only acting needs it)."""
        return gym.make(self.env_id, **self.env_kwargs).unwrapped.action_mode

    @property
    def num_timesteps(self) -> int:
        """Reference policies use no env steps."""
        return 0

    def learn(self, total_timesteps: int = 0, callback: Any = None, progress_bar: bool = False) -> RankingPolicy:
        """Fit on the catalog's playlists (no env steps; `total_timesteps` is checked, then ignored)."""
        self.check_total_timesteps(total_timesteps)
        self.fit(self.catalog.playlists)
        return self

    def fit(self, playlists: Playlists) -> RankingPolicy:
        """Fit on `playlists` (e.g. the train part of `musicgym.offline.split_playlists`)."""
        if not any(len(p) for p in playlists.tracks):
            raise ValueError(f"agent {self.name!r} needs playlists or listening sessions to fit; there are none")
        self._fit(playlists)
        self.fitted = True
        return self

    def _fit(self, playlists: Playlists) -> None:
        raise NotImplementedError

    def scores(self, histories: np.ndarray, titles: list[str] | None = None) -> np.ndarray:
        """(B, N) scores of every track for (B, H) histories (-1 padded); title-conditioned policies read `titles`."""
        raise NotImplementedError

    def rank(self, histories: list[np.ndarray], k: int, titles: list[str] | None = None) -> np.ndarray:
        """(B, k) best tracks per history, history excluded, best first (-1 pads).

        An empty history gets the policy's documented fallback (the popular tracks); a track id outside
        the catalog raises a ValueError naming it.
        """
        self._check_fitted()
        for h in histories:
            self._check_history(np.asarray(h))
        if titles is not None and len(titles) != len(histories):
            raise ValueError(f"rank: {len(histories)} histories but {len(titles)} titles")
        return self._rank(histories, k, titles)

    def _rank(self, histories: list[np.ndarray], k: int, titles: list[str] | None = None) -> np.ndarray:
        h = _pad(histories)
        return top_unplayed(self.scores(h, titles), h, k)[0]

    def _check_history(self, history: np.ndarray) -> None:
        bad = history[(history < 0) | (history >= self.n)]
        if bad.size:
            raise ValueError(
                f"agent {self.name!r}: unknown track id(s) {bad[:5].tolist()} in the history; "
                f"catalog rows are 0..{self.n - 1}"
            )

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise ValueError(f"agent {self.name!r} is not fitted yet: call learn() (or fit(playlists)) first")

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """The best-scored slot (candidates mode) or unplayed track (catalog mode) for ``info["history"]``."""
        info = kw.get("info")
        if info is None or "history" not in info:
            raise ValueError(f"agent {self.name!r} acts on the session's history: pass info=... (evaluate() does)")
        self._check_fitted()
        history = np.asarray(info["history"], dtype=np.int64)
        self._check_history(history)
        if self.action_mode == "catalog":
            return np.asarray(self.rank([history], 1)[0, 0]), state
        cand = np.asarray(info["candidates"], dtype=np.int64)
        s = self.scores(history[None, :])[0]
        value = np.where(cand >= 0, s[np.maximum(cand, 0)], -np.inf)
        return np.asarray(int(value.argmax())), state

    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, np.ndarray] | None:
        """The policy's scores of the candidate slots' tracks (candidates mode)."""
        if self.action_mode == "catalog":
            return None
        self._check_fitted()
        cand = np.asarray(info["candidates"], dtype=np.int64)
        s = self.scores(np.asarray(info["history"], dtype=np.int64)[None, :])[0]
        return "score", np.where(cand >= 0, s[np.maximum(cand, 0)], -np.inf)

    def save(self, path: str | Path) -> None:
        """The fitted state at `path` (data only, module docstring); ``path.json`` names agent, env, hyperparameters."""
        write_agent_file(path, self.name, {"meta": self.describe(), "fitted": self.fitted,
                                           "state": self._state() if self.fitted else None})
        self.write_meta(path)

    @classmethod
    def load(cls, path: str | Path, device: Any = None) -> RankingPolicy:
        """Load a policy written by `save` (a neural one on `device`; default: where it was saved, if here)."""
        meta = cls.read_meta(path)
        cls.check_meta(meta, path)
        agent = cls.from_meta(meta, device=device, path=path)
        return agent.load_fitted(path)

    def load_fitted(self, path: str | Path) -> RankingPolicy:
        """Take the fitted state saved at `path` (by a policy of the same kind, on the same catalog)."""
        meta = self.read_meta(path)
        if meta["agent"] != self.name:
            raise AgentFileError(f"{path} holds a fitted {meta['agent']!r}, not a {self.name!r}")
        blob = read_agent_file(path, expect=self.name, saved_by=meta["agent"])
        try:
            if blob["fitted"]:
                self._set_state(blob["state"])
            self.fitted = bool(blob["fitted"])
        except (KeyError, ValueError, TypeError, RuntimeError, IndexError) as e:
            raise AgentFileError(f"{path}: its fitted state does not fit this {self.name!r} policy (another "
                                 f"catalog or hyperparameters, or damaged): {type(e).__name__}: {e}") from e
        return self

    def _state(self) -> Any:
        raise NotImplementedError

    def _set_state(self, state: Any) -> None:
        raise NotImplementedError


class PopularityPolicy(RankingPolicy):
    """Most frequent tracks in the training playlists, skipping those already played."""

    name = "popularity"

    def _fit(self, playlists: Playlists) -> None:
        counts = np.zeros(self.n)
        for p in playlists.tracks:
            np.add.at(counts, np.unique(p), 1.0)
        self.counts = counts

    def scores(self, histories: np.ndarray, titles: list[str] | None = None) -> np.ndarray:
        """The same popularity for every history."""
        return np.broadcast_to(self.counts, (len(histories), self.n))

    def _state(self) -> Any:
        return self.counts

    def _set_state(self, state: Any) -> None:
        counts = np.asarray(state, dtype=np.float64)
        if counts.shape != (self.n,):
            raise ValueError(f"popularity of {counts.shape} tracks, the catalog has {self.n}")
        self.counts = counts


class ItemCFPolicy(RankingPolicy):
    """Item-based CF: sum of cosine similarities to the history's tracks; popularity breaks ties."""

    name = "item_cf"
    HYPERPARAMS: ClassVar[dict[str, Any]] = {**RankingPolicy.HYPERPARAMS, "top_k": 100}
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {"top_k": Int(1)}

    def _fit(self, playlists: Playlists) -> None:
        self.cf = ItemCF.from_playlists(playlists, self.n, top_k=int(self.hp["top_k"]))

    def scores(self, histories: np.ndarray, titles: list[str] | None = None) -> np.ndarray:
        """CF scores plus a popularity tie-break (so an empty history gets the popular tracks)."""
        return self.cf.tie_broken_scores(histories)

    def _state(self) -> Any:
        return self.cf.state()

    def _set_state(self, state: Any) -> None:
        cf = ItemCF.from_state(state)
        if cf.n != self.n:
            raise ValueError(f"item-CF over {cf.n} tracks, the catalog has {self.n}")
        self.cf = cf


def _row_normalise(m: sparse.csr_matrix) -> sparse.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    return sparse.diags(1.0 / np.where(norms > 0, norms, 1.0)) @ m


class UserCFPolicy(RankingPolicy):
    """Playlist-based CF (see module docstring)."""

    name = "user_cf"
    HYPERPARAMS: ClassVar[dict[str, Any]] = {**RankingPolicy.HYPERPARAMS, "n_neighbours": 50}
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {"n_neighbours": Int(1)}

    def _fit(self, playlists: Playlists) -> None:
        x = binary_rows([p for p in playlists.tracks if len(p)], self.n)
        self.playlists = x
        self.playlists_normed = _row_normalise(x).tocsr()
        self.popularity = np.asarray(x.sum(axis=0)).ravel()

    def scores(self, histories: np.ndarray, titles: list[str] | None = None) -> np.ndarray:
        """Similarity-weighted votes of the most similar training playlists."""
        h = _row_normalise(binary_rows([row[row >= 0] for row in histories], self.n))
        sim = np.asarray((h @ self.playlists_normed.T).todense())
        k = min(int(self.hp["n_neighbours"]), sim.shape[1])
        if k < sim.shape[1]:
            cut = np.partition(sim, -k, axis=1)[:, -k][:, None]
            sim = np.where(sim >= cut, sim, 0.0)
        votes = (sparse.csr_matrix(sim) @ self.playlists).toarray()
        pop = self.popularity / max(self.popularity.max(), 1.0)
        return votes + 1e-6 * pop

    def _state(self) -> Any:
        return {"playlists": csr_state(self.playlists), "playlists_normed": csr_state(self.playlists_normed),
                "popularity": self.popularity}

    def _set_state(self, state: Any) -> None:
        playlists, normed = csr_from_state(state["playlists"]), csr_from_state(state["playlists_normed"])
        if playlists.shape[1] != self.n or normed.shape != playlists.shape:
            raise ValueError(f"playlists over {playlists.shape[1]} tracks, the catalog has {self.n}")
        self.playlists, self.playlists_normed = playlists, normed
        self.popularity = np.asarray(state["popularity"])
