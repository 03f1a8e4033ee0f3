"""Registration of MusicGym environments with Gymnasium (idempotent, called at ``import musicgym``).

Gymnasium 1.x has no plugin entry points: users ``import musicgym`` (or ``gym.register_envs(musicgym)``),
and worker processes may use the prefixed id ``"musicgym:MusicGym/<Name>-v0"``, which imports this
package first.
"""

from __future__ import annotations

import gymnasium as gym

#: id -> keyword arguments of `gymnasium.register`. Environments add themselves here.
ENV_SPECS: dict[str, dict] = {}


def register_musicgym_envs() -> list[str]:
    """Register every MusicGym environment that is not registered yet; return all MusicGym ids."""
    for env_id, kwargs in ENV_SPECS.items():
        if env_id not in gym.registry:
            gym.register(id=env_id, **kwargs)
    return registered_ids()


def registered_ids() -> list[str]:
    """The ids of all registered ``MusicGym/`` environments."""
    return sorted(k for k in gym.registry if k.startswith("MusicGym/"))
