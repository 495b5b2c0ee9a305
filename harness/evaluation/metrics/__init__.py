"""Metrics, registered by name (``eval.metrics``), computed from the rows of ``predictions.jsonl``.

Every metric returns flat values keyed by path - ``accuracy``, ``accuracy/real``,
``accuracy/generator/<name>``, ``iou/family/<name>``, ``ap`` ... - plus the counts behind them; the
report names cells by these keys. A value is ``None`` when it is undefined (no rows, one class only)
and a note says why.

Registered: ``accuracy``, ``iou``, ``matched_iou``, ``bleu2``, ``rouge_l``, ``ap``, ``auc``,
``soft_accuracy``, ``think_rate``, ``response_tokens``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# Importing the modules registers their metrics.
from harness.evaluation.metrics import accuracy, behaviour, grounding, ranking, text_overlap  # noqa: E402,F401
from harness.evaluation.metrics.base import METRICS, MetricResult
from harness.evaluation.predictions import PredictionRow

__all__ = ["METRICS", "MetricResult", "compute_metrics"]


def compute_metrics(rows: Sequence[PredictionRow], names: Sequence[str]) -> dict[str, Any]:
    """``{"values": {key: float|None}, "counts": {key: int}, "notes": {key: str}}`` for ``names``."""
    values: dict[str, float | None] = {}
    counts: dict[str, int] = {}
    notes: dict[str, str] = {}
    for name in names:
        result = METRICS.get(name)(rows)
        values.update(result.values)
        counts.update(result.counts)
        notes.update(result.notes)
    return {"values": values, "counts": counts, "notes": notes}
