"""GRPO rewards by name: a reward module declares its ``compute_score``.

    from rewards.registry import grpo_reward

    @grpo_reward("fake_hr1")
    def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kwargs): ...

verl and the ms-swift adapter load a reward *file* (``reward.path``); a reward config names the
file of a registered reward with ``path: ${reward_file:fake_hr1}`` (the harness's resolver), so a
reward in a user's own package (:mod:`common.plugins`) is found wherever it is installed. The
project's rewards are found in ``rewards/`` without importing them (:mod:`common.registry`).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common.registry import Registry

__all__ = ["REWARDS", "grpo_reward", "reward_file"]

RewardFn = Callable[..., Any]

REWARDS: Registry[RewardFn] = Registry("GRPO reward", packages=("rewards",), declarator="grpo_reward")


def grpo_reward(name: str) -> Callable[[RewardFn], RewardFn]:
    """Declare the decorated function (verl's ``compute_score`` signature) as the reward ``name``."""
    return REWARDS.register(name)


def reward_file(name: str) -> Path:
    """The file that defines the reward ``name`` (what verl's ``custom_reward_function.path`` loads)."""
    module = REWARDS.origin(name)
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        raise ValueError(
            f"GRPO reward '{name}' is declared in {module}, which is not a .py file verl can load"
        )
    return Path(spec.origin).resolve()
