"""The synth layouts (data_prep/synth_layouts/) through their own converters: every record written
comes out of the converter, none is rejected, and the rows say what the raw records said."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from pathlib import Path

import pytest

from data_prep import synth_layouts
from data_prep.conversion import run_conversion

from .conftest import run_cli

SYSTEM = "You detect AI-generated images."


def _convert(source: str, inputs: list[Path], out: Path, options: dict | None = None) -> dict:
    return run_conversion(source, inputs, out, options=options or {}, echo=lambda s: None)


def _raw_records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _assert_all_converted(stats: dict, count: int) -> None:
    assert stats["read"] == count
    assert stats["converted"] == count, stats["rejected"]
    assert stats["rejected_total"] == 0, stats["rejected"]


def _digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}  # fmt: skip


def test_fake_hr1_layout_through_the_fake_hr1_converter(tmp_path):
    genimage, fakeclue = synth_layouts.generate("fake_hr1", tmp_path / "raw", num_fake=3, num_real=2, seed=1)
    assert genimage == tmp_path / "raw" / "GenImage" / "train_cleaned_0915.json"
    assert fakeclue == tmp_path / "raw" / "FakeClue" / "data_json" / "train_clean_0916.json"
    # The options the recipe gives (conf/paper/fake_hr1.yaml): FakeClue's numeric labels stated there.
    options = {
        "genimage": {"system": SYSTEM},
        "fakeclue": {"system": SYSTEM, "label_values": {"0": "fake", "1": "real"}},
    }
    for path, name in ((genimage, "genimage"), (fakeclue, "fakeclue")):
        raw = _raw_records(path)
        assert len(raw) == 5
        out = tmp_path / name
        stats = _convert("fake_hr1", [path], out, options[name])
        _assert_all_converted(stats, 5)
        assert stats["written"] == {"sft.jsonl": 5, "grpo.jsonl": 5, "grpo.parquet": 5}
        assert stats["labels"] == {"fake": 3, "real": 2}
        sft, grpo = _rows(out / "sft.jsonl"), _rows(out / "grpo.jsonl")
        for _record, row, prompt in zip(raw, sft, grpo):
            # the label is the image's folder (GenImage ai/nature, FakeClue fake/real)
            folder = next(
                p for p in Path(prompt["images"][0]).parts[::-1] if p in ("ai", "nature", "fake", "real")
            )
            expected = {"ai": "fake", "nature": "real"}.get(folder, folder)
            assert prompt["solution"] == expected
            assert prompt["messages"][0] == {"role": "system", "content": SYSTEM}
            answer = row["messages"][-1]["content"]
            assert answer.startswith("<think>\n") and answer.endswith(f"</think>\n\n{expected}")
            assert Path(row["images"][0]).is_file()
        if name == "genimage":
            # The authors' cleaned file as swift sft reads it: ms-swift rows without a label, in every
            # shape ms-swift accepts, paths relative to the README's working directory.
            assert not any("label" in r for r in raw)
            assert Counter(next(k for k in ("messages", "query", "conversations") if k in r) for r in raw) == {
                "messages": 2, "query": 2, "conversations": 1}  # fmt: skip
            assert all(r["images"][0].startswith("./GenImage/") for r in raw)
            no_think = [r for r in sft if r["messages"][-1]["content"].startswith("<think>\n\n</think>")]
            assert len(no_think) == 2  # every other fake is an "easy" one (001 hybrid format)
        else:
            assert Counter(r["label"] for r in raw) == {0: 3, 1: 2}  # FakeClue: 0 = fake, 1 = real
            assert all("conversations" in r and r["cate"] for r in raw)
            assert all(not Path(r["image"]).is_absolute() for r in raw)  # relative to FakeClue/train/
            assert all("This is a" in r["messages"][-1]["content"] for r in sft)
    # The GenImage folders themselves: train images for training, val images as a test set.
    folders = _convert("fake_hr1", [tmp_path / "raw" / "GenImage"], tmp_path / "folders")
    _assert_all_converted(folders, 5)
    test = _convert("testset_folders", [tmp_path / "raw" / "GenImage"], tmp_path / "genimage_test")
    _assert_all_converted(test, 4)  # num_val defaults to 4


def test_aigi_holmes_layout_through_the_aigi_holmes_converter(tmp_path):
    root = tmp_path / "AIGI-Holmes-Dataset"
    sft_file, dpo_file, val_file = synth_layouts.generate(
        "aigi_holmes", root, num_fake=3, num_real=3, num_val=2
    )
    assert [p.name for p in (sft_file, dpo_file, val_file)] == ["SFTDATA.jsonl", "DPODATA.jsonl", "val.jsonl"]
    assert {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_dir()} == {
        "dataset", "dataset/0_real", "dataset/1_fake"}  # fmt: skip
    for path, count, output in (
        (sft_file, 6, "sft.jsonl"),
        (dpo_file, 6, "dpo.jsonl"),
        (val_file, 2, "sft.jsonl"),
    ):
        raw = _raw_records(path)
        # As published: ms-swift 2.x rows, no label, paths relative to the dataset root.
        assert len(raw) == count and all(
            set(r) - {"rejected_response"} == {"query", "response", "images"} for r in raw
        )
        assert all(r["images"][0].startswith("./dataset/") for r in raw)
        out = tmp_path / path.stem
        stats = _convert("aigi_holmes", [path], out)  # no options: the paths resolve against the root
        _assert_all_converted(stats, count)
        assert stats["written"][output] == count
        assert stats["labels"] == {"fake": count // 2, "real": count // 2}  # from the 0_real/1_fake paths
        other = "sft.jsonl" if output == "dpo.jsonl" else "dpo.jsonl"
        assert stats["written"][other] == 0
        for row in _rows(out / output):
            image = Path(row["images"][0])
            label = {"0_real": "real", "1_fake": "fake"}[image.parent.name]
            assert image.is_file()
            assert row["messages"][-1]["content"].startswith(f"This image is {label}.")
            assert sum(m["content"].count("<image>") for m in row["messages"]) == 1
            if output == "dpo.jsonl":
                opposite = "real" if label == "fake" else "fake"
                assert row["rejected_response"].startswith(f"This image is {opposite}.")
    # With the recipe's image_root (the download folder) the converter finds the same files.
    stats = _convert("aigi_holmes", [sft_file], tmp_path / "with_root", {"image_root": str(root)})
    _assert_all_converted(stats, 6)


def test_fakescope_layout_through_the_fakescope_converter(tmp_path):
    (path,) = synth_layouts.generate("fakescope", tmp_path / "raw", num_fake=3, num_real=3)
    raw = _raw_records(path)
    shapes = Counter(next(k for k in ("auth", "qa", "conversations") if k in r) for r in raw)
    assert shapes == {"auth": 2, "qa": 2, "conversations": 2}  # every accepted record shape
    stats = _convert("fakescope", [path], tmp_path / "out")
    _assert_all_converted(stats, 6)
    assert stats["written"] == {"sft.jsonl": 6}
    for record, row in zip(raw, _rows(tmp_path / "out" / "sft.jsonl")):
        label = "fake" if "/fake/" in record["image"] else "real"
        messages = row["messages"]
        assert messages[0]["role"] == "user" and messages[0]["content"].startswith("<image>")
        assert f"This image is {label}." in messages[1]["content"]
        assert len(messages) == (2 if "auth" in record else 4)
        assert Path(row["images"][0]).is_file()


def test_testset_folders_layout_through_the_testset_folders_converter(tmp_path):
    (root,) = synth_layouts.generate("testset_folders", tmp_path / "raw", num_fake=2, num_real=1,
                                     generators=["proGAN", "MJ"])  # fmt: skip
    assert root.name == "TestSet" and sorted(p.name for p in root.iterdir()) == ["MJ", "proGAN"]
    stats = _convert("testset_folders", [root], tmp_path / "out")
    _assert_all_converted(stats, 6)
    rows = _rows(tmp_path / "out" / "eval.jsonl")
    assert Counter(r["generator"] for r in rows) == {"proGAN": 3, "MJ": 3}
    assert Counter(r["label"] for r in rows) == {"fake": 4, "real": 2}
    assert all({"0_real": "real", "1_fake": "fake"}[Path(r["image"]).parent.name] == r["label"] for r in rows)
    with pytest.raises(ValueError, match="distinct folder names"):
        synth_layouts.generate("testset_folders", tmp_path / "bad", generators=["a", "a"])


@pytest.mark.parametrize("generators", [None, ["FLUX", "SD35-L"]])
def test_testset_jsonl_layout_through_the_testset_jsonl_converter(tmp_path, generators):
    (path,) = synth_layouts.generate(
        "testset_jsonl", tmp_path / "raw", num_fake=3, num_real=2, generators=generators
    )
    raw = _raw_records(path)
    assert all(
        set(r) == ({"file_path", "label", "generator"} if generators else {"file_path", "label"}) for r in raw
    )
    stats = _convert("testset_jsonl", [path], tmp_path / "out", {"system": SYSTEM})
    _assert_all_converted(stats, 5)
    rows = _rows(tmp_path / "out" / "eval.jsonl")
    assert [r["label"] for r in rows] == [r["label"] for r in raw]
    assert all(Path(r["image"]).parent.name == r["label"] for r in rows)
    assert all(r["messages"][0] == {"role": "system", "content": SYSTEM} for r in rows)
    expected = [generators[i % 2] for i in range(5)] if generators else [None] * 5
    assert [r["generator"] for r in rows] == expected


@pytest.mark.parametrize("layout", synth_layouts.LAYOUTS.names())
def test_layouts_are_a_function_of_the_seed(tmp_path, layout):
    options = {"num_fake": 2, "num_real": 2}
    synth_layouts.generate(layout, tmp_path / "a", seed=3, **options)
    synth_layouts.generate(layout, tmp_path / "b", seed=3, **options)
    synth_layouts.generate(layout, tmp_path / "c", seed=4, **options)
    a, b, c = (_digest(tmp_path / name) for name in "abc")
    assert a == b
    assert a.keys() == c.keys() and a != c


def test_training_and_test_layouts_do_not_share_pictures(tmp_path):
    """A smoke run makes its training set and its test set with the same seed."""
    synth_layouts.generate("fake_hr1", tmp_path / "train", num_fake=3, num_real=3, seed=0, vary_size=False)
    synth_layouts.generate(
        "testset_jsonl", tmp_path / "test", num_fake=3, num_real=3, seed=0, vary_size=False
    )
    train = set(_digest(tmp_path / "train").values())
    test = {h for name, h in _digest(tmp_path / "test").items() if name.endswith(".png")}
    assert test and not (train & test)


def test_fixed_size_writes_every_image_at_the_given_size(tmp_path):
    from PIL import Image

    (root,) = synth_layouts.generate("testset_folders", tmp_path, num_fake=2, num_real=2, size=(64, 40),
                                     vary_size=False)  # fmt: skip
    sizes = {Image.open(p).size for p in root.rglob("*.png")}
    assert sizes == {(64, 40)}


def test_cli_writes_a_layout_and_rejects_options_the_layout_does_not_take(tmp_path):
    made = run_cli("synth", "--layout", "testset_folders", "--output-dir", str(tmp_path / "t"), "--num-fake", "1",
                   "--num-real", "1", "--generators", "A", "--generators", "B", "--size", "48x40",
                   "--fixed-size")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert str(tmp_path / "t" / "TestSet") in made.stdout
    assert sorted(p.relative_to(tmp_path / "t").as_posix() for p in (tmp_path / "t").rglob("*.png")) == [
        "TestSet/A/0_real/000001.png", "TestSet/A/1_fake/000000.png",
        "TestSet/B/0_real/000001.png", "TestSet/B/1_fake/000000.png",
    ]  # fmt: skip
    refused = run_cli(
        "synth", "--layout", "fakescope", "--output-dir", str(tmp_path / "f"), "--generators", "A"
    )
    assert refused.returncode == 2 and "takes no --generators" in refused.stderr
    assert not (tmp_path / "f").exists()
    unknown = run_cli("synth", "--layout", "nope", "--output-dir", str(tmp_path / "n"))
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr


def test_unknown_layout_names_the_known_ones(tmp_path):
    with pytest.raises(ValueError, match=r"'fake_hr2' \(did you mean: fake_hr1\?\); known layouts: "):
        synth_layouts.generate("fake_hr2", tmp_path)


def test_fakexplained_through_the_layout_registry(tmp_path):
    (root,) = synth_layouts.generate("fakexplained", tmp_path / "raw", num_fake=2, num_real=2, seed=5)
    assert root == (tmp_path / "raw").resolve() and (root / "annotations.jsonl").is_file()
    stats = _convert("fakexplained", [root], tmp_path / "out", {"fold": 0, "num_folds": 2})
    _assert_all_converted(stats, 4)
