"""A device check that needs no GPU: tensors the agents make without naming a device land on "meta".

On a CPU machine a mask built with ``torch.as_tensor(mask)`` (no ``device=``) and a model on the CPU meet
without complaint; on a GPU machine they crash ("expected self and mask to be on the same device").
`tensors_on_one_device` makes the first case fail like the second, with a CPU model:

* every agent module's ``torch`` is replaced by `MetaDefaultTorch`, whose tensor factories
  (``as_tensor``, ``tensor``, ``zeros``, ``arange``, ...) put a tensor made without an explicit
  ``device=`` on the "meta" device, as a GPU model's ``torch.as_tensor(mask)`` lands on the CPU, away
  from the model. Inside an ``nn.Module``'s ``__init__`` they keep torch's default: a module builds its
  parameters and buffers on the CPU and is moved whole with ``.to(device)``. ``torch.from_numpy`` is left
  as it is (host memory by definition; the agents use it for buffers their module moves);
* a `OneDevice` torch function mode checks every torch call's tensor arguments: all on one device, or
  `DeviceMix` names the function and the devices (torch itself lets a 0-dim CPU tensor meet a CUDA
  one; this check does not, and a meta tensor meeting a CPU one is reported by name).

Only MusicGym's own agent code is redirected; torch's and SB3's internals keep torch's default device.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

AGENT_MODULES = (
    "musicgym.agents.torch_agent", "musicgym.agents.ah_dqn", "musicgym.agents.actor_critic",
    "musicgym.agents.cf_actor_critic", "musicgym.agents.sb3_agents", "musicgym.agents.masked_dqn",
    "musicgym.agents.slot_policy", "musicgym.agents.sasrec", "musicgym.agents.set_transformer",
    "musicgym.agents.finetune",
)  # fmt: skip
FACTORIES = ("as_tensor", "tensor", "zeros", "ones", "full", "empty", "arange", "eye", "rand", "randn", "randint",
             "zeros_like", "ones_like", "full_like", "empty_like", "rand_like", "randn_like", "linspace")


class DeviceMix(AssertionError):
    """A torch call got tensors on more than one device."""


def _tensors(x: Any) -> Iterator[torch.Tensor]:
    if isinstance(x, torch.Tensor):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _tensors(v)
    elif isinstance(x, dict):
        for v in x.values():
            yield from _tensors(v)


class OneDevice(TorchFunctionMode):
    """Raise `DeviceMix` when a torch call's tensor arguments are not all on one device."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        kwargs = kwargs or {}
        devices = {t.device for t in _tensors((args, kwargs))}
        if len(devices) > 1:
            name = getattr(func, "__name__", str(func))
            raise DeviceMix(f"{name} got tensors on {sorted(str(d) for d in devices)}")
        self.calls += 1
        return func(*args, **kwargs)


def _in_module_init() -> bool:
    """Whether the caller runs inside an ``nn.Module`` subclass's ``__init__``."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "__init__" and isinstance(frame.f_locals.get("self"), torch.nn.Module):
            return True
        frame = frame.f_back
    return False


class MetaDefaultTorch:
    """``torch`` for the agent modules, but a tensor made without ``device=`` goes to "meta" (module docstring)."""

    def __init__(self) -> None:
        self.redirected = 0

    def __getattr__(self, name: str) -> Any:
        real = getattr(torch, name)
        if name not in FACTORIES:
            return real

        def factory(*args, **kwargs):
            like = name.endswith("_like") and args and isinstance(args[0], torch.Tensor)
            if kwargs.get("device") is None and not like and not _in_module_init():
                kwargs["device"] = "meta"
                self.redirected += 1
            return real(*args, **kwargs)

        return factory


@contextlib.contextmanager
def tensors_on_one_device(monkeypatch: Any) -> Iterator[OneDevice]:
    """Within: agent modules' device-less tensors are on "meta", and every torch call is checked by `OneDevice`."""
    proxy = MetaDefaultTorch()
    for name in AGENT_MODULES:
        module = importlib.import_module(name)
        monkeypatch.setattr(module, "torch", proxy)
    with OneDevice() as mode:
        mode.proxy = proxy
        yield mode
