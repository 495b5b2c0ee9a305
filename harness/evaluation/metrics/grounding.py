"""Grounding IoU on fake images (002 §5.2: "IoU is computed only on synthetic images").

``iou``: the IoU of the union of the predicted boxes with the union of the annotated boxes, the
same function as the GRPO reward (``rewards.geometry.union_iou``). ``matched_iou``: the authors'
greedy nearest-centre matching averaged over annotated boxes (``rewards.geometry.matched_iou``;
seeds.md §3 asks for both). Boxes are pixels of the frame the model saw.

Fake images without annotated boxes (none in the manifest, or all cropped away by a robustness
transform) have no IoU: they are left out and counted (``n/iou_unannotated``). An unparsable answer
has no boxes and scores 0.

Keys: ``iou``, ``iou/generator/<g>``, ``iou/family/<f>`` (and the same under ``matched_iou``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.evaluation.metrics.base import METRICS, MetricResult, group_rows, mean_or_none
from harness.evaluation.predictions import PredictionRow

__all__ = ["matched_iou_metric", "union_iou_metric"]


def _grounding(rows: Sequence[PredictionRow], name: str, iou: Callable[..., float]) -> MetricResult:
    result = MetricResult()
    fakes = [r for r in rows if r.label == "fake"]
    annotated = [r for r in fakes if r.gt_boxes]
    scores = {id(r): (iou(r.boxes, r.gt_boxes) if r.parse_ok else 0.0) for r in annotated}
    result.values[name] = mean_or_none(scores[id(r)] for r in annotated)
    result.counts[f"n/{name}"] = len(annotated)
    result.counts[f"n/{name}_unannotated"] = len(fakes) - len(annotated)
    if not annotated:
        result.notes[name] = "no fake image has annotated boxes"
    for group, key in (("generator", lambda r: r.generator), ("family", lambda r: r.family)):
        for value, subset in group_rows(annotated, key).items():
            result.values[f"{name}/{group}/{value}"] = mean_or_none(scores[id(r)] for r in subset)
    return result


@METRICS.register("iou")
def union_iou_metric(rows: Sequence[PredictionRow]) -> MetricResult:
    from rewards.geometry import union_iou

    return _grounding(rows, "iou", union_iou)


@METRICS.register("matched_iou")
def matched_iou_metric(rows: Sequence[PredictionRow]) -> MetricResult:
    from rewards.geometry import matched_iou

    return _grounding(rows, "matched_iou", matched_iou)
