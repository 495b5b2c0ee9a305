"""The FakeXplain authors' own training rows, and both region syntaxes, through data preparation.

The rows are faithful samples of the authors' format (seeds.md §2.4; mllm-defake
``trainers/grpo/jsonl_dataset.py`` reads them): ms-swift ``messages`` whose assistant turn carries
``<ref-object><bbox>`` placeholders, ``<tag>`` inside ``<think>`` and the verdict ``generated``;
``objects: {"ref": [...], "bbox": [[x1, y1, x2, y2], ...]}`` in original-image pixels; reals with
no ``objects``. The round trip encodes the written rows with ms-swift's own dataset loader and
Qwen2.5-VL template on the tiny model and reads the boxes back with the reward.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data_prep.conversion import STATS_FILE, StageFailed, run_conversion
from rewards.fakexplain import compute_score
from rewards.fakexplain_parser import parse_response

from .qwen_bounds import use_qwen_pixel_bounds

TINY = {"min_pixels": 3136, "max_pixels": 12544}
SYSTEM = "You are a helpful assistant that detects AI-generated images."


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _image(path: Path, size: tuple[int, int], seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = (np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype("uint8")
    Image.fromarray(pixels).save(path)


def _authors_row(image: str, answer: str, refs=(), boxes=(), user="<image>Is this image real or generated?"):
    row = {
        "messages": [
            {"role": "system", "content": SYSTEM},
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer},
        ],
        "images": [image],
    }
    if boxes:
        row["objects"] = {"ref": list(refs), "bbox": [list(b) for b in boxes]}
    return row


# Faithful samples: regions right after <think> (the authors' format regex wants them there), the
# tag block inside <think>, the verdict "generated"; annotators' loose tag spellings.
FAKE_ANSWER = (
    "<think><ref-object><bbox><ref-object><bbox>The fur turns metallic towards the edges and the paw "
    "has an extra toe.<tag>Texture Error; structure/attribute errors</tag></think><verdict>generated</verdict>"
)
FAKE_REFS = ["a paw with five toes", "fur with a metallic sheen"]
FAKE_BOXES = [[40, 30, 130, 120], [150, 20, 290, 100]]  # original pixels of a 300x200 image
SPACED_ANSWER = (
    "<think>Two things give it away: <ref-object><bbox>, <ref-object><bbox>. "
    "<tag>Unknown objects</tag></think>\n<verdict>generated</verdict>"
)
SPACED_REFS = ["a lamp that melts into the wall", "garbled letters on the sign"]
SPACED_BOXES = [[0, 0, 64, 96], [100, 150, 201, 200]]  # 201: one pixel past a 200-wide image
REAL_ANSWER = (
    "<think>Lighting, shadows and textures are consistent with a photograph.</think><verdict>real</verdict>"
)
NO_VERDICT_ANSWER = (
    "<think><ref-object><bbox>The teeth blur into one another.<tag>Texture errors</tag></think>"
)


@pytest.fixture(scope="module")
def authors_raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("authors_rows")
    _image(root / "images" / "fake_a.png", (300, 200), 1)
    _image(root / "images" / "fake_b.png", (200, 200), 2)
    _image(root / "images" / "real_a.png", (240, 180), 3)
    _image(root / "images" / "fake_c.png", (160, 120), 4)
    rows = [
        _authors_row("images/fake_a.png", FAKE_ANSWER, FAKE_REFS, FAKE_BOXES),
        _authors_row("images/fake_b.png", SPACED_ANSWER, SPACED_REFS, SPACED_BOXES),
        _authors_row("images/real_a.png", REAL_ANSWER),
        _authors_row("images/fake_c.png", NO_VERDICT_ANSWER, ["a grin of fused teeth"], [[20, 60, 90, 110]]),
    ]
    (root / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


def _convert(raw: Path, out: Path, **options) -> dict:
    return run_conversion("fakexplained", [raw], out, options={**TINY, **options}, echo=lambda s: None)


@pytest.fixture(scope="module")
def converted(authors_raw, tmp_path_factory) -> dict[str, Path]:
    outs = {}
    for syntax in ("json", "tokens"):
        out = tmp_path_factory.mktemp(f"authors_{syntax}")
        stats = _convert(authors_raw, out, region_syntax=syntax)
        assert stats["converted"] == 4 and stats["rejected_total"] == 0, stats
        assert not any(key.startswith("reasoning_generated") for key in stats["warnings"]), stats["warnings"]
        outs[syntax] = out
    return outs


def _by_image(rows: list[dict], key=lambda r: r["images"][0]) -> dict[str, dict]:
    return {Path(key(r)).name: r for r in rows}


def test_labels_come_from_the_verdict_or_else_from_objects(converted):
    for out in converted.values():
        truth = {Path(r["image"]).name: r["label"] for r in _rows(out / "eval.jsonl")}
        # fake_c has no <verdict>: its regions make it fake (the authors' check_label rule)
        assert truth == {
            "fake_a.png": "fake",
            "fake_b.png": "fake",
            "real_a.png": "real",
            "fake_c.png": "fake",
        }


def test_kept_reasoning_in_json_syntax(converted):
    sft = _by_image(_rows(converted["json"] / "sft.jsonl"))
    grpo = _by_image(_rows(converted["json"] / "grpo.jsonl"))
    answer = sft["fake_a.png"]["messages"][-1]["content"]
    # the authors' sentences survive; placeholders become grounding JSON in the model frame;
    # the tag block is rewritten to the canonical tags; their layout and verdict word stay
    assert "The fur turns metallic towards the edges and the paw has an extra toe." in answer
    assert "<ref-object>" not in answer and "<bbox>" not in answer
    assert (
        "<tag>Structure/attribute errors, Texture errors</tag></think><verdict>generated</verdict>" in answer
    )
    assert "objects" not in sft["fake_a.png"]
    parsed = parse_response(answer)
    truth = json.loads(grpo["fake_a.png"]["solution"])
    assert parsed.ok and parsed.verdict == "fake" and parsed.region_labels == tuple(FAKE_REFS)
    assert [list(b) for b in parsed.boxes] == [[float(v) for v in b] for b in truth["boxes"]]
    assert sft["real_a.png"]["messages"][-1]["content"] == REAL_ANSWER  # no tag block: fine for a real
    # a row without a verdict keeps its reasoning and gets the verdict of its label
    completed = sft["fake_c.png"]["messages"][-1]["content"]
    assert "The teeth blur into one another." in completed and completed.endswith(
        "<verdict>generated</verdict>"
    )
    # the 201 px box edge of a 200 px image is clipped (box_clip_tolerance 1)
    spaced = json.loads(grpo["fake_b.png"]["solution"])["boxes"]
    frame = grpo["fake_b.png"]["extra_info"]["width"]
    assert spaced[1][2] == frame


def test_kept_reasoning_in_token_syntax_keeps_the_authors_row_shape(converted, authors_raw):
    sft = _by_image(_rows(converted["tokens"] / "sft.jsonl"))
    grpo = _by_image(_rows(converted["tokens"] / "grpo.jsonl"))
    fake = sft["fake_a.png"]
    assert fake["messages"][-1]["content"] == FAKE_ANSWER.replace(
        "Texture Error; structure/attribute errors", "Structure/attribute errors, Texture errors"
    )
    # objects in original pixels, for ms-swift to rescale; the clipped edge is 200, not 201
    assert fake["objects"] == {"ref": FAKE_REFS, "bbox": FAKE_BOXES}
    assert sft["fake_b.png"]["objects"]["bbox"] == [[0, 0, 64, 96], [100, 150, 200, 200]]
    assert "objects" not in sft["real_a.png"]
    # the ground truth is ms-swift's own rescaling: round(x / width * frame_width)
    extra = grpo["fake_a.png"]["extra_info"]
    sx, sy = extra["width"] / 300, extra["height"] / 200
    expected = [
        [round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy)] for x1, y1, x2, y2 in FAKE_BOXES
    ]
    assert json.loads(grpo["fake_a.png"]["solution"])["boxes"] == expected


def test_token_prompts_describe_the_token_syntax(converted):
    json_prompts = " ".join(
        m["content"] for r in _rows(converted["json"] / "eval.jsonl") for m in r["messages"]
    )
    token_prompts = " ".join(
        m["content"] for r in _rows(converted["tokens"] / "eval.jsonl") for m in r["messages"]
    )
    assert "<region-format>" not in json_prompts + token_prompts
    assert "<|object_ref_start|>" not in json_prompts and "bbox_2d" not in token_prompts


def test_sharegpt_conversations_rows_are_read_the_same_way(tmp_path):
    raw = tmp_path / "raw"
    _image(raw / "f.png", (300, 200), 6)
    row = {
        "conversations": [
            {"from": "human", "value": "<image>Is this image real or generated?"},
            {"from": "gpt", "value": FAKE_ANSWER},
        ],
        "images": ["f.png"],
        "objects": {"ref": FAKE_REFS, "bbox": FAKE_BOXES},
    }
    (raw / "annotations.jsonl").write_text(json.dumps(row) + "\n")
    stats = _convert(raw, tmp_path / "out", region_syntax="tokens")
    assert stats["converted"] == 1 and stats["warnings"] == {}
    sft = _rows(tmp_path / "out" / "sft.jsonl")[0]
    assert "The fur turns metallic towards the edges" in sft["messages"][-1]["content"]
    assert _rows(tmp_path / "out" / "eval.jsonl")[0]["tags"] == [
        "Structure/attribute errors",
        "Texture errors",
    ]


def test_generate_replaces_the_authors_reasoning(authors_raw, tmp_path):
    _convert(authors_raw, tmp_path, reasoning="generate")
    answer = _by_image(_rows(tmp_path / "sft.jsonl"))["fake_a.png"]["messages"][-1]["content"]
    assert "metallic towards the edges" not in answer and answer.startswith("<think>The image shows traces")


def _single(tmp_path: Path, answer: str, refs=FAKE_REFS, boxes=FAKE_BOXES, **options) -> tuple[dict, Path]:
    raw = tmp_path / "raw"
    _image(raw / "f.png", (300, 200), 5)
    row = {**_authors_row("f.png", answer, refs, boxes), "label": "fake"}  # a record's own label wins
    (raw / "annotations.jsonl").write_text(json.dumps(row) + "\n")
    out = tmp_path / "out"
    try:
        return _convert(raw, out, **options), out
    except StageFailed as failure:  # its one record rejected: the stage fails, stats.json says why
        assert "none of the 1 record(s) could be converted" in str(failure)
        return json.loads((out / STATS_FILE).read_text()), out


@pytest.mark.parametrize(
    "answer, why",
    [
        (FAKE_ANSWER.replace("<ref-object><bbox>", "<bbox>", 1), "placeholders_unpaired"),
        (FAKE_ANSWER.replace("<ref-object><bbox>", "<ref-object> near <bbox>", 1), "placeholders_unpaired"),
        (FAKE_ANSWER.replace("generated", "real"), "verdict"),
        (FAKE_ANSWER.replace("<tag>", "").replace("</tag>", ""), "format"),
        ('<think>{"bbox_2d": [1, 2, 3, 4], "label": "x"}<tag></tag></think><verdict>generated</verdict>',
         "placeholders_unpaired"),
    ],
)  # fmt: skip
def test_an_unusable_kept_answer_is_replaced_and_counted_or_rejected_when_strict(tmp_path, answer, why):
    stats, out = _single(tmp_path / "lenient", answer)
    assert stats["converted"] == 1 and stats["warnings"] == {f"reasoning_generated:{why}": 1}
    generated = _rows(out / "sft.jsonl")[0]["messages"][-1]["content"]
    assert generated.startswith("<think>The image shows traces") and parse_response(generated).ok
    strict, out = _single(tmp_path / "strict", answer, strict=True)
    assert strict["rejected"] == {"bad_record": 1}
    assert why in _rows(out / "rejects.jsonl")[0]["detail"]


def test_a_box_collapsing_in_the_frame_is_rejected_in_token_syntax_only(tmp_path):
    sliver = [[90, 50, 91, 150]]  # 1 px of a 300 px image: x 33.6 and 33.97 in its 112 px frame, both 34
    answer = "<think><ref-object><bbox><tag>Other anomalies</tag></think><verdict>generated</verdict>"
    stats, _ = _single(tmp_path / "json", answer, refs=["a hair"], boxes=sliver)
    assert stats["converted"] == 1  # json keeps one frame pixel
    stats, out = _single(tmp_path / "tokens", answer, refs=["a hair"], boxes=sliver, region_syntax="tokens")
    assert stats["rejected"] == {"box_degenerate": 1}
    assert "collapses" in _rows(out / "rejects.jsonl")[0]["detail"]


# ---- the round trip through ms-swift's own loader and template ----------------------------------


@pytest.fixture(scope="module")
def swift_template(tiny_qwen):
    use_qwen_pixel_bounds(TINY["min_pixels"], TINY["max_pixels"])
    import torch
    from swift.model import get_model_processor
    from swift.template import get_template

    _, processor = get_model_processor(
        str(tiny_qwen), torch_dtype=torch.float32, load_model=False, download_model=False
    )
    template = get_template(processor, template_type="qwen2_5_vl")
    template.set_mode("train")
    return template, processor.tokenizer


def _round_trip(out: Path, swift_template) -> list[tuple[dict, str, str, list[int]]]:
    """(grpo row, answer decoded with special tokens, without them, label ids) per SFT row."""
    from swift.dataset import load_dataset

    template, tokenizer = swift_template
    sft, _ = load_dataset([str(out / "sft.jsonl")])
    grpo = _by_image(_rows(out / "grpo.jsonl"))
    results = []
    for row in sft:
        image = row["images"][0]["path"] if isinstance(row["images"][0], dict) else row["images"][0]
        encoded = template.encode(row)
        answer_ids = [t for t in encoded["labels"] if t != -100]
        grid = encoded["image_grid_thw"][0].tolist()
        twin = grpo[Path(image).name]
        assert (grid[2] * 14, grid[1] * 14) == (twin["extra_info"]["width"], twin["extra_info"]["height"])
        results.append(
            (
                twin,
                tokenizer.decode(answer_ids),
                tokenizer.decode(answer_ids, skip_special_tokens=True),
                answer_ids,
            )
        )
    return results


def _assert_reward_reads_the_ground_truth(twin: dict, text: str) -> None:
    extra = twin["extra_info"]
    frame = (extra["width"], extra["height"])
    text = text.removesuffix("\n").removesuffix("<|im_end|>")
    parsed = parse_response(text, frame)
    truth = json.loads(twin["solution"])
    assert parsed.ok, (parsed.error, text)
    assert parsed.verdict == truth["label"]
    assert [list(b) for b in parsed.boxes] == [[float(v) for v in b] for b in truth["boxes"]]
    score = compute_score(twin["data_source"], text, twin["solution"], extra)
    assert (score["format"], score["label"], score["grounding"]) == (1.0, 1.0, 1.0), score


@pytest.mark.slow
def test_token_syntax_round_trip_through_ms_swift_template(converted, synth_raw, tmp_path, swift_template):
    """ms-swift renders the placeholders as box tokens at exactly the ground truth's coordinates."""
    _convert(synth_raw, tmp_path / "synth", region_syntax="tokens")
    box_start, box_end = 151648, 151649  # Qwen2.5-VL's <|box_start|>, <|box_end|>
    _, tokenizer = swift_template
    checked = 0
    for out in (converted["tokens"], tmp_path / "synth"):
        for twin, kept, stripped, ids in _round_trip(out, swift_template):
            truth = json.loads(twin["solution"])
            starts = [i for i, t in enumerate(ids) if t == box_start]
            assert len(starts) == len(truth["boxes"]) == ids.count(box_end)
            for start, box in zip(starts, truth["boxes"]):
                end = ids.index(box_end, start)
                assert tokenizer.decode(ids[start + 1 : end]) == "({},{}),({},{})".format(*box)
            # the reward reads the same boxes back, with the special tokens and without them
            # (verl's reward managers and the evaluation decode with skip_special_tokens=True)
            _assert_reward_reads_the_ground_truth(twin, kept)
            _assert_reward_reads_the_ground_truth(twin, stripped)
            checked += bool(truth["boxes"])
    assert checked >= 10


@pytest.mark.slow
def test_json_syntax_round_trip_through_ms_swift_template(converted, synth_raw, tmp_path, swift_template):
    _convert(synth_raw, tmp_path / "synth", region_syntax="json")
    checked = 0
    for out in (converted["json"], tmp_path / "synth"):
        for twin, kept, stripped, ids in _round_trip(out, swift_template):
            assert 151648 not in ids and kept.replace("<|im_end|>", "") == stripped
            _assert_reward_reads_the_ground_truth(twin, kept)
            checked += bool(json.loads(twin["solution"])["boxes"])
    assert checked >= 10
