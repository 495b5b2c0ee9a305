"""Fake-HR1's GRPO reward (seed 001), verl's signature. Designed here: the seed shows only the
``custom_reward_function.path=./reward.py name=compute_score`` command, not the file.

From the paper's setting (seed 001, seeds.md §1.2): the model answers
``<think>\\n...\\n</think>\\n\\n`` then ``real`` or ``fake``; an empty think block is the "easy image"
mode of its system prompt. The reward is the accuracy of that final answer against the label plus
a format term (``rewards/fake_hr1_parser.py``), with weights from keyword arguments
(``rewards/fake_hr1_weights.py``; defaults: verl's geo3k example, 0.9 accuracy + 0.1 format, the
example the seed's GRPO command was copied from). An unparsable response counts as a wrong answer.

``ground_truth``: ``"real"`` / ``"fake"``, or ``{"label": ...}`` as a dict or its JSON string.

Loaded by path (verl, the ms-swift adapter, the harness's copy in a run directory); it imports the
rest of the ``rewards`` package from the installed project, or else from the checkout it sits in.
"""

import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

if __package__ != "rewards":  # loaded by file path (verl, ms-swift, a run's copy): rewards/bootstrap.py
    try:
        import rewards.bootstrap  # the installed project, or its root already on sys.path
    except ImportError:  # a checkout that is not installed: its root is this file's grandparent
        sys.path.append(str(Path(__file__).resolve().parents[1]))
        import rewards.bootstrap  # still missing: pip install -e . (the project), or its root on PYTHONPATH
    rewards.bootstrap.loaded_by_path(__file__)

from common.response_formats import ParsedAnswer, response_format
from rewards.fake_hr1_parser import HybridResponse, parse_response
from rewards.fake_hr1_weights import FakeHR1Weights, weights_from_kwargs
from rewards.ground_truth import normalise_label
from rewards.registry import grpo_reward

__all__ = [
    "HybridResponse",
    "check_reward_kwargs",
    "compute_score",
    "parse_answer",
    "parse_response",
    "score_keys",
]

logger = logging.getLogger("rewards.fake_hr1")
_warned: set[str] = set()

score_keys = ("score", "format", "label", "acc", "thinking")


def check_reward_kwargs(kwargs: Mapping[str, Any]) -> FakeHR1Weights:
    """Pre-launch check of a stage's reward_kwargs (ValueError says what to fix)."""
    return weights_from_kwargs(kwargs)


def _label(ground_truth: Any) -> str:
    value = ground_truth
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except RecursionError:
            raise ValueError("ground truth JSON is nested too deeply") from None
    if isinstance(value, Mapping):
        value = value.get("label")
    return normalise_label(value)


@grpo_reward("fake_hr1")
def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None, **kwargs: Any
) -> dict[str, float]:
    """Score one response; returns ``score`` and its parts (``score_keys``).

    Raises ValueError only for invalid keyword arguments (a config error at the first call); a
    malformed ground truth gets the constant r_base (no learning signal) and a logged warning.
    """
    weights = weights_from_kwargs(kwargs)
    try:
        label = _label(ground_truth)
    except ValueError as exc:
        if str(exc) not in _warned:
            _warned.add(str(exc))
            logger.warning("Fake-HR1 reward: unusable ground truth (%s); scoring it neutrally", exc)
        return {"score": weights.r_base, "format": 0.0, "label": 0.0, "acc": 0.0, "thinking": 0.0}
    parsed = parse_response(solution_str)
    if not parsed.ok:
        fmt, reward, acc = -weights.format_neg, -weights.label_neg, 0.0
    else:
        fmt = weights.format_pos
        acc = 1.0 if parsed.verdict == label else 0.0
        reward = weights.label_pos if acc else -weights.label_neg
    bonus = weights.no_think_bonus if acc and not parsed.thinking else 0.0
    score = weights.r_base + reward + fmt + bonus
    return {
        "score": score,
        "format": fmt,
        "label": reward,
        "acc": acc,
        "thinking": 1.0 if parsed.thinking else 0.0,
    }


@response_format("think_answer", corpus=("<think>", "</think>", "real", "fake"))
def parse_answer(text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    """The evaluation reads answers with the reward's parser; ``thinking``: a non-empty think block."""
    parsed = parse_response(text)
    return ParsedAnswer(
        ok=parsed.ok,
        error=parsed.error,
        verdict=parsed.verdict,
        thinking=parsed.thinking if parsed.ok else None,
    )
