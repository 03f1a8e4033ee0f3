"""``posterior_greedy``: a Bayesian reference policy for the hidden-listener envs.

It keeps a posterior over the hidden listener from this episode's feedback (what ``info`` reports
after each step) and plays the candidate with the highest expected reward under it. It knows the
env's documented model and arguments (the listener's prior, the reward's weights, the catalog's
clusters or attributes), never the listener drawn for the episode: the best a policy that does not
learn across episodes can do greedily, and the bar an RL agent with a memory must clear on the hard
track.

* Playlist-v0 / PlaylistPOMDP-v0 (cluster listeners): per cluster c, the listening mean m_c has
  the prior N(mu0, var0) matching U(mean_bounds) in mean and variance; each percentage listened of
  a track of cluster c is an observation of m_c with the noise variance of the listener's average
  standard deviation (mean of sd_bounds). A track's expected reward under the posterior mean is the
  env's formula (clipped-normal listening share, like probability, proximity).
* Preference-v0 / PreferenceHidden-v0: the preferences p (21 weights) have the prior N(0, I/3)
  matching U(-1, 1); a reward is the exact observation ``a . p / scale`` of the played song's
  attributes a, and after a positively rewarded song the user drifts, ``p <- (1 - d) p + d a``: a
  Kalman filter with these linear dynamics keeps the exact Gaussian posterior (a small observation
  noise, 1e-3, keeps it well conditioned). A song's expected reward is its attributes times the
  posterior mean.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from musicgym.agents.base import Agent, env_arguments
from musicgym.agents.hyperparams import Real, Spec
from musicgym.agents.persist import write_json_atomic

from musicgym.listeners import PlaylistReward, cluster_world, expected_listening

PLAYLIST_IDS = ("MusicGym/Playlist-v0", "MusicGym/PlaylistPOMDP-v0")
PREFERENCE_IDS = ("MusicGym/Preference-v0", "MusicGym/PreferenceHidden-v0")
REWARD_ARGS = ("listen_weight", "like_weight", "interaction_weight", "proximity_weight", "reward_scale")


class PosteriorGreedyPolicy(Agent):
    """Greedy under a Bayesian posterior over the episode's hidden listener (module docstring).

    Hyperparameters: ``noise_sd`` (Playlist: the observation noise of a percentage listened; None:
    the listener's average standard deviation), ``observation_noise`` (Preference: of a reward).
    """

    name = "posterior_greedy"
    uses_info = True
    trains = False  # nothing to train: a sweep evaluates it as it is
    SUPPORTED_ENVS: ClassVar[tuple[str, ...]] = PLAYLIST_IDS + PREFERENCE_IDS
    HYPERPARAMS: ClassVar[dict[str, Any]] = {"noise_sd": None, "observation_noise": 1e-3, "device": "cpu"}
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {
        **Agent.HYPERPARAM_SPECS, "noise_sd": Real(0, low_open=True, optional=True),
        "observation_noise": Real(0, low_open=True),
    }

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        super().__init__(env, seed, env_kwargs, **hyperparams)
        if self.env_id not in self.SUPPORTED_ENVS:
            raise ValueError(f"agent {self.name!r} supports {', '.join(self.SUPPORTED_ENVS)}, not {self.env_id}")
        env = gym.make(self.env_id, **self.env_kwargs).unwrapped
        args = env_arguments(env, self.env_id, self.env_kwargs)
        if not isinstance(args.get("listener"), str):
            raise ValueError(f"agent {self.name!r} knows the built-in listeners' models only")
        self._take_model(env, args)
        self._new_episode()

    def _take_model(self, env: Any, args: dict[str, Any]) -> None:
        """What the policy knows of the env's documented model, from the made `env` and its arguments `args`."""
        self.playlist = self.env_id in PLAYLIST_IDS
        if self.playlist:
            self.reward = PlaylistReward(**{k: args[k] for k in REWARD_ARGS}, n_clusters=args["n_clusters"])
            self.reward.setup(env.catalog)
            self.cluster = cluster_world(env.catalog, args["n_clusters"]).cluster
            lo, hi = args["mean_bounds"]
            self.mu0, self.var0 = (lo + hi) / 2, (hi - lo) ** 2 / 12
            self.sd = float(np.mean(args["sd_bounds"]))
            noise = self.hp["noise_sd"]
            self.noise_var = (self.sd if noise is None else float(noise)) ** 2
            self.like_threshold = float(args["like_threshold"])
            self.n_clusters = int(args["n_clusters"])
        else:
            self.attrs = env.catalog.attributes.astype(np.float64)
            self.scale = float(args["reward_scale"])
            self.drift = float(args["drift"])
            self.obs_var = float(self.hp["observation_noise"]) ** 2

    # ---------------------------------------------------------------- the posterior
    def _new_episode(self) -> None:
        if self.playlist:
            self.sums = np.zeros(self.n_clusters)
            self.counts = np.zeros(self.n_clusters)
        else:
            d = self.attrs.shape[1]
            self.mean = np.zeros(d)
            self.cov = np.eye(d) / 3.0

    def _observe(self, info: dict[str, Any]) -> None:
        """Update the posterior with the feedback on the track just played (``info["rewards"]``)."""
        track = int(info.get("track", -1))
        rewards = info.get("rewards")
        if track < 0 or not rewards:
            return
        if self.playlist:
            pct = rewards.get("percentage_listened")
            if pct is not None and np.isfinite(pct):
                c = self.cluster[track]
                self.sums[c] += pct
                self.counts[c] += 1
            return
        a = self.attrs[track] / self.scale
        r = rewards["dot_product"] / self.scale  # the reward p . a / scale
        s = a @ self.cov @ a + self.obs_var
        gain = self.cov @ a / s
        self.mean = self.mean + gain * (r - a @ self.mean)
        self.cov = self.cov - np.outer(gain, a @ self.cov)
        #: the posterior's account of the reward just seen (before the drift): a check of the filter
        self.fitted_reward = float(a @ self.mean)
        if r > 0:  # the user drifts toward the song: p <- (1 - d) p + d a (a known linear map)
            keep = 1.0 - self.drift
            self.mean = keep * self.mean + self.drift * self.attrs[track]
            self.cov = keep * keep * self.cov

    def expected_values(self, tracks: np.ndarray) -> np.ndarray:
        """Posterior expected reward of each track."""
        tracks = np.asarray(tracks, dtype=np.int64)
        if self.playlist:
            c = self.cluster[tracks]
            precision = 1 / self.var0 + self.counts[c] / self.noise_var
            m = (self.mu0 / self.var0 + self.sums[c] / self.noise_var) / precision
            e_pct, p_like = expected_listening(m, np.full_like(m, self.sd), self.like_threshold)
            return self.reward.w_listen * e_pct + self.reward.w_like * p_like + self.reward.prox_value[tracks]
        return self.attrs[tracks] @ self.mean / self.scale

    # ---------------------------------------------------------------- SB3's interface
    @property
    def num_timesteps(self) -> int:
        """No training."""
        return 0

    def learn(self, total_timesteps: int = 0, callback: Any = None, progress_bar: bool = False) -> Agent:
        """Nothing to learn: the prior and the model are the env's documented ones."""
        self.check_total_timesteps(total_timesteps)  # a bad argument is still an error
        return self

    def _take_info(self, info: dict[str, Any]) -> None:
        """A new episode's prior at its first step, else the posterior updated with the last track's feedback."""
        if len(info.get("history", ())) <= 1 or "rewards" not in info:
            self._new_episode()
        else:
            self._observe(info)

    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[np.ndarray, Any]:
        """The candidate slot of highest posterior expected reward (reads ``info``)."""
        info = kw.get("info")
        if info is None or "candidates" not in info:
            raise ValueError(f"agent {self.name!r} reads info['candidates'] and info['rewards']: pass info=...")
        self._take_info(info)
        cand = np.asarray(info["candidates"], dtype=np.int64)
        value = np.where(cand >= 0, self.expected_values(np.maximum(cand, 0)), -np.inf)
        return np.asarray(int(np.argmax(value))), state

    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, np.ndarray] | None:
        """Posterior expected rewards of the candidate slots."""
        cand = np.asarray(info["candidates"], dtype=np.int64)
        return "score", np.where(cand >= 0, self.expected_values(np.maximum(cand, 0)), -np.inf)

    def save(self, path: str | Path) -> None:
        """Nothing is learned: the JSON sidecar (agent, env, hyperparameters) is the whole agent."""
        write_json_atomic(path, {"agent": self.name})  # checks the path: '' or under a file is a named error
        self.write_meta(path)

    @classmethod
    def load(cls, path: str | Path) -> PosteriorGreedyPolicy:
        """Rebuild from the sidecar."""
        return cls.from_meta(cls.read_meta(path))
