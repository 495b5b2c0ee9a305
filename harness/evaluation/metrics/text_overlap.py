"""BLEU-2 and ROUGE-L of the predicted region descriptions against the annotated ones (004 Table 2).

Per fake image with annotated descriptions: the hypothesis is the predicted region labels joined
in order, the reference the annotated region labels joined in order (an unparsable answer or one
without regions is the empty hypothesis and scores 0). The reported value is the mean over images;
``bleu2/corpus`` is corpus-level BLEU-2 over the same pairs.

Fixed choices (the papers do not state theirs):
- tokenisation: lower-case, every run of characters other than a-z and 0-9 is a separator - the
  same rule as rouge-score's default tokenizer, applied here to both metrics so they see the same
  tokens; no stemming;
- BLEU-2: ``nltk.translate.bleu_score`` with weights (0.5, 0.5) and ``SmoothingFunction().method1``
  (epsilon 0.1 added to zero n-gram counts), so one missing bigram does not zero a sentence;
- ROUGE-L: ``rouge_score.rouge_scorer.RougeScorer(["rougeL"])`` F-measure (sentence-level LCS).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from harness.evaluation.metrics.base import METRICS, MetricResult, mean_or_none
from harness.evaluation.predictions import PredictionRow

__all__ = ["bleu2", "rouge_l", "tokenize"]

_SEPARATOR = re.compile(r"[^a-z0-9]+")


def tokenize(text: str) -> list[str]:
    return [t for t in _SEPARATOR.split(text.lower()) if t]


class _Tokenizer:
    """rouge-score's tokenizer interface over ``tokenize``."""

    def tokenize(self, text: str) -> list[str]:
        return tokenize(text)


def bleu2(hypothesis: str, reference: str) -> float:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hyp, ref = tokenize(hypothesis), tokenize(reference)
    if not hyp or not ref:
        return 0.0
    return float(
        sentence_bleu([ref], hyp, weights=(0.5, 0.5), smoothing_function=SmoothingFunction().method1)
    )


def rouge_l(hypothesis: str, reference: str) -> float:
    from rouge_score.rouge_scorer import RougeScorer

    if not tokenize(hypothesis) or not tokenize(reference):
        return 0.0
    scorer = RougeScorer(["rougeL"], tokenizer=_Tokenizer())
    return float(scorer.score(reference, hypothesis)["rougeL"].fmeasure)


def _pairs(rows: Sequence[PredictionRow]) -> list[tuple[str, str]]:
    pairs = []
    for row in rows:
        if row.label != "fake" or not any(label.strip() for label in row.gt_region_labels):
            continue
        hypothesis = " ".join(row.region_labels) if row.parse_ok else ""
        pairs.append((hypothesis, " ".join(row.gt_region_labels)))
    return pairs


@METRICS.register("bleu2")
def bleu2_metric(rows: Sequence[PredictionRow]) -> MetricResult:
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    pairs = _pairs(rows)
    result = MetricResult(counts={"n/bleu2": len(pairs)})
    result.values["bleu2"] = mean_or_none(bleu2(h, r) for h, r in pairs)
    tokenized = [(tokenize(h), tokenize(r)) for h, r in pairs]
    usable = [(h, r) for h, r in tokenized if r]
    if usable and any(h for h, _ in usable):
        result.values["bleu2/corpus"] = float(
            corpus_bleu(
                [[r] for _, r in usable],
                [h for h, _ in usable],
                weights=(0.5, 0.5),
                smoothing_function=SmoothingFunction().method1,
            )
        )
    else:
        result.values["bleu2/corpus"] = 0.0 if usable else None
    if not pairs:
        result.notes["bleu2"] = "no fake image has annotated region descriptions"
    return result


@METRICS.register("rouge_l")
def rouge_l_metric(rows: Sequence[PredictionRow]) -> MetricResult:
    pairs = _pairs(rows)
    result = MetricResult(counts={"n/rouge_l": len(pairs)})
    result.values["rouge_l"] = mean_or_none(rouge_l(h, r) for h, r in pairs)
    if not pairs:
        result.notes["rouge_l"] = "no fake image has annotated region descriptions"
    return result
