"""AIGI-Holmes, Fake-HR1, FakeScope and the two test-set formats: generated inputs in each paper's
shape, converted, and read back where the trainer reads them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from data_prep.conversion import run_conversion


def _png(path: Path, seed: int = 0, size=(64, 48)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray((np.random.default_rng(seed).random((size[1], size[0], 3)) * 255).astype("uint8")).save(
        path
    )
    return path


def _jsonl(path: Path, rows: list) -> Path:
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _rejects(out: Path) -> list[str]:
    return [json.loads(line)["reason"] for line in (out / "rejects.jsonl").read_text().splitlines()]


def _quiet(*args, **kwargs):
    return run_conversion(*args, echo=lambda s: None, **kwargs)


@pytest.fixture()
def holmes(tmp_path) -> Path:
    """The HF dataset's recommended layout: dataset/{0_real,1_fake}/ + dataset/*.jsonl (ms-swift 2.x rows)."""
    root = tmp_path / "dataset"
    _png(root / "0_real" / "a.png", 1)
    _png(root / "1_fake" / "b.png", 2)
    _jsonl(root / "sft.jsonl", [
        {"query": "<image>Is this image real?", "response": "This image is real. The lighting is consistent.",
         "images": ["0_real/a.png"], "system": "You are AIGI-Holmes."},
        {"query": "Explain the artefacts.", "response": "This image is fake: the hands are malformed.",
         "images": ["1_fake/b.png"], "history": [["<image>Look at this.", "I see a portrait."]]},
        {"query": "Where?", "response": "", "images": ["1_fake/b.png"]},
    ])  # fmt: skip
    _jsonl(root / "dpo.jsonl", [
        {"query": "Is this fake?", "response": "Yes, fake: texture errors.", "rejected_response": "It is real.",
         "images": ["1_fake/b.png"]},
        {"query": "<image>Is this fake?", "response": "Yes.", "rejected_response": "Yes.", "images": ["1_fake/b.png"]},
        {"query": "<image><image>Two tags", "response": "x", "rejected_response": "y", "images": ["1_fake/b.png"]},
    ])  # fmt: skip
    return root


def test_aigi_holmes_sft_and_dpo_rows(holmes, tmp_path):
    out = tmp_path / "out"
    stats = _quiet("aigi_holmes", [holmes / "sft.jsonl", holmes / "dpo.jsonl"], out)
    assert stats["written"] == {"sft.jsonl": 2, "dpo.jsonl": 1}
    assert sorted(_rejects(out)) == ["dpo_pair_identical", "empty_response", "media_mismatch"]
    sft = _rows(out / "sft.jsonl")
    assert sft[0]["messages"][0] == {"role": "system", "content": "You are AIGI-Holmes."}
    assert [m["role"] for m in sft[1]["messages"]] == ["user", "assistant", "user", "assistant"]
    assert sft[1]["messages"][0]["content"] == "<image>Look at this."
    assert sft[0]["images"] == [str(holmes / "0_real" / "a.png")]
    dpo = _rows(out / "dpo.jsonl")[0]
    assert (
        dpo["messages"][-2]["content"] == "<image>Is this fake?"
    )  # ms-swift 2.x prepended the tag for LLaVA
    assert (
        dpo["rejected_response"] == "It is real."
        and dpo["messages"][-1]["content"] == "Yes, fake: texture errors."
    )


@pytest.fixture()
def fakeclue(tmp_path) -> Path:
    images = tmp_path / "playground"
    _png(images / "genimage" / "fake" / "1.png", 3)
    _png(images / "genimage" / "real" / "2.png", 4)
    records = [
        {"image": "genimage/fake/1.png", "label": 0, "cate": "genimage",
         "conversations": [{"from": "human", "value": "<image>\nDoes the image looks real/fake?"},
                           {"from": "gpt", "value": "This is a fake image. The fur is smeared."}]},
        {"image": "genimage/real/2.png", "label": 1, "cate": "genimage",
         "conversations": [{"from": "human", "value": "<image>\nDoes the image looks real/fake?"},
                           {"from": "gpt", "value": "This is a real image."}]},
        {"image": "genimage/real/2.png", "label": 7,
         "conversations": [{"from": "human", "value": "<image>"}, {"from": "gpt", "value": "A cat."}]},
    ]  # fmt: skip
    path = tmp_path / "train_clean.json"
    path.write_text(json.dumps(records, indent=1))  # a JSON array, as FakeClue ships it
    return path


FAKECLUE = {"0": "fake", "1": "real"}  # the recipe's label_values for FakeClue (conf/paper/fake_hr1.yaml)


