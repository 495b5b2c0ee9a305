"""FakeXplained prepared for an InternVL model group (region_syntax internvl, conf/model/internvl2_5_*).

Answers spell regions as InternVL does, ``<ref>description</ref><box>[[x1, y1, x2, y2]]</box>`` in
0-1000 units of the original image, rounded as ms-swift's template rounds (``int(round(v / side *
1000))``, swift/template/base.py normalize_bbox). The ground truth, the reward's frame and the
evaluation frame use the same units, so the reward's parser reads the answer back to the ground
truth exactly (IoU 1). Images are non-square so each axis is scaled by its own side.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep.conversion import run_conversion
from data_prep.fakexplain_format import norm1000_box, render_internvl_region
from rewards.fakexplain import compute_score
from rewards.fakexplain_parser import parse_response

# (file, size, label, regions in original pixels)
IMAGES = [
    (
        "wide.png",
        (300, 200),
        "fake",
        [("a paw with five toes", [30, 20, 150, 100]), ("a sign", [0, 0, 300, 50])],
    ),
    ("tall.png", (160, 480), "fake", [("a melted lamp", [16, 48, 80, 480])]),
    ("odd.png", (333, 97), "fake", [("garbled text", [1, 1, 332.5, 96])]),
    ("real.png", (240, 180), "real", []),
]
# The same boxes in 0-1000 units, by hand: x / width * 1000, y / height * 1000, rounded.
EXPECTED = {
    "wide.png": [[100, 100, 500, 500], [0, 0, 1000, 250]],
    "tall.png": [[100, 100, 500, 1000]],
    "odd.png": [
        [3, 10, 998, 990]
    ],  # 1/333 -> 3.0, 1/97 -> 10.3, 332.5/333 -> 998.5 -> 998 (half to even), 96/97 -> 989.7
    "real.png": [],
}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory) -> Path:
    raw = tmp_path_factory.mktemp("internvl_raw")
    records = []
    for seed, (name, size, label, regions) in enumerate(IMAGES):
        pixels = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype("uint8")
        Image.fromarray(pixels).save(raw / name)
        record = {"image": name, "label": label, "generator": "SD 1.5" if label == "fake" else None}
        if regions:
            record["objects"] = {"ref": [r for r, _ in regions], "bbox": [b for _, b in regions]}
            record["tags"] = ["Texture errors"]
        records.append(record)
    (raw / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    out = tmp_path_factory.mktemp("internvl_out")
    # The model group's pixel bounds are null: InternVL has no pixel frame.
    options = {"region_syntax": "internvl", "min_pixels": None, "max_pixels": None}
    stats = run_conversion("fakexplained", [raw], out, options=options, echo=lambda s: None)
    assert stats["converted"] == 4 and stats["rejected_total"] == 0, stats
    return out


def _by_image(rows: list[dict], key) -> dict[str, dict]:
    return {Path(key(r)).name: r for r in rows}


def test_norm1000_scales_each_axis_by_its_own_side() -> None:
    assert norm1000_box([30, 20, 150, 100], (300, 200)) == [100, 100, 500, 500]
    assert norm1000_box([16, 48, 80, 480], (160, 480)) == [100, 100, 500, 1000]
    assert (
        render_internvl_region([100, 100, 500, 500], "a paw")
        == "<ref>a paw</ref><box>[[100, 100, 500, 500]]</box>"
    )
    with pytest.raises(ValueError, match="collapses"):
        norm1000_box([10, 10, 10.2, 50], (5000, 100))  # 0.04 units wide


def test_answers_ground_truth_and_frames_are_in_0_1000_units(prepared: Path) -> None:
    sft = _by_image(_rows(prepared / "sft.jsonl"), lambda r: r["images"][0])
    grpo = _by_image(_rows(prepared / "grpo.jsonl"), lambda r: r["images"][0])
    manifest = _by_image(_rows(prepared / "eval.jsonl"), lambda r: r["image"])
    for name, _size, _label, regions in IMAGES:
        answer = sft[name]["messages"][-1]["content"]
        truth = json.loads(grpo[name]["solution"])
        assert truth["boxes"] == EXPECTED[name], name
        assert manifest[name]["boxes"] == EXPECTED[name], name
        assert manifest[name]["frame"] == {"width": 1000, "height": 1000}
        assert (grpo[name]["extra_info"]["width"], grpo[name]["extra_info"]["height"]) == (1000, 1000)
        for (text, _), box in zip(regions, EXPECTED[name]):
            assert render_internvl_region(box, text) in answer
        assert "bbox_2d" not in answer and "objects" not in sft[name]
        # the prompt's example region is InternVL's syntax too
        prompt = " ".join(m["content"] for m in grpo[name]["messages"])
        assert "bbox_2d" not in prompt


def test_round_trip_data_prep_box_to_text_to_parser_to_box(prepared: Path) -> None:
    sft = _by_image(_rows(prepared / "sft.jsonl"), lambda r: r["images"][0])
    grpo = _by_image(_rows(prepared / "grpo.jsonl"), lambda r: r["images"][0])
    for name, _size, label, regions in IMAGES:
        answer = sft[name]["messages"][-1]["content"]
        row = grpo[name]
        frame = (row["extra_info"]["width"], row["extra_info"]["height"])
        parsed = parse_response(answer, frame)
        assert parsed.ok, (name, parsed.error)
        assert parsed.verdict == label
        assert [list(b) for b in parsed.boxes] == [[float(v) for v in b] for b in EXPECTED[name]]
        assert list(parsed.region_labels) == [text for text, _ in regions]
        score = compute_score(row["data_source"], answer, row["solution"], row["extra_info"])
        assert score["iou"] == pytest.approx(1.0) and score["format"] == 1.0 and score["acc"] == 1.0, name


def test_the_verl_parquet_leaves_the_image_unresized(prepared: Path) -> None:
    import pyarrow.parquet as pq

    images = pq.read_table(prepared / "grpo.parquet").column("images").to_pylist()
    for entry in images:
        assert entry[0].get("resized_height") is None and entry[0].get("resized_width") is None


def test_pixel_syntaxes_still_need_the_pixel_bounds(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "annotations.jsonl").write_text("")
    with pytest.raises(ValueError, match="needs min_pixels and max_pixels"):
        run_conversion(
            "fakexplained",
            [raw],
            tmp_path / "out",
            options={"region_syntax": "json", "min_pixels": None, "max_pixels": None},
            echo=lambda s: None,
        )


def test_the_authors_rows_keep_their_reasoning_with_internvl_regions(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    Image.new("RGB", (300, 200), (90, 120, 30)).save(raw / "fake.png")
    row = {
        "messages": [
            {"role": "user", "content": "<image>Is this image real or generated?"},
            {
                "role": "assistant",
                "content": "<think><ref-object><bbox>The paw has an extra toe.<tag>Texture Error</tag></think>"
                "<verdict>generated</verdict>",
            },
        ],
        "images": ["fake.png"],
        "objects": {"ref": ["a paw with five toes"], "bbox": [[30, 20, 150, 100]]},
    }
    (raw / "annotations.jsonl").write_text(json.dumps(row) + "\n")
    options = {"region_syntax": "internvl", "min_pixels": None, "max_pixels": None}
    stats = run_conversion("fakexplained", [raw], tmp_path / "out", options=options, echo=lambda s: None)
    assert stats["converted"] == 1 and not any(k.startswith("reasoning_generated") for k in stats["warnings"])
    answer = _rows(tmp_path / "out" / "sft.jsonl")[0]["messages"][-1]["content"]
    assert answer == (
        "<think><ref>a paw with five toes</ref><box>[[100, 100, 500, 500]]</box>The paw has an extra toe."
        "<tag>Texture errors</tag></think><verdict>generated</verdict>"
    )


def test_the_prompts_name_the_units_of_the_boxes_they_ask_for() -> None:
    """Two templates ask for boxes "in pixels of the image you see": true of Qwen2.5-VL's model
    frame, not of InternVL's 0-1000 units; the <box-units> mark is filled per region syntax."""
    from data_prep.chat_templates import load_templates
    from data_prep.sources.fakexplained import TEMPLATES_FILE, _prompt_messages

    templates = load_templates(TEMPLATES_FILE)
    marked = [t.name for t in templates if "<box-units>" in t.system + t.user]
    assert marked == ["real_3", "fake_3"]
    for syntax, says, never in (
        ("json", "pixels of the image you see", "0 to 1000"),
        ("tokens", "pixels of the image you see", "0 to 1000"),
        ("internvl", "units of 0 to 1000 of the image's width and height", "pixels"),
    ):
        for template in templates:
            text = " ".join(m["content"] for m in _prompt_messages(template, syntax))
            assert "<box-units>" not in text and "<region-format>" not in text, (syntax, template.name)
            assert never not in text, (syntax, template.name)
            assert (says in text) is (template.name in marked), (syntax, template.name)
