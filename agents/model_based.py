"""``model_based``: model-based RL on the playlist envs: a learned listener model, exhaustive planning.

On Playlist-v0 and PlaylistPOMDP-v0 the transition is documented and does not depend on the listener:
the candidates are the 4 nearest unplayed neighbours of the current track in the shared FAISS index
(``env.index``). What an agent does not know is the listener. This agent learns the listener from its
own episodes, then plans on what it learned. It is a reinforcement-learning agent of the
model-based kind: like AlphaZero it is given the rules, here the candidate rule; unlike the planner
reference it is never given the listener.

* **Exploring** (``learn``): it plays uniformly random candidates in its own env. The env is reset
  with the agent's seed once; later episodes continue that env's generator, so they never share the
  evaluation's seeded episodes. Several ``learn`` calls explore as one call would. It keeps every
  track played, the reward, and the percentage listened (``info["rewards"]``, the feedback the
  observation also shows).
* **The learned model** (fitted again on all the data at the end of each ``learn`` call that adds plays):
  - Each track's expected reward and expected percentage listened: k-nearest-neighbour regressions
    (``n_neighbors``) of the rewards and shares seen, on the tracks' latents (``env.item_features``).
  - Within an episode: a Gaussian model of how this episode's listening shares depart from those
    means (for PlaylistPOMDP-v0, where each episode has its own listener). The latent space is cut
    into cells by ``partitions`` k-means partitions (their cell counts 2/3, 1 and 4/3 times
    ``cells``, in turn; each seeded by the agent's seed). For each partition, the departures of two
    plays in one episode have a covariance that depends on their two cells. That cells x cells
    covariance is estimated from the pairs of plays within the explored episodes (pairs of cells
    seen together fewer than ``min_pairs`` times get 0) and projected onto the positive
    semi-definite cone. Two tracks' prior covariance is the mean over the partitions of their
    cells' covariance, a kernel that smooths each partition's arbitrary borders. The rest of a
    play's departure is noise: the variance of the departures minus the kernel's mean variance.
    Given this episode's shares so far, the posterior mean departure of every track (a Gaussian
    conditional) shifts its expected reward by ``beta`` times that departure. ``beta`` is the
    least-squares slope of the reward's departures on the share's, over the explored plays.
  - With one fixed listener (Playlist-v0) the departures of one episode are independent, their
    covariances near 0, and the shifts small: the default settings serve both envs.
  - The settings (12 partitions of 16, 24 and 32 cells) were chosen on the learning-curve
    episodes (seeds from 200,000), not on the evaluation's.
* **Planning** (``predict``): the exhaustive search of `musicgym.envs.planner` on the learned
  expected rewards, adjusted for the episode so far. The search covers every path of the remaining
  picks through the candidate tree, with branch and bound. The agent plays the first pick of the best
  path and plans again at the next step (certainty equivalence). It reads ``info`` (history,
  candidates, the feedback): ``uses_info = True``.

``save`` writes the explored data (tracks, rewards, shares, episode ids) as arrays; ``load`` fits the
model again from them. The plays of an episode still running when ``learn`` returns join the data
when it ends; a save leaves them out. The fit is deterministic (seeded k-means in one thread, exact neighbours).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from musicgym.agents.base import Agent, env_arguments
from musicgym.agents.hyperparams import Int, Spec
from musicgym.agents.persist import AgentFileError, read_agent_file, write_agent_file
from sklearn.cluster import KMeans
from sklearn.neighbors import KNeighborsRegressor
from threadpoolctl import threadpool_limits

from musicgym.envs.core import neighbour_table
from musicgym.envs.planner import plan_slot
from musicgym.envs.playlist import TABLE_K

SUPPORTED = ("MusicGym/Playlist-v0", "MusicGym/PlaylistPOMDP-v0")
#: partition p has round(cells * CELL_SCALES[p % 3]) cells
CELL_SCALES = (2 / 3, 1.0, 4 / 3)


def _pair_moments(cell: np.ndarray, dev: np.ndarray, episode: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of dev_i * dev_j and counts over pairs of plays i != j of one episode, by their cells (k x k)."""
    order = np.argsort(episode, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(episode[order]) != 0])
    lengths = np.diff(np.r_[starts, len(order)])
    sums = np.zeros(k * k)
    counts = np.zeros(k * k)
    for m in np.unique(lengths[lengths >= 2]):  # the episodes of each length at once
        plays = order[starts[lengths == m][:, None] + np.arange(m)]  # (episodes, m)
        a, b = np.triu_indices(m, 1)
        ca, cb = cell[plays[:, a]].ravel(), cell[plays[:, b]].ravel()
        prod = (dev[plays[:, a]] * dev[plays[:, b]]).ravel()
        for key in (ca * k + cb, cb * k + ca):
            sums += np.bincount(key, weights=prod, minlength=k * k)
            counts += np.bincount(key, minlength=k * k)
    return sums.reshape(k, k), counts.reshape(k, k)


