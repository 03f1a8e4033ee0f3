"""The `Listener` protocol: what a simulated listener is and how it answers (RecSim's user model).

A listener object simulates the listeners of B sessions at once; every method takes ``rows``, the
sessions concerned (an int array), and works on numpy arrays, so the same code serves the single env
(B = 1) and the native vector env (B = 1,024). An env drives it in one fixed order (RecSim's
``SingleUserEnvironment.step``):

* once: `setup` (the env's catalog and B);
* at reset: `sample` (draw new hidden listeners from the env's generator), `initial_tracks` (a start
  the listener insists on, e.g. a replayed session's), `start` (the tracks the session starts with);
* per step: `respond` (the graded response to the track played and the reward components) ->
  `update` (the listener state after hearing it) -> the env updates its candidates and observation;
  `is_terminal` (the listener has left).

The greedy oracle, regret and planners use `expected_reward` (and `best_tracks` in catalog mode).
Every random draw comes from the ``np.random.Generator`` the env hands in (its ``np_random``).

A new listener is one subclass of `Listener`: implement `respond` and `expected_reward` (and `sample`
/ `update` if it has a hidden or changing state); see the README's "A listener of your own".
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from musicgym.catalog import Catalog


class Listener:
    """Base class of simulated listeners: B sessions' listeners, as numpy arrays.

    Attributes:
        components: names of the reward components `respond` returns besides ``"reward"`` (the env
            reports them in ``info["rewards"]``).
        reset_options: keys of ``env.reset(options=...)`` this listener accepts (see `set_options`).
        has_expectation: False where the expected reward is unknown (a person, a replayed log): the
            env then reports NaN for ``oracle_reward`` and ``regret``.
        stationary: True where a track's expected reward stays the same all episode long.
        state_attributes: the attributes holding the sessions' state (`state_dict`).
        observation_dim: width of `observe` (the part of the listener's state an env may show).
        reward_range: (low, high) bounds of `respond`'s reward (an env may show the last reward).
        catalog: the env's catalog (after `setup`).
        num: the number of sessions B (after `setup`).
    """

    components: ClassVar[tuple[str, ...]] = ()
    #: names of the attributes that hold the sessions' listener state (arrays of B rows), what
    #: `state_dict` saves: an env snapshot restores them exactly (checkpoints, planners)
    state_attributes: ClassVar[tuple[str, ...]] = ()
    reset_options: ClassVar[tuple[str, ...]] = ()
    has_expectation: ClassVar[bool] = True
    #: True where the expected reward of a track does not change within an episode (whatever is played):
    #: with an env whose candidates do not depend on the answers, the planner is then exact
    stationary: ClassVar[bool] = False
    observation_dim: int = 0
    reward_range: tuple[float, float] = (-np.inf, np.inf)

    catalog: Catalog
    num: int

    # ------------------------------------------------------------------ life cycle
    def setup(self, catalog: Catalog, num: int) -> None:
        """Bind to the env's `catalog` and allocate the state of `num` sessions (once per env).

        A listener object serves one env: making a second env with the same object sets it up again.
        Subclasses that override it call ``super().setup(catalog, num)`` first: the attributes set
        before it are the listener's configuration, what a copy or a pickle of it keeps (an env's spec
        is deep-copied by Gymnasium's wrappers, and worker processes receive pickled env arguments);
        the rest is rebuilt by the next `setup`.
        """
        if "_config_keys" not in self.__dict__:
            self._config_keys = frozenset(self.__dict__)
        self.catalog = catalog
        self.num = int(num)

    def __getstate__(self) -> dict[str, Any]:
        """The configuration only (see `setup`): catalogs, indexes and session state are not copied."""
        keys = self.__dict__.get("_config_keys")
        if keys is None:
            return dict(self.__dict__)
        return {k: v for k, v in self.__dict__.items() if k in keys or k == "_config_keys"}

    def sample(self, rng: np.random.Generator, rows: np.ndarray) -> None:
        """Draw a new listener for each session in `rows` (at reset). Default: nothing to draw."""

    def initial_tracks(self, rows: np.ndarray) -> np.ndarray | None:
        """(R,) catalog rows the sessions must start from (after `sample`), or None: the env draws them."""
        return None

    def start(self, rows: np.ndarray, tracks: np.ndarray) -> None:
        """The (R, S) tracks each session starts with, heard before the first step. Default: nothing."""

    def set_options(self, rows: np.ndarray, options: dict[str, Any]) -> None:
        """Apply the `reset_options` given to ``env.reset(options=...)`` (after `start`)."""

    # ------------------------------------------------------------------ one step
    def respond(self, rng: np.random.Generator, rows: np.ndarray, tracks: np.ndarray) -> dict[str, np.ndarray]:
        """The listeners' response to `tracks` (one catalog row per session in `rows`).

        Returns:
            ``{"reward": (R,) float64, <component>: (R,) ...}``: the reward and every name in
            `components` (graded answers such as ``percentage_listened`` belong here too).
        """
        raise NotImplementedError

    def update(self, rows: np.ndarray, tracks: np.ndarray, response: dict[str, np.ndarray]) -> None:
        """The listener state after hearing `tracks` with `response`. Default: the state does not change."""

    def is_terminal(self, rows: np.ndarray) -> np.ndarray:
        """(R,) bool: the listener has left the session (the episode terminates). Default: never."""
        return np.zeros(len(rows), dtype=bool)

    # ------------------------------------------------------------------ what a planner may ask
    def expected_reward(self, rows: np.ndarray, tracks: np.ndarray) -> np.ndarray:
        """E[reward] of playing `tracks` now, given the hidden state: (R,) for (R,) tracks, (R, K) for (R, K)."""
        raise NotImplementedError

    def best_tracks(self, rows: np.ndarray, exclude: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The catalog track of highest expected reward per session, none of `exclude` (R, H; -1 padded).

        Returns (R,) catalog rows (-1 where none is left) and their expected rewards. The default scores
        every catalog track with `expected_reward`; listeners with an index-friendly reward override it.
        """
        n = len(self.catalog)
        all_tracks = np.broadcast_to(np.arange(n), (len(rows), n))
        value = np.array(self.expected_reward(rows, all_tracks), dtype=np.float64)
        for i in range(len(rows)):
            played = exclude[i][exclude[i] >= 0]
            value[i, played] = -np.inf
        best = value.argmax(1)
        best_value = value[np.arange(len(rows)), best]
        ok = np.isfinite(best_value)
        return np.where(ok, best, -1), np.where(ok, best_value, 0.0)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the sessions' listener state (the `state_attributes`)."""
        return {k: np.array(getattr(self, k), copy=True) for k in self.state_attributes}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Restore what `state_dict` returned (same catalog and number of sessions)."""
        for k in self.state_attributes:
            current = getattr(self, k)
            value = np.asarray(state[k])
            if value.shape != np.shape(current):
                raise ValueError(f"{type(self).__name__}.load_state_dict: {k} has shape {value.shape}, "
                                 f"expected {np.shape(current)}")
            current[...] = value

    def observe(self, rows: np.ndarray) -> np.ndarray:
        """(R, observation_dim) float32: what an env may show of the listener (RecSim's user observation)."""
        return np.zeros((len(rows), self.observation_dim), dtype=np.float32)

    def feedback_text(self, response: dict[str, Any]) -> str:
        """One session's response (Python scalars) as text for ``render``."""
        return f"reward {response['reward']:+.3f}"


def check_response(listener: Listener, response: dict[str, np.ndarray], n: int) -> None:
    """Raise a ValueError naming the listener if `response` lacks the reward or a component, or has NaN/inf rewards."""
    name = type(listener).__name__
    missing = [k for k in ("reward", *listener.components) if k not in response]
    if missing:
        raise ValueError(f"listener {name}.respond returned no {missing}; it returned {sorted(response)}")
    reward = np.asarray(response["reward"])
    if reward.shape != (n,):
        raise ValueError(f"listener {name}.respond: 'reward' must have shape ({n},), got {reward.shape}")
