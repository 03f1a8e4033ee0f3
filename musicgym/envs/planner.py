"""Planners: reference policies that know the hidden listener and plan the whole episode.

They serve the leaderboard's upper reference (`musicgym.evaluate`): an env made with ``plan=True``
reports ``info["plan_action"]`` (the planner's action now) and ``info["plan_value"]`` (the expected
return of the rest of the episode it plans for), and `musicgym.PlannerPolicy` plays the former. The
greedy oracle (``info["oracle_action"]``) looks one step ahead; a planner looks to the episode's end.

* `ExactPathPlanner` (Playlist-v0 with a listener whose expected reward of a track does not change
  within an episode, e.g. the cluster listeners): the listener's answers do not change which tracks
  are offered next (the 4 nearest unplayed neighbours of the current track), so the whole tree of
  playlists is known at reset. A depth-first search of every path (4^9 = 262,144 for the 10-track
  playlist) with branch and bound finds the playlist of highest expected return: the optimum, an
  upper bound of every policy's expected return on that episode. It is exact while the neighbour
  table holds 4 unplayed neighbours at every node (always, for playlists of up to 13 tracks with the
  16-neighbour table); where it does not, it says so (``exact`` False) and the value is a lower bound.
* `RolloutPlanner` (every other env): a model-based search with the true model. For each candidate
  action (catalog mode: the `width` best by immediate expected reward), a copy of the session plays
  it, then follows the greedy oracle to the horizon; the action whose simulated expected return is
  highest is played, and the search is repeated at every step (a rollout policy improvement of the
  greedy oracle, Bertsekas 1997). The copies draw their random numbers from a copy of the env's own
  generator, every copy the same numbers that a single session would draw (`TiledGenerator`: common
  random numbers), so in the single env a rollout is what would happen: the planner then sees the
  env's future random candidates too, and on every episode its return is at least the greedy
  oracle's, up to rare redraws of the random candidate fill. Where the listener's answers are random
  (Session-v0), knowing them would be cheating: the copies draw a fresh future instead, the same one
  for every action (common random numbers across actions), averaged over several futures. It is a
  strong plan, not a bound: the leaderboard calls it the best known reference.
"""

from __future__ import annotations

import pickle
from typing import Any

import numba
import numpy as np

from musicgym.checks import check_int

_JIT = {"cache": True, "nogil": True}


@numba.njit(**_JIT)
def _children(table, node, path, length, out, n_slots):  # noqa: D103 (a kernel)
    # the first `n_slots` neighbours of `node` in `table` that are not in path[:length], into `out`
    # (-1 after them); returns how many there are
    found = 0
    for j in range(table.shape[1]):
        u = table[node, j]
        seen = False
        for m in range(length):
            if path[m] == u:
                seen = True
                break
        if not seen and u >= 0:
            out[found] = u
            found += 1
            if found == n_slots:
                break
    for j in range(found, n_slots):
        out[j] = -1
    return found


@numba.njit(**_JIT)
def _best_path(table, value, played, n_played, depth, n_slots):  # noqa: D103 (a kernel)
    """Depth-first search of every playlist of `depth` more picks; returns (best value, first slot, exact).

    Each node offers the `n_slots` nearest neighbours (from `table`) of its last track that are not in
    the path; ``played[:n_played]`` is the session so far (its last entry the current track).
    """
    cap = n_played + depth
    path = np.empty(cap, dtype=np.int64)
    path[:n_played] = played[:n_played]
    vmax = -np.inf
    for t in range(value.shape[0]):
        vmax = max(vmax, value[t])
    # iterative DFS: for each level, its candidate slots and the index of the next one to try
    cands = np.full((depth + 1, n_slots), -1, dtype=np.int64)
    nxt = np.zeros(depth + 1, dtype=np.int64)
    acc = np.zeros(depth + 1)
    first = np.zeros(depth + 1, dtype=np.int64)
    best_value = -np.inf
    best_first = 0
    exact = True
    level = 0
    length = n_played

    found = _children(table, path[length - 1], path, length, cands[0], n_slots)  # the root's
    if found < n_slots:
        exact = False
    if depth == 0:
        return 0.0, 0, exact
    while level >= 0:
        if nxt[level] >= n_slots or cands[level, nxt[level]] < 0:
            level -= 1
            length -= 1
            continue
        slot = nxt[level]
        nxt[level] += 1
        t = cands[level, slot]
        total = acc[level] + value[t]
        if level == 0:
            first[0] = slot
        remaining = depth - level - 1
        if remaining == 0:
            if total > best_value:
                best_value = total
                best_first = first[0]
            continue
        if total + remaining * vmax <= best_value:  # branch and bound
            continue
        path[length] = t
        length += 1
        level += 1
        acc[level] = total
        first[level] = first[level - 1]
        nxt[level] = 0
        found = _children(table, t, path, length, cands[level], n_slots)
        if found < n_slots:
            exact = False
        if found == 0:  # a dead end: the playlist ends here
            if total > best_value:
                best_value = total
                best_first = first[0]
            level -= 1
            length -= 1
    return best_value, best_first, exact


