"""The exact union geometry against a brute-force reference on many random box sets.

The reference cuts the plane at every box edge and asks, cell by cell, whether the cell's centre
lies in a box: obviously right and far too slow for the reward. The box sets are drawn to hit
what breaks area code: empty (zero width or height) boxes, boxes touching along an edge or a
corner, nested and duplicated boxes, boxes clipped to a frame, piles deep enough to send
inclusion-exclusion to the grid, and float coordinates.
"""

from __future__ import annotations

import random

import pytest

from rewards.geometry import clip_boxes, intersection_and_union_areas, union_area, union_iou_fast


def _covered(boxes, cx, cy):
    return any(x1 < cx < x2 and y1 < cy < y2 for x1, y1, x2, y2 in boxes)


def reference_areas(pred, gt):
    """(area of U pred ∩ U gt, area of U pred ∪ U gt), cell by cell on the compressed grid."""
    everything = list(pred) + list(gt)
    xs = sorted({v for b in everything for v in (b[0], b[2])})
    ys = sorted({v for b in everything for v in (b[1], b[3])})
    inter = union = 0.0
    for xa, xb in zip(xs, xs[1:]):
        cx = (xa + xb) / 2
        for ya, yb in zip(ys, ys[1:]):
            cy = (ya + yb) / 2
            in_pred, in_gt = _covered(pred, cx, cy), _covered(gt, cx, cy)
            cell = (xb - xa) * (yb - ya)
            union += cell if in_pred or in_gt else 0.0
            inter += cell if in_pred and in_gt else 0.0
    return inter, union


def _box(rng, integer):
    coord = rng.randint if integer else rng.uniform
    x, y = coord(0, 40), coord(0, 40)
    w, h = rng.choice([0, 0.5, 1, 3, 7, 15, 30]), rng.choice([0, 1, 2.5, 6, 12, 25])
    if integer:
        w, h = int(w), int(h)
    return (x, y, x + w, y + h)


def random_box_set(rng, size, integer):
    """Boxes with the awkward relations drawn on purpose, not only by chance."""
    boxes = []
    for _ in range(size):
        kind = rng.random()
        if boxes and kind < 0.15:  # a duplicate
            boxes.append(rng.choice(boxes))
        elif boxes and kind < 0.3:  # nested inside an earlier box
            x1, y1, x2, y2 = rng.choice(boxes)
            boxes.append((x1 + (x2 - x1) / 4, y1 + (y2 - y1) / 4, x2 - (x2 - x1) / 4, y2 - (y2 - y1) / 4))
        elif boxes and kind < 0.45:  # touching an earlier box along its right edge or at a corner
            x1, y1, x2, y2 = rng.choice(boxes)
            dy = 0 if rng.random() < 0.5 else y2 - y1
            boxes.append((x2, y1 + dy, x2 + rng.randint(1, 9), y2 + dy))
        else:
            boxes.append(_box(rng, integer))
    if rng.random() < 0.3:  # clipped to a frame that cuts some of them, some to empty boxes
        boxes = list(clip_boxes(boxes, rng.randint(10, 50), rng.randint(10, 50)))
    return [b for b in boxes if b[0] <= b[2] and b[1] <= b[3]]


def box_set_pairs(count=1500, seed=11):
    rng = random.Random(seed)
    for index in range(count):
        integer = index % 2 == 0
        pred = random_box_set(rng, rng.randint(0, 7), integer)
        gt = random_box_set(rng, rng.randint(0, 7), integer)
        if index % 25 == 0 and pred:  # a deep pile: past inclusion-exclusion's budget, the grid answers
            pred += [rng.choice(pred) for _ in range(10)] + random_box_set(rng, 10, integer)
        yield pred, gt


def _agree(got, want):
    scale = max(1.0, want[1])
    return abs(got[0] - want[0]) <= 1e-9 * scale and abs(got[1] - want[1]) <= 1e-9 * scale


def test_union_and_intersection_areas_equal_the_brute_force_reference():
    checked = 0
    for pred, gt in box_set_pairs():
        want = reference_areas(pred, gt)
        got = intersection_and_union_areas(pred, gt)
        assert _agree(got, want), (pred, gt, got, want)
        assert union_area(pred + gt) == pytest.approx(want[1], rel=1e-9, abs=1e-9)
        if want[1] > 0:
            assert union_iou_fast(tuple(pred), tuple(gt)) == pytest.approx(want[0] / want[1], abs=1e-9)
        checked += 1
    assert checked == 1500


def test_integer_boxes_give_exactly_the_reference_areas():
    # integer coordinates: every area is an exact float, so any correct method agrees to the bit
    for index, (pred, gt) in enumerate(box_set_pairs(count=600, seed=5)):
        if index % 2 == 0:
            assert intersection_and_union_areas(pred, gt) == reference_areas(pred, gt), (pred, gt)


@pytest.mark.parametrize(
    "wrong",
    [
        # summing box areas counts overlaps twice
        lambda pred, gt: (0.0, sum((b[2] - b[0]) * (b[3] - b[1]) for b in pred + gt)),
        # treating touching boxes as overlapping by a pixel
        lambda pred, gt: reference_areas(
            [(x1, y1, x2 + 1, y2) for x1, y1, x2, y2 in pred if x2 > x1 and y2 > y1], gt
        ),
        # intersecting box by box instead of region by region (nested and duplicated boxes counted twice)
        lambda pred, gt: (
            sum(
                max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
                for a in pred
                for b in gt
            ),
            reference_areas(pred, gt)[1],
        ),
    ],
    ids=["sum-of-areas", "touching-overlaps", "pairwise-intersection"],
)
def test_the_reference_comparison_catches_a_wrong_union(wrong):
    assert any(
        not _agree(wrong(pred, gt), reference_areas(pred, gt)) for pred, gt in box_set_pairs(count=300)
    )


def test_a_deep_pile_against_only_empty_boxes():
    # Past inclusion-exclusion's budget with an annotated box clipped to nothing: the grid once
    # got an empty side and raised (the reward then scored the answer as unparsable).
    pile = tuple([(0.0, 0.0, 10.0, 10.0)] * 12)
    assert union_iou_fast(pile, ((5.0, 5.0, 5.0, 9.0),)) == 0.0
    assert union_iou_fast(((5.0, 5.0, 5.0, 9.0),), pile) == 0.0
