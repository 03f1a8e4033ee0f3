"""MusicGym agents: RL agents and supervised reference policies behind one registry.

``agents.available()`` lists the names; ``agents.make(name, env_id_or_env, **hyperparams)`` builds
one with its YAML defaults (``agents/configs/<name>.yml``) overlaid by `hyperparams`;
``agents.load(path, device=None)`` restores any saved agent (agent files hold data only and run no code
when loaded: `musicgym.agents.persist`).

What may escape ``make`` / ``learn`` / ``predict`` / ``save`` / ``load``: ValueError and TypeError with the
agent's, hyperparameter's or file's name (`musicgym.agents.persist.AgentFileError` for a file that cannot
be loaded is a ValueError), FileNotFoundError for a missing file, PermissionError for one that cannot be
written.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from musicgym.agents.base import Agent, load_hyperparams, resolve_env
from musicgym.agents.persist import AgentFileError

#: name -> "module:Class"; modules are imported on first use.
REGISTRY: dict[str, str] = {
    "ppo": "musicgym.agents.sb3_agents:PPOAgent",
    "dqn": "musicgym.agents.sb3_agents:DQNAgent",
    "maskable_ppo": "musicgym.agents.sb3_agents:MaskablePPOAgent",
    "ah_dqn": "musicgym.agents.ah_dqn:AHDQNAgent",
    "actor_critic": "musicgym.agents.actor_critic:ActorCriticAgent",
    "cf_actor_critic": "musicgym.agents.cf_actor_critic:CFActorCriticAgent",
    "popularity": "musicgym.agents.reference:PopularityPolicy",
    "item_cf": "musicgym.agents.reference:ItemCFPolicy",
    "user_cf": "musicgym.agents.reference:UserCFPolicy",
    "sasrec": "musicgym.agents.sasrec:SASRecPolicy",
    "set_transformer": "musicgym.agents.set_transformer:SetTransformerPolicy",
    "recurrent_ppo": "musicgym.agents.recurrent:RecurrentPPOAgent",
    "posterior_greedy": "musicgym.agents.posterior_greedy:PosteriorGreedyPolicy",
    "posterior_planner": "musicgym.agents.posterior_planner:PosteriorPlannerPolicy",
    "model_based": "musicgym.agents.model_based:ModelBasedAgent",
}


def available() -> list[str]:
    """Names of the registered agents."""
    return sorted(REGISTRY)


def agent_class(name: str) -> type[Agent]:
    """The class registered as `name`."""
    if name not in REGISTRY:
        raise ValueError(f"unknown agent {name!r}; available agents: {', '.join(available())}")
    module, cls = REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)


def make(name: str, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any) -> Agent:
    """Build agent `name` for `env` (an env id or a ``gym.make`` instance).

    Hyperparameters: the agent's YAML defaults for this env id, overridden by `hyperparams`.
    Unknown names raise a ValueError listing the accepted ones.
    """
    cls = agent_class(name)
    env_id, _ = resolve_env(env)
    hp = {**load_hyperparams(name, env_id), **hyperparams}
    return cls(env, seed=seed, env_kwargs=env_kwargs, **hp)


def supports(name: str, env_id: str) -> bool:
    """Whether agent `name` works on `env_id`."""
    return agent_class(name).supports(env_id)


def load(path: str | Path, device: Any = None) -> Agent:
    """Load any agent saved with ``agent.save(path)``, on `device` (default: where it was saved, if this machine can).

    The file's sidecar ``path.json`` says which agent wrote it.
    """
    meta = Agent.read_meta(path)
    name = meta["agent"]
    if not isinstance(name, str) or name not in REGISTRY:
        raise AgentFileError(f"{Agent.meta_path(path)} names agent {name!r}, which this MusicGym does not have "
                             f"(available: {', '.join(available())})")
    cls = agent_class(name)
    return cls.load(path) if device is None else cls.load(path, device=device)


__all__ = ["Agent", "AgentFileError", "agent_class", "available", "load", "load_hyperparams", "make", "supports"]
