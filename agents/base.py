"""What every MusicGym agent offers, and where its default hyperparameters come from.

An agent has SB3's interface: ``learn(total_timesteps, callback=None, progress_bar=False)``,
``predict(obs, state=None, episode_start=None, deterministic=False)``, ``save(path)`` and
``load(path)``. Agents that read the env's ``info`` (action masks, history) set ``uses_info = True``
and accept ``predict(..., info=info)``; `musicgym.evaluate` passes it.

Default hyperparameters live in ``agents/configs/<agent>.yml`` (package data of ``musicgym.agents``),
keyed by env id with a ``default`` entry, in the manner of the RL Zoo; keyword arguments to
`agents.make` override them. Each agent also declares the type and range of each hyperparameter
(``HYPERPARAM_SPECS``, `musicgym.agents.hyperparams`), checked when the agent is made.

Every agent takes ``device`` (SB3's convention: ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``, the
GPU when there is one). The default is ``"cpu"``, on GPU machines too. MusicGym's networks are small
(two or three layers of 64-128 units; batches of 64 to 512 rows), so a training step is a few dozen
kernels of a few microseconds of arithmetic each: on a GPU every one of them costs a kernel launch and
every vector env step a copy of the observations and masks to the device and of the actions back,
while the envs step on the CPU and the agent waits for each action. Measured on an H200 machine (16
cores; torch 2.11 with CUDA 13; the configs' hyperparameters, synthetic-2000 catalog, 3,000 timed env
steps after a warm-up), in env steps per second:

==========================================  ===================  ==============  ======
agent, env                                  CPU, 1 torch thread  CPU, 4 threads  CUDA
==========================================  ===================  ==============  ======
``ah_dqn``, Preference-v0                   3,340                4,510           2,640
``ppo``, Preference-v0                      1,620                2,920           2,930
``dqn``, TasteCatalog-v0                    950                  1,610           1,350
``actor_critic``, PreferenceCatalog-v0      1,380                2,720           2,270
==========================================  ===================  ==============  ======

Eight runs at once, as a sweep's workers run them (one process and one torch thread each), made
5,520 (``ppo``) and 22,990 (``ah_dqn``) env steps per second in all on the CPU, 4,720 and 4,390 sharing
the GPU. So one run alone with a single CPU thread is up to 1.8 times faster on the GPU (the configs'
``ppo``, ``dqn`` and actor-critic), but a CPU with a few threads matches or beats it for every agent, and a
sweep's parallel runs are faster on the CPU; results computed on a GPU also differ in the last bits from
the CPU's, and the leaderboard must give the same numbers on every machine. ``"auto"`` or ``"cuda"``
is there for a single run on a machine with a GPU and few cores, or for wider networks than the
configs'. On this project's 2-core CPU machine (torch 2.13 CPU build) `musicgym.agents.torch_agent`
gives the figures. Reference policies without torch (``popularity``, ``item_cf``, ``user_cf``) take
the hyperparameter too, so that one setting serves every agent of a sweep; they compute on the CPU.

Loading (`Agent.load`, ``agents.load(path, device=None)``) puts the agent on `device` when given,
else on the device it was saved with when this machine has it, else on the CPU: an agent trained on a
GPU loads on a machine without one. Agent files hold data only (`musicgym.agents.persist`).
"""

from __future__ import annotations

import importlib
import json
import numbers
import os
import warnings
from abc import ABC, abstractmethod
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import yaml
from musicgym.agents.hyperparams import (
    Device,
    HyperparameterTypeError,
    Spec,
    check_hyperparams,
    check_total_timesteps,
    device_available,
    resolve_device,
)
from musicgym.agents.persist import AgentFileError, write_json_atomic

#: every agent's ``device`` hyperparameter (module docstring)
DEFAULT_DEVICE = "cpu"
#: modules whose classes a sidecar may name as a hyperparameter (e.g. ``policy_kwargs={"activation_fn": nn.Tanh}``)
CLASS_MODULES = ("torch.", "stable_baselines3.", "sb3_contrib.", "musicgym.")

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


def env_arguments(env: Any, env_id: str, env_kwargs: dict[str, Any]) -> dict[str, Any]:
    """The documented arguments of `env` (made from `env_id`): class defaults, registered ones, `env_kwargs`.

    Later entries override earlier ones: the env class's ``default_arguments()``, then the id's
    registered kwargs, then the `env_kwargs` it was made with.
    """
    return {**type(env.unwrapped).default_arguments(), **(gym.spec(env_id).kwargs or {}), **env_kwargs}


