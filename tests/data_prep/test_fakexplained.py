"""FakeXplained round trip on generated data: every field lands where the trainers read it
(ms-swift's own dataset loader and template, verl's RLHFDataset, the reward parser)."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from data_prep.chat_templates import load_templates
from data_prep.conversion import run_conversion
from data_prep.fakexplain_format import vocabulary
from data_prep.sources.fakexplained import TEMPLATES_FILE, VOCABULARY_FILE

from .qwen_bounds import use_qwen_pixel_bounds

TINY_BOUNDS = {"min_pixels": 3136, "max_pixels": 12544}


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def fold0(synth_raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fx_fold0")
    run_conversion(
        "fakexplained", [synth_raw], out, options={"fold": 0, "seed": 3, **TINY_BOUNDS}, echo=lambda s: None
    )
    return out


@pytest.fixture(scope="module")
def all_records(synth_raw, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fx_all")
    run_conversion(
        "fakexplained", [synth_raw], out, options={"seed": 3, **TINY_BOUNDS}, workers=2, echo=lambda s: None
    )
    return out


def _annotations(synth_raw: Path) -> dict[str, dict]:
    return {r["id"]: r for r in _rows(synth_raw / "annotations.jsonl")}


def test_every_record_lands_in_every_file_without_a_fold(all_records, synth_raw):
    stats = json.loads((all_records / "stats.json").read_text())
    assert stats["read"] == 48 and stats["converted"] == 48 and stats["rejected_total"] == 0
    assert stats["written"] == {"sft.jsonl": 48, "grpo.jsonl": 48, "grpo.parquet": 48, "eval.jsonl": 48}
    assert stats["labels"] == {"fake": 24, "real": 24}
    assert (all_records / "rejects.jsonl").read_text() == ""


def test_fold_routes_train_and_test_disjointly(fold0, synth_raw):
    stats = json.loads((fold0 / "stats.json").read_text())
    assert stats["fold"]["counts"] == {
        "train_fake": 18, "train_real": 18, "test_fake": 6, "test_real": 6, "unused_real": 0, "reals_short_by": 0
    }  # fmt: skip
    train_ids = {r["extra_info"]["id"] for r in _rows(fold0 / "grpo.jsonl")}
    test_ids = {r["id"] for r in _rows(fold0 / "eval.jsonl")}
    assert len(train_ids) == 36 and len(test_ids) == 12 and not train_ids & test_ids
    assert train_ids | test_ids == set(_annotations(synth_raw))
    assert stats["routed"] == {"train": 36, "test": 12}
    sft_images = {r["images"][0] for r in _rows(fold0 / "sft.jsonl")}
    assert sft_images == {r["extra_info"]["image"] for r in _rows(fold0 / "grpo.jsonl")}
    parquet_ids = set(pd.read_parquet(fold0 / "grpo.parquet")["extra_info"].map(lambda e: e["id"]))
    assert parquet_ids == train_ids


def test_output_is_identical_for_one_and_two_workers(synth_raw, tmp_path):
    outputs = []
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        run_conversion(
            "fakexplained",
            [synth_raw],
            out,
            options={"fold": 1, **TINY_BOUNDS},
            workers=workers,
            echo=lambda s: None,
        )
        outputs.append(
            {name: (out / name).read_bytes() for name in ("sft.jsonl", "grpo.jsonl", "eval.jsonl")}
        )
        outputs[-1]["parquet"] = pq.read_table(out / "grpo.parquet").to_pylist()
    assert outputs[0] == outputs[1]


def test_templates_follow_the_label_for_sft_and_not_for_prompts(all_records, synth_raw):
    templates = {t.name: t for t in load_templates(TEMPLATES_FILE)}
    json_region = '{"bbox_2d": [x1, y1, x2, y2], "label": "<description>"}'
    by_system_user = {
        (
            t.system.replace("<region-format>", json_region).replace(
                "<box-units>", "pixels of the image you see"
            ),
            "<image>" + t.user,
        ): t
        for t in templates.values()
    }
    annotations = _annotations(synth_raw)
    grpo = {r["images"][0]: r for r in _rows(all_records / "grpo.jsonl")}
    prompt_labels = Counter()
    for row in _rows(all_records / "sft.jsonl"):
        system, user = row["messages"][0]["content"], row["messages"][1]["content"]
        template = by_system_user[(system, user)]
        label = grpo[row["images"][0]]["extra_info"]["label"]
        assert template.label == label, "002 App. A.1: SFT templates are drawn by label"
    for row in grpo.values():
        name = row["extra_info"]["template"]
        assert name in templates
        prompt_labels[(row["extra_info"]["label"], templates[name].label)] += 1
    # GRPO/eval prompts come from all nine templates whatever the label: no label leak.
    assert prompt_labels[("real", "fake")] > 0 and prompt_labels[("fake", "real")] > 0
    assert len(annotations) == len(grpo)


def test_sft_responses_parse_with_the_reward_parser_and_match_the_ground_truth(all_records):
    from rewards.fakexplain import compute_score
    from rewards.fakexplain_parser import parse_response

    grpo = {r["images"][0]: r for r in _rows(all_records / "grpo.jsonl")}
    for row in _rows(all_records / "sft.jsonl"):
        response = row["messages"][-1]["content"]
        twin = grpo[row["images"][0]]
        truth = json.loads(twin["solution"])
        extra = twin["extra_info"]
        parsed = parse_response(response, frame=(extra["width"], extra["height"]))
        assert parsed.ok, (parsed.error, response)
        assert parsed.verdict == truth["label"] == extra["label"]
        assert [list(map(float, b)) for b in parsed.boxes] == [list(map(float, b)) for b in truth["boxes"]]
        assert list(parsed.tags) == extra["tags"]
        score = compute_score(twin["data_source"], response, twin["solution"], extra)
        assert score["format"] > 0 and score["label"] > 0
        if truth["boxes"]:
            assert score["iou"] == pytest.approx(1.0)


def test_boxes_are_the_annotations_mapped_into_the_frame(all_records, synth_raw):
    annotations = _annotations(synth_raw)
    for row in _rows(all_records / "eval.jsonl"):
        source = annotations[row["id"]]
        width, height = row["frame"]["width"], row["frame"]["height"]
        assert width % 28 == 0 and height % 28 == 0 and 3136 <= width * height <= 12544
        assert (row["orig_width"], row["orig_height"]) == (source["width"], source["height"])
        expected = source.get("objects", {}).get("bbox", [])
        assert len(row["boxes"]) == len(expected)
        sx, sy = width / source["width"], height / source["height"]
        for box, (x1, y1, x2, y2) in zip(row["boxes"], expected):
            # each edge scaled by its axis' resize factor, to the nearest frame pixel edge
            assert all(abs(a - b) <= 0.5 for a, b in zip(box, [x1 * sx, y1 * sy, x2 * sx, y2 * sy])), (
                box,
                source,
            )
        assert [r["bbox_2d"] for r in row["regions"]] == row["boxes"]
        assert [r["label"] for r in row["regions"]] == source.get("objects", {}).get("ref", [])


def test_eval_manifest_rows_follow_the_contract(all_records):
    families = set(vocabulary(VOCABULARY_FILE).families)
    assert families == {"Diffusion", "GAN", "DiT", "Others"}
    rows = _rows(all_records / "eval.jsonl")
    for row in rows:
        assert set(row) >= {
            "id",
            "image",
            "label",
            "generator",
            "family",
            "messages",
            "boxes",
            "regions",
            "tags",
            "frame",
        }
        assert Path(row["image"]).is_absolute() and Path(row["image"]).is_file()
        assert row["label"] in ("real", "fake")
        assert row["messages"][-1]["role"] == "user" and row["messages"][-1]["content"].startswith("<image>")
        assert all(m["role"] != "assistant" for m in row["messages"])
        if row["label"] == "fake":
            assert row["family"] in families and row["generator"]
        else:
            assert row["family"] is None and row["boxes"] == [] and row["regions"] == []
    assert {r["family"] for r in rows if r["label"] == "fake"} == families


def test_parquet_reads_the_way_verl_reads_it(all_records):
    import datasets

    table = pq.read_table(all_records / "grpo.parquet")
    assert set(table.column_names) == {
        "data_source",
        "prompt",
        "images",
        "ability",
        "reward_model",
        "extra_info",
    }
    # verl's RLHFDataset reads parquet with datasets.load_dataset("parquet", ...)["train"].
    dataset = datasets.load_dataset("parquet", data_files=str(all_records / "grpo.parquet"))["train"]
    for row in dataset:
        assert row["data_source"] == "fakexplained"
        assert sum(m["content"].count("<image>") for m in row["prompt"]) == len(row["images"]) == 1
        image = row["images"][0]
        assert Path(image["image"]).is_file()
        assert (image["resized_width"], image["resized_height"]) == (
            row["extra_info"]["width"],
            row["extra_info"]["height"],
        )
        truth = json.loads(row["reward_model"]["ground_truth"])
        assert row["reward_model"]["style"] == "rule" and truth["label"] == row["extra_info"]["label"]
        assert {"width", "height", "index", "generator", "orig_width", "orig_height"} <= set(
            row["extra_info"]
        )


def test_parquet_can_embed_image_bytes(synth_raw, tmp_path):
    run_conversion(
        "fakexplained",
        [synth_raw],
        tmp_path,
        options={"parquet_images": "bytes", **TINY_BOUNDS},
        echo=lambda s: None,
    )
    rows = pq.read_table(tmp_path / "grpo.parquet").to_pylist()
    first = rows[0]
    assert first["images"][0]["bytes"] == Path(first["extra_info"]["image"]).read_bytes()
    assert "image" not in first["images"][0]  # verl asserts a dict never has both bytes and image


@pytest.mark.slow
def test_verl_rlhf_dataset_loads_the_parquet_in_the_model_frame(all_records, tiny_qwen, tmp_path):
    from data_prep import cpu_compat

    cpu_compat.apply()
    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    processor = AutoProcessor.from_pretrained(tiny_qwen)
    config = OmegaConf.create(
        {
            "prompt_key": "prompt",
            "image_key": "images",
            "max_prompt_length": 4096,
            "filter_overlong_prompts": True,
            "filter_overlong_prompts_workers": 1,
            "cache_dir": str(tmp_path / "verl_cache"),
        }
    )
    dataset = RLHFDataset(str(all_records / "grpo.parquet"), processor.tokenizer, config, processor)
    assert len(dataset) == 48  # nothing filtered: every prompt built and measured
    for index in (0, 30, 47):
        item = dataset[index]
        images, _ = asyncio.run(RLHFDataset.process_vision_info(item["raw_prompt"], 14, config))
        extra = item["extra_info"]
        assert images[0].size == (extra["width"], extra["height"])
        text = processor.apply_chat_template(item["raw_prompt"], add_generation_prompt=True, tokenize=False)
        grid = processor(text=[text], images=images, return_tensors="pt")["image_grid_thw"][0].tolist()
        assert (grid[2] * 14, grid[1] * 14) == (extra["width"], extra["height"])
        assert json.loads(item["reward_model"]["ground_truth"])["label"] == extra["label"]
        assert item["index"] == extra["index"]


@pytest.mark.slow
def test_ms_swift_loader_and_template_read_sft_and_grpo_rows(all_records, tiny_qwen, monkeypatch):
    for name in ("MAX_PIXELS", "MIN_PIXELS", "IMAGE_MAX_TOKEN_NUM", "IMAGE_MIN_TOKEN_NUM"):
        monkeypatch.setenv(name, "")  # records the value to restore after the test
    use_qwen_pixel_bounds(TINY_BOUNDS["min_pixels"], TINY_BOUNDS["max_pixels"])
    from data_prep import cpu_compat

    cpu_compat.apply()
    import torch
    from swift.dataset import load_dataset
    from swift.model import get_model_processor
    from swift.template import get_template

    sft, _ = load_dataset([str(all_records / "sft.jsonl")])
    assert len(sft) == 48
    grpo, _ = load_dataset([str(all_records / "grpo.jsonl")], remove_unused_columns=False)
    assert {"messages", "images", "solution", "data_source", "extra_info"} <= set(grpo.column_names)
    frames = {}
    for row in grpo:
        assert [m["role"] for m in row["messages"]][-1] == "user"
        assert json.loads(row["solution"])["label"] == row["extra_info"]["label"]
        frames[row["extra_info"]["image"]] = (row["extra_info"]["width"], row["extra_info"]["height"])

    _, processor = get_model_processor(
        str(tiny_qwen), torch_dtype=torch.float32, load_model=False, download_model=False
    )
    template = get_template(processor, template_type="qwen2_5_vl")
    template.set_mode("train")
    for row in list(sft)[:12]:
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        encoded = template.encode(row)
        image = row["images"][0]["path"] if isinstance(row["images"][0], dict) else row["images"][0]
        grid = encoded["image_grid_thw"][0].tolist()
        # ms-swift resizes the image to exactly the frame the boxes were mapped into.
        assert (grid[2] * 14, grid[1] * 14) == frames[image]
        labels = [t for t in encoded["labels"] if t != -100]
        assert processor.tokenizer.decode(labels).startswith("<think>")


def test_authors_mllm_defake_rows_are_accepted(tmp_path):
    """seeds.md §2.4: the authors' training rows carry label and tags in the assistant turn."""
    from PIL import Image

    Image.new("RGB", (200, 100), (120, 90, 60)).save(tmp_path / "f.png")
    Image.new("RGB", (200, 100), (60, 90, 120)).save(tmp_path / "r.png")
    fake = {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "<image>Is it real?"},
            {
                "role": "assistant",
                "content": "<think><ref-object><bbox> <tag>Texture errors, Unknown objects</tag></think>"
                "<verdict>generated</verdict>",
            },
        ],
        "images": ["f.png"],
        "objects": {"ref": ["a melted clock"], "bbox": [[20, 10, 120, 90]]},
    }  # fmt: skip
    real = {"messages": [{"role": "user", "content": "<image>?"},
                         {"role": "assistant", "content": "<think>fine</think><verdict>real</verdict>"}],
            "images": ["r.png"]}  # fmt: skip
    (tmp_path / "annotations.jsonl").write_text(json.dumps(fake) + "\n" + json.dumps(real) + "\n")
    out = tmp_path / "out"
    stats = run_conversion("fakexplained", [tmp_path], out, options=TINY_BOUNDS, echo=lambda s: None)
    assert stats["rejected_total"] == 0
    rows = _rows(out / "eval.jsonl")
    assert [r["label"] for r in rows] == ["fake", "real"]
    assert rows[0]["tags"] == ["Unknown objects", "Texture errors"]  # canonical order of 002 App. B
    assert rows[0]["regions"][0]["label"] == "a melted clock" and rows[0]["frame"] == {
        "width": 140,
        "height": 56,
    }
    assert rows[0]["boxes"] == [[14, 6, 84, 50]]  # x * 140/200, y * 56/100


