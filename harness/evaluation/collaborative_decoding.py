"""AIGI-Holmes collaborative decoding: a visual expert's verdict mixed into the MLLM's answer token.

The authors' vLLM logits processors (seeds.md §4, ``logits_processor_zoo/vllm/myprocessor*.py``)
add fixed biases ``logit_real`` / ``logit_fake`` to the logits of the verdict tokens once, at the
first step where the generated ids end with a target sequence ("This image is"); the forcing
variant also makes the answer start with that sequence (then, in this implementation, the next
token is one of the two verdict tokens, so the answer always reads "<target> real|fake"). How the
expert's probability becomes the biases is not published (the README lists it as to-do). This
project's choice::

    bias_fake = weight * log(p)        bias_real = weight * log(1 - p)

with p the expert's probability of ``fake`` (clipped to [1e-6, 1 - 1e-6]). Over the two verdict
tokens this is a product of experts: softmax([z_real + bias_real, z_fake + bias_fake]) gives
odds(fake) = odds_MLLM(fake) * odds_expert(fake)^weight; weight 0 switches the expert off, weight 1
weighs both equally.

Everything here is plain Python over one logits row (a torch tensor), so it is tested on a CPU;
``harness.evaluation.vllm_logits_processor`` wraps the same state machine for vLLM and the
transformers backend wraps it as a ``LogitsProcessor``. ``load_expert_probabilities`` reads the
expert's output from a file, so any expert (CLIP-LoRA, NPR, ...) can be plugged in.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import HarnessError

__all__ = ["AnswerBias", "OneShotAnswerBias", "bias_at_step", "expert_biases", "load_expert_probabilities"]

_EPS = 1e-6


def expert_biases(p_fake: float, weight: float = 1.0) -> tuple[float, float]:
    """(bias_real, bias_fake) for the expert probability ``p_fake``."""
    if not 0.0 <= p_fake <= 1.0 or math.isnan(p_fake):
        raise ValueError(f"an expert probability must lie in [0, 1], got {p_fake!r}")
    p = min(max(p_fake, _EPS), 1.0 - _EPS)
    return weight * math.log(1.0 - p), weight * math.log(p)


@dataclass(frozen=True)
class AnswerBias:
    """What to add, and where: the token ids of the target sequence and of the two verdicts."""

    target_ids: tuple[int, ...]
    real_id: int
    fake_id: int
    bias_real: float
    bias_fake: float
    force_prefix: bool = False


@dataclass
class OneShotAnswerBias:
    """Per-request state machine: bias the verdict logits once, right after the target sequence.

    Call it with the ids generated so far (prompt excluded) and the logits row for the next token;
    it returns the (modified in place) row. ``triggered_at`` records the step it fired at.
    """

    spec: AnswerBias
    triggered_at: int | None = field(default=None, init=False)

    def __call__(self, output_ids: Sequence[int], logits: Any) -> Any:
        step = len(output_ids)
        target = self.spec.target_ids
        if self.spec.force_prefix and step < len(target):
            # The answer starts with the target sequence: every other token is impossible.
            keep = float(logits[target[step]])
            logits[:] = -math.inf
            logits[target[step]] = keep
            return logits
        if (
            self.triggered_at is None
            and step >= len(target)
            and tuple(output_ids[step - len(target) :]) == target
        ):
            real, fake = float(logits[self.spec.real_id]), float(logits[self.spec.fake_id])
            if self.spec.force_prefix:
                # "<target> real|fake": the verdict token is one of the two, the bias picks which.
                logits[:] = -math.inf
            logits[self.spec.real_id] = real + self.spec.bias_real
            logits[self.spec.fake_id] = fake + self.spec.bias_fake
            self.triggered_at = step
        return logits


def bias_at_step(spec: AnswerBias, output_ids: Sequence[int], step: int) -> dict[int, float]:
    """{token id: bias} that ``OneShotAnswerBias(spec)`` added at ``step`` of an answer whose
    generated ids are ``output_ids`` (empty when it fired elsewhere or never). The trigger depends
    on the ids alone, so it can be replayed after generation."""
    target = spec.target_ids
    for at in range(len(target), len(output_ids) + 1):
        if tuple(output_ids[at - len(target) : at]) == target:
            return {spec.real_id: spec.bias_real, spec.fake_id: spec.bias_fake} if at == step else {}
    return {}


class ExpertProbabilityError(HarnessError):
    """The expert's probability file is missing, malformed or lacks an image."""


def load_expert_probabilities(path: str | Path) -> dict[str, float]:
    """``{image id: p_fake}`` from a jsonl (``{"id", "p_fake"}`` per line) or csv (``id,p_fake`` header)."""
    path = Path(path)
    if not path.is_file():
        raise ExpertProbabilityError(f"no expert probability file at {path}")
    probabilities: dict[str, float] = {}
    if path.suffix.lower() == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or not {"id", "p_fake"} <= set(reader.fieldnames):
                raise ExpertProbabilityError(f"{path}: the csv needs the columns id and p_fake")
            rows = [(f"{path}:{n + 2}", r) for n, r in enumerate(reader)]
    else:
        rows = []
        with path.open(encoding="utf-8") as handle:
            for n, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        rows.append((f"{path}:{n}", json.loads(line)))
                    except json.JSONDecodeError as exc:
                        raise ExpertProbabilityError(f"{path}:{n}: not valid JSON ({exc})") from None
    for where, row in rows:
        try:
            value = float(row["p_fake"])
            item_id = str(row["id"])
        except (KeyError, TypeError, ValueError):
            raise ExpertProbabilityError(f"{where}: needs an id and a numeric p_fake") from None
        if not 0.0 <= value <= 1.0:
            raise ExpertProbabilityError(f"{where}: p_fake must lie in [0, 1], got {value}")
        probabilities[item_id] = value
    return probabilities
