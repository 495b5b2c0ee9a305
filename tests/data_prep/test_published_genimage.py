"""GenImage as its archives unpack (FACTS.md "Published data formats"):
``<generator>/<subset>/{train,val}/{ai,nature}/`` with ai = fake and nature = real. Accepted as
Fake-HR1 training data (``--source fake_hr1``, the train split) and as a test set
(``--source testset_folders``, the val split), the generator kept for per-generator accuracy."""

from __future__ import annotations

from pathlib import Path

import pytest

from .published_data import convert, converted, rows, swift_load, verl_parquet, write_png

SUBSETS = {"ADM": "imagenet_ai_0508_adm", "stable_diffusion_v_1_4": "imagenet_ai_0419_sdv4",
           "Midjourney": "imagenet_midjourney"}  # fmt: skip


@pytest.fixture(scope="module")
def genimage(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data") / "GenImage"
    seed = 0
    for generator, subset in SUBSETS.items():
        for split, count in (("train", 3), ("val", 2)):
            for folder in ("ai", "nature"):
                for index in range(count):
                    seed += 1
                    suffix = ".PNG" if folder == "ai" else ".JPEG"  # GenImage's reals are ImageNet JPEGs
                    write_png(
                        root / generator / subset / split / folder / f"{generator}_{index}{suffix}", seed
                    )
    (root / "ADM" / SUBSETS["ADM"] / "train" / "ai" / "Thumbs.db").write_bytes(b"not an image")
    (root / ".cache" / "huggingface").mkdir(parents=True)  # left by a hub download
    return root


def test_genimage_trains_fake_hr1_on_its_train_split(genimage, tmp_path):
    out = tmp_path / "train"
    stats = converted("fake_hr1", [genimage], out, {"system": "Detect."})
    assert stats["converted"] == 3 * 2 * 3 and stats["labels"] == {"fake": 9, "real": 9}
    assert stats["skipped"]["non_image_files"] == 1 and len(stats["skipped"]["val_split_folders"]) == 3
    assert stats["skipped"]["hidden_folders"] == [str(genimage / ".cache")]
    sft = rows(out / "sft.jsonl")
    assert all("/train/" in r["images"][0] for r in sft)
    # No explanations in GenImage: the hybrid format's no-think answer (001 README system prompt).
    for row in sft:
        label = "fake" if "/ai/" in row["images"][0] else "real"
        assert row["messages"][-1]["content"] == f"<think>\n\n</think>\n\n{label}"
    categories = {r["extra_info"]["category"] for r in rows(out / "grpo.jsonl")}
    assert categories == set(SUBSETS)  # the generator, for per-generator numbers
    result, _ = convert("fake_hr1", [genimage], tmp_path / "again", {"system": "Detect."})
    assert "skipped non_image_files: 1" in result.stdout and "skipped val_split_folders: 3" in result.stdout


def test_genimage_val_is_a_test_set_with_its_generators(genimage, tmp_path):
    out = tmp_path / "test"
    stats = converted("testset_folders", [genimage], out)
    assert stats["converted"] == 3 * 2 * 2 and stats["labels"] == {"fake": 6, "real": 6}
    manifest = rows(out / "eval.jsonl")
    assert {r["generator"] for r in manifest} == set(SUBSETS)
    assert all("/val/" in r["image"] for r in manifest)
    assert {(r["label"], Path(r["image"]).parent.name) for r in manifest} == {
        ("fake", "ai"),
        ("real", "nature"),
    }
    from harness.evaluation.manifest import read_manifest  # the evaluation stage's own reader

    assert len(read_manifest(out / "eval.jsonl")) == 12


def test_one_generator_folder_as_input_is_read_too(genimage, tmp_path):
    stats = converted("testset_folders", [genimage / "ADM" / SUBSETS["ADM"]], tmp_path / "one")
    assert stats["converted"] == 4
    assert {r["generator"] for r in rows(tmp_path / "one" / "eval.jsonl")} == {SUBSETS["ADM"]}


def test_a_folder_outside_the_layout_fails_naming_it(genimage, tmp_path):
    stray = genimage / "Midjourney" / "notes"
    stray.mkdir()
    try:
        result, stats = convert("testset_folders", [genimage], tmp_path / "out")
    finally:
        stray.rmdir()
    assert result.returncode == 2 and stats is None
    assert str(stray) in result.stderr and "{train,val}/{ai,nature}" in result.stderr


def test_files_outside_the_class_folders_are_counted_as_skipped(genimage, tmp_path):
    adm = genimage / "ADM"
    strays = [
        genimage / "README.txt",
        adm / "imagenet_ai_0508_adm.z01",  # GenImage ships each generator as a split zip
        adm / "imagenet_ai_0508_adm.zip",
        adm / SUBSETS["ADM"] / "md5sum.txt",  # next to train/ and val/
        adm / SUBSETS["ADM"] / "val" / "labels.csv",  # next to ai/ and nature/
    ]
    for path in strays:
        path.write_bytes(b"not an image")
    try:
        result, stats = convert("testset_folders", [genimage], tmp_path / "out")
    finally:
        for path in strays:
            path.unlink()
    assert result.returncode == 0, result.stderr
    assert stats["converted"] == 12  # unchanged: none of them is read as an image
    assert sorted(stats["skipped"]["files_outside_class_folders"]) == sorted(map(str, strays))
    assert f"skipped files_outside_class_folders: 5 ({genimage / 'README.txt'}, " in result.stdout


def test_a_subset_without_the_split_asked_for_fails_naming_it(tmp_path):
    write_png(tmp_path / "GenImage" / "VQDM" / "imagenet_ai_0419_vqdm" / "train" / "ai" / "0.png")
    result, _ = convert("testset_folders", [tmp_path / "GenImage"], tmp_path / "out")
    assert result.returncode == 2
    assert "imagenet_ai_0419_vqdm (no val/ folder" in result.stderr


@pytest.mark.slow
def test_ms_swift_reads_the_genimage_rows(genimage, tmp_path):
    converted("fake_hr1", [genimage], tmp_path / "train")
    sft = swift_load(tmp_path / "train" / "sft.jsonl")
    assert len(sft) == 18 and all(len(r["images"]) == 1 for r in sft)


def test_verl_reads_the_genimage_grpo_parquet(genimage, tmp_path):
    out = tmp_path / "train"
    converted("fake_hr1", [genimage], out, {"system": "Detect."})
    table = verl_parquet(out / "grpo.parquet")  # verl's RLHFDataset reading path
    assert len(table) == 18
    for row in table:
        (image,) = row["images"]
        path = Path(image["image"])
        assert path.is_file() and path.parent.parent.name == "train"
        assert row["reward_model"]["ground_truth"] == {"ai": "fake", "nature": "real"}[path.parent.name]
        assert row["extra_info"]["category"] == path.parents[3].name  # the generator
        assert sum(m["content"].count("<image>") for m in row["prompt"]) == 1
