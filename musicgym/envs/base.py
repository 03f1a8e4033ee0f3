"""`MusicEnv` (one session, a `gymnasium.Env`) and `MusicVectorEnv` (B sessions, a native `VectorEnv`).

Both are views of the same batched `Core`: the single env runs it with B = 1 and the vector env with
B = num_envs, so their dynamics are one implementation. An environment module defines its core and two
thin subclasses that name it (see `musicgym.envs.playlist`).

What agents may use (the public face): observations, ``info``, the spaces, ``action_masks()``,
``history()`` (the tracks played so far: what a deployed recommender knows) and the documented
attributes ``catalog``, ``item_features`` (the (N, d) catalog features the observation is built
from), ``head_dim`` (the observation's width before the candidate slots), ``action_mode``
(``"candidates"`` or ``"catalog"``) and ``index`` (the shared FAISS `CandidateIndex` over
``item_features``' space). The listener is hidden: agents see it only through ``info``'s oracle keys.
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.error import ResetNeeded
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from musicgym.checks import check_int
from musicgym.envs.core import Core
from musicgym.index import CandidateIndex

RENDER_MODES = ["ansi", "human"]
AUTORESET_MODES = (AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP)


def _check_render_mode(render_mode: str | None, allowed: list[str]) -> None:
    if render_mode is not None and render_mode not in allowed:
        raise ValueError(f"render_mode must be None or one of {allowed}, got {render_mode!r}")


def _as_action(action: Any, n: int) -> int:
    if type(action) is int or isinstance(action, np.integer):  # the common case, without an array
        if not 0 <= action < n:
            raise ValueError(f"action {int(action)} is out of range: the action space is Discrete({n})")
        return int(action)
    a = np.asarray(action)
    if a.size != 1 or a.dtype.kind not in "iu":
        raise ValueError(f"action must be one integer in Discrete({n}), got {action!r}")
    value = int(a.reshape(()))
    if not 0 <= value < n:
        raise ValueError(f"action {value} is out of range: the action space is Discrete({n})")
    return value


class _PublicFace:
    """The documented attributes both envs expose from their core (module docstring)."""

    core: Core
    core_cls: ClassVar[type[Core]]

    @classmethod
    def default_arguments(cls) -> dict[str, Any]:
        """The env's own arguments and their defaults (besides ``catalog`` and ``render_mode``)."""
        return dict(cls.core_cls.PARAMS)

    @property
    def item_features(self) -> np.ndarray:
        """(N, d) features of every catalog track, as the observation's candidate slots show them."""
        return self.core.item_features

    @property
    def head_dim(self) -> int:
        """Width of the observation before the candidate slots (the whole observation in catalog mode)."""
        return self.core.head_dim

    @property
    def action_mode(self) -> str:
        """``"candidates"`` (actions are slots of ``info["candidates"]``) or ``"catalog"`` (catalog rows)."""
        return self.core.action_mode

    @property
    def index(self) -> CandidateIndex:
        """The shared FAISS candidate index over the space of `item_features`."""
        return self.core.index


