"""How the model answers rather than what: think-mode rate and answer length.

Fake-HR1's claim is adaptive reasoning (peers.md §6: "fraction of answers that use <think> and
average response tokens"). ``think_rate``: among parsed answers that report a think block
(``think_answer``), the fraction whose block is non-empty. ``response_tokens``: mean number of
generated tokens.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.evaluation.metrics.base import METRICS, MetricResult, mean_or_none
from harness.evaluation.predictions import PredictionRow


@METRICS.register("think_rate")
def think_rate(rows: Sequence[PredictionRow]) -> MetricResult:
    known = [r for r in rows if r.parse_ok and r.thinking is not None]
    result = MetricResult(
        values={"think_rate": mean_or_none(1.0 if r.thinking else 0.0 for r in known)},
        counts={"n/think_rate": len(known)},
    )
    for label in ("real", "fake"):
        subset = [r for r in known if r.label == label]
        result.values[f"think_rate/{label}"] = mean_or_none(1.0 if r.thinking else 0.0 for r in subset)
    if not known:
        result.notes["think_rate"] = "no parsed answer reports a think block (response format think_answer)"
    return result


@METRICS.register("response_tokens")
def response_tokens(rows: Sequence[PredictionRow]) -> MetricResult:
    known = [r.num_generated_tokens for r in rows if r.num_generated_tokens is not None]
    return MetricResult(
        values={"response_tokens": mean_or_none(float(n) for n in known)},
        counts={"n/response_tokens": len(known)},
    )
