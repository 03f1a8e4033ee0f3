"""MusicGym agents: RL agents and supervised reference policies behind one registry.

`available()` lists the registered names; `make(name, env, **hyperparams)` builds one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register(name: str, factory: Callable[..., Any]) -> None:
    """Add an agent factory under `name` (raises if the name is taken)."""
    if name in _REGISTRY:
        raise ValueError(f"agent {name!r} is already registered")
    _REGISTRY[name] = factory


def available() -> list[str]:
    """Names of the registered agents."""
    return sorted(_REGISTRY)


def make(name: str, env: Any, **hyperparams: Any) -> Any:
    """Build agent `name` for `env` (an env id or instance)."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown agent {name!r}; available agents: {available() or 'none registered yet'}")
    return _REGISTRY[name](env, **hyperparams)
