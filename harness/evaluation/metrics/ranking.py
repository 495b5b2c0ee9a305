"""Threshold-free detection metrics from the probability of ``fake`` (003 §VI-A: AP and AUC).

``p_fake`` comes from token soft-scoring (``harness.evaluation.soft_scoring``, 003 eq. 2). Rows
without a probability (the answer named no anchor token, or soft scoring is off) are left out and
counted (``n/p_fake_missing``). AP and AUC need both classes; per generator they are reported where
a generator has real and fake images (AIGI-Holmes' ``<generator>/{0_real,1_fake}`` test sets).

Keys: ``ap``, ``auc``, ``ap/logsumexp``, ``auc/logsumexp`` (the logsumexp variant of eq. 2),
``ap/generator/<g>``, ``auc/generator/<g>``, ``ap/generator_macro``, ``auc/generator_macro`` (the mean
over generators with both classes, as 003 Tables V/VI average); ``soft_accuracy`` (p_fake >= 0.5 taken as fake, 003
Fig. 6 "threshold is set to 0.5"). Implementations: ``sklearn.metrics.average_precision_score``
and ``roc_auc_score`` with ``fake`` as the positive class.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from harness.evaluation.metrics.base import METRICS, MetricResult, group_rows, mean_or_none
from harness.evaluation.predictions import PredictionRow

__all__ = ["roc_points"]


def _scored(rows: Sequence[PredictionRow], field: str = "p_fake") -> list[tuple[int, float]]:
    return [
        (1 if r.label == "fake" else 0, float(getattr(r, field)))
        for r in rows
        if getattr(r, field) is not None
    ]


def _ranking(
    rows: Sequence[PredictionRow], name: str, score: Callable[[list[int], list[float]], float]
) -> MetricResult:
    result = MetricResult()
    for field, suffix in (("p_fake", ""), ("p_fake_logsumexp", "/logsumexp")):
        pairs = _scored(rows, field)
        labels = [y for y, _ in pairs]
        if len(set(labels)) == 2:
            result.values[name + suffix] = float(score(labels, [s for _, s in pairs]))
        else:
            result.values[name + suffix] = None
            if not suffix:
                result.notes[name] = (
                    "no probability of fake was recorded"
                    if not pairs
                    else f"needs real and fake images with a probability; got only {set(labels)}"
                )
    result.counts["n/p_fake"] = len(_scored(rows))
    result.counts["n/p_fake_missing"] = len(rows) - len(_scored(rows))
    per_generator = []
    for generator, subset in group_rows(rows, lambda r: r.generator).items():
        pairs = _scored(subset)
        labels = [y for y, _ in pairs]
        if len(set(labels)) == 2:
            value = float(score(labels, [s for _, s in pairs]))
            result.values[f"{name}/generator/{generator}"] = value
            per_generator.append(value)
    # 003 Tables V and VI average the per-subset values (mAP), which differs from the pooled value.
    result.values[f"{name}/generator_macro"] = mean_or_none(per_generator)
    return result


@METRICS.register("ap")
def average_precision(rows: Sequence[PredictionRow]) -> MetricResult:
    from sklearn.metrics import average_precision_score

    return _ranking(rows, "ap", average_precision_score)


@METRICS.register("auc")
def roc_auc(rows: Sequence[PredictionRow]) -> MetricResult:
    from sklearn.metrics import roc_auc_score

    return _ranking(rows, "auc", roc_auc_score)


@METRICS.register("soft_accuracy")
def soft_accuracy(rows: Sequence[PredictionRow]) -> MetricResult:
    pairs = _scored(rows)
    value = mean_or_none(1.0 if (s >= 0.5) == (y == 1) else 0.0 for y, s in pairs)
    return MetricResult(values={"soft_accuracy": value}, counts={"n/soft_accuracy": len(pairs)})


def roc_points(rows: Sequence[PredictionRow]) -> tuple[list[float], list[float], float] | None:
    """(false positive rates, true positive rates, AUC) of ``p_fake``, or None with one class."""
    from sklearn.metrics import roc_auc_score, roc_curve

    pairs = _scored(rows)
    labels = [y for y, _ in pairs]
    if len(set(labels)) != 2:
        return None
    scores = [s for _, s in pairs]
    fpr, tpr, _ = roc_curve(labels, scores)
    return fpr.tolist(), tpr.tolist(), float(roc_auc_score(labels, scores))