def plan_slot(table: np.ndarray, value: np.ndarray, history: np.ndarray, candidates: np.ndarray,
              length_limit: int) -> int:
    """The slot of `candidates` that starts the best playlist under `value` (a policy's own rewards).

    The exhaustive search of `ExactPathPlanner` for a policy that knows the candidate rule (the
    neighbour `table`) but not the listener: `value` holds its estimate of each track's expected
    reward. `history` is the session so far (its last entry the current track), `candidates` the
    slots the env offers now, `length_limit` the tracks of a whole playlist. Where the env offers
    other tracks than the table's (its table ran out), the candidate of highest `value`.
    """
    history = np.asarray(history, dtype=np.int64)
    candidates = np.asarray(candidates, dtype=np.int64)
    n_slots = len(candidates)
    depth = max(1, int(length_limit) - len(history))
    _, first, _ = _best_path(table, value, history, len(history), depth, n_slots)
    kids = np.full(n_slots, -1, dtype=np.int64)
    _children(table, history[-1], history, len(history), kids, n_slots)
    hits = np.flatnonzero(candidates == kids[first]) if kids[first] >= 0 else np.zeros(0, dtype=np.int64)
    if len(hits):
        return int(hits[0])
    return int(np.argmax(np.where(candidates >= 0, value[np.maximum(candidates, 0)], -np.inf)))


