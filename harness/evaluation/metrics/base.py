"""The metric registry and what a metric returns."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from common.registry import Registry
from harness.evaluation.predictions import PredictionRow

__all__ = ["METRICS", "MetricResult", "group_rows", "mean_or_none"]


@dataclass
class MetricResult:
    values: dict[str, float | None] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


Metric = Callable[[Sequence[PredictionRow]], MetricResult]
METRICS: Registry[Metric] = Registry("metric")


def mean_or_none(values: Iterable[float]) -> float | None:
    items = list(values)
    return sum(items) / len(items) if items else None


def group_rows(
    rows: Iterable[PredictionRow], key: Callable[[PredictionRow], str | None]
) -> dict[str, list[PredictionRow]]:
    """Rows by ``key`` (rows whose key is None are left out), groups in first-seen order."""
    groups: dict[str, list[PredictionRow]] = defaultdict(list)
    for row in rows:
        name = key(row)
        if name is not None:
            groups[name].append(row)
    return dict(groups)