def _hp_to_json(value: Any) -> Any:
    """A hyperparameter value as JSON: a class as ``{"__class__": "module:qualname"}``, a torch.device as its str."""
    if isinstance(value, type):
        return {"__class__": f"{value.__module__}:{value.__qualname__}"}
    if isinstance(value, dict):
        return {str(k): _hp_to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hp_to_json(v) for v in value]
    if value is None or isinstance(value, (bool, str, int, float)):
        return value
    if isinstance(value, numbers.Number):
        return value.item() if hasattr(value, "item") else float(value)
    return str(value)  # a torch.device, a path


def _hp_from_json(value: Any, where: str) -> Any:
    """Invert `_hp_to_json`; a class is imported only from `CLASS_MODULES` (a sidecar names no other code)."""
    if isinstance(value, dict):
        if set(value) == {"__class__"} and isinstance(value["__class__"], str):
            module, _, qualname = value["__class__"].partition(":")
            if not module.startswith(CLASS_MODULES) or not qualname or "." in qualname.strip("."):
                raise AgentFileError(f"{where}: refusing to import {value['__class__']!r} (classes are loaded from "
                                     f"{', '.join(m.rstrip('.') for m in CLASS_MODULES)} only)")
            try:
                return getattr(importlib.import_module(module), qualname)
            except (ImportError, AttributeError) as e:
                raise AgentFileError(f"{where}: cannot find class {value['__class__']!r} ({e})") from e
        return {k: _hp_from_json(v, where) for k, v in value.items()}
    if isinstance(value, list):
        return [_hp_from_json(v, where) for v in value]
    return value


def load_device(saved: Any, requested: Any = None) -> Any:
    """The ``device`` hyperparameter a loaded agent gets (module docstring): `requested`, else `saved` if usable."""
    if requested is not None:
        return requested
    if saved is None or saved == "auto":
        return saved if saved is not None else DEFAULT_DEVICE
    try:
        usable = device_available(resolve_device(saved))
    except (RuntimeError, ValueError, TypeError):
        usable = False
    if not usable:
        warnings.warn(f"the agent was saved with device={saved!r}, which this machine does not have: loading it on "
                      f"the CPU (pass device= to choose)", stacklevel=3)
        return "cpu"
    return saved


META_KEYS = ("agent", "env_id", "env_kwargs", "seed", "hyperparams")


