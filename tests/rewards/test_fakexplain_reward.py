"""FakeXplain's reward: every scoring rule, the weights, the schedules, robustness."""

from __future__ import annotations

import json
import logging
import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.errors import ConfigError
from rewards import fakexplain
from rewards.fakexplain import compute_score, score_keys
from rewards.fakexplain_weights import check_reward_kwargs, weights_from_kwargs

from .conftest import fakexplain_response as respond
from .conftest import ground_truth

GT_BOXES = [(100, 100, 200, 200), (300, 50, 400, 150)]
FAKE_GT = ground_truth("fake", GT_BOXES)
REAL_GT = ground_truth("real")


def score(text, gt=FAKE_GT, extra_info=None, **kwargs):
    return compute_score("fakexplain", text, gt, extra_info, **kwargs)


# ---- the default weights: eta 1.1, w_iou 1, +1/-1, r_base 0 ----------------------------------


def test_perfect_fake_response():
    result = score(respond(GT_BOXES))
    assert result == {
        "score": 3.0,
        "format": 1.0,
        "label": 1.0,
        "iou": 1.0,
        "grounding": 1.0,
        "acc": 1.0,
        "w_iou": 1.0,
    }


def test_wrong_label_keeps_format_and_grounding():
    result = score(respond(GT_BOXES, verdict="real"))
    assert (result["label"], result["format"], result["grounding"], result["acc"]) == (-1.0, 1.0, 1.0, 0.0)
    assert result["score"] == 1.0


def test_unparsable_response_loses_the_format_term_only():
    # 002 §4.4 and the authors' code score the terms separately: one stray word after a perfect
    # answer costs the format term, not the verdict or the regions.
    text = respond(GT_BOXES) + " trailing words"
    assert score(text) == {
        "score": 1.0,
        "format": -1.0,
        "label": 1.0,
        "iou": 1.0,
        "grounding": 1.0,
        "acc": 1.0,
        "w_iou": 1.0,
    }


def test_coupled_unparsable_response_is_a_wrong_label_without_grounding():
    text = respond(GT_BOXES) + " trailing words"
    result = score(text, coupled=True)
    assert result == {
        "score": -2.0,
        "format": -1.0,
        "label": -1.0,
        "iou": 0.0,
        "grounding": 0.0,
        "acc": 0.0,
        "w_iou": 1.0,
    }


def test_grounding_is_relaxed_union_iou():
    # one prediction covering exactly the first annotated box: IoU 1/2, credit 1.1 * 0.5
    result = score(respond([GT_BOXES[0]]))
    assert result["iou"] == pytest.approx(0.5)
    assert result["grounding"] == pytest.approx(0.55)
    assert result["score"] == pytest.approx(2.55)
    # IoU >= 1/1.1 earns full credit
    almost = [(100, 100, 200, 200), (300, 50, 400, 145)]
    assert score(respond(almost))["grounding"] == 1.0


def test_no_region_on_a_fake_image_earns_no_grounding():
    result = score(respond([]))
    assert (result["iou"], result["grounding"], result["score"]) == (0.0, 0.0, 2.0)


def test_overlapping_nested_and_duplicate_predictions_count_their_union():
    outer = (100, 100, 200, 200)
    inner = (120, 120, 150, 150)
    for boxes in ([outer, inner], [outer, outer, outer], [outer, (150, 100, 200, 200)]):
        assert score(respond(boxes), gt=ground_truth("fake", [outer]))["iou"] == 1.0


def test_many_tiny_boxes_covering_the_annotation():
    tiles = [(x, y, x + 10, y + 10) for x in range(100, 200, 10) for y in range(100, 200, 10)]
    gt = ground_truth("fake", [(100, 100, 200, 200)])
    assert score(respond(tiles), gt=gt)["iou"] == pytest.approx(1.0)
    assert score(respond(tiles), gt=gt, iou_mode="matched")["iou"] == pytest.approx(0.01)


def test_touching_boxes_do_not_overlap():
    gt = ground_truth("fake", [(0, 0, 10, 10)])
    assert score(respond([(10, 0, 20, 10)]), gt=gt)["iou"] == 0.0


def test_boxes_leaving_the_frame_are_clipped_only_when_the_frame_is_known():
    gt = ground_truth("fake", [(0, 0, 100, 100)])
    text = respond([(-100, 0, 100, 100)])  # half of it lies left of the image
    assert score(text, gt=gt)["iou"] == pytest.approx(0.5)
    assert score(text, gt=gt, extra_info={"width": 640, "height": 480})["iou"] == 1.0
    # a frame given as strings (JSON round trips) or missing a side is handled too
    assert score(text, gt=gt, extra_info={"width": "640", "height": "480"})["iou"] == 1.0
    assert score(text, gt=gt, extra_info={"width": 640})["iou"] == pytest.approx(0.5)


