"""Bad input: each record is converted or rejected with its reason; counts add up; strict fails."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep.conversion import StageFailed, run_conversion
from data_prep.records import REJECT_REASONS

from .conftest import run_cli

TINY = {"min_pixels": 3136, "max_pixels": 12544}


def _png(path: Path, width: int = 120, height: int = 90) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(
        (np.random.default_rng(width * height).random((height, width, 3)) * 255).astype("uint8")
    ).save(path)


def _fake(image: str, **extra) -> dict:
    record = {
        "image": image,
        "label": "fake",
        "generator": "SD 1.5",
        "objects": {"ref": ["an odd hand"], "bbox": [[10, 10, 50, 40]]},
        "tags": ["Texture errors"],
    }
    record.update(extra)
    return record


# (line written into annotations.jsonl, expected reject reason or None for "converted")
def _cases(root: Path) -> list[tuple[bytes, str | None]]:
    _png(root / "ok.png")
    _png(root / "real.png")
    _png(root / "truncated.png", 300, 200)
    data = (root / "truncated.png").read_bytes()
    (root / "truncated.png").write_bytes(data[: len(data) // 2])
    (root / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    _png(root / "sliver.png", 3000, 10)

    def line(obj) -> bytes:
        return json.dumps(obj).encode("utf-8")

    ok = _fake("ok.png")
    return [
        (line(ok), None),
        (line({"image": "real.png", "label": "real", "tags": []}), None),
        (line({**ok, "id": "v1", "label": "Generated"}), None),  # the authors' verdict word, any case
        (
            line({**ok, "id": "v2", "tags": "texture errors, Artistic Style"}),
            None,
        ),  # spellings of the six tags
        (line({**ok, "objects": {"ref": ["edge"], "bbox": [[-1.5, 0, 20, 20]]}}), "box_outside_image"),
        # up to box_clip_tolerance (1 px by default) outside the image: clipped, not rejected
        (line({**ok, "id": "edge1", "objects": {"ref": ["edge"], "bbox": [[-1, 0, 121, 20]]}}), None),
        (line(_fake("truncated.png")), "image_corrupt"),
        (line(_fake("garbage.png")), "image_corrupt"),
        (line(_fake("missing.png")), "image_missing"),
        (line({**ok, "label": "maybe"}), "unknown_label"),
        (line({**ok, "label": 1}), "unknown_label"),  # 0/1 polarity differs across datasets
        (line({k: v for k, v in ok.items() if k != "label"}), "missing_field"),
        (line({k: v for k, v in ok.items() if k != "image"}), "missing_field"),
        (line({**ok, "objects": {"ref": ["x"], "bbox": [[10, 10, 500, 40]]}}), "box_outside_image"),
        (line({**ok, "objects": {"ref": ["x"], "bbox": [[10, 10, 10, 40]]}}), "box_degenerate"),
        (line({**ok, "objects": {"ref": ["x"], "bbox": [[50, 10, 20, 40]]}}), "box_degenerate"),
        (line({**ok, "objects": {"ref": ["x"], "bbox": [[10, 10, 40]]}}), "box_invalid"),
        (
            b'{"image": "ok.png", "label": "fake", "objects": {"ref": ["x"], "bbox": [[NaN, 1, 5, 5]]}}',
            "box_invalid",
        ),
        (line({**ok, "objects": {"ref": ["x"], "bbox": [["a", 1, 5, 5]]}}), "box_invalid"),
        (line({**ok, "objects": {"ref": ["   "], "bbox": [[10, 10, 50, 40]]}}), "empty_description"),
        (line({**ok, "objects": {"ref": ["a", "b"], "bbox": [[10, 10, 50, 40]]}}), "objects_mismatch"),
        # an unknown tag is dropped (counted in stats.json) and the record kept with its boxes
        (line({**ok, "id": "tag1", "tags": ["Texture errors", "Bad lighting"]}), None),
        (
            line({"image": "real.png", "label": "real", "objects": {"ref": ["x"], "bbox": [[1, 1, 5, 5]]}}),
            "real_with_regions",
        ),
        (line({**ok, "width": 999}), "size_mismatch"),
        (line(_fake("sliver.png", objects={})), "image_not_resizable"),
        ('{"image": "ok.png", "label": "fake", "generator": "caf\xe9"}'.encode("latin-1"), "bad_encoding"),
        (b'{"image": "ok.png", "label": "fake",', "bad_json"),
        (b'["not", "an", "object"]', "bad_record"),
        (line({**ok, "id": "twice"}), None),
        (line({**ok, "id": "twice"}), "duplicate_id"),  # ids key the evaluation and the folds
    ]


@pytest.fixture()
def bad_set(tmp_path) -> tuple[Path, list[str | None]]:
    root = tmp_path / "raw"
    root.mkdir()
    cases = _cases(root)
    (root / "annotations.jsonl").write_bytes(b"\n".join(line for line, _ in cases) + b"\n")
    return root, [reason for _, reason in cases]


def test_every_bad_record_is_rejected_with_its_reason_and_counts_add_up(bad_set, tmp_path):
    root, expected = bad_set
    out = tmp_path / "out"
    stats = run_conversion("fakexplained", [root], out, options=TINY, echo=lambda s: None)
    rejects = [json.loads(line) for line in (out / "rejects.jsonl").read_text().splitlines()]
    got = {int(r["location"].rsplit(":", 1)[1]): r["reason"] for r in rejects}
    want = {line: reason for line, reason in enumerate(expected, start=1) if reason is not None}
    assert got == want
    for reject in rejects:
        assert reject["reason"] in REJECT_REASONS and reject["detail"]
        assert str(root / "annotations.jsonl") in reject["location"]
    converted = sum(reason is None for reason in expected)
    assert stats["read"] == len(expected) == stats["converted"] + stats["rejected_total"]
    assert stats["converted"] == converted
    assert stats["written"]["sft.jsonl"] == converted
    assert sum(stats["rejected"].values()) == len(want)
    manifest = [json.loads(line) for line in (out / "eval.jsonl").read_text().splitlines()]
    assert len(manifest) == converted


def test_clip_tolerance_keeps_boxes_just_outside_the_image(bad_set, tmp_path):
    root, _ = bad_set
    stats = run_conversion(
        "fakexplained",
        [root],
        tmp_path / "out",
        options={**TINY, "box_clip_tolerance": 2},
        echo=lambda s: None,
    )
    assert stats["rejected"]["box_outside_image"] == 1  # the -1.5 box is clipped, the 500 one is not
    rows = {r["id"]: r for r in map(json.loads, (tmp_path / "out" / "eval.jsonl").read_text().splitlines())}
    frame = rows["edge1"]["frame"]
    assert rows["edge1"]["boxes"][0][0] == 0 and rows["edge1"]["boxes"][0][2] == frame["width"]
    exact = run_conversion(
        "fakexplained",
        [root],
        tmp_path / "exact",
        options={**TINY, "box_clip_tolerance": 0},
        echo=lambda s: None,
    )
    assert exact["rejected"]["box_outside_image"] == 3  # the 1 px overhang too


def test_unknown_tags_are_dropped_and_counted_or_rejected_when_strict(bad_set, tmp_path):
    root, _ = bad_set
    stats = run_conversion("fakexplained", [root], tmp_path / "lenient", options=TINY, echo=lambda s: None)
    assert stats["warnings"]["unknown_tag:Bad lighting"] == 1
    assert "unknown_tag" not in stats["rejected"]
    rows = {
        r["id"]: r for r in map(json.loads, (tmp_path / "lenient" / "eval.jsonl").read_text().splitlines())
    }
    assert rows["tag1"]["tags"] == ["Texture errors"] and len(rows["tag1"]["boxes"]) == 1
    strict = run_conversion(
        "fakexplained", [root], tmp_path / "strict", options={**TINY, "strict": True}, echo=lambda s: None
    )
    assert strict["rejected"]["unknown_tag"] == 1
    reject = [r for r in map(json.loads, (tmp_path / "strict" / "rejects.jsonl").read_text().splitlines())
              if r["reason"] == "unknown_tag"][0]  # fmt: skip
    assert "'Bad lighting'" in reject["detail"] and "synonyms" in reject["detail"]


def test_strict_fails_the_stage_listing_the_first_reasons(bad_set, tmp_path):
    root, _ = bad_set
    out = tmp_path / "out"
    with pytest.raises(StageFailed, match="strict mode") as failure:
        run_conversion("fakexplained", [root], out, options=TINY, strict=True, echo=lambda s: None)
    assert "image_corrupt" in str(failure.value) and "annotations.jsonl:5" in str(failure.value)
    assert not (out / "sft.jsonl").exists() and not (out / "grpo.parquet").exists()
    assert (out / "rejects.jsonl").exists() and json.loads((out / "stats.json").read_text())[
        "rejected_total"
    ] > 0


def test_cli_prints_counts_and_strict_exit_code(bad_set, tmp_path):
    root, expected = bad_set
    result = run_cli("convert", "--source", "fakexplained", "--input", str(root), "--output-dir", str(tmp_path / "a"),
                     "--options", json.dumps(TINY))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"read {len(expected)}" in result.stdout and "rejected image_corrupt: 2" in result.stdout
    strict = run_cli("convert", "--source", "fakexplained", "--input", str(root), "--output-dir", str(tmp_path / "b"),
                     "--options", json.dumps(TINY), "--strict")  # fmt: skip
    assert strict.returncode == 1 and "strict mode" in strict.stderr


def test_missing_input_and_bad_options_name_what_to_change(tmp_path, synth_raw):
    result = run_cli("convert", "--source", "fakexplained", "--input", str(tmp_path / "nowhere"),
                     "--output-dir", str(tmp_path / "o"))  # fmt: skip
    assert result.returncode == 2 and "nowhere" in result.stderr and "does not exist" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli(
        "convert", "--source", "fakexplained", "--input", str(empty), "--output-dir", str(tmp_path / "o")
    )
    assert (
        result.returncode == 2 and "annotations.jsonl" in result.stderr and "FakeXplain.7z" in result.stderr
    )
    result = run_cli("convert", "--source", "fakexplained", "--input", str(synth_raw), "--output-dir",
                     str(tmp_path / "o"), "--options", '{"fold": 0, "folds": 4}')  # fmt: skip
    assert (
        result.returncode == 2
        and "options.folds: unknown key" in result.stderr
        and "num_folds" in result.stderr
    )
    result = run_cli("convert", "--source", "fakexplained", "--input", str(synth_raw), "--output-dir",
                     str(tmp_path / "o"), "--options", '{"fold": 7}')  # fmt: skip
    assert result.returncode == 2 and "fold must be in [0, 3]" in result.stderr


def test_check_says_what_is_missing_and_where_to_get_it(tmp_path, synth_raw):
    result = run_cli("check", "--source", "fakexplained", "--input", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and "FakeXplain.7z" in result.stderr and "https://" in result.stderr
    broken = tmp_path / "broken"
    shutil.copytree(synth_raw, broken)
    victim = sorted((broken / "images" / "real").iterdir())[0]
    victim.unlink()
    result = run_cli("check", "--source", "fakexplained", "--input", str(broken))
    assert result.returncode == 1 and "image_missing" in result.stderr and victim.name in result.stderr
    ok = run_cli("check", "--source", "fakexplained", "--input", str(synth_raw), "--verify-images")
    assert ok.returncode == 0, ok.stderr


def test_check_decodes_images_by_default_and_finds_what_convert_rejects(tmp_path, synth_raw):
    damaged = tmp_path / "damaged"
    shutil.copytree(synth_raw, damaged)
    victim = sorted((damaged / "images" / "fake").rglob("*.png"))[0]
    data = victim.read_bytes()
    victim.write_bytes(data[: len(data) // 2])  # the header (and the size) survive, the pixels do not
    result = run_cli("check", "--source", "fakexplained", "--input", str(damaged))
    assert result.returncode == 1 and "image_corrupt" in result.stderr and victim.name in result.stderr
    converted = run_cli("convert", "--source", "fakexplained", "--input", str(damaged), "--output-dir",
                        str(tmp_path / "out"), "--options", json.dumps(TINY))  # fmt: skip
    assert "rejected image_corrupt: 1" in converted.stdout
    # headers only: fast, and blind to the damage
    quick = run_cli("check", "--source", "fakexplained", "--input", str(damaged), "--no-verify-images")
    assert quick.returncode == 0, quick.stderr
