"""Hyperparameter checks: one table per agent of (name -> type and range), checked when the agent is made.

Every agent class declares ``HYPERPARAM_SPECS`` (its own names; a subclass adds to its bases') beside
``HYPERPARAMS`` (the defaults); `Agent.__init__` checks every hyperparameter against its spec before
anything is built, so a bad value fails at once with the agent's and the hyperparameter's names in the
message, never inside torch or SB3 later on:

* a value of the wrong type raises `HyperparameterTypeError` (a ``TypeError``, and a ``ValueError`` for
  code that catches the latter);
* a value of the right type out of its range raises ``ValueError``.

A bool is not a number here (``batch_size=True`` is refused), nor is a string (``learning_rate="fast"``);
an int is accepted where a float is expected. The property-based tests (``tests/agents/test_hyperparams.py``)
draw wrong values for every spec of every agent.
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


class HyperparameterTypeError(TypeError, ValueError):
    """A hyperparameter of the wrong type (a TypeError that ``except ValueError`` also catches)."""


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class Spec:
    """What values one hyperparameter accepts (subclasses say which)."""

    #: None is accepted (and means the documented default behaviour)
    optional: bool = False

    def describe(self) -> str:
        """What is accepted, as the error messages say it ("a positive integer", "in (0, 1)")."""
        raise NotImplementedError

    def check_type(self, value: Any) -> bool:
        """Whether `value` has an accepted type."""
        raise NotImplementedError

    def check_range(self, value: Any) -> bool:
        """Whether `value` (of an accepted type) is in range."""
        return True

    def check(self, agent: str, name: str, value: Any) -> None:
        """Raise naming `agent` and `name` unless `value` is accepted."""
        if value is None and self.optional:
            return
        got = f"got {value!r} ({type(value).__name__})"
        if not self.check_type(value):
            raise HyperparameterTypeError(f"agent {agent!r}: {name} must be {self.describe()}, {got}")
        if not self.check_range(value):
            raise ValueError(f"agent {agent!r}: {name} must be {self.describe()}, {got}")


@dataclass(frozen=True)
class Int(Spec):
    """An integer (not a bool) in [low, high]."""

    low: int | None = None
    high: int | None = None
    optional: bool = False

    def describe(self) -> str:
        """E.g. "a positive integer", "an integer >= 0"."""
        tail = " (or None)" if self.optional else ""
        if self.low == 1 and self.high is None:
            return "a positive integer" + tail
        if self.high is None:
            return f"an integer >= {self.low}" + tail
        return f"an integer in [{self.low}, {self.high}]" + tail

    def check_type(self, value: Any) -> bool:
        """An int or numpy integer, not a bool."""
        return _is_int(value)

    def check_range(self, value: Any) -> bool:
        """Low <= value <= high."""
        return (self.low is None or value >= self.low) and (self.high is None or value <= self.high)


@dataclass(frozen=True)
class Real(Spec):
    """A finite number (int or float, not a bool) in an interval, each end open or closed."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    optional: bool = False

    def describe(self) -> str:
        """E.g. "in (0, 1)", "a number > 0"."""
        tail = " (or None)" if self.optional else ""
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{self.low:g}, {self.high:g}{right}" + tail
        if self.low is not None:
            return f"a number {'>' if self.low_open else '>='} {self.low:g}" + tail
        if self.high is not None:
            return f"a number {'<' if self.high_open else '<='} {self.high:g}" + tail
        return "a finite number" + tail

    def check_type(self, value: Any) -> bool:
        """An int or float (numpy ones too), not a bool."""
        return _is_real(value)

    def check_range(self, value: Any) -> bool:
        """Finite and inside the interval."""
        v = float(value)
        if not math.isfinite(v):
            return False
        if self.low is not None and (v <= self.low if self.low_open else v < self.low):
            return False
        return not (self.high is not None and (v >= self.high if self.high_open else v > self.high))


@dataclass(frozen=True)
class Bool(Spec):
    """True or False (not 0 / 1)."""

    def describe(self) -> str:
        """The accepted values."""
        return "True or False"

    def check_type(self, value: Any) -> bool:
        """A bool (numpy's too)."""
        return isinstance(value, bool) or type(value).__name__ == "bool_"


@dataclass(frozen=True)
class Choice(Spec):
    """One of a few strings."""

    options: tuple[str, ...] = ()
    optional: bool = False

    def describe(self) -> str:
        """E.g. "'huber' or 'mse'"."""
        quoted = [repr(o) for o in self.options]
        text = quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " or " + quoted[-1]
        return text + (" (or None)" if self.optional else "")

    def check_type(self, value: Any) -> bool:
        """A str."""
        return isinstance(value, str)

    def check_range(self, value: Any) -> bool:
        """One of the options."""
        return value in self.options