def test_real_image_without_regions():
    result = score(respond([], verdict="real", tags=""), gt=REAL_GT)
    assert result == {
        "score": 3.0,
        "format": 1.0,
        "label": 1.0,
        "iou": 1.0,
        "grounding": 1.0,
        "acc": 1.0,
        "w_iou": 1.0,
    }


def test_real_image_with_predicted_regions():
    result = score(respond([(0, 0, 5, 5)], verdict="real"), gt=REAL_GT)
    assert (result["grounding"], result["score"]) == (0.0, 2.0)
    assert score(respond([(0, 0, 5, 5)], verdict="generated"), gt=REAL_GT)["score"] == 0.0


def test_matched_mode_uses_the_authors_matching():
    pred = [(100, 100, 200, 200)]
    assert score(respond(pred), iou_mode="matched")["iou"] == pytest.approx(0.5)
    # a prediction far from both boxes still takes the nearest one and scores its IoU (0)
    assert score(respond([(500, 500, 600, 600)]), iou_mode="matched")["iou"] == 0.0


@pytest.mark.parametrize(
    "gt",
    [
        {"label": "fake", "boxes": [list(b) for b in GT_BOXES]},
        FAKE_GT,
        {"label": "FAKE", "boxes": np.array(GT_BOXES)},  # what a parquet round trip gives
        {"label": "generated", "boxes": [np.array(b) for b in GT_BOXES]},
    ],
)
def test_ground_truth_forms(gt):
    assert score(respond(GT_BOXES), gt=gt)["score"] == 3.0


@pytest.mark.parametrize(
    "gt",
    [
        None,
        "",
        "not json",
        "[1, 2]",
        '{"boxes": []}',
        '{"label": "maybe"}',
        '{"label": "fake", "boxes": [[1, 2, 3]]}',
        '{"label": "fake", "boxes": "x"}',
        "[" * 100000,
        17,
    ],
)
def test_malformed_ground_truth_scores_neutrally_and_warns(gt, caplog):
    fakexplain._warned.clear()
    with caplog.at_level(logging.WARNING, logger="rewards.fakexplain"):
        good = score(respond(GT_BOXES), gt=gt, r_base=-0.5)
        bad = score("garbage", gt=gt, r_base=-0.5)
    assert good == bad  # the same for every response: no learning signal
    assert good["score"] == -0.5
    assert "unusable ground truth" in caplog.text


# ---- keyword arguments -----------------------------------------------------------------------


def test_every_weight_is_a_keyword():
    kw = dict(eta=2.0, w_iou=3.0, label_pos=4.0, label_neg=5.0, format_pos=6.0, format_neg=7.0, r_base=8.0)
    half = respond([GT_BOXES[0]])  # IoU 0.5 -> grounding min(1, 2 * 0.5) = 1
    assert score(half, **kw)["score"] == 8.0 + 3.0 * 1.0 + 4.0 + 6.0
    assert score(respond([GT_BOXES[0]], verdict="real"), **kw)["score"] == 8.0 + 3.0 - 5.0 + 6.0
    assert score("x", **kw)["score"] == 8.0 - 5.0 - 7.0
    # relax power: grounding IoU ** eta = 0.5 ** 2
    assert score(half, relax="power", **kw)["score"] == 8.0 + 3.0 * 0.25 + 4.0 + 6.0
    assert score(half + "!", coupled=True, **kw)["score"] == 8.0 - 5.0 - 7.0