class ExactPathPlanner:
    """The expected-return-optimal playlist of Playlist-v0 by exhaustive search (module docstring)."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self.exact = True

    def plan(self, row: int, rng: np.random.Generator | None = None) -> tuple[int, float]:
        """The best slot now for session `row` and the expected return of the rest of its best playlist."""
        core = self.core
        length = int(core.length[row])
        depth = max(0, int(core.length_limit) - length)
        rows = np.array([row])
        value = np.asarray(core.listener.expected_reward(rows, np.arange(core.n_tracks)[None, :])[0], dtype=np.float64)
        best, slot, exact = _best_path(core.table, value, core.history[row], length, depth, core.n_actions)
        self.exact = bool(exact)
        return int(slot), float(best if np.isfinite(best) else 0.0)


class TiledGenerator:
    """A generator for m copies of one session: every row gets the numbers a single session would draw.

    A draw whose first dimension is m (the rows) is drawn for one row and repeated; ``permuted`` along
    axis 1 applies one permutation (drawn as a single session's would be) to every row. Other draws
    (scalars, a redraw of a few entries) come straight from the underlying generator.
    """

    def __init__(self, rng: np.random.Generator, m: int) -> None:
        self.rng, self.m = rng, m

    def _one(self, size: Any) -> tuple[Any, bool]:
        if size is None:
            return None, False
        shape = (size,) if np.isscalar(size) else tuple(size)
        if len(shape) >= 1 and shape[0] == self.m:
            return (1, *shape[1:]), True
        return shape, False

    def _tile(self, draw: np.ndarray, tiled: bool) -> np.ndarray:
        return np.repeat(draw, self.m, axis=0) if tiled else draw

    def integers(self, low: Any, high: Any = None, size: Any = None, **kw: Any) -> Any:
        """`numpy.random.Generator.integers`, tiled over the rows."""
        one, tiled = self._one(size)
        return self._tile(self.rng.integers(low, high, size=one, **kw), tiled)

    def standard_normal(self, size: Any = None, **kw: Any) -> Any:
        """`numpy.random.Generator.standard_normal`, tiled over the rows."""
        one, tiled = self._one(size)
        return self._tile(self.rng.standard_normal(size=one, **kw), tiled)

    def random(self, size: Any = None, **kw: Any) -> Any:
        """`numpy.random.Generator.random`, tiled over the rows."""
        one, tiled = self._one(size)
        return self._tile(self.rng.random(size=one, **kw), tiled)

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> Any:
        """`numpy.random.Generator.uniform`, tiled over the rows."""
        one, tiled = self._one(size)
        return self._tile(self.rng.uniform(low, high, size=one), tiled)

    def choice(self, *args: Any, **kw: Any) -> Any:
        """`numpy.random.Generator.choice` (not tiled)."""
        return self.rng.choice(*args, **kw)

    def permuted(self, x: np.ndarray, axis: int | None = None) -> np.ndarray:
        """One permutation of the columns, drawn as one session's ``permuted(x, axis=1)``, for every row."""
        if axis == 1 and x.ndim == 2 and x.shape[0] == self.m:
            order = self.rng.permuted(np.arange(x.shape[1])[None, :], axis=1)[0]
            return x[:, order]
        return self.rng.permuted(x, axis=axis)


class RolloutPlanner:
    """Rollouts of the greedy oracle from every candidate action in a copy of the env (module docstring).

    Args:
        core: the env's core.
        horizon: the episode's steps (the rollouts run to its end, or `depth` steps).
        width: catalog mode: how many of the best tracks by immediate expected reward are tried.
        seed: seed of the copies' own generator (used where `common_random` is False).
        common_random: the copies draw what the env itself would draw next (`TiledGenerator`); False:
            fresh draws of their own (for a listener whose answers are random: the plan must not know
            them before they happen), averaged over `n_rollouts` copies per action.
        n_rollouts: copies per action.
        depth: at most this many steps per rollout (None: to the horizon).
    """

    def __init__(self, core: Any, horizon: int, width: int = 20, seed: int = 0, common_random: bool = True,
                 n_rollouts: int = 1, depth: int | None = None) -> None:
        self.core = core
        self.horizon = check_int("plan_horizon", horizon, 1, None)
        self.width = width
        self.common_random = common_random
        self.n_rollouts = check_int("n_rollouts", n_rollouts, 1, None)
        self.depth = None if depth is None else check_int("depth", depth, 1, None)
        self.exact = False
        self.rng = np.random.default_rng(seed)
        params = dict(core.params)
        listener = params.get("listener")
        if not isinstance(listener, str):  # the listener's configuration (see Listener.setup), not its state
            params["listener"] = pickle.loads(pickle.dumps(listener))
        self.n_choices = core.n_actions if core.action_mode == "candidates" else min(width, core.n_tracks)
        self.shadow = type(core)(core.catalog, num=self.n_choices, **params)
        self.shadow.length_limit = core.length_limit

    def _actions(self, row: int) -> np.ndarray:
        core = self.core
        rows = np.array([row])
        if core.action_mode == "candidates":
            return np.arange(core.n_actions)
        value = np.asarray(core.listener.expected_reward(rows, np.arange(core.n_tracks)[None, :])[0], dtype=np.float64)
        value[core.history[row, : core.length[row]]] = -np.inf
        return np.argsort(-value, kind="stable")[: self.n_choices]

    def plan(self, row: int, rng: np.random.Generator | None = None) -> tuple[int, float]:
        """The action now for session `row` with the best simulated expected return, and that return.

        `rng`: the env's generator, whose state the copies start from where `common_random` (it is not
        advanced).
        """
        choices = self._actions(row)
        value = np.zeros(len(choices))
        for _ in range(self.n_rollouts):
            if self.common_random and rng is not None:
                gen = np.random.Generator(type(rng.bit_generator)())
                gen.bit_generator.state = rng.bit_generator.state
            else:  # the same fresh future for every action (common random numbers), another per rollout
                gen = np.random.default_rng(self.rng.integers(2**63))
            value += self._rollout(row, choices, TiledGenerator(gen, len(choices)))
        value /= self.n_rollouts
        best = int(np.argmax(value))
        return int(choices[best]), float(value[best])

    def _rollout(self, row: int, choices: np.ndarray, draw: TiledGenerator) -> np.ndarray:
        """Each choice, then the greedy oracle, in copies of session `row`: their summed expected rewards."""
        core, shadow = self.core, self.shadow
        steps_left = self.horizon - int(core.steps_taken[row])
        if self.depth is not None:
            steps_left = min(steps_left, self.depth)
        m = len(choices)
        rows = np.arange(m)
        shadow.copy_sessions(core, row, rows)
        total = np.zeros(m)
        act = choices.astype(np.int64)
        alive = np.ones(m, dtype=bool)
        for _ in range(max(steps_left, 1)):
            live = rows[alive]
            if not live.size:
                break
            before = shadow.oracle_reward[live].copy()
            draw.m = live.size  # the rollouts still going share one future
            out = shadow.step(draw, live, act[live])
            total[live] += before - out["regret"]  # the expected reward of the action taken
            alive[live[out["terminated"]]] = False
            act = shadow.oracle_action.copy()
        return np.where(np.isfinite(total), total, -np.inf)
