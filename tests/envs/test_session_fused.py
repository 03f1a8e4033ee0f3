"""Session-v0's fused step and reset (numba kernels that draw from the env's generator) against the step by parts.

`SessionCore` steps and resets in one or two kernel calls where it can; ``core._fused = False`` makes it
take the generic path (`Core.step`, `Core.reset`: the listener's methods and NumPy draws). Both must give
the same trajectory from the same seed, including the rare paths: a neighbour table that runs out and
random slots drawn from the index on a tiny catalog, empty slots (repeats), out-of-range actions.
"""

from __future__ import annotations

import numpy as np
import pytest

import musicgym  # noqa: F401
from musicgym.catalog import synthetic
from musicgym.envs.session import SessionEnv, SessionVectorEnv
from tests.envs import lockstep

_same = lockstep.same_close


#: a listener who never leaves, few slots, on a 30-track catalog: sessions run until the slots are empty
#: (repeats), the neighbour table runs out and the random slots come from the index
TINY = {"listener_params": {"leave_base": -30.0, "leave_sd": 0.0}, "k": 8, "n_recent": 2, "n_random": 2}


@pytest.mark.parametrize(("catalog_size", "kwargs"), [(2_000, {}), (30, TINY)])
def test_single_env_fused_equals_by_parts(catalog_size, kwargs):
    catalog = synthetic(catalog_size, seed=3)
    fused, parts = (SessionEnv(catalog=catalog, **kwargs) for _ in range(2))
    parts.core._fused = False
    rng = np.random.default_rng(1)
    for env in (fused, parts):
        env.reset(seed=5)
    for t in range(400):
        a = int(rng.integers(fused.action_space.n))
        got, want = fused.step(a), parts.step(a)
        _same(got, want)
        if got[2] or got[3]:
            _same(fused.reset(), parts.reset())
        elif t % 37 == 36:  # a reset mid-episode, with a new seed
            _same(fused.reset(seed=t), parts.reset(seed=t))
    assert fused.np_random.random() == parts.np_random.random()


@pytest.mark.parametrize("oracle", [True, False])
def test_vector_env_fused_equals_by_parts(oracle):
    catalog = synthetic(30, seed=3)
    fused, parts = (SessionVectorEnv(num_envs=8, catalog=catalog, max_episode_steps=50, oracle=oracle, **TINY)
                    for _ in range(2))
    parts.core._fused = False
    lockstep.vector_steps(fused, parts, _same, steps=300)
    assert fused.np_random.random() == parts.np_random.random()


#: a listener who never leaves on a 300-track catalog with the default slots: sessions play the catalog
#: through, and 100 rounds of redraws leave bad random slots (completed exactly, `random_fill`)
STAYS = {"listener_params": {"leave_base": -700.0, "leave_sd": 0.0, "leave_skip": 0.0, "leave_position": 0.0}}


def test_single_env_fused_equals_by_parts_through_the_completion(monkeypatch):
    calls = lockstep.counting_completions(monkeypatch)
    catalog = synthetic(300, seed=3)
    fused, parts = (SessionEnv(catalog=catalog, **STAYS) for _ in range(2))
    parts.core._fused = False
    in_fused, in_parts = lockstep.episodes(fused, parts, _same, calls)
    assert in_parts > 0  # the step by parts completed: so did the fused step, to the same slates
    assert in_fused < in_parts  # the fused step's completions in the kernel
    assert fused.np_random.random() == parts.np_random.random()


def test_vector_env_fused_equals_by_parts_through_the_completion(monkeypatch):
    calls = lockstep.counting_completions(monkeypatch)
    catalog = synthetic(300, seed=3)
    fused, parts = (SessionVectorEnv(num_envs=4, catalog=catalog, max_episode_steps=None, **STAYS)
                    for _ in range(2))
    parts.core._fused = False
    in_fused, in_parts = lockstep.vector_steps(fused, parts, _same, calls)
    assert in_parts > 0
    assert in_fused < in_parts
    assert fused.np_random.random() == parts.np_random.random()


