"""What every MusicGym agent offers, and where its default hyperparameters come from.

An agent has SB3's interface: ``learn(total_timesteps, callback=None, progress_bar=False)``,
``predict(obs, state=None, episode_start=None, deterministic=False)``, ``save(path)`` and
``load(path)``. Agents that read the env's ``info`` (action masks, history) set ``uses_info = True``
and accept ``predict(..., info=info)``; `musicgym.evaluate` passes it.

Default hyperparameters live in ``agents/configs/<agent>.yml`` (package data of ``musicgym.agents``),
keyed by env id with a ``default`` entry, in the manner of the RL Zoo; keyword arguments to
`agents.make` override them.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import yaml

#: the per-agent YAML files, read with importlib.resources (a folder in a checkout, package data in a wheel)
CONFIG_DIR = resources.files("musicgym.agents") / "configs"


def load_hyperparams(agent: str, env_id: str) -> dict[str, Any]:
    """The YAML defaults of `agent` for `env_id` (its ``default`` entry overlaid by the env's own)."""
    path = CONFIG_DIR / f"{agent}.yml"
    if not path.is_file():
        return {}
    doc = yaml.safe_load(path.read_text()) or {}
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: expected a mapping of env id -> hyperparameters")
    out = dict(doc.get("default") or {})
    out.update(doc.get(env_id) or {})
    return out


def resolve_env(env: Any) -> tuple[str, dict[str, Any]]:
    """An env id and its kwargs from an id string or a ``gym.make`` instance."""
    if isinstance(env, str):
        if env not in gym.registry and not env.startswith("musicgym:"):
            from musicgym.registration import registered_ids

            raise ValueError(f"unknown env id {env!r}; MusicGym ids: {registered_ids()}")
        return env.removeprefix("musicgym:"), {}
    spec = getattr(env, "spec", None)
    if spec is None:
        raise ValueError("pass an env id or an env made with gym.make (it carries its spec)")
    kwargs = {k: v for k, v in (spec.kwargs or {}).items() if k != "render_mode"}
    return spec.id, kwargs


class Agent(ABC):
    """Base class: keeps the env id, env kwargs, seed and hyperparameters; checks the latter.

    Subclasses set `name`, `HYPERPARAMS` (accepted names -> defaults) and implement the rest.
    """

    name: ClassVar[str]
    HYPERPARAMS: ClassVar[dict[str, Any]] = {}
    uses_info: ClassVar[bool] = False
    #: env ids the agent works on; None: every MusicGym env
    SUPPORTED_ENVS: ClassVar[tuple[str, ...] | None] = None

    @classmethod
    def supports(cls, env_id: str) -> bool:
        """Whether the agent works on `env_id`."""
        return cls.SUPPORTED_ENVS is None or env_id.removeprefix("musicgym:") in cls.SUPPORTED_ENVS

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        self.env_id, kwargs = resolve_env(env)
        self.env_kwargs = {**kwargs, **(env_kwargs or {})}
        self.seed = int(seed)
        unknown = sorted(set(hyperparams) - set(self.HYPERPARAMS))
        if unknown:
            raise ValueError(
                f"agent {self.name!r}: unknown hyperparameter(s) {unknown}; accepted: {sorted(self.HYPERPARAMS)}"
            )
        self.hp = {**self.HYPERPARAMS, **hyperparams}

    @property
    @abstractmethod
    def num_timesteps(self) -> int:
        """Env steps trained so far (summed over parallel sessions)."""

    @abstractmethod
    def learn(self, total_timesteps: int, callback: Any = None, progress_bar: bool = False) -> Agent:
        """Train for `total_timesteps` env steps (summed over parallel sessions)."""

    @abstractmethod
    def predict(
        self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = False, **kw: Any
    ) -> tuple[Any, Any]:
        """Action(s) for `observation`, SB3-style."""

    def action_scores(self, observation: Any, info: dict[str, Any]) -> tuple[str, Any] | None:
        """How the agent rates each action of one session now, or None if it cannot say.

        ``("p", probabilities)``, ``("Q", values)`` or ``("score", values)``; shown by ``musicgym play``.
        """
        return None

    @abstractmethod
    def save(self, path: str | Path) -> None:
        """Write the agent (weights, hyperparameters, env id) to `path`."""

    # ---------------------------------------------------------------- the ``path.json`` sidecar of a save
    @staticmethod
    def meta_path(path: str | Path) -> Path:
        """Where ``save(path)`` writes the agent's name, env, seed and hyperparameters."""
        return Path(str(path) + ".json")

    @classmethod
    def read_meta(cls, path: str | Path) -> dict[str, Any]:
        """The sidecar of a saved agent (FileNotFoundError naming it if absent)."""
        meta_path = cls.meta_path(path)
        if not meta_path.exists():
            raise FileNotFoundError(f"no saved agent at {path} (expected {meta_path} beside it)")
        return json.loads(meta_path.read_text())

    def write_meta(self, path: str | Path) -> None:
        """Write the sidecar for a save at `path`."""
        self.meta_path(path).write_text(json.dumps(self.describe(), indent=1))

    @classmethod
    def from_meta(cls, meta: dict[str, Any], hyperparams: dict[str, Any] | None = None) -> Agent:
        """A fresh agent built as the saved one was (`hyperparams` overrides the saved ones)."""
        hp = meta["hyperparams"] if hyperparams is None else hyperparams
        return cls(meta["env_id"], seed=meta["seed"], env_kwargs=meta["env_kwargs"], **hp)

    def describe(self) -> dict[str, Any]:
        """What identifies this agent: name, env, seed, hyperparameters (JSON-safe)."""
        return json.loads(
            json.dumps(
                {"agent": self.name, "env_id": self.env_id, "env_kwargs": self.env_kwargs, "seed": self.seed,
                 "hyperparams": self.hp},
                default=str,
            )
        )
