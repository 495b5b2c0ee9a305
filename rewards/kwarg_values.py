"""Checks for reward keyword arguments (verl ``reward_kwargs``); errors name the kwarg to fix."""

from __future__ import annotations

import math
import numbers
from typing import Any

__all__ = ["finite_number", "non_negative_number"]


def finite_number(name: str, value: Any) -> float:
    """``value`` as a float; ValueError unless it is a finite real number (bools are not)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"reward kwarg {name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"reward kwarg {name} must be finite, got {value!r}")
    return number


def non_negative_number(name: str, value: Any) -> float:
    """A finite number >= 0: rewards and penalties are magnitudes (``label_neg: 1`` means -1)."""
    number = finite_number(name, value)
    if number < 0:
        raise ValueError(
            f"reward kwarg {name} must be >= 0 (a penalty is written as a positive magnitude: "
            f"label_neg: 1 means -1), got {value!r}"
        )
    return number
