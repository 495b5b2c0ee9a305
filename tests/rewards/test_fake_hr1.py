"""Fake-HR1's reward: the hybrid think / no-think format, accuracy, weights, robustness."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards.fake_hr1 import compute_score, parse_response, score_keys
from rewards.fake_hr1_weights import weights_from_kwargs

THINK = "<think>\nThe fur has a metallic sheen and the paws merge.\n</think>\n\nfake"
NO_THINK = "<think>\n\n</think>\n\nreal"


def test_think_mode():
    parsed = parse_response(THINK)
    assert (parsed.ok, parsed.verdict, parsed.thinking) == (True, "fake", True)


def test_no_think_mode_is_the_easy_image_shape():
    parsed = parse_response(NO_THINK)
    assert (parsed.ok, parsed.verdict, parsed.thinking) == (True, "real", False)


@pytest.mark.parametrize(
    "text",
    [
        "<think></think>fake",
        " <think>\nx\n</think>\n\nFAKE\n",
        "<think>\n\n</think>\n\nReal",
    ],
)
def test_whitespace_amounts_and_answer_case_are_free(text):
    assert parse_response(text).ok


@pytest.mark.parametrize(
    "text, why",
    [
        ("fake", "exactly once"),
        ("<think>x</think>", "must be real or fake"),
        ("<think>x</think>\n\nThe image is fake", "nothing else"),
        ("<think>x</think>\n\nfake.", "must be real or fake"),
        ("<think>x</think>\n\ngenerated", "must be real or fake"),
        ("Answer: <think>x</think> fake", "nothing else"),
        ("<think>x</think> fake <think>y</think> real", "exactly once"),
        ("</think>fake<think>", "nothing else"),
    ],
)
def test_format_violations(text, why):
    parsed = parse_response(text)
    assert not parsed.ok and why in parsed.error


def test_default_weights_follow_the_geo3k_example():
    # verl geo3k: 0.9 * accuracy + 0.1 * format
    assert compute_score("fake_hr1", THINK, "fake")["score"] == pytest.approx(1.0)
    assert compute_score("fake_hr1", THINK, "real")["score"] == pytest.approx(0.1)
    assert compute_score("fake_hr1", "fake", "fake")["score"] == 0.0  # no think block: unparsable
    assert compute_score("fake_hr1", NO_THINK, "real") == {
        "score": pytest.approx(1.0),
        "format": 0.1,
        "label": 0.9,
        "acc": 1.0,
        "thinking": 0.0,
    }


@pytest.mark.parametrize(
    "gt", ["fake", " FAKE ", "generated", {"label": "fake"}, json.dumps({"label": "fake"})]
)
def test_ground_truth_forms(gt):
    assert compute_score("fake_hr1", THINK, gt)["acc"] == 1.0


@pytest.mark.parametrize("gt", [None, "", "maybe", {"boxes": []}, "{not json", 3])
def test_malformed_ground_truth_is_neutral(gt):
    assert compute_score("fake_hr1", THINK, gt, r_base=0.25) == compute_score(
        "fake_hr1", "x", gt, r_base=0.25
    )
    assert compute_score("fake_hr1", THINK, gt, r_base=0.25)["score"] == 0.25


def test_every_weight_is_a_keyword():
    kw = dict(label_pos=2.0, label_neg=1.0, format_pos=0.5, format_neg=3.0, r_base=-1.0, no_think_bonus=0.25)
    assert compute_score("fake_hr1", THINK, "fake", **kw)["score"] == pytest.approx(-1 + 2 + 0.5)
    assert compute_score("fake_hr1", NO_THINK, "real", **kw)["score"] == pytest.approx(-1 + 2 + 0.5 + 0.25)
    assert compute_score("fake_hr1", NO_THINK, "fake", **kw)["score"] == pytest.approx(-1 - 1 + 0.5)
    assert compute_score("fake_hr1", "oops", "fake", **kw)["score"] == pytest.approx(-1 - 1 - 3)


def test_config_kwargs(fake_hr1_conf):
    kwargs = fake_hr1_conf["kwargs"]
    assert fake_hr1_conf["schedules"]["default"] == kwargs
    assert compute_score("fake_hr1", THINK, "fake", **kwargs)["score"] == pytest.approx(1.0)
    assert compute_score("fake_hr1", THINK, "real", **kwargs)["score"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"eta": 1.1}, "reward_kwargs.eta: unknown key; known: label_pos, "),
        ({"label_neg": -1}, "reward_kwargs.label_neg: must be >= 0"),
        ({"format_pos": "x"}, "reward_kwargs.format_pos: must be a number"),
    ],
)
def test_invalid_kwargs(kwargs, message):
    with pytest.raises(ValueError, match=message):
        compute_score("fake_hr1", THINK, "fake", **kwargs)


@settings(max_examples=1500, deadline=None)
@given(
    st.text(),
    st.sampled_from(["real", "fake"]),
    st.fixed_dictionaries(
        {},
        optional={
            k: st.floats(0, 3)
            for k in ("label_pos", "label_neg", "format_pos", "format_neg", "no_think_bonus")
        },
    ),
)
def test_any_string_scores_within_bounds(text, gt, kwargs):
    result = compute_score("fake_hr1", text, gt, **kwargs)
    assert tuple(result) == score_keys
    low, high = weights_from_kwargs(kwargs).score_bounds()
    assert math.isfinite(result["score"]) and low - 1e-9 <= result["score"] <= high + 1e-9
