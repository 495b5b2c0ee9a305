"""Exact box geometry: union IoU, the authors' matched IoU, clipping, relaxed IoU."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rewards import geometry
from rewards.geometry import (
    as_boxes,
    box_iou,
    clip_box,
    matched_iou,
    relaxed_iou,
    union_area,
    union_iou,
)


def raster_area(boxes, size=64):
    """Reference: count unit pixels of integer boxes painted into a mask."""
    mask = np.zeros((size, size), dtype=bool)
    for x1, y1, x2, y2 in boxes:
        mask[int(y1) : int(y2), int(x1) : int(x2)] = True
    return mask


def raster_iou(pred, gt, size=64):
    a, b = raster_area(pred, size), raster_area(gt, size)
    union = np.count_nonzero(a | b)
    return np.count_nonzero(a & b) / union if union else 1.0


# ---- union_area / union_iou: hand-computed cases -------------------------------------------


def test_single_box_area_and_identical_iou():
    assert union_area([(0, 0, 10, 5)]) == 50.0
    assert union_iou([(0, 0, 10, 5)], [(0, 0, 10, 5)]) == 1.0


def test_overlapping_boxes_counted_once():
    # two 10x10 boxes overlapping in a 5x10 strip: 150, not 200
    assert union_area([(0, 0, 10, 10), (5, 0, 15, 10)]) == 150.0
    assert union_iou([(0, 0, 10, 10)], [(5, 0, 15, 10)]) == pytest.approx(50 / 150)


def test_nested_box_adds_nothing_to_the_region():
    outer, inner = (0, 0, 100, 100), (20, 20, 40, 40)
    assert union_area([outer, inner]) == 10000.0
    assert union_iou([outer, inner], [outer]) == 1.0
    assert union_iou([inner], [outer]) == pytest.approx(400 / 10000)


def test_duplicate_boxes_are_one_region():
    box = (10, 10, 30, 50)
    assert union_area([box, box, box]) == 800.0
    assert union_iou([box] * 3, [box]) == 1.0
    # many duplicates push inclusion-exclusion past its budget: the grid gives the same value
    assert union_iou([box] * 12, [box, (30, 10, 40, 50)]) == pytest.approx(800 / 1200)


def test_touching_boxes_share_no_area():
    left, right = (0, 0, 10, 10), (10, 0, 20, 10)
    assert union_iou([left], [right]) == 0.0
    assert union_area([left, right]) == 200.0
    assert union_iou([left, right], [(0, 0, 20, 10)]) == 1.0


def test_many_tiny_boxes_covering_a_large_annotated_region():
    # 100 disjoint 10x10 tiles exactly tile the 100x100 annotation: the union IoU is 1 ...
    tiles = [(x, y, x + 10, y + 10) for x in range(0, 100, 10) for y in range(0, 100, 10)]
    assert union_iou(tiles, [(0, 0, 100, 100)]) == pytest.approx(1.0)
    # ... while the authors' matched IoU credits one tile only (1/100 of the box)
    assert matched_iou(tiles, [(0, 0, 100, 100)]) == pytest.approx(0.01)
    # every other tile: half the area
    half = tiles[::2]
    assert union_iou(half, [(0, 0, 100, 100)]) == pytest.approx(0.5)


def test_empty_conventions():
    assert union_iou([], []) == 1.0
    assert union_iou([(0, 0, 1, 1)], []) == 0.0
    assert union_iou([], [(0, 0, 1, 1)]) == 0.0
    # zero-area boxes cover nothing
    assert union_iou([(5, 5, 5, 9)], [(0, 0, 1, 1)]) == 0.0
    assert union_iou([(5, 5, 5, 9)], []) == 1.0
    assert union_area([]) == 0.0


def test_inverted_box_covers_nothing():
    assert union_area([(10, 0, 0, 10)]) == 0.0
    assert union_iou([(10, 0, 0, 10), (0, 0, 4, 4)], [(0, 0, 4, 4)]) == 1.0


def test_float_coordinates_exact():
    assert union_iou([(0.5, 0.5, 2.5, 1.5)], [(1.5, 0.5, 3.5, 1.5)]) == pytest.approx(1 / 3)


def test_as_boxes_accepts_numpy_and_rejects_bad_boxes():
    assert as_boxes(np.array([[1, 2, 3, 4]])) == ((1.0, 2.0, 3.0, 4.0),)
    with pytest.raises(ValueError, match="box 1 must be 4 numbers"):
        as_boxes([(0, 0, 1, 1), (0, 0, 1)])
    with pytest.raises(ValueError, match="non-finite"):
        as_boxes([(0, 0, float("inf"), 1)])


# ---- matched_iou: the authors' greedy nearest-centre matching --------------------------------


def test_matched_iou_divides_by_annotated_boxes_and_ignores_surplus_predictions():
    gt = [(0, 0, 10, 10), (100, 100, 110, 110)]
    assert matched_iou([(0, 0, 10, 10)], gt) == pytest.approx(0.5)  # one of two found
    # the second prediction has no unmatched box left and is ignored
    assert matched_iou([(0, 0, 10, 10), (100, 100, 110, 110), (50, 50, 60, 60)], gt) == pytest.approx(1.0)


def test_matched_iou_is_greedy_in_prediction_order():
    gt = [(0, 0, 10, 10), (12, 0, 22, 10)]
    # the first prediction sits nearer the second box and takes it; the second prediction then
    # gets the first box although it is a poor fit
    pred = [(9, 0, 19, 10), (14, 0, 24, 10)]
    expected = (box_iou(pred[0], gt[1]) + box_iou(pred[1], gt[0])) / 2
    assert matched_iou(pred, gt) == pytest.approx(expected)
    assert matched_iou(pred[::-1], gt) != pytest.approx(expected)


def test_matched_iou_empty_conventions():
    assert matched_iou([], []) == 1.0
    assert matched_iou([(0, 0, 1, 1)], []) == 0.0
    assert matched_iou([], [(0, 0, 1, 1)]) == 0.0


# ---- clipping and relaxation ---------------------------------------------------------------


def test_clip_box_to_frame():
    assert clip_box((-10, -5, 50, 40), 30, 20) == (0.0, 0.0, 30, 20)
    assert clip_box((5, 5, 10, 10), 30, 20) == (5, 5, 10, 10)
    outside = clip_box((40, 30, 60, 50), 30, 20)
    assert union_area([outside]) == 0.0


def test_relaxed_iou():
    assert relaxed_iou(0.0, 1.1) == 0.0
    assert relaxed_iou(0.5, 1.1) == pytest.approx(0.55)
    assert relaxed_iou(1 / 1.1, 1.1) == pytest.approx(1.0)
    assert relaxed_iou(0.95, 1.1) == 1.0


def test_huge_coordinates_give_no_nan():
    big = (0.0, 0.0, 1e300, 1e300)
    assert union_iou([big], [big, (0.0, 0.0, 1.0, 1.0)]) in (0.0, 1.0)
    assert 0.0 <= matched_iou([big], [big]) <= 1.0


# ---- properties ----------------------------------------------------------------------------

coordinate = st.integers(min_value=0, max_value=40)


@st.composite
def int_box(draw):
    x1, x2 = sorted(draw(st.lists(coordinate, min_size=2, max_size=2, unique=True)))
    y1, y2 = sorted(draw(st.lists(coordinate, min_size=2, max_size=2, unique=True)))
    return (x1, y1, x2, y2)


float_coordinate = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)


@st.composite
def float_box(draw):
    x1, x2 = draw(float_coordinate), draw(float_coordinate)
    y1, y2 = draw(float_coordinate), draw(float_coordinate)
    return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))


int_boxes = st.lists(int_box(), max_size=8)


@settings(max_examples=300, deadline=None)
@given(int_boxes, int_boxes)
def test_union_iou_matches_a_pixel_mask_on_integer_boxes(pred, gt):
    assert union_iou(pred, gt) == pytest.approx(raster_iou(pred, gt), abs=1e-12)
    assert union_area(pred) == np.count_nonzero(raster_area(pred))


@settings(max_examples=300, deadline=None)
@given(int_boxes, int_boxes)
def test_union_iou_symmetric_and_bounded(pred, gt):
    value = union_iou(pred, gt)
    assert 0.0 <= value <= 1.0
    assert value == union_iou(gt, pred)  # integer coordinates: exact


@settings(max_examples=200, deadline=None)
@given(st.lists(float_box(), max_size=7), st.lists(float_box(), max_size=7))
def test_union_iou_float_boxes_symmetric_and_bounded(pred, gt):
    value = union_iou(pred, gt)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(union_iou(gt, pred), rel=1e-9, abs=1e-12)
    assert union_iou(pred, pred) == pytest.approx(1.0)


@settings(max_examples=200, deadline=None)
@given(int_boxes, st.permutations(list(range(8))))
def test_identical_regions_have_iou_one(boxes, order):
    shuffled = [boxes[i] for i in order if i < len(boxes)]
    assert union_iou(boxes, shuffled) == pytest.approx(1.0, abs=1e-12)


@settings(max_examples=200, deadline=None)
@given(int_boxes, int_boxes)
def test_disjoint_regions_have_iou_zero(left, right):
    # shift one set entirely to the right of the other
    shifted = [(x1 + 100, y1, x2 + 100, y2) for x1, y1, x2, y2 in right]
    assert union_iou(left, shifted) == (1.0 if not left and not shifted else 0.0)


@settings(max_examples=300, deadline=None)
@given(st.lists(float_box(), min_size=1, max_size=9), st.lists(float_box(), min_size=1, max_size=9))
def test_inclusion_exclusion_agrees_with_the_grid(pred, gt):
    pred = [b for b in as_boxes(pred) if b[0] < b[2] and b[1] < b[3]]
    gt = [b for b in as_boxes(gt) if b[0] < b[2] and b[1] < b[3]]
    if not pred or not gt:
        return
    by_sets = geometry._areas_by_inclusion_exclusion(pred, gt)
    by_grid = geometry._areas_by_grid(pred, gt)
    if by_sets is not None:
        scale = max(1.0, by_grid[1])
        assert by_sets[0] == pytest.approx(by_grid[0], abs=1e-9 * scale)
        assert by_sets[1] == pytest.approx(by_grid[1], abs=1e-9 * scale)


@settings(max_examples=200, deadline=None)
@given(int_boxes, int_boxes)
def test_matched_iou_bounded(pred, gt):
    assert 0.0 <= matched_iou(pred, gt) <= 1.0