def test_fake_hr1_sft_grpo_and_parquet(fakeclue, tmp_path):
    system = "You are a helpful assistant for AI-generated image detection."
    out = tmp_path / "out"
    stats = _quiet("fake_hr1", [fakeclue], out, options={"image_root": str(tmp_path / "playground"),
                                                        "system": system, "label_values": FAKECLUE})  # fmt: skip
    assert stats["read"] == 3 and stats["written"]["sft.jsonl"] == 2 and _rejects(out) == ["unknown_label"]
    sft = _rows(out / "sft.jsonl")
    assert [m["role"] for m in sft[0]["messages"]] == ["user", "assistant"]  # system comes from the recipe
    assert (
        sft[0]["messages"][1]["content"]
        == "<think>\nThis is a fake image. The fur is smeared.\n</think>\n\nfake"
    )
    assert sft[1]["messages"][1]["content"].endswith("</think>\n\nreal")  # FakeClue label 1 = real
    grpo = _rows(out / "grpo.jsonl")
    assert grpo[0]["solution"] == "fake" and grpo[0]["messages"][0] == {"role": "system", "content": system}
    table = pq.read_table(out / "grpo.parquet").to_pylist()
    assert [r["reward_model"]["ground_truth"] for r in table] == ["fake", "real"]
    assert table[0]["images"] == [{"image": str(tmp_path / "playground" / "genimage" / "fake" / "1.png")}]
    no_think = tmp_path / "no_think"
    _quiet("fake_hr1", [fakeclue], no_think, options={"image_root": str(tmp_path / "playground"),
                                                        "response_style": "no_think", "label_values": FAKECLUE})  # fmt: skip
    assert _rows(no_think / "sft.jsonl")[0]["messages"][1]["content"] == "<think>\n\n</think>\n\nfake"


def test_fake_hr1_other_polarity_needs_explicit_label_values(fakeclue, tmp_path):
    out = tmp_path / "out"
    _quiet("fake_hr1", [fakeclue], out, options={"image_root": str(tmp_path / "playground"),
                                                 "label_values": {"0": "real", "1": "fake"}})  # fmt: skip
    assert _rows(out / "grpo.jsonl")[0]["solution"] == "real"


def test_fakescope_pairs_conversations_and_fakechain(tmp_path):
    _png(tmp_path / "i.png")
    source = _jsonl(tmp_path / "instruct.jsonl", [
        {"image": "i.png", "qa": [{"question": "Is it real?", "answer": "No."},
                                  {"question": "Why?", "answer": "Blur."}]},
        {"image": "i.png", "conversations": [{"from": "human", "value": "<image>Describe."},
                                             {"from": "gpt", "value": "A cat."}]},
        {"image": "i.png", "auth": "fake", "reasoning": "The text is illegible."},
        {"image": "i.png", "qa": [{"question": "Q", "answer": " "}]},
    ])  # fmt: skip
    out = tmp_path / "out"
    _quiet("fakescope", [source], out)
    rows = _rows(out / "sft.jsonl")
    assert [m["content"] for m in rows[0]["messages"]] == ["<image>Is it real?", "No.", "Why?", "Blur."]
    assert rows[1]["messages"][0]["content"] == "<image>Describe."
    assert rows[2]["messages"] == [
        {"role": "user", "content": "<image>What is the authenticity of this image?"},
        {"role": "assistant", "content": "This image is fake. The text is illegible."},
    ]
    assert _rejects(out) == ["empty_response"]
    split = tmp_path / "split"
    _quiet("fakescope", [source], split, options={"split_pairs": True})
    assert len(_rows(split / "sft.jsonl")) == 4
    assert all(r["messages"][0]["content"].startswith("<image>") for r in _rows(split / "sft.jsonl"))


def test_fakescope_only_keeps_one_instruction_type(tmp_path):
    # 003 Table VIII "only absolute" / "only contextual": the data's own type per pair or record
    _png(tmp_path / "i.png")
    source = _jsonl(tmp_path / "instruct.jsonl", [
        {"id": "typed", "image": "i.png", "qa": [
            {"question": "Is it real?", "answer": "This image is fake.", "type": "absolute"},
            {"question": "Why?", "answer": "Blur.", "type": "contextual"},
            {"question": "Where?", "answer": "The hands.", "type": "contextual"}]},
        {"id": "whole", "image": "i.png", "type": "contextual",
         "conversations": [{"from": "human", "value": "<image>Describe."}, {"from": "gpt", "value": "A cat."}]},
        {"id": "untyped", "image": "i.png", "auth": "fake", "reasoning": "The text is illegible."},
        {"id": "typo", "image": "i.png", "qa": [{"question": "Q", "answer": "A", "type": "absolut"}]},
    ])  # fmt: skip
    absolute = tmp_path / "absolute"
    stats = _quiet("fakescope", [source], absolute, options={"only": "absolute"})
    rows = _rows(absolute / "sft.jsonl")
    assert [[m["content"] for m in r["messages"]] for r in rows] == [
        ["<image>Is it real?", "This image is fake."]
    ]
    assert sorted(_rejects(absolute)) == ["bad_record", "missing_field", "no_kept_pairs"]
    assert stats["warnings"] == {"pairs_left_out:contextual": 2}
    assert stats["read"] == stats["converted"] + stats["rejected_total"] == 4
    contextual = tmp_path / "contextual"
    _quiet("fakescope", [source], contextual, options={"only": "contextual"})
    rows = _rows(contextual / "sft.jsonl")
    assert [[m["content"] for m in r["messages"]] for r in rows] == [
        ["<image>Why?", "Blur.", "Where?", "The hands."],
        ["<image>Describe.", "A cat."],
    ]
    assert "This image is fake." not in json.dumps(rows[0]["messages"])  # the verdict pair is left out
    reasons = {json.loads(line)["reason"]: json.loads(line)["detail"]
               for line in (contextual / "rejects.jsonl").read_text().splitlines()}  # fmt: skip
    assert "option only needs each instruction's type" in reasons["missing_field"]
    assert "'absolut' is not one of absolute, contextual" in reasons["bad_record"]
    # without the option the types are not needed and every pair is kept
    everything = tmp_path / "all"
    _quiet("fakescope", [source], everything)
    assert len(_rows(everything / "sft.jsonl")) == 4


