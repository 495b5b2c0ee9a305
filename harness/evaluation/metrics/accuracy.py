"""Verdict accuracy: overall, on real and on fake images, per generator and per generator family.

An answer the response format cannot parse counts as wrong (002 §4.3 gives it the label penalty
too) and is counted: ``unparsable`` (rows) and ``unparsable_rate``.

Keys: ``accuracy``, ``accuracy/real``, ``accuracy/fake``, ``accuracy/generator/<g>`` (all rows of
generator g) with ``.../real`` and ``.../fake``, ``accuracy/generator_macro`` (mean over generators),
``accuracy/family/<f>``, ``unparsable_rate``.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.evaluation.metrics.base import METRICS, MetricResult, group_rows, mean_or_none
from harness.evaluation.predictions import PredictionRow

__all__ = ["accuracy_of"]


def _correct(row: PredictionRow) -> bool:
    return bool(row.parse_ok) and row.verdict == row.label


def accuracy_of(rows: Sequence[PredictionRow]) -> float | None:
    return mean_or_none(1.0 if _correct(r) else 0.0 for r in rows)


@METRICS.register("accuracy")
def accuracy(rows: Sequence[PredictionRow]) -> MetricResult:
    result = MetricResult()
    values, counts = result.values, result.counts
    values["accuracy"] = accuracy_of(rows)
    counts["n"] = len(rows)
    unparsable = sum(1 for r in rows if not r.parse_ok)
    counts["unparsable"] = unparsable
    values["unparsable_rate"] = unparsable / len(rows) if rows else None
    for label in ("real", "fake"):
        subset = [r for r in rows if r.label == label]
        values[f"accuracy/{label}"] = accuracy_of(subset)
        counts[f"n/{label}"] = len(subset)
    per_generator = group_rows(rows, lambda r: r.generator)
    for name, subset in per_generator.items():
        values[f"accuracy/generator/{name}"] = accuracy_of(subset)
        counts[f"n/generator/{name}"] = len(subset)
        for label in ("real", "fake"):
            labelled = [r for r in subset if r.label == label]
            if labelled:
                values[f"accuracy/generator/{name}/{label}"] = accuracy_of(labelled)
    values["accuracy/generator_macro"] = mean_or_none(
        v
        for k, v in values.items()
        if k.startswith("accuracy/generator/") and k.count("/") == 2 and v is not None
    )
    for name, subset in group_rows(rows, lambda r: r.family).items():
        values[f"accuracy/family/{name}"] = accuracy_of(subset)
        counts[f"n/family/{name}"] = len(subset)
    if unparsable:
        result.notes["unparsable"] = (
            f"{unparsable} of {len(rows)} answers could not be parsed and count as wrong"
        )
    return result