def _covariance(cell: np.ndarray, dev: np.ndarray, episode: np.ndarray, k: int, min_pairs: int) -> np.ndarray:
    """The cells' covariance of an episode's departures, projected onto the PSD cone (module docstring)."""
    sums, counts = _pair_moments(cell, dev, episode, k)
    cov = np.where(counts >= min_pairs, sums / np.maximum(counts, 1.0), 0.0)
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    return (v * np.maximum(w, 0.0)) @ v.T


def _conditional(parts: list[tuple[np.ndarray, np.ndarray]], noise: float, played: np.ndarray,
                 dev: np.ndarray) -> np.ndarray:
    """Posterior mean departure of every track given departures `dev` of the `played` tracks.

    The prior covariance of two tracks' departures is the mean over `parts` (each a track -> cell map
    and that partition's cells x cells covariance) of their cells' covariance; each play adds `noise`.
    """
    gram = sum(cov[np.ix_(cell[played], cell[played])] for cell, cov in parts) / len(parts)
    w = np.linalg.solve(gram + noise * np.eye(len(played)), dev)
    return sum((cov[:, cell[played]] @ w)[cell] for cell, cov in parts) / len(parts)


class ModelBasedAgent(Agent):
    """Model-based RL on Playlist-v0 / PlaylistPOMDP-v0 (module docstring).

    Hyperparameters: ``n_neighbors`` (of the reward regressions), ``partitions`` (k-means partitions of
    the within-episode model; 0: none), ``cells`` (their middle cell count), ``min_pairs`` (pairs of
    plays a cell pair needs for its covariance).
    """

    name = "model_based"
    uses_info = True
    SUPPORTED_ENVS: ClassVar[tuple[str, ...]] = SUPPORTED
    HYPERPARAMS: ClassVar[dict[str, Any]] = {
        "n_neighbors": 50, "partitions": 12, "cells": 24, "min_pairs": 20, "device": "cpu",
    }
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        **Agent.HYPERPARAM_SPECS, "n_neighbors": Int(1), "partitions": Int(0, 64), "cells": Int(2, 1024),
        "min_pairs": Int(1),
    }

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        if self.env_id not in SUPPORTED:
            raise ValueError(f"agent 'model_based' supports {', '.join(SUPPORTED)}, not {self.env_id}")
        env = gym.make(self.env_id, **self.env_kwargs).unwrapped
        self.latents = np.asarray(env.item_features, dtype=np.float64)
        self.n_tracks = len(self.latents)
        self.table = neighbour_table(env.index, TABLE_K)
        # tracks in a playlist, the first one included
        self.length_limit = int(env_arguments(env, self.env_id, self.env_kwargs)["playlist_length"])
        self._env: gym.Env | None = None
        self._rng: np.random.Generator | None = None  # the exploration's choices (made with its env)
        self._episode_data: list[tuple[int, float, float]] = []  # the running episode's plays
        self.tracks = np.zeros(0, dtype=np.int64)
        self.rewards = np.zeros(0)
        self.shares = np.zeros(0)
        self.episodes = np.zeros(0, dtype=np.int64)
        self._n_episodes = 0
        self._steps = 0
        self._model: dict[str, Any] | None = None
        self._partitions: dict[tuple[int, int], np.ndarray] = {}  # (p, cells) -> `_partition`'s cells
        self._played: list[int] = []
        self._dev: list[float] = []

    # ---------------------------------------------------------------- exploring
    @property
    def num_timesteps(self) -> int:
        """Env steps explored so far."""
        return self._steps

    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False) -> ModelBasedAgent:
        """Explore with random candidates until `total_timesteps` env steps in all (module docstring).

        `callback`, if given, is called as ``callback(agent)`` after every step; returning False stops.
        """
        total = self.check_total_timesteps(total_timesteps)
        if self._steps >= total:
            return self
        if self._env is None:
            self._env = gym.make(self.env_id, **self.env_kwargs)
            # a fresh env after a load continues from a seed of its own, not the first run's episodes
            self._env.reset(seed=self.seed if self._steps == 0 else self.seed + 7919 * self._steps)
            self._episode_data = []
            self._rng = np.random.default_rng(self.seed if self._steps == 0 else [self.seed, self._steps])
        env, rng = self._env, self._rng
        new: list[tuple[int, float, float, int]] = []
        while self._steps < total:
            mask = env.unwrapped.action_masks()
            action = int(rng.choice(np.flatnonzero(mask)))
            _, reward, terminated, truncated, info = env.step(action)
            self._steps += 1
            share = (info.get("rewards") or {}).get("percentage_listened", np.nan)
            self._episode_data.append((int(info["track"]), float(reward), float(share)))
            if terminated or truncated:
                new.extend((t, r, s, self._n_episodes) for t, r, s in self._episode_data)
                self._n_episodes += 1
                self._episode_data = []
                env.reset()
            if callback is not None and callback(self) is False:
                break
        if new:
            t, r, s, e = (np.array(c) for c in zip(*new, strict=True))
            self.tracks = np.concatenate([self.tracks, t.astype(np.int64)])
            self.rewards = np.concatenate([self.rewards, r.astype(np.float64)])
            self.shares = np.concatenate([self.shares, s.astype(np.float64)])
            self.episodes = np.concatenate([self.episodes, e.astype(np.int64)])
            self.fit_model()  # part of training: its time counts as a run's train seconds
        return self

    # ---------------------------------------------------------------- the learned model
    def _regression(self, y: np.ndarray) -> np.ndarray:
        """k-NN regression of `y` (one value per explored play) on the latents, at every catalog track."""
        k = min(int(self.hp["n_neighbors"]), len(y))
        knn = KNeighborsRegressor(n_neighbors=k, algorithm="kd_tree").fit(self.latents[self.tracks], y)
        return knn.predict(self.latents)

    def _partition(self, p: int) -> np.ndarray:
        """Partition `p`'s k-means cells of the catalog's latents (seeded by the agent's seed and p).

        They depend on the catalog, the seed and the cell count only, not on the plays: made once, kept
        for every later fit (one per ``learn`` call).
        """
        k = min(max(2, round(int(self.hp["cells"]) * CELL_SCALES[p % len(CELL_SCALES)])), self.n_tracks)
        if (p, k) not in self._partitions:
            with threadpool_limits(limits=1, user_api="openmp"):
                km = KMeans(n_clusters=k, n_init=1, random_state=(1000 * self.seed + p) % 2**32)  # sklearn: < 2**32
                self._partitions[p, k] = km.fit_predict(self.latents).astype(np.int64)
        return self._partitions[p, k]

    def fit_model(self) -> dict[str, Any]:
        """Fit the listener model on the explored plays (module docstring); returns it."""
        if not len(self.tracks):
            raise ValueError("agent 'model_based' has explored no complete episode yet: call learn(total_timesteps) "
                             "with at least one episode's steps first")
        ok = np.isfinite(self.shares)
        mu_r = self._regression(self.rewards)
        model: dict[str, Any] = {"mu_r": mu_r, "parts": [], "beta": 0.0}
        if ok.sum() >= 2 and self.hp["partitions"] > 0:
            mu_s = self._regression(np.where(ok, self.shares, np.nanmean(self.shares[ok])))
            dev_s = np.where(ok, self.shares - mu_s[self.tracks], 0.0)
            dev_r = self.rewards - mu_r[self.tracks]
            parts = []
            for p in range(int(self.hp["partitions"])):
                cell = self._partition(p)
                parts.append((cell, _covariance(cell[self.tracks], dev_s, self.episodes, int(cell.max()) + 1,
                                                int(self.hp["min_pairs"]))))
            prior = np.mean([np.mean(np.diag(cov)[cell[self.tracks]]) for cell, cov in parts])
            total = float(np.mean(dev_s**2))
            model.update(mu_s=mu_s, parts=parts, noise=max(total - prior, 1e-3 * total, 1e-12),
                         beta=float(dev_r @ dev_s / max(dev_s @ dev_s, 1e-12)))
        self._model = model
        return model

    def expected_rewards(self) -> np.ndarray:
        """The learned expected reward of every catalog track, given this episode's feedback so far."""
        model = self._model if self._model is not None else self.fit_model()
        value = model["mu_r"]
        if model["parts"] and self._played:
            shift = _conditional(model["parts"], model["noise"], np.asarray(self._played, dtype=np.int64),
                                 np.asarray(self._dev))
            value = value + model["beta"] * shift
        return value

    # ---------------------------------------------------------------- acting
    def _observe(self, info: dict[str, Any]) -> None:
        history = info.get("history", ())
        if len(history) <= 1 or "rewards" not in info:
            self._played, self._dev = [], []
            return
        model = self._model if self._model is not None else self.fit_model()
        share = info["rewards"].get("percentage_listened", np.nan)
        if model["parts"] and share is not None and np.isfinite(share):
            track = int(info["track"])
            self._played.append(track)
            self._dev.append(float(share) - float(model["mu_s"][track]))

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """The first pick of the best playlist under the learned model (reads ``info``)."""
        info = kw.get("info")
        if info is None or "candidates" not in info or "history" not in info:
            raise ValueError("agent 'model_based' reads info['history'], info['candidates'] and info['rewards']: "
                             "pass info=...")
        self._observe(info)
        value = self.expected_rewards()
        return np.asarray(plan_slot(self.table, value, info["history"], info["candidates"], self.length_limit)), state

    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, np.ndarray] | None:
        """The learned expected rewards of the candidate slots (before this step's feedback)."""
        cand = np.asarray(info["candidates"], dtype=np.int64)
        value = self.expected_rewards()
        return "score", np.where(cand >= 0, value[np.maximum(cand, 0)], -np.inf)

    # ---------------------------------------------------------------- saving
    def save(self, path: str | Path) -> None:
        """The explored plays at `path` (arrays only); ``path.json`` names agent, env, hyperparameters."""
        write_agent_file(path, self.name, {
            "steps": self._steps, "n_episodes": self._n_episodes, "tracks": self.tracks, "rewards": self.rewards,
            "shares": self.shares, "episodes": self.episodes,
        })
        self.write_meta(path)

    def take_plays(self, state: dict[str, Any]) -> None:
        """Take the explored plays of a save (what `save` writes; `load` calls this), checked against the catalog."""
        tracks = np.asarray(state["tracks"], dtype=np.int64)
        rewards, shares = (np.asarray(state[k], dtype=np.float64) for k in ("rewards", "shares"))
        episodes = np.asarray(state["episodes"], dtype=np.int64)
        if tracks.ndim != 1 or any(a.shape != tracks.shape for a in (rewards, shares, episodes)):
            raise ValueError("the arrays of plays differ in shape")
        if len(tracks) and (tracks.min() < 0 or tracks.max() >= self.n_tracks):
            raise ValueError(f"tracks outside this catalog's {self.n_tracks}")
        if not np.isfinite(rewards).all():
            raise ValueError("rewards that are NaN or infinite")
        self.tracks, self.rewards, self.shares, self.episodes = tracks, rewards, shares, episodes
        self._steps, self._n_episodes = int(state["steps"]), int(state["n_episodes"])
        self._model = None

    @classmethod
    def load(cls, path: str | Path, device: Any = None) -> ModelBasedAgent:
        """Load an agent written by `save`; its model is fitted again from the saved plays."""
        meta = cls.read_meta(path)
        cls.check_meta(meta, path)
        agent = cls.from_meta(meta, device=device, path=path)
        blob = read_agent_file(path, expect=cls.name, saved_by=meta["agent"])
        try:
            agent.take_plays(blob)
        except (KeyError, ValueError, TypeError) as e:
            raise AgentFileError(f"{path}: its plays do not fit this 'model_based' agent (another catalog, or "
                                 f"damaged): {type(e).__name__}: {e}") from e
        return agent
