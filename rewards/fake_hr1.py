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

if __package__ != "rewards":  # loaded by file path: by verl, by the ms-swift adapter, as a run's copy
    try:
        import rewards.fake_hr1_parser  # noqa: F401  the installed project, or its root already on sys.path
    except ImportError:
        # A checkout that is not installed: the project root is this file's grandparent.
        sys.path.append(str(Path(__file__).resolve().parent.parent))
        try:
            import rewards.fake_hr1_parser  # noqa: F401
        except ImportError as exc:
            found = getattr(sys.modules.get("rewards"), "__file__", None)
            raise ImportError(
                f"{Path(__file__).name} needs this project's 'rewards' package"
                + (f" (the 'rewards' found, {found}, is another one)" if found else "")
                + ": install the project (pip install -e .) or put its root on PYTHONPATH"
            ) from exc

from rewards.fake_hr1_parser import HybridResponse, parse_response
from rewards.fake_hr1_weights import FakeHR1Weights, weights_from_kwargs
from rewards.ground_truth import normalise_label

__all__ = ["HybridResponse", "check_reward_kwargs", "compute_score", "parse_response", "score_keys"]

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