@dataclass(frozen=True)
class PathSpec(Spec):
    """A directory or file path: a non-empty str or os.PathLike."""

    optional: bool = True

    def describe(self) -> str:
        """The accepted forms."""
        return "a non-empty path (str or os.PathLike)" + (" or None" if self.optional else "")

    def check_type(self, value: Any) -> bool:
        """Str or PathLike."""
        return isinstance(value, (str, os.PathLike))

    def check_range(self, value: Any) -> bool:
        """Not empty."""
        return str(os.fspath(value)) != ""


@dataclass(frozen=True)
class MappingSpec(Spec):
    """A dict (e.g. SB3's ``policy_kwargs``), with str keys."""

    optional: bool = True

    def describe(self) -> str:
        """The accepted form."""
        return "a dict with str keys" + (" (or None)" if self.optional else "")

    def check_type(self, value: Any) -> bool:
        """A mapping."""
        return isinstance(value, Mapping)

    def check_range(self, value: Any) -> bool:
        """Every key a str."""
        return all(isinstance(k, str) for k in value)


@dataclass(frozen=True)
class ClassOrName(Spec):
    """A class, or (with `names`) a str naming one (SB3's ``policy="MlpPolicy"``)."""

    optional: bool = False
    names: bool = True

    def describe(self) -> str:
        """The accepted forms."""
        return ("a class or a str naming one" if self.names else "a class") + (" (or None)" if self.optional else "")

    def check_type(self, value: Any) -> bool:
        """A type (or a str, with `names`)."""
        return isinstance(value, type) or (self.names and isinstance(value, str))

    def check_range(self, value: Any) -> bool:
        """A non-empty name."""
        return not isinstance(value, str) or value != ""


@dataclass(frozen=True)
class TrainFreq(Spec):
    """SB3's ``train_freq``: a positive int, or (positive int, "step" | "episode")."""

    def describe(self) -> str:
        """As SB3 documents it."""
        return "a positive integer or (positive integer, 'step' | 'episode')"

    def check_type(self, value: Any) -> bool:
        """int, or a 2-tuple / list of (int, str)."""
        if _is_int(value):
            return True
        return isinstance(value, (tuple, list)) and len(value) == 2 and _is_int(value[0]) and isinstance(value[1], str)

    def check_range(self, value: Any) -> bool:
        """Positive, with a known unit."""
        if _is_int(value):
            return value >= 1
        return value[0] >= 1 and value[1] in ("step", "episode")


DEVICE_TYPES = ("cpu", "cuda", "mps")


@dataclass(frozen=True)
class Device(Spec):
    """A torch device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (SB3's convention) or a ``torch.device``.

    A device this machine does not have is refused when the agent is made (``"auto"`` never is).
    """

    def describe(self) -> str:
        """The accepted forms."""
        return "'auto', 'cpu', 'cuda', 'cuda:N' or a torch.device available on this machine"

    def check_type(self, value: Any) -> bool:
        """A str or torch.device."""
        import torch

        return isinstance(value, (str, torch.device))

    def check_range(self, value: Any) -> bool:
        """Parses as a torch device of a known type that is available here."""
        if value == "auto":
            return True
        try:
            device = resolve_device(value)
        except (RuntimeError, ValueError):
            return False
        return device.type in DEVICE_TYPES and device_available(device)


def resolve_device(value: Any) -> Any:
    """The ``torch.device`` for a ``device`` hyperparameter (``"auto"``: CUDA when available, else the CPU)."""
    import torch

    if isinstance(value, str) and value == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(value)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device() if torch.cuda.is_available() else 0)
    return device


def device_available(device: Any) -> bool:
    """Whether this machine can run on `device` (a ``torch.device``)."""
    import torch

    if device.type == "cpu":
        return device.index in (None, 0)
    if device.type == "cuda":
        return torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count()
    if device.type == "mps":
        return bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())
    return False


def check_hyperparams(agent: str, values: Mapping[str, Any], specs: Mapping[str, Spec]) -> None:
    """Check each of `values` that has a spec in `specs` (see module docstring)."""
    for name, value in values.items():
        spec = specs.get(name)
        if spec is not None:
            spec.check(agent, name, value)


def check_total_timesteps(agent: str, total_timesteps: Any) -> int:
    """``learn``'s argument: a non-negative int (a bool is not one); returned as an int."""
    if not _is_int(total_timesteps):
        raise TypeError(
            f"agent {agent!r}: learn(total_timesteps) needs a non-negative int, got {total_timesteps!r} "
            f"({type(total_timesteps).__name__})"
        )
    if total_timesteps < 0:
        raise ValueError(f"agent {agent!r}: learn(total_timesteps) needs a non-negative int, got {total_timesteps}")
    return int(total_timesteps)
