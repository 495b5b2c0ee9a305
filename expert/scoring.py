"""The expert's probabilities as evaluation rows, scored by the harness' own metrics.

Baselines_AIGI/validate.py reports, per test set, ``accuracy_score(y, p > 0.5)``,
``average_precision_score(y, p)`` and the accuracy on real (y = 0) and on fake (y = 1) images,
then the mean over test sets. The same numbers come out of harness.evaluation.metrics as
``accuracy``, ``ap``, ``accuracy/real``, ``accuracy/fake``, ``accuracy/generator/<g>`` and
``accuracy/generator_macro`` / ``ap/generator_macro`` (the mean over generators), so the report
reads the expert like any eval stage.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.evaluation.manifest import EvalItem
from harness.evaluation.metrics import compute_metrics
from harness.evaluation.predictions import PredictionRow

__all__ = ["prediction_rows", "score"]


def prediction_rows(
    items: Sequence[EvalItem],
    probabilities: Sequence[float],
    threshold: float,
    image_override: str | None = None,
) -> list[PredictionRow]:
    rows = []
    for item, p in zip(items, probabilities):
        verdict = "fake" if p > threshold else "real"
        rows.append(
            PredictionRow(
                id=item.id,
                image=image_override or item.image,
                label=item.label,
                generator=item.generator,
                family=item.family,
                response=f"expert p(fake)={p:.6f}",
                parse_ok=True,
                parse_error=None,
                verdict=verdict,
                p_fake=float(p),
                expert_p_fake=float(p),
            )
        )
    return rows


def score(
    items: Sequence[EvalItem], probabilities: Sequence[float], threshold: float, metrics: Sequence[str]
) -> dict[str, Any]:
    """compute_metrics' document (values, counts, notes) for the expert's probabilities."""
    return compute_metrics(prediction_rows(items, probabilities, threshold), list(metrics))
