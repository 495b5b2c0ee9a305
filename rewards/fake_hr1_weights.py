"""Fake-HR1 reward weights from compute_score's keyword arguments (verl ``reward_kwargs``).

    score = r_base + (+label_pos | -label_neg) + (+format_pos | -format_neg)
            + no_think_bonus when the answer is right and the think block is empty

Defaults follow the verl geo3k example reward that seed 001's GRPO command was copied from (its
``project_name=verl_grpo_example_geo3k``): ``0.9 * accuracy + 0.1 * format`` with both in {0, 1}
(``verl/utils/reward_score/geo3k.py``, format_score 0.1). ``no_think_bonus`` is a knob for
HGRPO-style mode preference (not in the seed; 0 by default).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import lru_cache
from typing import Any

from common.errors import Problem
from rewards.kwarg_values import magnitude_problems, parse_kwargs

__all__ = ["FakeHR1Weights", "weights_from_kwargs"]


@dataclass(frozen=True, slots=True)
class FakeHR1Weights:
    label_pos: float = 0.9  # geo3k example: (1 - format_score) * acc, format_score 0.1
    label_neg: float = 0.0
    format_pos: float = 0.1  # geo3k example: format_score * format
    format_neg: float = 0.0
    r_base: float = 0.0
    no_think_bonus: float = 0.0  # not in seed 001

    def score_bounds(self) -> tuple[float, float]:
        """The lowest and highest score any response can get with these weights."""
        return (
            self.r_base - self.label_neg - self.format_neg,
            self.r_base + self.label_pos + self.format_pos + self.no_think_bonus,
        )


_FIELDS = tuple(f.name for f in fields(FakeHR1Weights))


def _checks(weights: FakeHR1Weights, given: Mapping[str, Any]) -> list[Problem]:
    return magnitude_problems(weights, _FIELDS, (n for n in _FIELDS if n != "r_base"))


@lru_cache(maxsize=256)
def _build(items: tuple[tuple[str, Any], ...]) -> FakeHR1Weights:
    return parse_kwargs(FakeHR1Weights, dict(items), _checks)


def weights_from_kwargs(kwargs: Mapping[str, Any]) -> FakeHR1Weights:
    """Validated weights from compute_score's keyword arguments (ValueError says what to fix)."""
    items = tuple(sorted(kwargs.items()))
    try:
        return _build(items)
    except TypeError:  # unhashable value: validate uncached so the error names it
        return _build.__wrapped__(items)
