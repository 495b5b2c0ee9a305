"""Metrics against hand-computed values and against the libraries' own reference implementations."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.evaluation.metrics import compute_metrics
from harness.evaluation.metrics.text_overlap import bleu2, rouge_l, tokenize
from harness.evaluation.predictions import PredictionRow


def row(item_id: str, label: str, verdict: str | None, ok: bool = True, **extra: Any) -> PredictionRow:
    return PredictionRow(
        id=item_id,
        image=f"/{item_id}.png",
        label=label,
        generator=extra.pop("generator", None),
        family=extra.pop("family", None),
        response="",
        parse_ok=ok,
        parse_error=None if ok else "broken",
        verdict=verdict if ok else None,
        **extra,
    )


# --- accuracy ------------------------------------------------------------------------------------


def accuracy_rows() -> list[PredictionRow]:
    return [
        row("r1", "real", "real", generator="G1"),
        row("r2", "real", "fake", generator="G2"),
        row("r3", "real", None, ok=False),  # unparsable: wrong, counted
        row("f1", "fake", "fake", generator="G1", family="Diffusion"),
        row("f2", "fake", "fake", generator="G1", family="Diffusion"),
        row("f3", "fake", "real", generator="G2", family="GAN"),
        row("f4", "fake", None, ok=False, generator="G2", family="GAN"),
    ]


def test_accuracy_by_hand() -> None:
    result = compute_metrics(accuracy_rows(), ["accuracy"])
    values, counts = result["values"], result["counts"]
    assert values["accuracy"] == pytest.approx(3 / 7)  # r1, f1, f2
    assert values["accuracy/real"] == pytest.approx(1 / 3)
    assert values["accuracy/fake"] == pytest.approx(2 / 4)
    assert values["accuracy/generator/G1"] == pytest.approx(3 / 3)
    assert values["accuracy/generator/G1/real"] == 1.0
    assert values["accuracy/generator/G1/fake"] == 1.0
    assert values["accuracy/generator/G2"] == pytest.approx(0 / 3)
    assert values["accuracy/generator_macro"] == pytest.approx((1.0 + 0.0) / 2)
    assert values["accuracy/family/Diffusion"] == 1.0
    assert values["accuracy/family/GAN"] == 0.0
    assert counts["unparsable"] == 2 and values["unparsable_rate"] == pytest.approx(2 / 7)
    assert counts["n"] == 7 and counts["n/real"] == 3 and counts["n/fake"] == 4
    assert "2 of 7" in result["notes"]["unparsable"]


def test_accuracy_of_nothing_is_undefined() -> None:
    values = compute_metrics([], ["accuracy"])["values"]
    assert values["accuracy"] is None and values["unparsable_rate"] is None


# --- grounding ----------------------------------------------------------------------------------


def test_union_iou_by_hand_on_fakes_only() -> None:
    rows = [
        # pred [0,0,10,10] vs gt [5,0,15,10]: intersection 50, union 150
        row(
            "f1",
            "fake",
            "fake",
            generator="G1",
            family="GAN",
            boxes=[[0, 0, 10, 10]],
            gt_boxes=[[5, 0, 15, 10]],
        ),
        # two predicted boxes covering the gt exactly: IoU 1
        row(
            "f2",
            "fake",
            "fake",
            generator="G1",
            family="GAN",
            boxes=[[0, 0, 5, 10], [5, 0, 10, 10]],
            gt_boxes=[[0, 0, 10, 10]],
        ),
        row("f3", "fake", None, ok=False, generator="G2", gt_boxes=[[0, 0, 10, 10]]),  # unparsable: 0
        row("f4", "fake", "fake", boxes=[[0, 0, 1, 1]], gt_boxes=[]),  # unannotated: left out
        row("r1", "real", "real", boxes=[[0, 0, 10, 10]], gt_boxes=[]),  # real: left out
    ]
    result = compute_metrics(rows, ["iou"])
    values, counts = result["values"], result["counts"]
    assert values["iou"] == pytest.approx((1 / 3 + 1.0 + 0.0) / 3)
    assert values["iou/generator/G1"] == pytest.approx((1 / 3 + 1.0) / 2)
    assert values["iou/generator/G2"] == 0.0
    assert values["iou/family/GAN"] == pytest.approx((1 / 3 + 1.0) / 2)
    assert counts["n/iou"] == 3 and counts["n/iou_unannotated"] == 1


def test_matched_iou_is_the_authors_greedy_matching() -> None:
    # gt boxes A=[0,0,10,10], B=[20,0,30,10]; one prediction equal to A: matched IoU = (1 + 0) / 2,
    # while the union IoU is 100 / 200.
    rows = [row("f1", "fake", "fake", boxes=[[0, 0, 10, 10]], gt_boxes=[[0, 0, 10, 10], [20, 0, 30, 10]])]
    values = compute_metrics(rows, ["iou", "matched_iou"])["values"]
    assert values["matched_iou"] == pytest.approx(0.5)
    assert values["iou"] == pytest.approx(0.5)
    rows = [row("f1", "fake", "fake", boxes=[[0, 0, 10, 10], [0, 0, 10, 10]], gt_boxes=[[0, 0, 10, 20]])]
    values = compute_metrics(rows, ["iou", "matched_iou"])["values"]
    assert values["iou"] == pytest.approx(0.5)  # union of the duplicates is one box
    assert values["matched_iou"] == pytest.approx(0.5)  # one match, the extra prediction ignored


def test_iou_without_annotations_is_undefined() -> None:
    result = compute_metrics([row("r", "real", "real")], ["iou"])
    assert result["values"]["iou"] is None and "no fake image" in result["notes"]["iou"]


# --- text overlap -------------------------------------------------------------------------------


def test_tokenize_matches_rouge_scores_default_tokenizer() -> None:
    from rouge_score import tokenize as rouge_tokenize

    text = "The Hand's 6-fingers, (blurry)! Ünïcode 42x"
    assert tokenize(text) == rouge_tokenize.tokenize(text, None)


def test_bleu2_by_hand() -> None:
    # hyp: the hand has six fingers / ref: the hand has five fingers
    # unigram precision 4/5, bigram precision 2/4 (the hand, hand has), equal lengths: no brevity penalty
    assert bleu2("The hand has six fingers", "the hand has five fingers") == pytest.approx(
        math.sqrt(0.8 * 0.5)
    )


def test_bleu2_equals_nltk_on_the_same_tokens() -> None:
    from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu

    hyp, ref = "a blurry face with warped teeth", "the face is blurry and the teeth are warped"
    expected = sentence_bleu(
        [tokenize(ref)], tokenize(hyp), weights=(0.5, 0.5), smoothing_function=SmoothingFunction().method1
    )
    assert bleu2(hyp, ref) == pytest.approx(expected)
    # by hand: hyp 6 tokens, ref 9 -> brevity penalty exp(1 - 9/6); unigram matches 4/6 (blurry, face,
    # warped, teeth; not "a", "with"), bigram matches 0/5 -> smoothed to 0.1/5 by method1
    assert expected == pytest.approx(math.exp(1 - 9 / 6) * math.sqrt((4 / 6) * (0.1 / 5)))


def test_rouge_l_by_hand_and_against_rouge_score() -> None:
    from rouge_score import rouge_scorer

    # LCS("the hand has six fingers", "the hand has five fingers") = 4 tokens: P = R = F = 4/5
    assert rouge_l("the hand has six fingers", "the hand has five fingers") == pytest.approx(0.8)
    hyp, ref = "Warped teeth; a blurry face.", "the face is blurry and the teeth are warped"
    reference = rouge_scorer.RougeScorer(["rougeL"]).score(ref, hyp)["rougeL"].fmeasure
    assert rouge_l(hyp, ref) == pytest.approx(reference)


def test_text_metrics_over_images() -> None:
    rows = [
        row(
            "f1",
            "fake",
            "fake",
            region_labels=["the hand has six fingers"],
            gt_region_labels=["the hand has", "five fingers"],
        ),
        row("f2", "fake", None, ok=False, gt_region_labels=["texture is blurry"]),  # unparsable: 0
        row("f3", "fake", "fake", gt_region_labels=[]),  # no annotation: left out
        row("r1", "real", "real", region_labels=["x"], gt_region_labels=[]),
    ]
    result = compute_metrics(rows, ["bleu2", "rouge_l"])
    assert result["values"]["bleu2"] == pytest.approx(math.sqrt(0.8 * 0.5) / 2)
    assert result["values"]["rouge_l"] == pytest.approx(0.8 / 2)
    assert result["counts"]["n/bleu2"] == 2


def test_corpus_bleu2_equals_nltk() -> None:
    from nltk.translate.bleu_score import SmoothingFunction, corpus_bleu

    pairs = [("the hand has six fingers", "the hand has five fingers"), ("blurry text", "the text is blurry")]
    rows = [
        row(f"f{i}", "fake", "fake", region_labels=[h], gt_region_labels=[r])
        for i, (h, r) in enumerate(pairs)
    ]
    expected = corpus_bleu(
        [[tokenize(r)] for _, r in pairs],
        [tokenize(h) for h, _ in pairs],
        weights=(0.5, 0.5),
        smoothing_function=SmoothingFunction().method1,
    )
    assert compute_metrics(rows, ["bleu2"])["values"]["bleu2/corpus"] == pytest.approx(expected)


# --- AP / AUC -----------------------------------------------------------------------------------


def ranked_rows() -> list[PredictionRow]:
    # labels fake, real, fake, real with p_fake 0.9, 0.8, 0.3, 0.1
    return [
        row("a", "fake", "fake", p_fake=0.9, p_fake_logsumexp=0.6, generator="G"),
        row("b", "real", "fake", p_fake=0.8, p_fake_logsumexp=0.2, generator="G"),
        row("c", "fake", "real", p_fake=0.3, p_fake_logsumexp=0.7, generator="G"),
        row("d", "real", "real", p_fake=0.1, p_fake_logsumexp=0.1, generator="H"),
        row("e", "real", None, ok=False),
    ]  # no probability: left out, counted


def test_ap_auc_by_hand() -> None:
    result = compute_metrics(ranked_rows(), ["ap", "auc", "soft_accuracy"])
    values, counts = result["values"], result["counts"]
    # AUC: of the 4 (fake, real) pairs, 3 are ordered correctly (0.3 < 0.8 is not)
    assert values["auc"] == pytest.approx(3 / 4)
    # AP: fake at rank 1 (precision 1), fake at rank 3 (precision 2/3), each half of the recall
    assert values["ap"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    # logsumexp scores 0.6, 0.2, 0.7, 0.1 separate the classes perfectly
    assert values["auc/logsumexp"] == pytest.approx(1.0) and values["ap/logsumexp"] == pytest.approx(1.0)
    # generator G has both classes (a, c fake; b real): pairs (a,b) right, (c,b) wrong
    assert values["auc/generator/G"] == pytest.approx(0.5)
    assert "auc/generator/H" not in values  # one class only
    assert values["auc/generator_macro"] == pytest.approx(0.5)
    assert values["soft_accuracy"] == pytest.approx(2 / 4)  # a right, b wrong, c wrong, d right
    assert counts["n/p_fake"] == 4 and counts["n/p_fake_missing"] == 1


def test_ap_auc_equal_sklearn() -> None:
    from sklearn.metrics import average_precision_score, roc_auc_score

    rows = ranked_rows()[:4]
    labels = [1 if r.label == "fake" else 0 for r in rows]
    scores = [r.p_fake for r in rows]
    values = compute_metrics(rows, ["ap", "auc"])["values"]
    assert values["ap"] == pytest.approx(average_precision_score(labels, scores))
    assert values["auc"] == pytest.approx(roc_auc_score(labels, scores))


def test_ap_with_one_class_is_undefined_and_says_why() -> None:
    result = compute_metrics([row("a", "fake", "fake", p_fake=0.9)], ["ap"])
    assert result["values"]["ap"] is None and "real and fake" in result["notes"]["ap"]
    result = compute_metrics([row("a", "fake", "fake")], ["auc"])
    assert result["values"]["auc"] is None and "no probability" in result["notes"]["auc"]


# --- behaviour ----------------------------------------------------------------------------------


def test_think_rate_and_response_tokens() -> None:
    rows = [
        row("a", "fake", "fake", thinking=True, num_generated_tokens=40),
        row("b", "real", "real", thinking=False, num_generated_tokens=6),
        row("c", "real", "real", thinking=False, num_generated_tokens=8),
        row("d", "fake", None, ok=False, num_generated_tokens=100),
    ]
    values = compute_metrics(rows, ["think_rate", "response_tokens"])["values"]
    assert values["think_rate"] == pytest.approx(1 / 3)
    assert values["think_rate/fake"] == 1.0 and values["think_rate/real"] == 0.0
    assert values["response_tokens"] == pytest.approx((40 + 6 + 8 + 100) / 4)
