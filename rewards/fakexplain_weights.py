"""FakeXplain reward weights from compute_score's keyword arguments, and the training schedule.

``R = r_base + w_iou * R_G + R_C + R_F`` (002 §4.4), where R_C is ``+label_pos`` / ``-label_neg``
and R_F is ``+format_pos`` / ``-format_neg``. The keyword arguments are verl's ``reward_kwargs``
(``conf/reward/fakexplain.yaml`` names each schedule's set):

    eta         the relaxing constant of R_G (see relax)                  default 1.1 (004)
    w_iou       constant grounding weight                                 default 1.0
    label_pos   label reward when the verdict is right                    default 1.0 (002 §4.3)
    label_neg   penalty (a positive number) when it is wrong              default 1.0
    format_pos  format reward when the response parses                    default 1.0
    format_neg  penalty (a positive number) when it does not              default 1.0
    r_base      constant added to every score                             default 0.0
    iou_mode    "union" (the paper's formula) or "matched" (the authors' code)   default union
    relax       "clip": R_G = min(1, eta * IoU) (the papers, 002 §4.3, 004) or
                "power": R_G = IoU ** eta (the authors' code: ``iou_reward_exponent = 1.1``
                in mllm-defake ``rewards/stage{1,2,3}_reward.py``)        default clip
    coupled     False: the three terms are scored separately (002 §4.3-4.4 and the authors'
                code): the label term from the last readable verdict, the grounding term from
                every region that parses, the format term alone judges the structure.
                True: an unparsable response also loses the label and grounding terms
                (this project's earlier rule)                             default False
    disabled_terms
                terms that contribute nothing to the score, any of "format", "label",
                "grounding" (a list): the ablations of 002 §5.3 ("when bounding boxes are
                unavailable, the R_G reward is disabled, while other rewards remain
                active"); the other terms are scored as without it   default [] (none)
    w_iou_start, w_iou_end, total_steps
                the linear schedule of 004, w_iou(t) = start + (end - start) * t / T, with t
                the optimizer steps completed so far (verl: extra_info["global_steps"]; ms-swift:
                trainer_state.global_step via rewards/swift_adapter.py) and T = total_steps
                (or extra_info["total_steps"], which the ms-swift adapter fills); replaces w_iou.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Literal, get_args

from common.errors import Problem, did_you_mean
from rewards.kwarg_values import WHERE, RewardKwargsError, magnitude_problems, parse_kwargs

__all__ = [
    "TERMS",
    "FakeXplainWeights",
    "check_reward_kwargs",
    "training_progress",
    "weights_from_kwargs",
]

IouMode = Literal["union", "matched"]
Relax = Literal["clip", "power"]
IOU_MODES = get_args(IouMode)
RELAX_MODES = get_args(Relax)
# The terms of R that ``disabled_terms`` can switch off (002 §4.3: R_F, R_C, R_G).
TERMS = ("format", "label", "grounding")
# Values hashed as they are (the cache key); anything else list-like becomes a tuple.
_PLAIN = frozenset((float, int, str, bool, type(None)))


@dataclass(frozen=True, slots=True)
class FakeXplainWeights:
    eta: float = 1.1  # 004 "eta = 1.1"
    w_iou: float = 1.0
    label_pos: float = 1.0  # 002 §4.3: R_C = 1 if V(o) = y else -1
    label_neg: float = 1.0
    format_pos: float = 1.0  # 002 §4.3: R_F = 1 if parsable else -1
    format_neg: float = 1.0
    r_base: float = 0.0
    iou_mode: IouMode = "union"
    relax: Relax = "clip"  # 002 §4.3 / 004: min(1, eta * IoU)
    coupled: bool = False  # 002 §4.4: R = r_base + w_G R_G + w_C R_C + w_F R_F, terms independent
    disabled_terms: tuple[str, ...] = ()  # 002 §5.3 ablations: these terms contribute nothing
    w_iou_start: float | None = None
    w_iou_end: float | None = None
    total_steps: int | None = None

    @property
    def scheduled(self) -> bool:
        """True when w_iou follows the linear schedule instead of being constant."""
        return self.w_iou_start is not None

    def w_iou_at(self, progress: float) -> float:
        """The grounding weight at training progress ``progress`` = t/T in [0, 1]."""
        if self.w_iou_start is None or self.w_iou_end is None:
            return self.w_iou
        return self.w_iou_start + (self.w_iou_end - self.w_iou_start) * progress

    def enabled(self, term: str) -> bool:
        """Whether ``term`` (one of TERMS) counts in the score."""
        return term not in self.disabled_terms

    def score_bounds(self) -> tuple[float, float]:
        """The lowest and highest score any response can get with these weights."""
        top_grounding = self.w_iou if not self.scheduled else max(self.w_iou_start, self.w_iou_end)
        label = (self.label_neg, self.label_pos) if self.enabled("label") else (0.0, 0.0)
        fmt = (self.format_neg, self.format_pos) if self.enabled("format") else (0.0, 0.0)
        grounding = top_grounding if self.enabled("grounding") else 0.0
        return (
            self.r_base - label[0] - fmt[0],
            self.r_base + label[1] + fmt[1] + grounding,
        )


_MAGNITUDES = ("w_iou", "label_pos", "label_neg", "format_pos", "format_neg", "w_iou_start", "w_iou_end")
_NUMBERS = ("eta", "r_base", *_MAGNITUDES)


def _checks(weights: FakeXplainWeights, given: Mapping[str, Any]) -> list[Problem]:
    """What the field types cannot say; ``given`` holds the keys set (None values dropped)."""
    problems = magnitude_problems(weights, _NUMBERS, _MAGNITUDES)

    def bad(name: str, message: str) -> None:
        problems.append(Problem(f"{WHERE}.{name}", message))

    if math.isfinite(weights.eta) and weights.eta <= 0:
        bad("eta", f"must be > 0, got {weights.eta!r}")
    for term in weights.disabled_terms:
        if term not in TERMS:
            bad(
                "disabled_terms",
                f"unknown term {term!r}{did_you_mean(term, TERMS)}; known: {', '.join(TERMS)}",
            )
    if ("w_iou_start" in given) != ("w_iou_end" in given):
        bad("w_iou_start", "the linear schedule needs both w_iou_start and w_iou_end (or neither)")
    elif "w_iou_start" in given and "w_iou" in given:
        bad("w_iou", "give either w_iou (constant) or w_iou_start/w_iou_end (linear schedule), not both")
    if weights.total_steps is not None and weights.total_steps < 1:
        bad("total_steps", f"must be a positive whole number of optimizer steps, got {weights.total_steps!r}")
    return problems


def _build(items: tuple[tuple[str, Any], ...]) -> FakeXplainWeights:
    given = dict(items)
    terms = given.get("disabled_terms")
    if isinstance(terms, str):  # one name for a list of one
        given["disabled_terms"] = (terms,)
    total = given.get("total_steps")
    if isinstance(total, float) and total.is_integer():  # 1000.0 from a YAML or JSON number
        given["total_steps"] = int(total)
    weights = parse_kwargs(FakeXplainWeights, given, _checks)
    # The terms in TERMS' order, each once: equal sets give equal weights (and cache entries).
    return replace(weights, disabled_terms=tuple(t for t in TERMS if t in weights.disabled_terms))


@lru_cache(maxsize=256)
def _build_cached(items: tuple[tuple[str, Any], ...], types: tuple[type, ...]) -> FakeXplainWeights:
    # ``types`` keeps True and 1 (equal, same hash) apart: one is a valid value where the other is not.
    return _build(items)


def weights_from_kwargs(kwargs: Mapping[str, Any]) -> FakeXplainWeights:
    """Validated weights from compute_score's keyword arguments (ValueError says what to fix)."""
    # A list (YAML, JSON) or an OmegaConf ListConfig is hashed as a tuple: the cache still holds.
    items = tuple(
        sorted(
            (
                k,
                v
                if type(v) in _PLAIN
                else tuple(v)
                if isinstance(v, Sequence) and not isinstance(v, bytes)
                else v,
            )
            for k, v in kwargs.items()
        )
    )
    try:
        return _build_cached(items, tuple(type(v) for _, v in items))
    except TypeError:  # an unhashable value: validate without the cache (and report it)
        return _build(items)


