"""The dispatch of a core whose step has a fused kernel path beside the step by parts (`Core.step`).

A core that mixes `FusedSteps` in before `Core` sets ``self._fused`` where its kernels apply and
implements `_step_fused`; `step` and `step_observe` take that path (for a NumPy generator and one action
per row) and fall back to the step by parts where it returns None. `_pointers` gives the kernels the
generator's addresses (`musicgym.envs.draws`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from musicgym.envs import draws


class FusedSteps:
    """`step` and `step_observe` through `_step_fused` where ``self._fused``, else the step by parts."""

    #: whether the fused kernels apply to this core (its listener and mode); set by the core
    _fused: bool = False
    _bitgen: Any = None
    _ptrs: np.ndarray | None = None

    def _pointers(self, rng: np.random.Generator) -> np.ndarray | None:
        """The addresses `musicgym.envs.draws` draws from, kept while the generator is the same.

        None for anything but a NumPy ``Generator`` (e.g. the planner's `TiledGenerator`).
        """
        if type(rng) is not np.random.Generator:
            return None
        bitgen = rng.bit_generator
        if bitgen is not self._bitgen:
            self._ptrs, self._bitgen = draws.pointers(rng), bitgen
        return self._ptrs

    def _step_fused(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray, ptrs: np.ndarray,
                    obs: np.ndarray | None) -> dict[str, np.ndarray] | None:
        """The step by the core's kernels; None (nothing done): go by parts.

        `actions` are int64, one per row; `ptrs` are `rng`'s addresses (`_pointers`); the observation goes
        into `obs` unless None.
        """
        raise NotImplementedError

    def _try_fused(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray,
                   obs: np.ndarray | None) -> dict[str, np.ndarray] | None:
        """`_step_fused` where it can apply (a NumPy generator, one action per row); else None."""
        ptrs = self._pointers(rng)
        actions = np.asarray(actions, dtype=np.int64)
        if ptrs is None or actions.shape != rows.shape:
            return None
        return self._step_fused(rng, rows, actions, ptrs, obs)

    def step(self, rng: np.random.Generator, rows: np.ndarray, actions: np.ndarray) -> dict[str, np.ndarray]:
        """`Core.step`, in the core's fused kernels where they apply (`_step_fused`)."""
        out = self._try_fused(rng, rows, actions, None) if self._fused else None
        return super().step(rng, rows, actions) if out is None else out  # type: ignore[misc]

    def step_observe(self, rng: np.random.Generator, rows: np.ndarray,
                     actions: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """`step`, then `observe` of the same rows (in the same kernel calls where `step` is fused)."""
        if self._fused:
            obs = np.empty((len(rows), self.observation_space.shape[0]), dtype=np.float32)  # type: ignore[attr-defined]
            out = self._try_fused(rng, rows, actions, obs)
            if out is not None:
                return out, obs
        return super().step_observe(rng, rows, actions)  # type: ignore[misc]
