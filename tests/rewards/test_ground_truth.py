"""Malformed ground truth never raises out of a reward (issue 14 item 11).

A `boxes` value that is a number, a bool or a numpy scalar (what a parquet round trip makes of a
bad record) used to escape the reward as TypeError and end a GRPO run; it scores neutrally
instead, with one warning however often the record is scored.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rewards import fakexplain
from rewards.fakexplain import compute_score
from rewards.ground_truth import parse_ground_truth

from .conftest import fakexplain_response as respond

BOXES = [(100, 100, 200, 200)]


@pytest.mark.parametrize(
    "boxes", [5, 2.5, True, False, np.float64(3.0), np.int64(2), np.array(3.0), {"a": 1}]
)
def test_boxes_that_are_no_list_are_a_value_error(boxes) -> None:
    with pytest.raises(ValueError, match="ground-truth 'boxes' must be a list of"):
        parse_ground_truth({"label": "fake", "boxes": boxes})


@pytest.mark.parametrize("boxes", [7, True, np.float64(3.0), np.array(1.0)])
def test_the_reward_scores_them_neutrally_and_warns_once(boxes, caplog) -> None:
    fakexplain._warned.clear()
    truth = {"label": "fake", "boxes": boxes}
    with caplog.at_level(logging.WARNING, logger="rewards.fakexplain"):
        scores = [
            compute_score("fakexplain", text, truth, None, r_base=-0.5) for text in (respond(BOXES), "x") * 3
        ]
    assert {s["score"] for s in scores} == {-0.5}
    warnings = [r for r in caplog.records if "unusable ground truth" in r.getMessage()]
    assert len(warnings) == 1, caplog.text


def test_numpy_boxes_as_parquet_returns_them_still_count() -> None:
    truth = parse_ground_truth({"label": "fake", "boxes": np.array([[1, 2, 3, 4]])})
    assert truth.boxes == ((1.0, 2.0, 3.0, 4.0),)


@pytest.mark.parametrize("key,field", [("grounding", "grounded"), ("format", "formatted")])
def test_a_switch_that_is_no_bool_names_its_key(key, field) -> None:
    assert getattr(parse_ground_truth({"label": "fake"}), field) is True
    assert getattr(parse_ground_truth({"label": "fake", key: False}), field) is False
    with pytest.raises(ValueError, match=f"ground-truth '{key}' must be true or false, got 'no'"):
        parse_ground_truth({"label": "fake", key: "no"})