def test_reals_beyond_the_fakes_are_left_out_of_a_fold(tmp_path):
    from data_prep.synth_fakexplained import generate_fakexplained

    generate_fakexplained(tmp_path / "raw", num_fake=8, num_real=14, seed=1, size=(64, 48))
    out = tmp_path / "out"
    stats = run_conversion("fakexplained", [tmp_path / "raw"], out, options={"fold": 3, **TINY_BOUNDS},
                           echo=lambda s: None)  # fmt: skip
    assert stats["routed"] == {"train": 12, "test": 4, "unused": 6}
    assert stats["fold"]["counts"]["unused_real"] == 6
    assert stats["read"] == 22 == stats["converted"]
    assert stats["written"]["sft.jsonl"] == 12 and stats["written"]["eval.jsonl"] == 4
    labels = Counter(r["label"] for r in _rows(out / "eval.jsonl"))
    assert labels == {"fake": 2, "real": 2}


@pytest.mark.slow
def test_ms_swift_grpo_step_feeds_the_rows_to_the_reward(synth_raw, tiny_qwen, tmp_path):
    """One real `swift rlhf --rlhf_type grpo` step on the tiny model with grpo.jsonl: the reward
    (rewards/swift_adapter.py -> rewards/fakexplain.py) receives our ground truth and extra_info."""
    import os
    import subprocess

    from .conftest import REPO
    from .test_tiny_model import _swift_exe

    data = tmp_path / "data"
    run_conversion("fakexplained", [synth_raw], data, options=TINY_BOUNDS, echo=lambda s: None)
    log = tmp_path / "reward.jsonl"
    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "MAX_PIXELS": str(TINY_BOUNDS["max_pixels"]),
        "MIN_PIXELS": str(TINY_BOUNDS["min_pixels"]),
        "AIGI_REWARD": json.dumps({"path": str(REPO / "rewards" / "fakexplain.py"), "name": "compute_score"}),
        "AIGI_REWARD_LOG": str(log),
    }
    args = [
        _swift_exe(), "rlhf", "--rlhf_type", "grpo", "--model", str(tiny_qwen), "--model_type", "qwen2_5_vl",
        "--template", "qwen2_5_vl", "--tuner_type", "lora", "--dataset", str(data / "grpo.jsonl"),
        "--use_vllm", "false", "--num_generations", "2", "--per_device_train_batch_size", "2",
        "--max_completion_length", "8", "--max_steps", "1", "--reward_funcs", "aigi_reward",
        "--external_plugins", str(REPO / "data_prep" / "cpu_compat.py"), str(REPO / "rewards" / "swift_adapter.py"),
        "--fp16", "false", "--bf16", "false", "--check_model", "false", "--output_dir", str(tmp_path / "out"),
        "--report_to", "none", "--dataloader_num_workers", "0", "--add_version", "false",
    ]  # fmt: skip
    result = subprocess.run(args, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    grpo = {r["extra_info"]["id"]: r for r in _rows(data / "grpo.jsonl")}
    seen = 0
    for call in calls:
        for truth, extra in zip(call["ground_truths"], call["extra_infos"]):
            row = grpo[extra["id"]]
            assert truth == row["solution"]
            assert {k: extra[k] for k in row["extra_info"]} == row["extra_info"]
            seen += 1
    assert seen >= 2


def test_the_evaluation_reader_accepts_every_manifest_row(all_records, tmp_path):
    """The evaluation stage's own reader (harness/evaluation/manifest.py) reads eval.jsonl as written."""
    from harness.evaluation.manifest import read_manifest

    rows = _rows(all_records / "eval.jsonl")
    items = read_manifest(all_records / "eval.jsonl")
    assert len(items) == len(rows) == 48
    for item, row in zip(items, rows):
        assert (item.id, item.label, item.generator, item.family) == (row["id"], row["label"], row["generator"],
                                                                      row["family"])  # fmt: skip
        assert [list(map(int, b)) for b in item.boxes] == row["boxes"]
        assert item.frame == (row["frame"]["width"], row["frame"]["height"])
        assert item.original_size == (row["orig_width"], row["orig_height"])
        assert item.extra == {}
