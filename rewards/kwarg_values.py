"""Reward keyword arguments (verl ``reward_kwargs``) into a weights dataclass, with one error style.

The keys, types and defaults are the weights dataclass's fields, read by ``common.parse`` like
every other settings block: an unknown key gets a "did you mean", a wrong type names the key. The
checks the types cannot express (finite, a magnitude >= 0, ...) are Problems in the same style.
All of them are raised together as one RewardKwargsError.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, TypeVar

from common.errors import ConfigError, Problem
from common.parse import from_mapping

__all__ = ["WHERE", "RewardKwargsError", "magnitude_problems", "parse_kwargs"]

T = TypeVar("T")
WHERE = "reward_kwargs"
# verl's naive reward manager adds these when a reward-model router is configured; not ours.
PASSED_BY_VERL = frozenset(("reward_router_address", "reward_model_tokenizer"))


class RewardKwargsError(ConfigError, ValueError):
    """Invalid reward kwargs. Also a ValueError: compute_score's contract with verl, ms-swift and
    rewards.loader is that a ValueError means a config error, not a bad response."""


def parse_kwargs(
    cls: type[T], given: Mapping[str, Any], checks: Callable[[T, Mapping[str, Any]], list[Problem]]
) -> T:
    """``cls`` from ``given``; a None value keeps the field's default (YAML's ``key: null``).

    ``checks(weights, given)`` returns the problems the field types cannot catch; it runs only
    when the types are right.
    """
    known = {name for name in getattr(cls, "__dataclass_fields__", {})}
    data = {k: v for k, v in given.items() if k not in PASSED_BY_VERL and (v is not None or k not in known)}
    problems: list[Problem] = []
    weights = from_mapping(cls, data, WHERE, problems)
    if not problems:
        problems = checks(weights, data)
    if problems:
        raise RewardKwargsError(problems)
    return weights


def magnitude_problems(weights: Any, finite: Iterable[str], magnitudes: Iterable[str]) -> list[Problem]:
    """Each of ``finite`` must be a finite number (or None); each of ``magnitudes`` also >= 0."""
    problems: list[Problem] = []
    magnitudes = set(magnitudes)
    for name in finite:
        value = getattr(weights, name)
        if value is None:
            continue
        if not math.isfinite(value):
            problems.append(Problem(f"{WHERE}.{name}", f"must be finite, got {value!r}"))
        elif name in magnitudes and value < 0:
            problems.append(
                Problem(
                    f"{WHERE}.{name}",
                    f"must be >= 0 (a penalty is written as a positive magnitude: label_neg: 1 means -1), "
                    f"got {value!r}",
                )
            )
    return problems
