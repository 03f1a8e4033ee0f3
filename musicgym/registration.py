"""Registration of MusicGym environments with Gymnasium (idempotent, called at ``import musicgym``).

Gymnasium 1.x has no plugin entry points: users ``import musicgym`` (or ``gym.register_envs(musicgym)``),
and worker processes may use the prefixed id ``"musicgym:MusicGym/<Name>-v0"``, which imports this
package first.
"""

from __future__ import annotations

import gymnasium as gym

#: id -> keyword arguments of `gymnasium.register`; variants are kwargs, not subclasses.
ENV_SPECS: dict[str, dict] = {
    "MusicGym/Playlist-v0": {
        "entry_point": "musicgym.envs.playlist:PlaylistEnv",
        "vector_entry_point": "musicgym.envs.playlist:PlaylistVectorEnv",
        # no time limit: the env terminates when the 10-track playlist is complete
    },
    "MusicGym/Taste-v0": {
        "entry_point": "musicgym.envs.taste:TasteEnv",
        "vector_entry_point": "musicgym.envs.taste:TasteVectorEnv",
        "max_episode_steps": 50,
    },
    "MusicGym/TasteCatalog-v0": {
        "entry_point": "musicgym.envs.taste:TasteEnv",
        "vector_entry_point": "musicgym.envs.taste:TasteVectorEnv",
        "max_episode_steps": 50,
        "kwargs": {"action_mode": "catalog"},
    },
    "MusicGym/Preference-v0": {
        "entry_point": "musicgym.envs.preference:PreferenceEnv",
        "vector_entry_point": "musicgym.envs.preference:PreferenceVectorEnv",
        "max_episode_steps": 20,
    },
    "MusicGym/PreferenceCatalog-v0": {
        "entry_point": "musicgym.envs.preference:PreferenceEnv",
        "vector_entry_point": "musicgym.envs.preference:PreferenceVectorEnv",
        "max_episode_steps": 20,
        "kwargs": {"action_mode": "catalog"},
    },
    # a listening session with the realistic listener (musicgym.listeners.SessionListener)
    "MusicGym/Session-v0": {
        "entry_point": "musicgym.envs.session:SessionEnv",
        "vector_entry_point": "musicgym.envs.session:SessionVectorEnv",
        "max_episode_steps": 50,
    },
    "MusicGym/SessionCatalog-v0": {
        "entry_point": "musicgym.envs.session:SessionEnv",
        "vector_entry_point": "musicgym.envs.session:SessionVectorEnv",
        "max_episode_steps": 50,
        "kwargs": {"action_mode": "catalog"},
    },
    # the hard track: the settings that make a POMDP of the published ones
    "MusicGym/PlaylistPOMDP-v0": {
        "entry_point": "musicgym.envs.playlist:PlaylistEnv",
        "vector_entry_point": "musicgym.envs.playlist:PlaylistVectorEnv",
        "kwargs": {"listener": "population"},  # a new hidden listener every episode
    },
    "MusicGym/PreferenceHidden-v0": {
        "entry_point": "musicgym.envs.preference:PreferenceEnv",
        "vector_entry_point": "musicgym.envs.preference:PreferenceVectorEnv",
        "max_episode_steps": 20,
        "kwargs": {"observe_preferences": False},  # hidden preferences, inferred from the rewards
    },
}


def register_musicgym_envs() -> list[str]:
    """Register every MusicGym environment that is not registered yet; return all MusicGym ids."""
    for env_id, kwargs in ENV_SPECS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, **kwargs)
    return registered_ids()


def registered_ids() -> list[str]:
    """The ids of all registered ``MusicGym/`` environments."""
    return sorted(k for k in gym.registry if k.startswith("MusicGym/"))
