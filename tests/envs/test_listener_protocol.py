"""The Listener protocol: a listener of one's own plugs into the envs (and the built-in ones follow it)."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import musicgym
from musicgym import OraclePolicy, RandomPolicy, evaluate
from musicgym.listeners import Listener, expected_listening


class EnergyLover(Listener):
    """Listens longer to energetic tracks (noise sd 0.1) and likes what it hears past 70%."""

    components = ("percentage_listened", "liked")
    stationary = True  # a track's expected reward never changes: Playlist-v0's planner is exact

    def setup(self, catalog, num):
        super().setup(catalog, num)
        self.energy = catalog.tracks["energy"].to_numpy()

    def respond(self, rng, rows, tracks):
        pct = np.clip(self.energy[tracks] + 0.1 * rng.standard_normal(len(rows)), 0.0, 1.0)
        liked = (pct > 0.7).astype(float)
        return {"reward": 100 * pct + 50 * liked, "percentage_listened": pct, "liked": liked}

    def expected_reward(self, rows, tracks):
        e_pct, p_like = expected_listening(self.energy[tracks], 0.1, 0.7)
        return 100 * e_pct + 50 * p_like


def test_a_twenty_line_listener_runs_in_playlist_v0_under_check_env_and_evaluate():
    gym_check_env(gym.make("MusicGym/Playlist-v0", listener=EnergyLover()).unwrapped, skip_render_check=True)
    sb3_check_env(gym.make("MusicGym/Playlist-v0", listener=EnergyLover()))
    oracle = evaluate(OraclePolicy(), "MusicGym/Playlist-v0", n_episodes=5, listener=EnergyLover())
    env = gym.make("MusicGym/Playlist-v0", listener=EnergyLover())
    rand = evaluate(RandomPolicy(env.action_space, seed=0), "MusicGym/Playlist-v0", n_episodes=5,
                    listener=EnergyLover())
    assert oracle.normalized_score <= 1 + 1e-9 and oracle.mean_regret == pytest.approx(0.0, abs=1e-9)
    planner = evaluate(musicgym.PlannerPolicy(), "MusicGym/Playlist-v0", n_episodes=5, listener=EnergyLover())
    assert planner.reference == "planner" and planner.reference_exact and planner.normalized_score == pytest.approx(1)
    assert oracle.oracle_return > rand.mean_expected_return
    obs, info = env.reset(seed=0)
    _, reward, *_, info = env.step(int(info["oracle_action"]))
    assert set(info["rewards"]) == {"percentage_listened", "liked"}
    assert reward == pytest.approx(100 * info["rewards"]["percentage_listened"] + 50 * info["rewards"]["liked"])


def test_the_same_listener_object_serves_the_vector_env():
    venv = gym.make_vec("MusicGym/Playlist-v0", num_envs=5, vectorization_mode="vector_entry_point",
                        listener=EnergyLover())
    obs, info = venv.reset(seed=1)
    obs, reward, term, trunc, info = venv.step(info["oracle_action"])
    assert reward.shape == (5,) and np.isfinite(reward).all() and (info["regret"] == 0).all()


def test_a_listener_object_refuses_the_built_in_listeners_arguments():
    with pytest.raises(TypeError, match=r"\['like_threshold'\] configure the built-in listeners only"):
        gym.make("MusicGym/Playlist-v0", listener=EnergyLover(), like_threshold=0.5)


def test_playlist_v0_needs_the_listening_share_in_the_response():
    class Silent(EnergyLover):
        def respond(self, rng, rows, tracks):
            return {"reward": np.zeros(len(rows)), "percentage_listened": np.zeros(len(rows))}

    env = gym.make("MusicGym/Playlist-v0", listener=Silent())
    env.reset(seed=0)
    with pytest.raises(ValueError, match="must return 'liked'"):
        env.step(0)


def test_taste_v0_needs_a_listener_that_shows_a_taste_state():
    with pytest.raises(ValueError, match="observation_dim"):
        gym.make("MusicGym/Taste-v0", listener=EnergyLover())


def test_custom_listener_in_preference_v0_with_hidden_preferences():
    env = gym.make("MusicGym/Preference-v0", listener=EnergyLover(), observe_preferences=False)
    sb3_check_env(env)
    r = evaluate(OraclePolicy(), "MusicGym/Preference-v0", n_episodes=2, listener=EnergyLover(),
                 observe_preferences=False)
    assert r.mean_regret == pytest.approx(0.0, abs=1e-9) and r.normalized_score <= 1 + 1e-9


@pytest.mark.parametrize("name", ["ClusterListener", "PersonListener", "PreferenceUser", "ReplayListener",
                                  "TasteUser"])
def test_every_built_in_listener_is_a_listener(name):
    assert issubclass(getattr(musicgym.listeners, name), Listener)


def test_a_set_up_listener_copies_and_pickles_as_its_configuration():
    """Gymnasium's wrappers deep-copy the spec (and its listener); workers get pickled env arguments."""
    import copy
    import pickle

    from musicgym.listeners import PreferenceUser

    user = PreferenceUser(drift=0.1)
    env = gym.make("MusicGym/Preference-v0", listener=user)
    env.reset(seed=0)
    assert env.spec is not None and env.spec.kwargs["listener"].drift == 0.1
    for clone in (copy.deepcopy(user), pickle.loads(pickle.dumps(user))):
        assert clone.drift == 0.1 and not hasattr(clone, "prefs") and not hasattr(clone, "index")
    again = gym.make(env.spec)
    assert np.array_equal(again.reset(seed=3)[0], gym.make("MusicGym/Preference-v0", drift=0.1).reset(seed=3)[0])