def test_verl_router_kwargs_are_ignored():
    assert score(respond(GT_BOXES), reward_router_address=None, reward_model_tokenizer=None)["score"] == 3.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"w_ioU": 2}, "reward_kwargs.w_ioU: unknown key (did you mean: w_iou?); known: eta, w_iou,"),
        ({"w_iou": None, "wiou": None}, "reward_kwargs.wiou: unknown key"),  # null or not
        ({"label_neg": -1}, "reward_kwargs.label_neg: must be >= 0"),
        ({"eta": 0}, "reward_kwargs.eta: must be > 0"),
        ({"w_iou": "1.5"}, "reward_kwargs.w_iou: must be a number"),
        ({"w_iou": True}, "reward_kwargs.w_iou: must be a number"),
        ({"r_base": float("nan")}, "reward_kwargs.r_base: must be finite"),
        ({"w_iou_end": float("inf"), "w_iou_start": 0}, "reward_kwargs.w_iou_end: must be finite"),
        ({"iou_mode": "mask"}, "reward_kwargs.iou_mode: must be one of 'union', 'matched'"),
        ({"relax": "exp"}, "reward_kwargs.relax: must be one of 'clip', 'power'"),
        ({"coupled": "yes"}, "reward_kwargs.coupled: must be true or false"),
        ({"coupled": 1}, "reward_kwargs.coupled: must be true or false"),
        ({"w_iou_start": 0.5}, "both w_iou_start and w_iou_end"),
        (
            {"w_iou_start": 0.5, "w_iou_end": 1.0, "w_iou": 1.0},
            "reward_kwargs.w_iou: give either w_iou (constant) or w_iou_start/w_iou_end",
        ),
        ({"total_steps": 0}, "reward_kwargs.total_steps: must be a positive whole number"),
        ({"total_steps": 2.5}, "reward_kwargs.total_steps: must be an integer"),
        ({"w_iou": [1]}, "reward_kwargs.w_iou: must be a number"),
        ({"label_neg": -1, "eta": -1}, "2 problems:"),  # every problem at once
    ],
)
def test_invalid_kwargs_are_config_errors(kwargs, message):
    # A ValueError for verl and ms-swift (a config error, not a bad response), a ConfigError for the CLI.
    with pytest.raises(ValueError, match=re.escape(message)) as caught:
        score(respond(GT_BOXES), **kwargs)
    assert isinstance(caught.value, ConfigError)


# ---- the linear schedule (004) ----------------------------------------------------------------

LINEAR = dict(w_iou_start=0.5, w_iou_end=1.0)


@pytest.mark.parametrize(
    "step, total, w_iou",
    [
        (0, 100, 0.5),
        (50, 100, 0.75),
        (100, 100, 1.0),
        (250, 100, 1.0),
        (-3, 100, 0.5),
        (1, 3, 0.5 + 0.5 / 3),
    ],
)
def test_linear_schedule_weight(step, total, w_iou):
    result = score(respond(GT_BOXES), extra_info={"global_steps": step}, total_steps=total, **LINEAR)
    assert result["w_iou"] == pytest.approx(w_iou)
    assert result["score"] == pytest.approx(2.0 + w_iou)


def test_linear_schedule_total_from_extra_info_and_numpy_steps():
    info = {"global_steps": np.int64(25), "total_steps": np.int64(50)}
    assert score(respond(GT_BOXES), extra_info=info, **LINEAR)["w_iou"] == pytest.approx(0.75)
    # the reward kwarg wins over extra_info
    assert score(respond(GT_BOXES), extra_info=info, total_steps=100, **LINEAR)["w_iou"] == pytest.approx(
        0.625
    )


def test_linear_schedule_without_total_steps_says_what_to_set():
    with pytest.raises(ValueError, match=r"\+reward.custom_reward_function.reward_kwargs.total_steps"):
        score(respond(GT_BOXES), extra_info={"global_steps": 3}, **LINEAR)
    with pytest.raises(ValueError, match="total_steps"):
        check_reward_kwargs({**LINEAR, "total_steps": None}, total_steps_required=True)
    assert check_reward_kwargs({**LINEAR, "total_steps": None}).scheduled


def test_linear_schedule_without_a_step_uses_zero_and_warns(caplog):
    fakexplain._warned.clear()
    with caplog.at_level(logging.WARNING, logger="rewards.fakexplain"):
        result = score(respond(GT_BOXES), extra_info={"global_steps": None}, total_steps=10, **LINEAR)
        score(respond(GT_BOXES), extra_info=None, total_steps=10, **LINEAR)
    assert result["w_iou"] == 0.5
    assert caplog.text.count("global_steps") == 1  # once per process


def test_constant_weight_ignores_the_step():
    assert score(respond(GT_BOXES), extra_info={"global_steps": 99})["w_iou"] == 1.0


# ---- the configured schedules ----------------------------------------------------------------

PERFECT = respond(GT_BOXES)
WRONG_LABEL = respond(GT_BOXES, verdict="real")
UNPARSABLE = respond(GT_BOXES) + "</verdict>"
RIGHT_BUT_UNGROUNDED = respond([(600, 600, 700, 700)])


