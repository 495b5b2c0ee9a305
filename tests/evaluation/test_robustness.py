"""Robustness transforms (seed 002 Table 5) on synthetic images, and boxes that follow the image."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from common.registry import UnknownNameError
from harness.evaluation.config import parse_eval_config
from harness.evaluation.manifest import read_manifest
from harness.evaluation.robustness import ROBUSTNESS_TRANSFORMS, Transformed, apply_transform, map_boxes
from harness.evaluation.runner import EvalError, prepare_item
from tests.evaluation.conftest import manifest_row, write_image


def synthetic(width: int = 120, height: int = 90) -> Image.Image:
    y, x = np.mgrid[0:height, 0:width]
    pixels = np.stack([(x * 2) % 256, (y * 3) % 256, ((x // 8 + y // 8) % 2) * 255], axis=-1)
    return Image.fromarray(pixels.astype(np.uint8))


def error(a: Image.Image, b: Image.Image) -> float:
    return float(np.abs(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)).mean())


def test_registered_transforms() -> None:
    assert ROBUSTNESS_TRANSFORMS.names() == ["downsample_0.5", "jpeg30", "jpeg80", "random_crop"]
    with pytest.raises(UnknownNameError, match=r"\(did you mean: jpeg"):
        ROBUSTNESS_TRANSFORMS.get("jpeg_80")


def test_jpeg_compression_degrades_with_lower_quality_and_keeps_the_size() -> None:
    image = synthetic()
    q80 = apply_transform("jpeg80", image, 0, "x").image
    q30 = apply_transform("jpeg30", image, 0, "x").image
    assert q80.size == q30.size == image.size
    assert 0 < error(image, q80) < error(image, q30)
    assert error(q80, apply_transform("jpeg80", image, 5, "y").image) == 0  # no randomness in JPEG


def test_random_crop_is_80_percent_and_deterministic_per_image() -> None:
    image = synthetic()
    first = apply_transform("random_crop", image, 0, "img-1")
    assert first.image.size == (96, 72)
    again = apply_transform("random_crop", image, 0, "img-1")
    assert (again.offset_x, again.offset_y) == (first.offset_x, first.offset_y)
    offsets = {
        (
            apply_transform("random_crop", image, seed, f"img-{i}").offset_x,
            apply_transform("random_crop", image, seed, f"img-{i}").offset_y,
        )
        for seed in (0, 1)
        for i in range(8)
    }
    assert len(offsets) > 1, "different images / seeds must get different crops"
    left, top = int(-first.offset_x), int(-first.offset_y)
    expected = np.asarray(image)[top : top + 72, left : left + 96]
    assert np.array_equal(np.asarray(first.image), expected)


def test_downsample_halves_both_sides() -> None:
    result = apply_transform("downsample_0.5", synthetic(121, 90), 0, "x")
    assert result.image.size == (60, 45)  # round(60.5) = 60 (banker's rounding), 45
    assert result.scale_x == pytest.approx(60 / 121) and result.scale_y == pytest.approx(0.5)


def test_boxes_follow_a_crop_and_vanish_when_cut_away() -> None:
    crop = Transformed(Image.new("RGB", (50, 40)), offset_x=-10.0, offset_y=-20.0)
    boxes, labels = map_boxes(
        [(0, 0, 30, 30), (70, 70, 90, 90), (15, 25, 20, 30)], ["edge", "gone", "inside"], crop
    )
    assert boxes == [(0.0, 0.0, 20.0, 10.0), (5.0, 5.0, 10.0, 10.0)]
    assert labels == ["edge", "inside"]
    half = Transformed(Image.new("RGB", (50, 40)), scale_x=0.5, scale_y=0.5)
    assert map_boxes([(10, 10, 30, 20)], ["x"], half)[0] == [(5.0, 5.0, 15.0, 10.0)]


def test_prepare_item_maps_annotations_into_the_new_model_frame(tmp_path: Path) -> None:
    image = write_image(tmp_path / "a.png", seed=1, size=(100, 80))
    # original 100x80 seen by the model as 112x84 (as data prep maps it); one box in that frame
    row = manifest_row("a", image, "fake", boxes=[[11.2, 10.5, 56.0, 42.0]], frame=(112, 84))
    manifest = tmp_path / "eval.jsonl"
    manifest.write_text(json.dumps(row) + "\n")
    item = read_manifest(manifest)[0]
    config = parse_eval_config(
        {
            "robustness": "downsample_0.5",
            "model_frame": {"factor": 28, "min_pixels": 784, "max_pixels": 12544},
        }
    )
    prepared = prepare_item(item, config, tmp_path / "images")
    assert Image.open(prepared.image_path).size == (50, 40)
    # the 50x40 result gets the frame Qwen2.5-VL's smart_resize gives it (data_prep.model_frame)
    from data_prep.model_frame import smart_resize

    height, width = smart_resize(40, 50, 28, 784, 12544)
    assert prepared.frame == (width, height)
    # the box in original pixels is [10, 10, 50, 40]; halved [5, 5, 25, 20]; in the new frame:
    sx, sy = width / 50, height / 40
    assert prepared.gt_boxes[0] == pytest.approx((5 * sx, 5 * sy, 25 * sx, 20 * sy))
    # JPEG keeps the size, so the manifest's frame and boxes stay as they are
    jpeg = prepare_item(item, parse_eval_config({"robustness": "jpeg30"}), tmp_path / "images_jpeg")
    assert jpeg.frame == (112, 84) and jpeg.gt_boxes == [tuple(row["boxes"][0])]
    assert error(Image.open(jpeg.image_path), Image.open(image)) > 0


def test_a_resizing_transform_needs_the_model_frame(tmp_path: Path) -> None:
    image = write_image(tmp_path / "a.png", seed=1)
    manifest = tmp_path / "eval.jsonl"
    manifest.write_text(json.dumps(manifest_row("a", image, "fake", boxes=[[1, 1, 5, 5]])) + "\n")
    with pytest.raises(EvalError, match="set eval.model_frame"):
        prepare_item(
            read_manifest(manifest)[0], parse_eval_config({"robustness": "random_crop"}), tmp_path / "i"
        )
