"""Our reward next to the authors' code (mllm-defake, fanqiNO1 fork, branch refactor_grpo,
``mllm_defake/finetune/rewards/utils.py``): what we share with it, and its faults we do not copy
(docs/fakexplain_authors_code.md). Each fault test feeds our reward the input that trips theirs.

The authors' arithmetic is restated here, never imported (the project does not ship their code):
``authors_box_iou`` is their ``_cal_bbox_iou`` formula, ``authors_matched_iou`` their greedy
nearest-centre matching of ``cal_iou`` with a *correct* box IoU put in, as the property compares.
"""

from __future__ import annotations

import json
import math
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.fakexplain import compute_score
from rewards.geometry import box_iou, matched_iou, union_iou


def area(box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def authors_box_iou(a, b) -> float:
    """``_cal_bbox_iou`` as written: the overlap is the product of the two extents, clamped at 0
    only after multiplying, so two negative extents (boxes apart on both axes) give a positive one."""
    inter = max(0, (min(a[2], b[2]) - max(a[0], b[0])) * (min(a[3], b[3]) - max(a[1], b[1])))
    union = area(a) + area(b) - inter
    return inter / union if union > 0 else 0.0


def correct_box_iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = area(a) + area(b) - w * h
    return w * h / union if union > 0 else 0.0


def authors_matched_iou(pred, gt, iou=correct_box_iou) -> float:
    """``cal_iou``'s matching: each prediction in turn takes the nearest-centre annotated box not yet
    taken (the first of equally near ones); surplus predictions score nothing; the sum of the
    matched IoUs is divided by the number of annotated boxes."""
    taken: list[int] = []
    total = 0.0
    for p in pred:
        best, best_d = -1, math.inf
        for j, g in enumerate(gt):
            if j in taken:
                continue
            d = math.dist(((p[0] + p[2]) / 2, (p[1] + p[3]) / 2), ((g[0] + g[2]) / 2, (g[1] + g[3]) / 2))
            if d < best_d:
                best, best_d = j, d
        taken.append(best)
        if best != -1:
            total += iou(p, gt[best])
    return total / len(gt)


def region(box, label="a paw") -> str:
    x1, y1, x2, y2 = box
    return f"<|object_ref_start|>{label}<|object_ref_end|><|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"


def answer(regions: str, close_verdict: bool = True) -> str:
    end = "</verdict>" if close_verdict else ""
    return f"<think>{regions}The fur turns metallic.<tag>Texture errors</tag></think><verdict>generated{end}"


def truth(boxes) -> str:
    return json.dumps({"label": "fake", "boxes": [list(b) for b in boxes]})


# ---- fault 1: boxes apart on both axes get a positive IoU, which can exceed 1 ------------------


def test_fault_disjoint_boxes_get_a_positive_iou_above_one():
    annotated, predicted = (21, 21, 31, 31), (0, 0, 10, 10)  # 11 px apart on both axes
    assert authors_box_iou(predicted, annotated) == pytest.approx(121 / 79)  # (-11) * (-11) over 200 - 121
    assert box_iou(predicted, annotated) == 0.0
    for mode in ("matched", "union"):
        result = compute_score("fakexplained", answer(region(predicted)), truth([annotated]), iou_mode=mode)
        assert (result["iou"], result["grounding"]) == (0.0, 0.0), mode


# ---- fault 2: the format regex backtracks exponentially on failing answers with many regions ------


@pytest.mark.parametrize("regions", [12, 2000])
def test_fault_failing_answer_with_many_regions_is_scored_in_linear_time(regions):
    # Their check_format: <think>(<ref>.*?</ref>\s*<box>.*?</box>.*?)+.*?<tag>.*?</tag>.*?</think>
    # \s*<verdict>.*?</verdict>: on an answer that fails late (here: no </verdict>) it tries every way
    # to split the regions among the nested lazy loops, about 3x longer per region (10 regions: 22 s
    # on this machine, docs/fakexplain_authors_code.md). Ours reads the same answer in one pass.
    boxes = [(i, i, i + 5, i + 5) for i in range(regions)]
    text = answer("".join(region(b, f"hand {i}") for i, b in enumerate(boxes)), close_verdict=False)
    started = time.process_time()
    result = compute_score("fakexplained", text, truth(boxes))
    elapsed = time.process_time() - started
    assert result["format"] == -1.0  # the structure is broken
    assert result["label"] == -1.0  # no closed verdict to read
    assert result["iou"] == pytest.approx(1.0)  # every region parses and is scored
    assert elapsed < 2.0, elapsed  # about a millisecond for 2000 regions here; 2 s is a margin


# ---- fault 3: a fake image whose answer has no box token raises -------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "<think>The fur turns metallic.<tag>Texture errors</tag></think><verdict>generated</verdict>",
        "I think it is generated.",
        "",
    ],
)
def test_fault_answer_without_a_box_token_on_a_fake_image(text):
    # Their _get_model_type raises ValueError("Model type not recognized ...") for such an answer
    # (cal_iou and check_format both call it when the image has objects): a training step ends.
    result = compute_score("fakexplained", text, truth([(10, 10, 50, 50)]))
    assert (result["iou"], result["grounding"]) == (0.0, 0.0)
    well_formed = text.startswith("<think>")
    assert result["format"] == (1.0 if well_formed else -1.0)  # no region is not a format error
    assert result["label"] == (1.0 if well_formed else -1.0)