@pytest.mark.parametrize(
    "stage, perfect, wrong_label, unparsable",
    [
        # r_base + w_iou * grounding + label + format; the unparsable answer keeps label and grounding
        ("alpha", 0 + 1.0 + 1 + 2, 0 + 1.0 - 1 + 2, 0 + 1.0 + 1 - 1),
        ("beta", -0.5 + 1.5 + 2 + 1, -0.5 + 1.5 - 2 + 1, -0.5 + 1.5 + 2 - 1.5),
        ("gamma", -1 + 2.0 + 0.5 + 0.5, -1 + 2.0 - 1 + 0.5, -1 + 2.0 + 0.5 - 1),
    ],
)
def test_staged_schedule_scores(fakexplain_conf, stage, perfect, wrong_label, unparsable):
    kwargs = fakexplain_conf["schedules"]["staged"][stage]
    assert score(PERFECT, **kwargs)["score"] == pytest.approx(perfect)
    assert score(WRONG_LABEL, **kwargs)["score"] == pytest.approx(wrong_label)
    assert score(UNPARSABLE, **kwargs)["score"] == pytest.approx(unparsable)


def test_gamma_right_label_and_format_sum_to_zero(fakexplain_conf):
    # 002 §4.4 gamma: "a correct prediction of label and format will lead to a reward of 0"
    kwargs = fakexplain_conf["schedules"]["staged"]["gamma"]
    assert score(RIGHT_BUT_UNGROUNDED, **kwargs)["score"] == 0.0


@pytest.mark.parametrize("fraction, w_iou", [(0.0, 0.5), (0.5, 0.75), (1.0, 1.0)])
def test_linear_schedule_from_config(fakexplain_conf, fraction, w_iou):
    kwargs = {**fakexplain_conf["schedules"]["linear"], "total_steps": 40}
    result = score(PERFECT, extra_info={"global_steps": int(40 * fraction)}, **kwargs)
    assert result["w_iou"] == pytest.approx(w_iou)
    assert result["score"] == pytest.approx(w_iou + 1 + 1)
    unparsable = score(UNPARSABLE, extra_info={"global_steps": int(40 * fraction)}, **kwargs)
    assert unparsable["score"] == pytest.approx(w_iou + 1 - 1)


def test_staged_weights_at_any_step_are_constant(fakexplain_conf):
    for stage, kwargs in fakexplain_conf["schedules"]["staged"].items():
        values = {score(PERFECT, extra_info={"global_steps": t}, **kwargs)["w_iou"] for t in (0, 50, 100)}
        assert len(values) == 1, stage


# ---- robustness ------------------------------------------------------------------------------

weights_strategy = st.fixed_dictionaries(
    {},
    optional={
        "eta": st.floats(0.1, 5),
        "w_iou": st.floats(0, 5),
        "label_pos": st.floats(0, 5),
        "label_neg": st.floats(0, 5),
        "format_pos": st.floats(0, 5),
        "format_neg": st.floats(0, 5),
        "r_base": st.floats(-5, 5),
        "iou_mode": st.sampled_from(["union", "matched"]),
        "relax": st.sampled_from(["clip", "power"]),
        "coupled": st.booleans(),
    },
)


@settings(max_examples=1500, deadline=None)
@given(st.text(), weights_strategy, st.sampled_from([FAKE_GT, REAL_GT]))
def test_any_string_scores_finitely_within_the_weights_bounds(text, kwargs, gt):
    result = score(text, gt=gt, **kwargs)
    assert tuple(result) == score_keys
    low, high = weights_from_kwargs(kwargs).score_bounds()
    assert all(isinstance(v, float) and math.isfinite(v) for v in result.values())
    assert low - 1e-9 <= result["score"] <= high + 1e-9


box_numbers = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**400), 10**400),
)


@settings(max_examples=800, deadline=None)
@given(
    st.lists(st.lists(box_numbers, min_size=3, max_size=5), max_size=6),
    st.text(max_size=30),
    st.sampled_from(["fake", "real", "generated"]),
    st.sampled_from(["union", "matched"]),
    st.one_of(
        st.none(), st.fixed_dictionaries({"width": st.integers(-5, 2000), "height": st.integers(-5, 2000)})
    ),
)
def test_near_valid_responses_score_within_bounds(boxes, label, verdict, iou_mode, frame):
    regions = ", ".join(json.dumps({"bbox_2d": b, "label": label}) for b in boxes)
    text = f"<think>{regions}</think><tag></tag><verdict>{verdict}</verdict>"
    result = score(text, gt=FAKE_GT, extra_info=frame, iou_mode=iou_mode)
    assert -2.0 <= result["score"] <= 3.0
    assert 0.0 <= result["iou"] <= 1.0
    assert 0.0 <= result["grounding"] <= 1.0


def test_keys_are_the_same_for_every_outcome():
    outcomes = [score(PERFECT), score("x"), score(PERFECT, gt="bad"), score(PERFECT, gt=REAL_GT)]
    assert {tuple(o) for o in outcomes} == {score_keys}
