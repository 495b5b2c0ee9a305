"""FakeScope's instruction data in its backbones' own format (seed 003: LLaVA-1.5 and mPLUG-Owl2;
FakeInstruct itself is not public): LLaVA ``conversations`` with ``from`` / ``value``, the image
placeholder LLaVA writes (``<image>\\n`` at the start of the first question) or mPLUG-Owl2's
``<|image|>``, and a record's own system turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .published_data import converted, rejects, rows, swift_load, write_jsonl, write_png

SYSTEM = "You are FakeScope, an expert in image forensics."


@pytest.fixture()
def instructions(tmp_path) -> Path:
    write_png(tmp_path / "images" / "fake" / "SDXL" / "0.png", 1)
    write_png(tmp_path / "images" / "real" / "1.png", 2)
    return write_jsonl(tmp_path / "fakeinstruct.jsonl", [
        # LLaVA-1.5 (haotian-liu/LLaVA llava_v1_5_mix665k.json shape)
        {"id": "0", "image": "images/fake/SDXL/0.png", "conversations": [
            {"from": "human", "value": "<image>\nWhat is the authenticity of this image?"},
            {"from": "gpt", "value": "This image is fake."},
            {"from": "human", "value": "Which traces show it?"},
            {"from": "gpt", "value": "The text on the sign is illegible."}]},
        # mPLUG-Owl2's placeholder, the question after it
        {"id": "1", "image": "images/real/1.png", "conversations": [
            {"from": "human", "value": "<|image|>Is this image real or AI-generated?"},
            {"from": "gpt", "value": "This image is real."}]},
        # the record's own system turn, placeholder at the end of the question
        {"id": "2", "image": "images/fake/SDXL/0.png", "conversations": [
            {"from": "system", "value": SYSTEM},
            {"from": "human", "value": "Describe the lighting. <image>"},
            {"from": "gpt", "value": "The shadows point two ways."}]},
        # a placeholder and nothing else: no question
        {"id": "3", "image": "images/real/1.png", "conversations": [
            {"from": "human", "value": "<|image|>\n"}, {"from": "gpt", "value": "Real."}]},
    ])  # fmt: skip


def test_llava_and_mplug_owl2_conversations(instructions, tmp_path):
    out = tmp_path / "out"
    stats = converted("fakescope", [instructions], out)
    assert stats["converted"] == 3 and [r["reason"] for r in rejects(out)] == ["missing_field"]
    assert stats["labels"] == {"fake": 1, "real": 1, "none": 1}  # the verdict the first answer ends with
    llava, owl, own_system = rows(out / "sft.jsonl")
    assert llava["messages"] == [
        {"role": "user", "content": "<image>What is the authenticity of this image?"},
        {"role": "assistant", "content": "This image is fake."},
        {"role": "user", "content": "Which traces show it?"},
        {"role": "assistant", "content": "The text on the sign is illegible."},
    ]
    assert owl["messages"][0] == {"role": "user", "content": "<image>Is this image real or AI-generated?"}
    assert own_system["messages"][:2] == [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "<image>Describe the lighting."},
    ]
    for row in (llava, owl, own_system):
        text = json.dumps(row["messages"])
        assert text.count("<image>") == 1 and "<|image|>" not in text
        assert Path(row["images"][0]).is_file()


def test_the_system_option_replaces_the_records_own(instructions, tmp_path):
    out = tmp_path / "out"
    converted("fakescope", [instructions], out, {"system": "Be brief."})
    assert all(
        r["messages"][0] == {"role": "system", "content": "Be brief."} for r in rows(out / "sft.jsonl")
    )


@pytest.mark.slow
def test_ms_swift_reads_the_fakescope_rows(instructions, tmp_path):
    converted("fakescope", [instructions], tmp_path / "out")
    dataset = swift_load(tmp_path / "out" / "sft.jsonl")
    assert len(dataset) == 3
    assert [m["role"] for m in dataset[2]["messages"]] == ["system", "user", "assistant"]
