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
* **The learned model** (fitted on the data so far when the agent first acts after learning):
  - Each track's expected reward and expected percentage listened: k-nearest-neighbour regressions
    (``n_neighbors``) of the rewards and shares seen, on the tracks' latents (``env.item_features``).
  - Within an episode: a Gaussian model of how this episode's listening shares depart from those
    means. The latent space is cut into ``cells`` k-means cells. The departures of two plays in the
    same episode have a covariance that depends on their two cells; that cells x cells covariance is
    estimated from the pairs of plays within the explored episodes (pairs of cells seen together
    fewer than ``min_pairs`` times get 0; the matrix is projected onto the positive semi-definite
    cone). The rest of a play's departure is noise, of variance var(departure) minus the mean cell
    variance. Given this episode's shares so far, the posterior mean departure of every cell (a
    Gaussian conditional) shifts every track's expected reward by ``beta`` times its cell's departure.
    ``beta`` is the least-squares slope of the reward's departures on the share's, over the explored
    plays.
  - ``cells=None`` (the default) picks the number of cells from (0, 8, 12, 16, 24, 32, 48, 64) by
    held-out error. The model is fitted on 80% of the explored episodes. The score is the mean
    squared error of each held-out play's departure, predicted from the plays before it in its
    episode. 0 cells means no within-episode model. With one fixed listener (Playlist-v0) the
    departures of one episode are independent, so no cell count beats 0 by much.
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
from musicgym.agents.base import Agent
from musicgym.agents.hyperparams import Int, Spec
from musicgym.agents.persist import AgentFileError, read_agent_file, write_agent_file
from sklearn.cluster import KMeans
from sklearn.neighbors import KNeighborsRegressor
from threadpoolctl import threadpool_limits

from musicgym.envs.core import neighbour_table
from musicgym.envs.planner import _best_path, _children
from musicgym.envs.playlist import N_SLOTS, TABLE_K

SUPPORTED = ("MusicGym/Playlist-v0", "MusicGym/PlaylistPOMDP-v0")
#: the cell counts ``cells=None`` chooses from (0: no within-episode model)
CELL_GRID = (0, 8, 12, 16, 24, 32, 48, 64)
#: share of the explored episodes that ``cells=None`` holds out, and the most it scores
HOLD_OUT, MAX_HELD = 0.2, 2000


