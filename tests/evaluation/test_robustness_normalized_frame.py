"""Robustness transforms with boxes in fixed units (InternVL: 0-1000 of the image, eval.model_frame.normalized)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.evaluation.config import parse_eval_config
from harness.evaluation.manifest import read_manifest
from harness.evaluation.runner import EvalError, prepare_item
from tests.evaluation.conftest import manifest_row, write_image


def _item(tmp_path: Path):
    image = write_image(tmp_path / "a.png", seed=1, size=(100, 80))
    # [10, 8, 50, 40] pixels of the 100 x 80 image = [100, 100, 500, 500] in 0-1000 units
    row = manifest_row("a", image, "fake", boxes=[[100, 100, 500, 500]], frame=(1000, 1000))
    manifest = tmp_path / "eval.jsonl"
    manifest.write_text(json.dumps(row) + "\n")
    return read_manifest(manifest)[0]


def test_a_resized_image_keeps_the_0_1000_frame(tmp_path: Path) -> None:
    config = parse_eval_config({"robustness": "downsample_0.5", "model_frame": {"normalized": 1000}})
    prepared = prepare_item(_item(tmp_path), config, tmp_path / "images")
    assert prepared.frame == (1000, 1000)
    assert prepared.gt_boxes[0] == pytest.approx((100, 100, 500, 500))


def test_a_crop_moves_the_boxes_within_0_1000(tmp_path: Path) -> None:
    config = parse_eval_config({"robustness": "random_crop", "model_frame": {"normalized": 1000}})
    prepared = prepare_item(_item(tmp_path), config, tmp_path / "images")
    assert prepared.frame == (1000, 1000)
    x1, y1, x2, y2 = prepared.gt_boxes[0]
    assert 0 <= x1 < x2 <= 1000 and 0 <= y1 < y2 <= 1000
    assert (x2 - x1, y2 - y1) != pytest.approx((400, 400))  # an 80% crop enlarges the box's share


def test_no_pixel_bounds_and_no_units_is_an_error(tmp_path: Path) -> None:
    config = parse_eval_config(
        {"robustness": "downsample_0.5", "model_frame": {"min_pixels": None, "max_pixels": None}}
    )
    with pytest.raises(EvalError, match="needs min_pixels and max_pixels"):
        prepare_item(_item(tmp_path), config, tmp_path / "images")