class Agent(ABC):
    """Base class: keeps the env id, env kwargs, seed and hyperparameters; checks the latter.

    Subclasses set `name`, `HYPERPARAMS` (accepted names -> defaults), `HYPERPARAM_SPECS` (name -> `Spec`
    for the names they add) and implement the rest.

    Attributes:
        resumed_from: the step count this agent resumed from a checkpoint at (``learn`` with a
            ``checkpoint_dir`` that held one), None if it did not resume (or its checkpoint was at step 0).
        schedule_timesteps: the whole training budget when it is reached in several ``learn`` calls (a
            sweep's learning-curve points), None for one call. The schedules that run over training
            (an exploration rate's decay over its ``exploration_fraction``) then run over this budget,
            not over each call's target, so that the calls train the agent that one call would.
    """

    name: ClassVar[str]
    HYPERPARAMS: ClassVar[dict[str, Any]] = {}
    HYPERPARAM_SPECS: ClassVar[dict[str, Spec]] = {"device": Device()}
    #: hyperparameters added after agent files were written: `describe` leaves them out at these values,
    #: so the descriptions (sidecars, run names) of agents that do not use them stay as they were
    OMITTED_AT_DEFAULT: ClassVar[dict[str, Any]] = {}
    uses_info: ClassVar[bool] = False
    #: False for a policy with nothing to train (`posterior_greedy`): sweeps evaluate it without training
    trains: ClassVar[bool] = True
    #: env ids the agent works on; None: every MusicGym env
    SUPPORTED_ENVS: ClassVar[tuple[str, ...] | None] = None

    @classmethod
    def supports(cls, env_id: str) -> bool:
        """Whether the agent works on `env_id`."""
        return cls.SUPPORTED_ENVS is None or env_id.removeprefix("musicgym:") in cls.SUPPORTED_ENVS

    @classmethod
    def accepted_hyperparams(cls) -> set[str]:
        """Every hyperparameter name the agent accepts."""
        return set(cls.HYPERPARAMS)

    @classmethod
    def hyperparam_specs(cls) -> dict[str, Spec]:
        """Name -> `Spec` of every checked hyperparameter (the class's and its bases' tables)."""
        out: dict[str, Spec] = {}
        for klass in reversed(cls.__mro__):
            out.update(vars(klass).get("HYPERPARAM_SPECS", {}))
        return out

    def __init__(self, env: Any, seed: int = 0, env_kwargs: dict[str, Any] | None = None, **hyperparams: Any):
        self.env_id, kwargs = resolve_env(env)
        if env_kwargs is not None and not isinstance(env_kwargs, dict):
            raise TypeError(f"agent {self.name!r}: env_kwargs must be a dict, got {type(env_kwargs).__name__}")
        self.env_kwargs = {**kwargs, **(env_kwargs or {})}
        if not isinstance(seed, numbers.Integral) or isinstance(seed, bool):
            raise HyperparameterTypeError(f"agent {self.name!r}: seed must be an integer, got {seed!r}")
        if seed < 0:  # numpy's and torch's generators take none below 0
            raise ValueError(f"agent {self.name!r}: seed must be an integer >= 0, got {seed}")
        self.seed = int(seed)
        unknown = sorted(set(hyperparams) - self.accepted_hyperparams())
        if unknown:
            raise ValueError(
                f"agent {self.name!r}: unknown hyperparameter(s) {unknown}; accepted: "
                f"{sorted(self.accepted_hyperparams())}"
            )
        self.hp = {**self.HYPERPARAMS, **hyperparams}
        check_hyperparams(self.name, self.hp, self.hyperparam_specs())
        if not isinstance(self.hp.get("device", DEFAULT_DEVICE), str):
            self.hp["device"] = str(self.hp["device"])  # a torch.device: kept as SB3 spells it, JSON-safe
        #: the ``torch.device`` the agent computes on (``"auto"`` resolved when the agent is made)
        self.device = resolve_device(self.hp.get("device", DEFAULT_DEVICE))
        self.resumed_from: int | None = None
        self.schedule_timesteps: int | None = None

    def check_total_timesteps(self, total_timesteps: Any) -> int:
        """`learn`'s argument checked: a non-negative int (a bool is not one)."""
        return check_total_timesteps(self.name, total_timesteps)

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
        """The sidecar of a saved agent: FileNotFoundError naming it if absent, `AgentFileError` if unreadable."""
        if not isinstance(path, (str, os.PathLike)) or str(os.fspath(path)) == "":
            raise TypeError(f"an agent path must be a non-empty str or os.PathLike, got {path!r}")
        meta_path = cls.meta_path(path)
        if not meta_path.exists():
            raise FileNotFoundError(f"no saved agent at {path} (expected {meta_path} beside it)")
        try:
            meta = json.loads(meta_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError, IsADirectoryError) as e:
            raise AgentFileError(f"{meta_path} (the sidecar of a saved agent) is not valid JSON: {e}") from e
        if not isinstance(meta, dict) or any(k not in meta for k in META_KEYS):
            missing = [k for k in META_KEYS if not isinstance(meta, dict) or k not in meta]
            raise AgentFileError(f"{meta_path} is not the sidecar of a saved MusicGym agent (missing {missing})")
        if not isinstance(meta["hyperparams"], dict) or not isinstance(meta["env_kwargs"], dict):
            raise AgentFileError(f"{meta_path}: hyperparams and env_kwargs must be JSON objects")
        return meta

    def write_meta(self, path: str | Path) -> None:
        """Write the sidecar for a save at `path` (atomically)."""
        write_json_atomic(self.meta_path(path), self.describe())

    @classmethod
    def check_meta(cls, meta: dict[str, Any], path: str | Path) -> None:
        """Refuse a sidecar written by another agent."""
        if meta["agent"] != cls.name:
            raise AgentFileError(f"{path} holds a saved {meta['agent']!r} agent, not a {cls.name!r} "
                                 f"(load it with agents.load)")

    @classmethod
    def from_meta(
        cls, meta: dict[str, Any], hyperparams: dict[str, Any] | None = None, device: Any = None,
        path: str | Path | None = None,
    ) -> Agent:
        """A fresh agent built as the saved one was (`hyperparams` overrides the saved ones).

        `device`: where to put it (default: `load_device` of the saved one).
        """
        where = f"{cls.meta_path(path)}" if path is not None else "the saved agent's sidecar"
        hp = dict(_hp_from_json(meta["hyperparams"] if hyperparams is None else hyperparams, where))
        if "device" in cls.accepted_hyperparams():
            hp["device"] = load_device(hp.get("device"), device)
        try:
            return cls(meta["env_id"], seed=meta["seed"], env_kwargs=meta["env_kwargs"], **hp)
        except (ValueError, TypeError) as e:
            raise AgentFileError(f"{where}: the saved agent cannot be rebuilt here: {e}") from e

    def describe(self) -> dict[str, Any]:
        """What identifies this agent: name, env, seed, hyperparameters (JSON-safe; classes by import path).

        Hyperparameters at their `OMITTED_AT_DEFAULT` values are left out.
        """
        omitted = self.OMITTED_AT_DEFAULT
        hp = {k: v for k, v in self.hp.items() if not (k in omitted and v == omitted[k])}
        return json.loads(
            json.dumps(
                {"agent": self.name, "env_id": self.env_id, "env_kwargs": _hp_to_json(self.env_kwargs),
                 "seed": self.seed, "hyperparams": _hp_to_json(hp)},
                default=str,
            )
        )