def test_fused_step_takes_the_rare_paths():
    """Empty slots (repeats) go by parts; a tiny catalog makes the table run out and the index fill slots."""
    from musicgym.envs import session as S

    calls = {"index": 0, "by_parts": 0}
    mp = pytest.MonkeyPatch()
    mp.setattr(S.SessionCore, "_finish_by_index", lockstep.counter(calls, "index", S.SessionCore._finish_by_index))
    mp.setattr(S.Core, "step", lockstep.counter(calls, "by_parts", S.Core.step))
    try:
        test_vector_env_fused_equals_by_parts(True)
    finally:
        mp.undo()
    assert calls["index"] > 0 and calls["by_parts"] > 0


def test_out_of_range_action_is_refused_without_a_draw():
    lockstep.refuses_without_a_draw("MusicGym/Session-v0", 20)


class _InThreads:
    """A vector env whose every call runs with `n` threads (`musicgym.envs.threads`), then back to one."""

    def __init__(self, env, n):
        self.env, self.n = env, n
        self.num_envs, self.single_action_space = env.num_envs, env.single_action_space

    def _call(self, name, *a, **k):
        from musicgym.envs import threads

        threads.set_num_threads(self.n)
        try:
            return getattr(self.env, name)(*a, **k)
        finally:
            threads.set_num_threads(1)

    def reset(self, **k):
        return self._call("reset", **k)

    def step(self, actions):
        return self._call("step", actions)


@pytest.mark.parametrize(("catalog_size", "kwargs", "autoreset", "least_calls"),
                         [(2_000, {}, "NextStep", 200), (2_000, {}, "SameStep", 200), (30, TINY, "NextStep", 1)])
def test_vector_env_in_threads_equals_one_thread(monkeypatch, catalog_size, kwargs, autoreset, least_calls):
    """A large batch's rows split over threads (chunks of 3-4 rows here) give every bit of the one-thread run.

    The response, the oracle and the observations run on chunks (and, next-step autoreset, the resets of
    the sessions that ended beside the oracle's chunks); the draws stay in one thread. The one-thread run
    takes the one-chunk kernels. The tiny catalog takes the index paths (the table runs out, random
    slots from the index) with split rows.
    """
    from gymnasium.vector import AutoresetMode

    from musicgym.envs import session as S
    from musicgym.envs import threads

    monkeypatch.setattr(threads, "MIN_ROWS", 3)
    monkeypatch.setattr(threads, "MIN_PIECE", 2)
    calls = {"respond": 0, "finish": 0, "beside": 0}
    monkeypatch.setattr(S, "_respond_check", lockstep.counter(calls, "respond", S._respond_check))
    monkeypatch.setattr(S, "_shuffle_and_finish", lockstep.counter(calls, "finish", S._shuffle_and_finish))
    run_beside = threads.run_beside

    def counted_beside(first, fn, parts):  # the resets of sessions that ended, beside the step's last part
        calls["beside"] += first is not S._nothing
        return run_beside(first, fn, parts)

    monkeypatch.setattr(threads, "run_beside", counted_beside)
    catalog = synthetic(catalog_size, seed=3)
    mode = AutoresetMode.SAME_STEP if autoreset == "SameStep" else AutoresetMode.NEXT_STEP
    split, one = (SessionVectorEnv(num_envs=11, catalog=catalog, max_episode_steps=50, autoreset_mode=mode,
                                   **kwargs) for _ in range(2))
    threads.set_num_threads(1)
    try:
        lockstep.vector_steps(_InThreads(split, 3), one, lockstep.same_exact, steps=200)
    finally:
        threads.set_num_threads(None)
    # chunks of the rows stepping: three (3, 4, 4) where all 11 do, fewer where some sessions wait to reset;
    # on the tiny catalog most steps have a repeat, which sends them by parts
    assert calls["respond"] >= least_calls and calls["finish"] >= least_calls
    assert calls["beside"] >= (least_calls // 4 if autoreset == "NextStep" else 0)
    assert split.np_random.random() == one.np_random.random()
