"""FakeXplain's progressive grounded GRPO reward (seed 002 §4.3-4.4, seed 004), verl's signature.

    score = r_base + w_iou * grounding + label + format

Each term is scored on its own (002 §4.4 adds them; the authors' code scores them independently):

- format: ``+format_pos`` when the whole response follows the contract of
  ``rewards/fakexplain_parser.py`` (either layout, any region spelling), else ``-format_neg``;
- label: ``+label_pos`` when the verdict equals the ground-truth label, else ``-label_neg``; the
  verdict is the last ``<verdict>...</verdict>`` block, so one stray word after a right answer
  costs the format term only; no readable verdict counts as wrong;
- grounding: fake image: the relaxed IoU (``relax`` clip: ``min(1, eta * IoU)``, the papers;
  power: ``IoU ** eta``, the authors' code) between every region that parses and the annotated
  regions (``iou_mode`` union: exact IoU of the two unions of boxes; matched: the authors' greedy
  nearest-centre variant); no readable region: 0 (1 when the fake has no annotated region either).
  Real image: 1 when no region is predicted, else 0.

``disabled_terms`` switches terms off (002 §5.3 ablations: no boxes, no R_G): a disabled term is
reported as 0 and adds nothing to the score; the others are scored exactly as without it. A ground
truth written without boxes (``"grounding": false``, data preparation's ``drop: [boxes]`` or
``label_only``) disables the grounding term by itself; one written for verdict-only answers
(``"format": false``, ``label_only``) disables the format term by itself.

With ``coupled=true`` an unparsable response also counts as a wrong label and earns no grounding
(the rule before the authors' code was read; kept for comparison). Separate terms are the default:
the papers write them so, the authors' code scores them so, and coupling gives a near-perfect
answer with a stray word the same score as garbage, which hides the signal GRPO learns from.

The weights are keyword arguments (verl ``reward_kwargs``), documented in
``rewards/fakexplain_weights.py``; ``conf/reward/fakexplain.yaml`` holds the paper's schedules.
Where this reward departs from the authors' code, and why (faults of that code not copied):
``docs/fakexplain_authors_code.md``.

The returned dict (``score_keys``) also has ``acc`` (1 when the verdict is right) and ``w_iou``
(the grounding weight in force, which the linear schedule moves); ``iou`` is the IoU on fake
images and, on real images, the same 1/0 as ``grounding`` -- evaluate IoU on fakes only
(seeds.md §5.5).

This file is loaded by path (verl's ``reward.custom_reward_function.path``, the ms-swift adapter,
the harness's copy of it in a run directory). It then imports the rest of the ``rewards`` package
from the installed project, or else from the checkout it sits in.
"""

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
from rewards.fakexplain_parser import (
    ParsedResponse,
    parse_response,
    parse_response_fields,
    parse_verdict_only,
    read_response_fields,
)
from rewards.fakexplain_weights import (
    FakeXplainWeights,
    check_reward_kwargs,
    training_progress,
    weights_from_kwargs,
)
from rewards.geometry import clip_boxes, matched_iou_fast, power_relaxed_iou, relaxed_iou, union_iou_fast
from rewards.ground_truth import GroundTruth, parse_ground_truth
from rewards.registry import grpo_reward
from rewards.tags import FAKEXPLAIN_TAGS

__all__ = [
    "ParsedResponse",
    "check_reward_kwargs",
    "compute_score",
    "parse_answer",
    "parse_response",
    "parse_verdict_answer",
    "read_response_fields",
    "score_keys",
]

logger = logging.getLogger("rewards.fakexplain")
_INF = float("inf")
_warned: set[str] = set()

# Every call returns exactly these keys: verl stacks each key across a batch as a logged metric.
score_keys = ("score", "format", "label", "iou", "grounding", "acc", "w_iou")


def _warn_once(key: str, message: str) -> None:
    if key not in _warned:
        _warned.add(key)
        logger.warning(message)


def _frame(extra_info: Any) -> tuple[float, float] | None:
    """(width, height) of the image as the model sees it, when extra_info carries both."""
    if type(extra_info) is not dict and not isinstance(extra_info, Mapping):
        return None
    width = extra_info.get("width")
    height = extra_info.get("height")
    if width is None or height is None:
        return None
    try:
        width, height = float(width), float(height)
    except (TypeError, ValueError, OverflowError):
        return None
    if not (0.0 < width < _INF and 0.0 < height < _INF):
        return None
    return width, height


def _grounding_weight(weights: FakeXplainWeights, extra_info: Any) -> float:
    if not weights.scheduled:
        return weights.w_iou
    info = extra_info if isinstance(extra_info, Mapping) else {}
    total = weights.total_steps if weights.total_steps is not None else info.get("total_steps")
    try:
        step = float(info["global_steps"])
    except (KeyError, TypeError, ValueError):
        _warn_once(
            "no-step",
            f"FakeXplain linear schedule: extra_info['global_steps'] is {info.get('global_steps')!r}; using "
            "t = 0. verl sets it from the rollout server's weight version; ms-swift gets it from "
            "rewards/swift_adapter.py.",
        )
        step = 0.0
    return weights.w_iou_at(training_progress(step, total))


def _neutral(weights: FakeXplainWeights, w_iou: float) -> dict[str, float]:
    # The same score for every response of a prompt: zero advantage under group normalisation.
    return {
        "score": weights.r_base,
        "format": 0.0,
        "label": 0.0,
        "iou": 0.0,
        "grounding": 0.0,
        "acc": 0.0,
        "w_iou": w_iou,
    }