class MusicEnv(_PublicFace, gym.Env):
    """One listening session over a batched `Core` with B = 1 (see the subclasses for each spec)."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": RENDER_MODES, "render_fps": 4}
    core_cls: ClassVar[type[Core]]

    def __init__(self, catalog: Any = "default", render_mode: str | None = None, plan: bool = False,
                 plan_horizon: int | None = None, **params: Any) -> None:
        _check_render_mode(render_mode, self.metadata["render_modes"])
        self.render_mode = render_mode
        self.core = self.core_cls(catalog, num=1, **params)
        self.planner = _make_planner(self.core, plan, plan_horizon)
        self.catalog = self.core.catalog
        self.observation_space = self.core.observation_space
        self.action_space = spaces.Discrete(self.core.n_actions)
        self._rows = np.zeros(1, dtype=np.int64)
        self._action = np.zeros(1, dtype=np.int64)
        self._feedback: list[str] = []
        self._needs_reset = True
        self._ended = ""

    def _info(self, out: dict[str, np.ndarray] | None) -> dict[str, Any]:
        # (``a.item(0)``: the Python scalar of ``a[0]`` without the NumPy scalar in between)
        core = self.core
        length = core.length.item(0)
        cand = core.candidates[0]
        info: dict[str, Any] = {
            "history": core.history[0, :length].copy(),
            "candidates": cand.copy(),
            "action_mask": cand >= 0 if core.action_mode == "candidates" else core.action_mask(self._rows)[0],
            "oracle_action": int(core.oracle_action.item(0)),
            "oracle_reward": float(core.oracle_reward.item(0)),
        }
        if self.planner is not None:
            info["plan_action"], info["plan_value"] = self.planner.plan(0, self.np_random)
            info["plan_exact"] = self.planner.exact
        if out is None:
            info["track"] = int(core.history.item(0, length - 1))
            return info
        info["track"] = int(out["track"].item(0))
        info["regret"] = float(out["regret"].item(0))
        info["repeat"] = bool(out["repeat"].item(0))
        info["rewards"] = {k: np.asarray(v).item(0) for k in core.components if (v := out.get(k)) is not None}
        return info

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start a new session; every random draw comes from ``self.np_random``.

        `options` (see the env's docstring): ``start_track`` (a catalog row to start from) and, where
        the listener has them, its state (e.g. ``preferences`` in Preference-v0).
        """
        super().reset(seed=seed)
        if options is not None and not isinstance(options, dict):
            raise TypeError(f"options must be a dict or None, got {options!r}")
        self.core.reset(self.np_random, self._rows)
        if options:
            self.core.apply_options(self.np_random, self._rows, dict(options))
        self._feedback = ["(start)"] * int(self.core.length[0])
        self._needs_reset, self._ended = False, ""
        if self.render_mode == "human":
            self.render()
        return self.core.observe(self._rows)[0], self._info(None)

    def step(self, action: Any):
        """Play the track behind `action`; see the class docstring for reward and episode end."""
        if self._needs_reset:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before step()" + self._ended)
        a = _as_action(action, self.core.n_actions)
        self._action[0] = a
        out, obs = self.core.step_observe(self.np_random, self._rows, self._action)
        terminated = bool(out["terminated"].item(0))
        if terminated:
            self._needs_reset, self._ended = True, " (the episode has terminated)"
        if self.render_mode is not None:
            res = {k: np.asarray(v)[0].item() for k, v in out.items()}
            self._feedback.append("(repeat)" if res["repeat"] else self.core.listener.feedback_text(res))
        if self.render_mode == "human":
            self.render()
        return obs[0], float(out["reward"].item(0)), terminated, False, self._info(out)

    def action_masks(self) -> np.ndarray:
        """Valid actions now (True = plays a track not yet in the session), as sb3-contrib expects."""
        return self.core.action_mask(self._rows)[0]

    def history(self) -> np.ndarray:
        """The catalog rows played in this session so far, oldest first."""
        return self.core.history[0, : int(self.core.length[0])].copy()

    def render(self) -> str | None:
        """``"ansi"``: the playlist so far as text; ``"human"``: print it."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'human'")
            return None
        core = self.core
        t = core.catalog.tracks
        played = core.history[0, : core.length[0]]
        played_feedback = [f for f in self._feedback if f != "(repeat)"]
        lines = [f"{type(self).__name__} playlist ({len(played)} tracks)"]
        for i, (row, fb) in enumerate(zip(played, played_feedback, strict=False), 1):
            year = t["year"].iat[row]
            year_s = "" if np.isnan(year) else f", {year:.0f}"
            genre = t["genre"].iat[row] or "?"
            lines.append(f"{i:3d}. {t['name'].iat[row]} - {t['artist'].iat[row]} [{genre}{year_s}]  {fb}")
        repeats = self._feedback.count("(repeat)")
        if repeats:
            lines.append(f"     ({repeats} repeated action(s) penalised)")
        text = "\n".join(lines)
        if self.render_mode == "human":
            print(text)
            return None
        return text


class MusicVectorEnv(_PublicFace, VectorEnv):
    """B listening sessions stepped together with numpy.

    Args:
        num_envs: number of sessions B.
        catalog: a `Catalog`, a path or a preset name.
        max_episode_steps: truncation after this many steps (None: the env terminates by itself).
        autoreset_mode: Gymnasium's ``AutoresetMode.NEXT_STEP`` (default: a session that ended is reset
            by the next `step`, which then returns reward 0 for it) or ``AutoresetMode.SAME_STEP`` (it is
            reset within the same `step`; the final observation and info are in ``info["final_obs"]``
            and ``info["final_info"]``, with masks ``info["_final_obs"]``, ``info["_final_info"]``).
        oracle: keep the greedy oracle's info keys up to date (a training loop that never reads them
            may pass False: it saves the oracle's work on every step; they are then NaN / 0).
        render_mode: None (vector envs do not render).
        **params: the env's arguments (see its single-env class).

    Info arrays, one entry per session: ``track`` (-1 where the session was reset this step in
    NEXT_STEP mode), ``candidates``, ``oracle_action``, ``oracle_reward``, ``regret`` (0 on reset
    steps), ``repeat``.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}
    core_cls: ClassVar[type[Core]]

    def __init__(
        self,
        num_envs: int = 1,
        catalog: Any = "default",
        max_episode_steps: int | None = None,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        oracle: bool = True,
        render_mode: str | None = None,
        plan: bool = False,
        plan_horizon: int | None = None,
        **params: Any,
    ) -> None:
        _check_render_mode(render_mode, self.metadata["render_modes"])
        if max_episode_steps is not None and (
            isinstance(max_episode_steps, bool) or not isinstance(max_episode_steps, (int, np.integer))
            or max_episode_steps < 1
        ):
            raise ValueError(f"max_episode_steps must be a positive integer or None, got {max_episode_steps!r}")
        try:
            mode = AutoresetMode(autoreset_mode)
        except ValueError:
            mode = None
        if mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode must be one of {[m.value for m in AUTORESET_MODES]}, "
                             f"got {autoreset_mode!r}")
        if not isinstance(oracle, (bool, np.bool_)):
            raise TypeError(f"oracle must be True or False, got {oracle!r}")
        self.core = self.core_cls(catalog, num=num_envs, **params)
        self.core.track_oracle = bool(oracle)
        self.planner = _make_planner(self.core, plan, plan_horizon or max_episode_steps)
        self.metadata = {**self.metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.catalog = self.core.catalog
        self.num_envs = self.core.num
        #: truncation after this many steps (None: no time limit, the env terminates by itself)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self._limit = np.iinfo(np.int64).max if max_episode_steps is None else int(max_episode_steps)
        self.render_mode = render_mode
        self.single_observation_space = self.core.observation_space
        self.single_action_space = spaces.Discrete(self.core.n_actions)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._all = self.core.all_rows()
        self.steps = np.zeros(self.num_envs, dtype=np.int64)
        self.prev_done = np.zeros(self.num_envs, dtype=bool)
        self._reset_called = False

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Start new sessions everywhere.

        `seed`: an int (the generator every session draws from), or a list with one entry per session as
        Gymnasium allows; the native env has one generator, so a list is reduced to its first entry
        when the others are None, and otherwise seeds the generator from the whole list.
        """
        if isinstance(seed, (list, tuple)):
            if len(seed) != self.num_envs:
                raise ValueError(f"seed: a list must have one entry per session ({self.num_envs}), got {len(seed)}")
            for i, s in enumerate(seed):
                if s is not None:
                    check_int(f"seed[{i}]", s, 0, None, what="a list of seeds holds non-negative integers or None")
            given = [s for s in seed if s is not None]
            seed = None if not given else (int(seed[0]) if len(given) == 1 and seed[0] is not None
                                           else _combined_seed(seed))
        if options:
            raise ValueError(f"the vector env takes no reset options, got {sorted(options)}")
        super().reset(seed=seed)
        self.core.reset(self.np_random, self._all)
        self.steps[:] = 0
        self.prev_done[:] = False
        self._reset_called = True
        return self.core.observe(self._all), self._info(None, self._all)

    def _info(self, out: dict[str, np.ndarray] | None, active: np.ndarray) -> dict[str, Any]:
        core, n = self.core, self.num_envs
        info: dict[str, Any] = {
            "candidates": core.candidates.copy(),
            "oracle_action": core.oracle_action.copy(),
            "oracle_reward": core.oracle_reward.copy(),
            "track": np.full(n, -1, dtype=np.int64),
            "regret": np.zeros(n),
            "repeat": np.zeros(n, dtype=bool),
        }
        if out is not None:
            for key in ("track", "regret", "repeat"):
                info[key][active] = out[key]
        if self.planner is not None:
            plans = [self.planner.plan(r, self.np_random) for r in range(n)]
            info["plan_action"] = np.array([p[0] for p in plans], dtype=np.int64)
            info["plan_value"] = np.array([p[1] for p in plans])
        return info

    def step(self, actions: Any):
        """Step every session; see `autoreset_mode` for the sessions that ended."""
        if not self._reset_called:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before step()")
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu":
            raise ValueError(f"actions must be an integer array of shape ({self.num_envs},), got {actions!r:.80}")
        if self.autoreset_mode == AutoresetMode.SAME_STEP:
            return self._step_same(actions)
        done_rows = np.flatnonzero(self.prev_done)
        active = np.flatnonzero(~self.prev_done) if done_rows.size else self._all
        reward = np.zeros(self.num_envs)
        terminated = np.zeros(self.num_envs, dtype=bool)
        out = None
        if not done_rows.size:  # every session steps: its observation may come with the step (`Core.step_observe`)
            out, obs = self.core.step_observe(self.np_random, active, actions)
        elif active.size:  # the step, then the reset of the ended sessions (`Core.step_reset_observe`)
            out, obs = self.core.step_reset_observe(self.np_random, active, actions[active], done_rows)
        else:
            self.core.reset(self.np_random, done_rows)
            obs = self.core.observe(self._all)
        if out is not None:
            reward[active] = out["reward"]
            terminated[active] = out["terminated"]
            self.steps[active] += 1
        self.steps[done_rows] = 0
        truncated = (self.steps >= self._limit) & ~terminated
        truncated[done_rows] = False
        self.prev_done = terminated | truncated
        return obs, reward, terminated, truncated, self._info(out, active)

    def _step_same(self, actions: np.ndarray):
        out, obs = self.core.step_observe(self.np_random, self._all, actions)
        self.steps += 1
        terminated = out["terminated"]
        truncated = (self.steps >= self._limit) & ~terminated
        done = terminated | truncated
        info = self._info(out, self._all)
        finished = np.flatnonzero(done)
        if finished.size:
            final_info = {k: v.copy() for k, v in info.items()}
            final_info.update({f"_{k}": done.copy() for k in list(final_info)})
            info["final_obs"] = obs.copy()
            info["_final_obs"] = done.copy()
            info["final_info"] = final_info
            info["_final_info"] = done.copy()
            self.core.reset(self.np_random, finished)
            self.steps[finished] = 0
            obs[finished] = self.core.observe(finished)
            for key in ("candidates", "oracle_action", "oracle_reward"):
                info[key][finished] = getattr(self.core, key)[finished]
        return obs, out["reward"].astype(np.float64), terminated, truncated, info

    def get_state(self) -> dict[str, Any]:
        """A snapshot of the whole vector env: every session, step counters and the generator's state.

        `set_state` on a vector env made with the same arguments continues exactly where this one was
        (what a training checkpoint needs to resume to the same result). Pure numpy and JSON-safe
        scalars: it can be saved with ``np.savez`` (arrays) and JSON (the generator state).
        """
        if not self._reset_called:
            raise ResetNeeded(f"{type(self).__name__}: call reset() before get_state()")
        return {"core": self.core.state_dict(), "steps": self.steps.copy(), "prev_done": self.prev_done.copy(),
                "rng": self.np_random.bit_generator.state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Continue from a `get_state` snapshot."""
        keys = ("core", "steps", "prev_done", "rng")
        if not isinstance(state, dict) or not all(k in state for k in keys):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise ValueError(f"state must be a snapshot from get_state() (a dict with keys {list(keys)}), got {got}")
        self.core.load_state_dict(state["core"])
        self.steps[:] = state["steps"]
        self.prev_done[:] = state["prev_done"]
        rng = np.random.Generator(type(self.np_random.bit_generator)())
        rng.bit_generator.state = state["rng"]
        self.np_random = rng
        self._reset_called = True

    def action_masks(self) -> np.ndarray:
        """(num_envs, n_actions) valid actions, as sb3-contrib's MaskablePPO expects."""
        return self.core.action_mask(self._all)

    def history(self) -> np.ndarray:
        """(num_envs, H) catalog rows played in each session so far, -1 padded (what a recommender knows)."""
        return self.core.played(self._all).copy()


def _make_planner(core: Core, plan: Any, horizon: Any) -> Any:
    """The env's planner when ``plan=True`` (`musicgym.envs.planner`), else None."""
    if not isinstance(plan, (bool, np.bool_)):
        raise TypeError(f"plan must be True or False, got {plan!r}")
    if horizon is not None:
        horizon = check_int("plan_horizon", horizon, 1, None, what="the planner's steps per episode, or None")
    if not plan:
        return None
    if not core.listener.has_expectation:
        raise ValueError(f"plan=True needs a listener with expected rewards; {type(core.listener).__name__} has none")
    return core.make_planner(horizon)


def _combined_seed(seeds: list[int | None]) -> int:
    """One seed from a list of per-session seeds (None entries count as -1)."""
    ss = np.random.SeedSequence([(-1 if s is None else int(s)) & 0xFFFFFFFF for s in seeds])
    return int(ss.generate_state(1, dtype=np.uint32)[0])