def test_testset_folders_keep_the_generator(tmp_path):
    root = tmp_path / "TestSet"
    _png(root / "FLUX" / "0_real" / "r1.png", 1)
    _png(root / "FLUX" / "1_fake" / "f1.png", 2)
    _png(
        root / "VAR" / "subset_a" / "1_fake" / "f2.jpg", 3
    )  # nested class folders (AIGI-Holmes concatenates)
    _png(root / "VAR" / "subset_a" / "0_real" / "r2.png", 4)
    (root / "VAR" / "subset_a" / "0_real" / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()  # what a Hugging Face download leaves: hidden, skipped and counted
    (root / "FLUX" / "1_fake" / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    stats = _quiet("testset_folders", [root], out, options={"min_pixels": 3136, "max_pixels": 12544})
    rows = {r["id"]: r for r in _rows(out / "eval.jsonl")}
    assert set(rows) == {"TestSet/FLUX/0_real/r1.png", "TestSet/FLUX/1_fake/f1.png",
                         "TestSet/VAR/subset_a/1_fake/f2.jpg", "TestSet/VAR/subset_a/0_real/r2.png"}  # fmt: skip
    assert (
        rows["TestSet/FLUX/0_real/r1.png"]["label"] == "real"
        and rows["TestSet/FLUX/1_fake/f1.png"]["label"] == "fake"
    )
    assert rows["TestSet/VAR/subset_a/1_fake/f2.jpg"]["generator"] == "VAR"
    assert rows["TestSet/FLUX/0_real/r1.png"]["frame"] == {"width": 56, "height": 56}
    assert _rejects(out) == ["image_corrupt"]
    assert stats["skipped"] == {"non_image_files": 1, "hidden_folders": [str(root / ".cache")]}


def test_testset_jsonl_manifest(tmp_path):
    _png(tmp_path / "image_0.jpg")
    source = _jsonl(tmp_path / "eva_total_ood_test.jsonl", [
        {"file_path": "image_0.jpg", "label": "fake"},
        {"file_path": "image_0.jpg", "label": "Real", "generator": "Chameleon", "id": "chameleon_0"},
        {"file_path": "image_0.jpg", "label": "fake"},
        {"file_path": "image_0.jpg", "label": "fake or real"},
        {"file_path": "image_0.jpg", "label": 0},
        {"file_path": "missing.jpg", "label": "real"},
    ])  # fmt: skip
    out = tmp_path / "out"
    _quiet("testset_jsonl", [source], out, options={"generator": "ood"})
    rows = _rows(out / "eval.jsonl")
    assert [(r["id"], r["label"], r["generator"]) for r in rows] == [
        ("image_0.jpg", "fake", "ood"),
        ("chameleon_0", "real", "Chameleon"),
    ]
    assert rows[0]["image"] == str(tmp_path / "image_0.jpg") and rows[0]["frame"] is None
    assert rows[0]["messages"] == [{"role": "user", "content": "<image>Is this image real or AI-generated?"}]
    assert _rejects(out) == ["duplicate_id", "unknown_label", "unknown_label", "image_missing"]
    from harness.evaluation.manifest import read_manifest  # the evaluation stage's own reader

    assert [(i.label, i.generator, i.frame) for i in read_manifest(out / "eval.jsonl")] == [
        ("fake", "ood", None),
        ("real", "Chameleon", None),
    ]


@pytest.mark.slow
def test_ms_swift_loader_reads_every_swift_file(holmes, fakeclue, tmp_path):
    from swift.dataset import load_dataset

    _quiet("aigi_holmes", [holmes / "sft.jsonl", holmes / "dpo.jsonl"], tmp_path / "holmes")
    _quiet("fake_hr1", [fakeclue], tmp_path / "hr1", options={"image_root": str(tmp_path / "playground"),
                                                                "label_values": FAKECLUE})  # fmt: skip
    dpo, _ = load_dataset([str(tmp_path / "holmes" / "dpo.jsonl")])
    assert dpo[0]["rejected_response"] == "It is real."
    for path in (tmp_path / "holmes" / "sft.jsonl", tmp_path / "hr1" / "sft.jsonl"):
        dataset, _ = load_dataset([str(path)])
        assert len(dataset) == 2 and all(row["messages"][-1]["role"] == "assistant" for row in dataset)
    grpo, _ = load_dataset([str(tmp_path / "hr1" / "grpo.jsonl")], remove_unused_columns=False)
    assert [row["solution"] for row in grpo] == ["fake", "real"]
