"""Argument checks shared by the envs and listeners: each names the argument and what it accepts.

A wrong type is a TypeError, a value out of range a ValueError; booleans are never taken for numbers
(``k=True`` is an error, not 1), and NaN or infinite numbers are refused.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np


def _range_text(lo: float | None, hi: float | str | None) -> str:
    if lo is not None and hi is not None:
        return f"from {lo} to {hi}"
    if lo is not None:
        return f">= {lo}"
    if hi is not None:
        return f"<= {hi}"
    return ""


def check_int(name: str, value: Any, lo: int | None = None, hi: int | None = None, what: str = "",
              hi_name: str = "") -> int:
    """`value` as an int within [lo, hi] (either may be None).

    ``hi_name`` names where hi comes from (``"k"`` makes the message say "from 0 to k=20").
    """
    label = f"{name} ({what})" if what else name
    high = f"{hi_name}={hi}" if hi_name and hi is not None else hi
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Integral, np.integer)):
        raise TypeError(f"{label} must be an integer {_range_text(lo, high)}, got {value!r} ({type(value).__name__})")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{label} must be an integer {_range_text(lo, high)}, got {v}")
    return v


def check_number(name: str, value: Any, lo: float | None = None, hi: float | None = None,
                 lo_open: bool = False) -> float:
    """`value` as a finite float within [lo, hi] (``lo_open``: strictly above lo)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f"{name} must be a number, got {value!r} ({type(value).__name__})")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be a finite number, got {v}")
    low_bad = lo is not None and (v <= lo if lo_open else v < lo)
    if low_bad or (hi is not None and v > hi):
        lo_text = "" if lo is None else (f"> {lo}" if lo_open else f">= {lo}")
        hi_text = "" if hi is None else f"<= {hi}"
        raise ValueError(f"{name} must be {' and '.join(t for t in (lo_text, hi_text) if t)}, got {v}")
    return v


def check_bool(name: str, value: Any) -> bool:
    """`value` as a bool (True / False only)."""
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return bool(value)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> str:
    """`value`, one of the strings `choices`."""
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}" if len(choices) > 1 else repr(
            choices[0])
        raise ValueError(f"{name} must be {listed}, got {value!r}")
    return value


def check_bounds(name: str, value: Any, lo: float, hi: float, positive_low: bool = False) -> tuple[float, float]:
    """A (low, high) pair with lo <= low <= high <= hi (``positive_low``: low > lo)."""
    text = f"{name} must be (low, high) with {lo} {'<' if positive_low else '<='} low <= high <= {hi}, got {value!r}"
    try:
        low, high = value
    except (TypeError, ValueError):
        raise TypeError(text) from None
    for v in (low, high):
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, np.floating, np.integer)):
            raise TypeError(text)
    low, high = float(low), float(high)
    if not (np.isfinite(low) and np.isfinite(high)) or not lo <= low <= high <= hi or (positive_low and low <= lo):
        raise ValueError(text)
    return low, high
