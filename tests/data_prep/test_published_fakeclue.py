"""FakeClue as published (HF ``lingcco/FakeClue``; FACTS.md "Published data formats"):
``data_json/train.json`` is a JSON array (FakeVLM's process_data.py writes it with indent=4) of
``{"image": "ff++/fake/.../160.png", "label": 0, "cate": "deepfake", "width": 256, "height": 256,
"conversations": [...]}`` with label 0 = fake, and the images under ``<root>/<split>/`` (FakeVLM
finetune.sh ``--image_folder playground/data/train``)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .published_data import convert, converted, rejects, rows, swift_load, verl_parquet, write_png

FAKECLUE = {"0": "fake", "1": "real"}  # the recipe's label_values (conf/paper/fake_hr1.yaml)
QUESTION = "<image>\nDoes the image looks real/fake?"
RECORDS = [  # (image path relative to <root>/<split>/, label, cate)
    ("ff++/fake/Deepfakes/c23/frames/071_054/160.png", 0, "deepfake"),
    ("ff++/real/395_057.png", 1, "deepfake"),
    ("genimage/fake/VQDM_1000_200_08_872_vqdm_00109.png", 0, "animal"),
    ("chameleon/fake/9a81652e-b4a7-4ddf-a82c-d78c2f29658c.jpg", 0, "human"),
    ("satellite/real/0042260_real_B.png", 1, "satellite"),
    ("doc/real/page_17.png", 1, "doc"),
]


def _record(image: str, label: int, cate: str) -> dict:
    word = "fake" if label == 0 else "real"
    return {"image": image, "label": label, "cate": cate, "width": 64, "height": 48,
            "conversations": [{"from": "human", "value": QUESTION},
                              {"from": "gpt", "value": f"This is a {word} image. The edges are {cate}-like."}]}  # fmt: skip


def _fakeclue(root: Path, split: str, nested: bool = False) -> Path:
    images = root / split / split if nested else root / split  # test.zip unpacked into test/ nests it
    for index, (image, _, _) in enumerate(RECORDS):
        write_png(images / image, index)
    path = root / "data_json" / f"{split}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps([_record(*r) for r in RECORDS], indent=4), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def train_json(tmp_path_factory) -> Path:
    return _fakeclue(tmp_path_factory.mktemp("fakeclue") / "FakeClue", "train")


def test_fakeclue_converts_with_the_recipes_label_mapping(train_json, tmp_path):
    out = tmp_path / "out"
    stats = converted("fake_hr1", [train_json], out, {"label_values": FAKECLUE})
    assert stats["converted"] == len(RECORDS) and stats["labels"] == {"fake": 3, "real": 3}
    sft = rows(out / "sft.jsonl")
    root = train_json.parent.parent
    assert [r["images"][0] for r in sft] == [str(root / "train" / image) for image, _, _ in RECORDS]
    assert sft[0]["messages"] == [
        {"role": "user", "content": QUESTION},
        {
            "role": "assistant",
            "content": "<think>\nThis is a fake image. The edges are deepfake-like.\n</think>\n\nfake",
        },
    ]
    grpo = rows(out / "grpo.jsonl")
    assert [g["solution"] for g in grpo] == ["fake", "real", "fake", "fake", "real", "real"]
    assert [g["extra_info"]["category"] for g in grpo] == [cate for _, _, cate in RECORDS]


def test_numeric_labels_without_a_mapping_fail_saying_so(train_json, tmp_path):
    out = tmp_path / "out"
    result, stats = convert("fake_hr1", [train_json], out)
    assert result.returncode == 1 and stats["converted"] == 0 and stats["rejected"] == {"unknown_label": 6}
    assert "none of the 6 record(s) could be converted" in result.stderr
    assert "label_values" in result.stderr and '"0": "fake"' in result.stderr
    assert not (out / "sft.jsonl").exists()


def test_a_test_split_unpacked_into_test_test_resolves(tmp_path):
    test_json = _fakeclue(tmp_path / "FakeClue", "test", nested=True)
    stats = converted("fake_hr1", [test_json], tmp_path / "out", {"label_values": FAKECLUE})
    assert stats["converted"] == len(RECORDS)
    assert rows(tmp_path / "out" / "sft.jsonl")[0]["images"][0].startswith(
        str(tmp_path / "FakeClue/test/test/")
    )


def test_the_authors_renamed_file_finds_the_train_images(train_json, tmp_path):
    """Seed 001's train_clean_0916.json sits next to train.json; its first word names the split."""
    renamed = train_json.with_name("train_clean_0916.json")
    renamed.write_text(train_json.read_text())
    stats = converted("fake_hr1", [renamed], tmp_path / "out", {"label_values": FAKECLUE})
    assert stats["converted"] == len(RECORDS)


def test_a_missing_image_names_the_folder_it_was_looked_for_in(train_json, tmp_path):
    broken = train_json.with_name("train_broken.json")
    broken.write_text(json.dumps([_record("genimage/fake/nowhere.png", 0, "animal"), _record(*RECORDS[1])]))
    out = tmp_path / "out"
    converted("fake_hr1", [broken], out, {"label_values": FAKECLUE})
    (reject,) = rejects(out)
    assert reject["reason"] == "image_missing" and str(train_json.parent.parent / "train") in reject["detail"]


@pytest.mark.slow
def test_ms_swift_and_verl_read_the_fakeclue_rows(train_json, tmp_path):
    out = tmp_path / "out"
    converted("fake_hr1", [train_json], out, {"label_values": FAKECLUE})
    sft = swift_load(out / "sft.jsonl")
    assert len(sft) == len(RECORDS) and all(Path(r["images"][0]["path"]).is_file() for r in sft)
    table = verl_parquet(out / "grpo.parquet")
    assert [r["reward_model"]["ground_truth"] for r in table] == [
        "fake",
        "real",
        "fake",
        "fake",
        "real",
        "real",
    ]
    assert all(sum(m["content"].count("<image>") for m in r["prompt"]) == 1 for r in table)


@pytest.mark.parametrize("style", ["think", "no_think"])
def test_sample_answers_are_read_as_the_fakeclue_rows_are(train_json, tmp_path, style):
    """The plan's validation judges the evaluation's format by the source's sample answers
    (harness/validate/answer_format.py): a format reads them exactly when it reads every answer the
    converter writes from FakeClue as published."""
    from common.response_formats import RESPONSE_FORMATS
    from data_prep.source_api import parse_options
    from data_prep.sources.fake_hr1 import Options, sample_answers

    options = {"label_values": FAKECLUE, "response_style": style}
    out = tmp_path / "out"
    converted("fake_hr1", [train_json], out, options)
    learned = [(r["messages"][-1]["content"], s["solution"]) for r, s in zip(rows(out / "sft.jsonl"), rows(out / "grpo.jsonl"), strict=True)]  # fmt: skip
    samples = sample_answers(parse_options(Options, options, "fake_hr1"))
    readers = []
    for name in ("think_answer", "think_tag_verdict", "verdict_tag"):
        parse = RESPONSE_FORMATS.get(name)
        reads_samples = all(parse(s.text, s.frame).verdict == s.label for s in samples)
        assert reads_samples == all(parse(text, None).verdict == label for text, label in learned), name
        readers += [name] if reads_samples else []
    assert readers == ["think_answer"]