# ---- fault 4: cal_iou never parses a box: json.loads is given a list ----------------------------


def test_fault_the_authors_iou_is_zero_for_every_fake_while_ours_reads_the_boxes():
    # cal_iou calls json.loads([box]) (a list, not a string): TypeError, swallowed by
    # "except Exception: continue", so no predicted box is ever kept and the IoU is 0 on every fake.
    with pytest.raises(TypeError):
        json.loads(["[10, 10], [50, 50]"])  # type: ignore[arg-type]
    boxes = [(10, 10, 50, 50), (60, 10, 90, 40)]
    result = compute_score("fakexplained", answer("".join(map(region, boxes))), truth(boxes))
    assert (result["iou"], result["format"], result["label"]) == (1.0, 1.0, 1.0)


# ---- properties: matched IoU is their matching with a correct IoU; union and matched agree -----

coordinate = st.integers(0, 200)


@st.composite
def box_sets(draw, max_boxes: int = 6):
    boxes = []
    for _ in range(draw(st.integers(1, max_boxes))):
        x1, y1 = draw(coordinate), draw(coordinate)
        boxes.append((x1, y1, x1 + draw(st.integers(1, 80)), y1 + draw(st.integers(1, 80))))
    return boxes


@settings(max_examples=600, deadline=None)
@given(box_sets(), box_sets(max_boxes=8))
def test_matched_iou_is_the_authors_greedy_matching_with_a_correct_iou(gt, pred):
    assert matched_iou(pred, gt) == pytest.approx(authors_matched_iou(pred, gt), abs=1e-12)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(1, 40), st.integers(1, 40)), min_size=1, max_size=6),
    st.integers(1, 9),
    st.randoms(use_true_random=False),
)
def test_union_and_matched_iou_agree_for_one_to_one_disjoint_matches(sizes, tenth, rng):
    # Annotated boxes in separate 100 px cells; each prediction is its annotated box shrunk about the
    # same centre to the same fraction of its sides, listed in any order: every prediction matches
    # exactly one annotated box (centre distance 0), no two boxes of different pairs overlap, and
    # each pair's IoU is the same (tenth / 10) ** 2, so the union's IoU is that value too.
    scale = tenth / 10
    gt, pred = [], []
    for cell, (w, h) in enumerate(sizes):
        x, y = 100 * cell + 50, 50
        gt.append((x - w, y - h, x + w, y + h))
        pred.append((x - w * scale, y - h * scale, x + w * scale, y + h * scale))
    rng.shuffle(pred)
    assert matched_iou(pred, gt) == pytest.approx(scale**2)
    assert union_iou(pred, gt) == pytest.approx(matched_iou(pred, gt))
