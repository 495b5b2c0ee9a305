"""The evaluation on a manifest written by data preparation itself (synthetic FakeXplained through the real
converter), with a robustness transform whose new frame must be the one the model's processor really uses.
Slow: runs the data_prep CLI and the tiny model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.evaluation.config import parse_eval_config
from harness.evaluation.runner import evaluate
from tests.evaluation.conftest import run_module

pytestmark = pytest.mark.slow

TINY_MIN_PIXELS, TINY_MAX_PIXELS = 56 * 56, 112 * 112  # data_prep.tiny_model defaults


@pytest.fixture(scope="module")
def converted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("fakexplained")
    made = run_module(
        "data_prep",
        "synth",
        "--kind",
        "fakexplained",
        "--output-dir",
        str(root / "raw"),
        "--num-fake",
        "4",
        "--num-real",
        "2",
        "--seed",
        "3",
        "--size",
        "150x100",
        "--fixed-size",
    )
    assert made.returncode == 0, made.stderr
    options = json.dumps({"min_pixels": TINY_MIN_PIXELS, "max_pixels": TINY_MAX_PIXELS})
    done = run_module(
        "data_prep",
        "convert",
        "--source",
        "fakexplained",
        "--input",
        str(root / "raw"),
        "--output-dir",
        str(root / "out"),
        "--options",
        options,
    )
    assert done.returncode == 0, done.stderr
    return root / "out" / "eval.jsonl"


def test_downsampled_boxes_live_in_the_processors_frame(
    converted: Path, tiny_qwen: Path, tmp_path: Path
) -> None:
    from data_prep import cpu_compat

    cpu_compat.apply()
    from PIL import Image
    from transformers import AutoProcessor

    config = parse_eval_config(
        {
            "response_format": "think_tag_verdict",
            "max_new_tokens": 8,
            "batch_size": 3,
            "metrics": ["accuracy", "iou", "bleu2", "rouge_l"],
            "robustness": "downsample_0.5",
            "model_frame": {"factor": 28, "min_pixels": TINY_MIN_PIXELS, "max_pixels": TINY_MAX_PIXELS},
        }
    )
    document = evaluate(str(converted), str(tiny_qwen), str(tmp_path / "eval"), config, log=lambda m: None)
    rows = [json.loads(line) for line in (tmp_path / "eval" / "predictions.jsonl").read_text().splitlines()]
    manifest = {r["id"]: r for r in map(json.loads, converted.read_text().splitlines())}
    assert len(rows) == len(manifest) == 6 and document["complete"]
    processor = AutoProcessor.from_pretrained(tiny_qwen)
    patch = processor.image_processor.patch_size
    for row in rows:
        source = manifest[row["id"]]
        with Image.open(row["image"]) as image:
            assert image.size == (75, 50)  # 150x100 downsampled by half
            grid = processor.image_processor(images=[image.convert("RGB")], return_tensors="pt")[
                "image_grid_thw"
            ][0]
        assert row["frame"] == [int(grid[2]) * patch, int(grid[1]) * patch], "the frame the model really sees"
        assert row["robustness"] == "downsample_0.5" and row["generator"] == source["generator"]
        assert len(row["gt_boxes"]) == len(source["boxes"]) == len(row["gt_region_labels"])
        if source["boxes"]:
            # the same boxes relative to the frame (up to the data prep's rounding to whole pixels)
            old_w, old_h = source["frame"]["width"], source["frame"]["height"]
            new_w, new_h = row["frame"]
            for old, new in zip(source["boxes"], row["gt_boxes"]):
                assert new[0] / new_w == pytest.approx(old[0] / old_w, abs=0.02)
                assert new[3] / new_h == pytest.approx(old[3] / old_h, abs=0.02)
    values = document["values"]
    annotated_fakes = sum(1 for r in manifest.values() if r["label"] == "fake" and r["boxes"])
    assert (
        annotated_fakes >= 2 and document["counts"]["n/iou"] == annotated_fakes and values["iou"] is not None
    )
    assert set(
        k.split("/")[2] for k in values if k.startswith("accuracy/generator/") and k.count("/") == 2
    ) == {r["generator"] for r in manifest.values() if r["generator"]}
