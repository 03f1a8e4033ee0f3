"""Property-based checks of every agent's hyperparameter table (`musicgym.agents.hyperparams`).

For each registered agent and each hyperparameter it declares, hypothesis draws values of the wrong
type or out of the declared range (built from the spec's bounds and options, not from its ``check``)
and `agents.make` must raise ValueError or TypeError naming the agent and the hyperparameter. Values
inside the range must pass the check. The checks run before any env or network is built, so each
example takes about a millisecond.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from musicgym.agents.hyperparams import (
    Bool,
    Choice,
    ClassOrName,
    Device,
    Int,
    MappingSpec,
    PathSpec,
    Real,
    Spec,
    TrainFreq,
)

from musicgym import agents

CATALOG = {"catalog": "synthetic-300"}
ENV = {"cf_actor_critic": "MusicGym/TasteCatalog-v0"}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

not_numbers = st.one_of(st.text(max_size=5), st.booleans(), st.lists(st.integers(), max_size=2),
                        st.dictionaries(st.text(max_size=2), st.integers(), max_size=1))


def bad_values(spec: Spec) -> st.SearchStrategy:
    """Values `spec` must refuse, from its declared bounds and options."""
    optional_none = [] if spec.optional else [st.none()]
    if isinstance(spec, Int):
        out = [not_numbers, st.floats(allow_nan=True), *optional_none]
        if spec.low is not None:
            out.append(st.integers(max_value=spec.low - 1))
        if spec.high is not None:
            out.append(st.integers(min_value=spec.high + 1))
        return st.one_of(out)
    if isinstance(spec, Real):
        out = [not_numbers, st.sampled_from([math.nan, math.inf, -math.inf]), *optional_none]
        if spec.low is not None:
            below = st.floats(max_value=spec.low, exclude_max=not spec.low_open, allow_nan=False, allow_infinity=False)
            out.append(below)
        if spec.high is not None:
            above = st.floats(min_value=spec.high, exclude_min=not spec.high_open, allow_nan=False,
                              allow_infinity=False)
            out.append(above)
        return st.one_of(out)
    if isinstance(spec, Bool):
        return st.one_of(st.integers(), st.text(max_size=5), st.floats(), st.none())
    if isinstance(spec, Choice):
        return st.one_of(st.text(max_size=8).filter(lambda t: t not in spec.options), st.integers(),
                         st.booleans(), *optional_none)
    if isinstance(spec, PathSpec):
        return st.one_of(st.integers(), st.floats(), st.booleans(), st.lists(st.text(max_size=3), max_size=2),
                         st.just(""))
    if isinstance(spec, MappingSpec):
        return st.one_of(st.integers(), st.text(max_size=5), st.lists(st.integers(), max_size=2),
                         st.dictionaries(st.integers(), st.integers(), min_size=1, max_size=2))
    if isinstance(spec, ClassOrName):
        names = [st.just("")] if spec.names else [st.text(max_size=5)]
        return st.one_of(st.integers(), st.floats(), st.lists(st.integers(), max_size=2), *names, *optional_none)
    if isinstance(spec, TrainFreq):
        return st.one_of(st.integers(max_value=0), st.text(max_size=4), st.floats(), st.booleans(),
                         st.tuples(st.integers(max_value=0), st.sampled_from(["step", "episode"])),
                         st.tuples(st.integers(min_value=1), st.text(max_size=4).filter(
                             lambda u: u not in ("step", "episode"))))
    if isinstance(spec, Device):
        missing = [] if torch.cuda.is_available() else [st.just("cuda"), st.just("cuda:0")]
        return st.one_of(st.integers(), st.floats(), st.none(), st.lists(st.text(max_size=2), max_size=1),
                         st.sampled_from(["gpu", "tpu", "meta", "cpu:1", "cuda:99", "", "AUTO"]),
                         *missing)
    raise AssertionError(f"no bad values for {type(spec).__name__}: add them here")


def good_values(spec: Spec) -> st.SearchStrategy:
    """Values `spec` must accept."""
    if isinstance(spec, Int):
        return st.integers(min_value=spec.low, max_value=spec.high)
    if isinstance(spec, Real):
        return st.floats(min_value=spec.low, max_value=spec.high, exclude_min=spec.low_open,
                         exclude_max=spec.high_open, allow_nan=False, allow_infinity=False)
    if isinstance(spec, Bool):
        return st.booleans()
    if isinstance(spec, Choice):
        return st.sampled_from(spec.options)
    if isinstance(spec, PathSpec):
        return st.text(min_size=1, max_size=8)
    if isinstance(spec, MappingSpec):
        return st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)
    if isinstance(spec, ClassOrName):
        return st.sampled_from([int, dict, *(["MlpPolicy"] if spec.names else [])])
    if isinstance(spec, TrainFreq):
        return st.one_of(st.integers(min_value=1), st.tuples(st.integers(min_value=1),
                                                             st.sampled_from(["step", "episode"])))
    if isinstance(spec, Device):
        return st.sampled_from(["auto", "cpu", torch.device("cpu"), *(["cuda"] if torch.cuda.is_available() else [])])
    raise AssertionError(f"no good values for {type(spec).__name__}: add them here")


def test_every_declared_hyperparameter_has_a_spec():
    for name in agents.available():
        cls = agents.agent_class(name)
        specs = cls.hyperparam_specs()
        missing = sorted(cls.accepted_hyperparams() - set(specs))
        assert not missing, f"{name}: no spec for {missing}"
        assert "device" in cls.accepted_hyperparams(), name


@pytest.mark.parametrize("name", agents.available())
def test_a_wrong_value_for_any_hyperparameter_is_refused_by_name(name):
    specs = agents.agent_class(name).hyperparam_specs()
    env_id = ENV.get(name, "MusicGym/Taste-v0")

    @SETTINGS
    @given(st.sampled_from(sorted(specs)).flatmap(lambda hp: st.tuples(st.just(hp), bad_values(specs[hp]))))
    def check(case):
        hp, value = case
        with pytest.raises((ValueError, TypeError)) as info:
            agents.make(name, env_id, env_kwargs=CATALOG, **{hp: value})
        message = str(info.value)
        assert f"agent {name!r}" in message and hp in message, message

    check()


@pytest.mark.parametrize("name", agents.available())
def test_a_value_inside_the_range_passes_the_check(name):
    specs = agents.agent_class(name).hyperparam_specs()

    @SETTINGS
    @given(st.sampled_from(sorted(specs)).flatmap(lambda hp: st.tuples(st.just(hp), good_values(specs[hp]))))
    def check(case):
        hp, value = case
        specs[hp].check(name, hp, value)

    check()


@SETTINGS
@given(st.one_of(st.integers(max_value=-1), st.text(max_size=4), st.floats(), st.booleans(), st.none(),
                 st.lists(st.integers(), max_size=2)))
def test_learn_refuses_anything_but_a_non_negative_int(steps):
    agent = agents.make("item_cf", "MusicGym/Taste-v0", env_kwargs=CATALOG)
    with pytest.raises((ValueError, TypeError), match=r"agent 'item_cf': learn\(total_timesteps\) needs a non-negative int"):
        agent.learn(steps)
