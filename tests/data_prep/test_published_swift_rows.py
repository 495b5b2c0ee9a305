"""Fake-HR1's training files as seed 001 feeds them to ``swift sft`` (FACTS.md "Published data
formats"): ms-swift rows without a label field, in every shape the pinned ms-swift 4.6 reads itself
(swift/dataset/preprocessor/core.py: messages, conversations with from/value, query/response with
history, ShareGPT pairs, Alpaca instruction/input/output), image paths relative to the README's
working directory. Converted by ``python -m data_prep convert --source fake_hr1`` and read back by
ms-swift's loader and by verl's RLHFDataset."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from .published_data import convert, converted, rejects, rows, swift_load, verl_parquet, write_png

SYSTEM = "You are a helpful assistant for AI-generated image detection."
Q = "<image>Is this image real or fake?"
THINK = "<think>\nThe fur melts into the background.\n</think>\n\nfake"


def _records() -> list[tuple[dict, str | None]]:
    """(record, expected label or the reject reason) in the authors' file's JSON array."""
    img = "./GenImage/ADM/imagenet_ai_0508_adm/train/ai/1.png"
    real = "./GenImage/ADM/imagenet_ai_0508_adm/train/nature/2.png"
    return [
        ({"messages": [{"role": "user", "content": Q}, {"role": "assistant", "content": THINK}],
          "images": [img]}, "fake"),
        ({"query": Q, "response": "<think>\n\n</think>\n\nreal", "images": [real]}, "real"),
        ({"conversations": [{"from": "human", "value": Q}, {"from": "gpt", "value": "<think>\n\n</think>\n\nfake"}],
          "image": img}, "fake"),
        ({"conversation": [{"human": Q, "assistant": "real"}], "images": [real]}, "real"),  # ShareGPT pairs
        ({"instruction": "Is this image real or fake?", "input": "<image>", "output": "fake", "images": [img]},
         "fake"),  # Alpaca
        ({"system": "old prompt", "query": "Explain.", "response": "<think>\nSharp.\n</think>\n\nreal",
          "history": [[Q, "Let me look."]], "images": [real]}, "real"),
        ({"messages": [{"role": "system", "content": "old"}, {"role": "user", "content": Q},
                       {"role": "assistant", "content": "It is hard to say."}], "images": [img]}, "unknown_label"),
        ({"query": Q, "response": "", "images": [img], "label": "fake"}, "empty_response"),
        ({"messages": [{"role": "user", "content": Q}], "images": [img]}, "missing_field"),
        ({"prompt": Q, "images": [img], "label": "real"}, "empty_response"),
        ({"images": [img], "verdict": "fake"}, "bad_record"),
        ({"messages": [{"role": "user", "content": Q}, {"role": "assistant", "content": THINK}],
          "images": ["./GenImage/ADM/missing.png"]}, "image_missing"),
    ]  # fmt: skip


@pytest.fixture(scope="module")
def authors_file(tmp_path_factory) -> Path:
    """DIR/GenImage/train_cleaned_0915.json with its images under DIR/GenImage/ (001 README layout)."""
    root = tmp_path_factory.mktemp("hr1")
    write_png(root / "GenImage/ADM/imagenet_ai_0508_adm/train/ai/1.png", 1)
    write_png(root / "GenImage/ADM/imagenet_ai_0508_adm/train/nature/2.png", 2)
    path = root / "GenImage" / "train_cleaned_0915.json"
    path.write_text(json.dumps([record for record, _ in _records()], indent=2), encoding="utf-8")
    return path


def test_every_ms_swift_row_shape_converts_with_its_label_from_the_answer(authors_file, tmp_path):
    out = tmp_path / "out"
    stats = converted("fake_hr1", [authors_file], out, {"system": SYSTEM})
    expected = [want for _, want in _records()]
    labels = [w for w in expected if w in ("real", "fake")]
    assert stats["read"] == len(expected) and stats["converted"] == len(labels)
    assert stats["labels"] == {"fake": labels.count("fake"), "real": labels.count("real")}
    got = {int(r["location"].rsplit("[", 1)[1].rstrip("]")): r["reason"] for r in rejects(out)}
    assert got == {i: want for i, want in enumerate(expected) if want not in ("real", "fake")}
    assert stats["warnings"] == {"system_turn_dropped": 1}  # the recipe's --system replaces a row's own
    sft, grpo = rows(out / "sft.jsonl"), rows(out / "grpo.jsonl")
    assert [g["solution"] for g in grpo] == labels
    assert sft[0]["messages"][-1]["content"] == THINK  # already in the hybrid format: kept
    assert (
        sft[3]["messages"][-1]["content"] == "<think>\n\n</think>\n\nreal"
    )  # a bare verdict: no think steps
    assert sft[4]["messages"][0] == {"role": "user", "content": "Is this image real or fake?\n<image>"}
    # The history turns stay before the last question; the image tag sits where the row put it.
    assert [m["role"] for m in sft[5]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert sft[5]["messages"][0]["content"] == Q
    assert grpo[5]["messages"][0] == {"role": "system", "content": SYSTEM}
    assert all(Path(r["images"][0]).is_file() for r in sft)


def test_reject_reasons_say_what_is_wrong(authors_file, tmp_path):
    out = tmp_path / "out"
    convert("fake_hr1", [authors_file], out)
    details = {r["reason"]: r["detail"] for r in rejects(out)}
    assert (
        "does not end with real or fake" in details["unknown_label"]
        and "hard to say" in details["unknown_label"]
    )
    assert "no answer to train on" in details["empty_response"]
    assert "no 'label' field and no answer" in details["missing_field"]
    assert "no conversation" in details["bad_record"] and "'verdict'" in details["bad_record"]
    assert "./GenImage/ADM/missing.png" in details["image_missing"]


def test_no_think_trains_the_verdict_of_rows_without_an_answer(authors_file, tmp_path):
    out = tmp_path / "out"
    stats = converted("fake_hr1", [authors_file], out, {"response_style": "no_think"})
    assert stats["rejected"] == {"unknown_label": 1, "missing_field": 1, "bad_record": 1, "image_missing": 1}
    assert all(
        r["messages"][-1]["content"].startswith("<think>\n\n</think>\n\n") for r in rows(out / "sft.jsonl")
    )


def test_image_root_overrides_the_search(authors_file, tmp_path):
    out = tmp_path / "out"
    result, stats = convert("fake_hr1", [authors_file], out, {"image_root": str(tmp_path)})
    assert result.returncode == 1 and stats["converted"] == 0
    assert "none of the 12 record(s) could be converted" in result.stderr
    assert all(r["reason"] in ("image_missing", "bad_record") for r in rejects(out))


@pytest.mark.slow
def test_ms_swift_and_verl_read_the_converted_rows(authors_file, tiny_qwen, tmp_path):
    from data_prep import cpu_compat

    cpu_compat.apply()
    out = tmp_path / "out"
    stats = converted("fake_hr1", [authors_file], out, {"system": SYSTEM})
    sft = swift_load(out / "sft.jsonl")
    assert len(sft) == stats["converted"]
    assert all(row["messages"][-1]["role"] == "assistant" for row in sft)
    grpo = swift_load(out / "grpo.jsonl", remove_unused_columns=False)
    assert [row["solution"] for row in grpo] == [r["solution"] for r in rows(out / "grpo.jsonl")]
    table = verl_parquet(out / "grpo.parquet")
    assert [r["reward_model"]["ground_truth"] for r in table] == [row["solution"] for row in grpo]

    from omegaconf import OmegaConf
    from transformers import AutoProcessor
    from verl.utils.dataset.rl_dataset import RLHFDataset

    processor = AutoProcessor.from_pretrained(tiny_qwen)
    config = OmegaConf.create({"prompt_key": "prompt", "image_key": "images", "max_prompt_length": 4096,
                               "filter_overlong_prompts": True, "filter_overlong_prompts_workers": 1,
                               "cache_dir": str(tmp_path / "verl_cache")})  # fmt: skip
    dataset = RLHFDataset(str(out / "grpo.parquet"), processor.tokenizer, config, processor)
    assert len(dataset) == stats["converted"]  # nothing filtered
    item = dataset[0]
    images, _ = asyncio.run(RLHFDataset.process_vision_info(item["raw_prompt"], 14, config))
    assert len(images) == 1 and item["reward_model"]["ground_truth"] == "fake"