def _pair_moments(cell: np.ndarray, dev: np.ndarray, episode: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sums of dev_i * dev_j and counts over pairs of plays i != j of one episode, by their cells (k x k)."""
    sums = np.zeros((k, k))
    counts = np.zeros((k, k))
    order = np.argsort(episode, kind="stable")
    bounds = np.flatnonzero(np.diff(episode[order])) + 1
    for idx in np.split(order, bounds):
        if len(idx) < 2:
            continue
        a, b = np.triu_indices(len(idx), 1)
        ca, cb, prod = cell[idx[a]], cell[idx[b]], dev[idx[a]] * dev[idx[b]]
        np.add.at(sums, (ca, cb), prod)
        np.add.at(counts, (ca, cb), 1.0)
        np.add.at(sums, (cb, ca), prod)
        np.add.at(counts, (cb, ca), 1.0)
    return sums, counts


def _covariance(
    cell: np.ndarray, dev: np.ndarray, episode: np.ndarray, k: int, min_pairs: int
) -> tuple[np.ndarray, float]:
    """The cells' covariance of an episode's departures (PSD) and the noise variance (module docstring)."""
    sums, counts = _pair_moments(cell, dev, episode, k)
    cov = np.where(counts >= min_pairs, sums / np.maximum(counts, 1.0), 0.0)
    w, v = np.linalg.eigh((cov + cov.T) / 2)
    cov = (v * np.maximum(w, 0.0)) @ v.T
    total = float(np.mean(dev * dev)) if len(dev) else 0.0
    noise = max(total - float(np.mean(np.diag(cov))), 1e-3 * total, 1e-12)
    return cov, noise


def _conditional(cov: np.ndarray, noise: float, cells: np.ndarray, dev: np.ndarray) -> np.ndarray:
    """Posterior mean departure of every cell given departures `dev` seen in `cells` (a Gaussian conditional)."""
    k = cov[np.ix_(cells, cells)] + noise * np.eye(len(cells))
    return cov[:, cells] @ np.linalg.solve(k, dev)


class ModelBasedAgent(Agent):
    """Model-based RL on Playlist-v0 / PlaylistPOMDP-v0 (module docstring).

    Hyperparameters: ``n_neighbors`` (of the reward regression), ``cells`` (a count, 0: no
    within-episode model; None: chosen by held-out error), ``min_pairs`` (pairs of plays a cell pair
    needs for its covariance).
    """

    name = "model_based"
    uses_info = True
    SUPPORTED_ENVS: ClassVar[tuple[str, ...]] = SUPPORTED
    HYPERPARAMS: ClassVar[dict[str, Any]] = {"n_neighbors": 50, "cells": None, "min_pairs": 20, "device": "cpu"}
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        **Agent.HYPERPARAM_SPECS, "n_neighbors": Int(1), "min_pairs": Int(1),
        "cells": Int(0, 1024, optional=True),
    }

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        if self.env_id not in SUPPORTED:
            raise ValueError(f"agent 'model_based' supports {', '.join(SUPPORTED)}, not {self.env_id}")
        env = gym.make(self.env_id, **self.env_kwargs).unwrapped
        self.latents = np.asarray(env.item_features, dtype=np.float64)
        self.n_tracks = len(self.latents)
        self.table = neighbour_table(env.index, TABLE_K)
        args = {**type(env).default_arguments(), **(gym.spec(self.env_id).kwargs or {}), **self.env_kwargs}
        self.length_limit = int(args["playlist_length"])  # tracks in a playlist, the first one included
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
            share = info["rewards"].get("percentage_listened", np.nan)
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
            self._model = None
        return self

    # ---------------------------------------------------------------- the learned model
    def _regression(self, y: np.ndarray) -> np.ndarray:
        """k-NN regression of `y` (one value per explored play) on the latents, at every catalog track."""
        k = min(int(self.hp["n_neighbors"]), len(y))
        knn = KNeighborsRegressor(n_neighbors=k, algorithm="kd_tree").fit(self.latents[self.tracks], y)
        return knn.predict(self.latents)

    def _cells(self, k: int) -> np.ndarray:
        with threadpool_limits(limits=1, user_api="openmp"):
            return KMeans(n_clusters=k, n_init=1, random_state=self.seed).fit_predict(self.latents).astype(np.int64)

    def fit_model(self) -> dict[str, Any]:
        """Fit the listener model on the explored plays (module docstring); returns it."""
        if not len(self.tracks):
            raise ValueError("agent 'model_based' has explored no complete episode yet: call learn(total_timesteps) "
                             "with at least one episode's steps first")
        ok = np.isfinite(self.shares)
        mu_r = self._regression(self.rewards)
        model: dict[str, Any] = {"mu_r": mu_r, "cells": 0, "beta": 0.0}
        if ok.sum() >= 2:
            mu_s = self._regression(np.where(ok, self.shares, np.nanmean(self.shares)))
            dev_s = np.where(ok, self.shares - mu_s[self.tracks], 0.0)
            dev_r = self.rewards - mu_r[self.tracks]
            k = self._choose_cells(dev_s) if self.hp["cells"] is None else int(self.hp["cells"])
            if k > 0:
                cell = self._cells(k)
                cov, noise = _covariance(cell[self.tracks], dev_s, self.episodes, k, int(self.hp["min_pairs"]))
                beta = float(dev_r @ dev_s / max(dev_s @ dev_s, 1e-12))
                model.update(mu_s=mu_s, cells=k, cell=cell, cov=cov, noise=noise, beta=beta)
        self._model = model
        return model

    def _choose_cells(self, dev: np.ndarray) -> int:
        """The cell count of `CELL_GRID` whose within-episode model predicts held-out departures best."""
        rng = np.random.default_rng(self.seed)
        ids = np.unique(self.episodes)
        held = rng.permutation(ids)[: min(MAX_HELD, int(len(ids) * HOLD_OUT))]
        if len(held) == 0 or len(held) == len(ids):
            return 0
        test = np.isin(self.episodes, held)
        best_k, best_err = 0, float(np.mean(dev[test] ** 2))  # 0 cells: the departure is predicted as 0
        for k in CELL_GRID[1:]:
            cell = self._cells(k)[self.tracks]
            cov, noise = _covariance(cell[~test], dev[~test], self.episodes[~test], k, int(self.hp["min_pairs"]))
            err, n = 0.0, 0
            for e in held:
                idx = np.flatnonzero(self.episodes == e)
                for j in range(len(idx)):
                    guess = _conditional(cov, noise, cell[idx[:j]], dev[idx[:j]])[cell[idx[j]]] if j else 0.0
                    err += (dev[idx[j]] - guess) ** 2
                    n += 1
            if err / max(n, 1) < best_err:
                best_k, best_err = k, err / max(n, 1)
        return best_k

    def expected_rewards(self) -> np.ndarray:
        """The learned expected reward of every catalog track, given this episode's feedback so far."""
        model = self._model if self._model is not None else self.fit_model()
        value = model["mu_r"]
        if model["cells"] and self._played:
            cell = model["cell"]
            played = np.asarray(self._played, dtype=np.int64)
            shift = _conditional(model["cov"], model["noise"], cell[played], np.asarray(self._dev))
            value = value + model["beta"] * shift[cell]
        return value

    # ---------------------------------------------------------------- acting
    def _observe(self, info: dict[str, Any]) -> None:
        history = info.get("history", ())
        if len(history) <= 1 or "rewards" not in info:
            self._played, self._dev = [], []
            return
        model = self._model if self._model is not None else self.fit_model()
        share = info["rewards"].get("percentage_listened", np.nan)
        if model["cells"] and share is not None and np.isfinite(share):
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
        history = np.asarray(info["history"], dtype=np.int64)
        cand = np.asarray(info["candidates"], dtype=np.int64)
        value = self.expected_rewards()
        depth = max(1, self.length_limit - len(history))
        _, first, _ = _best_path(self.table, value, history, len(history), depth, N_SLOTS)
        kids = np.full(N_SLOTS, -1, dtype=np.int64)
        _children(self.table, history[-1], history, len(history), kids, N_SLOTS)
        pick = kids[first]
        hits = np.flatnonzero(cand == pick)
        if pick < 0 or len(hits) == 0:  # the env offered other tracks (its table ran out): the best of them
            scores = np.where(cand >= 0, value[np.maximum(cand, 0)], -np.inf)
            return np.asarray(int(np.argmax(scores))), state
        return np.asarray(int(hits[0])), state

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

    @classmethod
    def load(cls, path: str | Path, device: Any = None) -> ModelBasedAgent:
        """Load an agent written by `save`; its model is fitted again from the saved plays."""
        meta = cls.read_meta(path)
        cls.check_meta(meta, path)
        agent = cls.from_meta(meta, device=device, path=path)
        blob = read_agent_file(path, expect=cls.name, saved_by=meta["agent"])
        try:
            tracks = np.asarray(blob["tracks"], dtype=np.int64)
            arrays = [np.asarray(blob[k], dtype=np.float64) for k in ("rewards", "shares")]
            episodes = np.asarray(blob["episodes"], dtype=np.int64)
            if any(a.shape != tracks.shape for a in (*arrays, episodes)) or tracks.ndim != 1:
                raise ValueError("the arrays of plays differ in shape")
            if len(tracks) and (tracks.min() < 0 or tracks.max() >= agent.n_tracks):
                raise ValueError(f"tracks outside this catalog's {agent.n_tracks}")
            agent.tracks, (agent.rewards, agent.shares), agent.episodes = tracks, arrays, episodes
            agent._steps, agent._n_episodes = int(blob["steps"]), int(blob["n_episodes"])
        except (KeyError, ValueError, TypeError) as e:
            raise AgentFileError(f"{path}: its plays do not fit this 'model_based' agent (another catalog, or "
                                 f"damaged): {type(e).__name__}: {e}") from e
        return agent
