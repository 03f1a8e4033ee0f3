"""Every env argument is checked in one place per env: a wrong type or value is a TypeError / ValueError
that names the argument (never NaN rewards, never a raw traceback from numpy)."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import musicgym

BAD = [
    ("MusicGym/Playlist-v0", "reward_scale", math.nan),
    ("MusicGym/Playlist-v0", "listen_weight", math.inf),
    ("MusicGym/Playlist-v0", "like_threshold", "x"),
    ("MusicGym/Playlist-v0", "listener_seed", "a"),
    ("MusicGym/Playlist-v0", "listener_seed", 1.5),
    ("MusicGym/Playlist-v0", "mean_bounds", (0.9, 0.1)),
    ("MusicGym/Playlist-v0", "sd_bounds", "wide"),
    ("MusicGym/Playlist-v0", "n_clusters", True),
    ("MusicGym/Playlist-v0", "playlist_length", 2.0),
    ("MusicGym/Playlist-v0", "observation", 3),
    ("MusicGym/Taste-v0", "k", True),
    ("MusicGym/Taste-v0", "k", 2.5),
    ("MusicGym/Taste-v0", "n_random", -1),
    ("MusicGym/Taste-v0", "window", "5"),
    ("MusicGym/Preference-v0", "drift", math.nan),
    ("MusicGym/Preference-v0", "reward_scale", 0),
    ("MusicGym/Preference-v0", "observe_preferences", "yes"),
    ("MusicGym/Session-v0", "k", 0),
    ("MusicGym/Session-v0", "n_recent", "5"),
    ("MusicGym/Session-v0", "shown_tracks", 0),
    ("MusicGym/Session-v0", "reward", "hours"),
]


@pytest.mark.parametrize("env_id,name,value", BAD, ids=[f"{e.split('/')[1]}-{n}={v!r}" for e, n, v in BAD])
def test_a_bad_argument_is_an_error_naming_it(env_id, name, value):
    with pytest.raises((TypeError, ValueError), match=name):
        gym.make(env_id, **{name: value})


@pytest.mark.parametrize("catalog", [123, None, "", [], 4.5])
def test_a_catalog_that_is_not_one_is_named(catalog):
    with pytest.raises((TypeError, ValueError), match="catalog"):
        gym.make("MusicGym/Taste-v0", catalog=catalog)


NUMERIC = {
    "MusicGym/Playlist-v0": ["reward_scale", "listen_weight", "like_weight", "like_threshold", "interaction_weight",
                             "proximity_weight"],
    "MusicGym/Preference-v0": ["drift", "reward_scale"],
}
junk = st.one_of(st.text(max_size=3), st.none(), st.booleans(), st.floats(allow_nan=True, allow_infinity=True),
                 st.integers(-10**6, 10**6), st.lists(st.integers(), max_size=2))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(env_id=st.sampled_from(sorted(NUMERIC)), data=st.data(), value=junk)
def test_any_value_either_makes_a_working_env_or_an_error_naming_the_argument(env_id, data, value):
    name = data.draw(st.sampled_from(NUMERIC[env_id]))
    try:
        env = gym.make(env_id, **{name: value})
    except (TypeError, ValueError) as e:
        assert name in str(e)
        return
    obs, info = env.reset(seed=0)
    _, reward, *_ = env.step(int(info["oracle_action"]))
    assert np.isfinite(reward) and np.isfinite(obs).all()


def test_unknown_arguments_are_listed():
    with pytest.raises(TypeError, match=r"unknown argument\(s\) \['colour'\]; accepted: catalog, render_mode"):
        gym.make("MusicGym/Session-v0", colour="red")
    assert musicgym  # registered