def _score(
    weights: FakeXplainWeights,
    w_iou: float,
    parsed: tuple,
    truth: GroundTruth,
    frame: tuple[float, float] | None,
) -> dict[str, float]:
    error, verdict, boxes = parsed[0], parsed[1], parsed[2]
    fmt = weights.format_pos if error is None else -weights.format_neg
    if error is not None and weights.coupled:
        label, iou, grounding, acc = -weights.label_neg, 0.0, 0.0, 0.0
    else:
        if verdict == truth.label:
            acc, label = 1.0, weights.label_pos
        else:
            acc, label = 0.0, -weights.label_neg
        if truth.label == "fake":
            gt_boxes = truth.boxes
            if frame is not None:
                gt_boxes = clip_boxes(gt_boxes, frame[0], frame[1])
            # No readable region scores 0 against annotated regions; a fake annotated with none
            # (a whole-image tag) and answered with none scores 1 (two empty regions agree).
            if weights.iou_mode == "union":
                iou = union_iou_fast(boxes, gt_boxes)
            else:
                iou = matched_iou_fast(boxes, gt_boxes)
            if weights.relax == "clip":
                grounding = relaxed_iou(iou, weights.eta)
            else:
                grounding = power_relaxed_iou(iou, weights.eta)
        else:
            # Real images carry no regions: credit for predicting none (the authors' code gives
            # reals IoU 1; here a predicted region on a real image earns nothing).
            grounding = iou = 0.0 if boxes else 1.0
    if weights.disabled_terms:
        # An ablation (002 §5.3): a disabled term is reported as 0 and adds nothing; iou and acc
        # stay as measurements.
        if not weights.enabled("format"):
            fmt = 0.0
        if not weights.enabled("label"):
            label = 0.0
        if not weights.enabled("grounding"):
            grounding = 0.0
    if not truth.grounded:  # the data has no boxes (002 §5.3 no-bbox): R_G is disabled
        grounding = 0.0
    if not truth.formatted:  # the data's answers are the verdict alone (002 §5.3 label-only)
        fmt = 0.0
    score = weights.r_base + w_iou * grounding + label + fmt
    return {
        "score": score,
        "format": fmt,
        "label": label,
        "iou": iou,
        "grounding": grounding,
        "acc": acc,
        "w_iou": w_iou,
    }


@grpo_reward("fakexplain")
def compute_score(
    data_source: str, solution_str: str, ground_truth: Any, extra_info: Any = None, **kwargs: Any
) -> dict[str, float]:
    """Score one response; returns ``score`` and its parts (``score_keys``).

    Raises ValueError only for invalid keyword arguments (a config error, seen at the first call
    and by ``rewards.fakexplain_weights.check_reward_kwargs`` before launch); never for the
    response or the ground truth: a malformed ground truth gets the same constant for every
    response (no learning signal) and a logged warning.
    """
    weights = weights_from_kwargs(kwargs)
    w_iou = _grounding_weight(weights, extra_info)
    try:
        truth = parse_ground_truth(ground_truth)
    except ValueError as exc:
        _warn_once(f"gt:{exc}", f"FakeXplain reward: unusable ground truth ({exc}); scoring it neutrally")
        return _neutral(weights, w_iou)
    frame = _frame(extra_info)
    read = parse_response_fields if weights.coupled else read_response_fields
    try:
        return _score(weights, w_iou, read(solution_str, frame), truth, frame)
    except Exception as exc:  # a parser bug must not end a days-long run; tests run without this net
        _warn_once(
            f"bug:{type(exc).__name__}", f"FakeXplain reward: unexpected {exc!r}; scored as unparsable"
        )
        return _score(weights, w_iou, (repr(exc), None, ()), truth, frame)


# The markup, tags and example region texts of this contract (the tiny smoke model's tokenizer).
_CORPUS = (
    "<think>",
    "</think>",
    "<tag>",
    "</tag>",
    "<verdict>",
    "</verdict>",
    '{"bbox_2d": [',
    '], "label": "',
    '"}',
    "<verdict>real</verdict>",
    "<verdict>fake</verdict>",
    "generated",
    *FAKEXPLAIN_TAGS,
    "a hand with six fingers",
    "blurred or illegible text",
    "repetitive patterns on a blanket",
    "bird feathers with a metallic appearance",
    "a flamingo with three legs",
    "distorted texture on the surface",
    "an object that does not exist",
    "inconsistent shadow and lighting",
    "Explain your reasoning, mark suspicious regions with boxes, list tags, then give a verdict.",
)


@response_format("think_tag_verdict", corpus=_CORPUS)
def parse_answer(text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    """The evaluation reads answers with the reward's own parser (boxes in ``frame`` pixels)."""
    parsed = parse_response(text, frame)
    return ParsedAnswer(
        ok=parsed.ok,
        error=parsed.error,
        verdict=parsed.verdict,
        boxes=tuple(parsed.boxes),
        region_labels=tuple(parsed.region_labels),
        tags=tuple(parsed.tags),
    )


@response_format(
    "verdict_tag", corpus=("<verdict>", "</verdict>", "<verdict>real</verdict>", "<verdict>fake</verdict>")
)
def parse_verdict_answer(text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    """The label-only ablation's answers (data preparation's ``label_only``: the verdict block alone),
    which ``think_tag_verdict`` rejects for their missing ``<think>``: its evaluation names this format."""
    error, verdict = parse_verdict_only(text)
    return ParsedAnswer(ok=error is None, error=error, verdict=verdict)