def check_reward_kwargs(
    kwargs: Mapping[str, Any], *, total_steps_required: bool = False
) -> FakeXplainWeights:
    """Pre-launch check of a stage's reward_kwargs.

    With ``total_steps_required`` (verl, where nothing else supplies it), a linear schedule
    without total_steps is an error here rather than at the first reward call.
    """
    weights = weights_from_kwargs(kwargs)
    if total_steps_required and weights.scheduled and weights.total_steps is None:
        raise RewardKwargsError(
            Problem(
                f"{WHERE}.total_steps",
                "the linear schedule needs total_steps: render "
                "+reward.custom_reward_function.reward_kwargs.total_steps=<optimizer steps of the job>",
            )
        )
    return weights


def training_progress(step: Any, total_steps: Any) -> float:
    """t / T clamped to [0, 1]; ValueError when T is not a positive number."""
    if isinstance(total_steps, bool) or not isinstance(total_steps, numbers.Real) or not total_steps > 0:
        raise ValueError(
            "the linear reward schedule (w_iou_start/w_iou_end) needs the job's total optimizer steps: "
            "set reward kwarg total_steps (verl: +reward.custom_reward_function.reward_kwargs.total_steps=N), "
            f"or run through rewards/swift_adapter.py, which passes trainer_state.max_steps; got {total_steps!r}"
        )
    progress = float(step) / float(total_steps)
    if not progress > 0.0:  # also NaN
        return 0.0
    return 1.0 if progress > 1.0 else progress
