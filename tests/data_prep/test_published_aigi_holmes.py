"""AIGI-Holmes as Hugging Face publishes it (``zzy0123/AIGI-Holmes-Dataset``, FACTS.md "Published
data formats"): ``SFTDATA.jsonl`` at the root with rows ``{"query", "response", "images":
["./dataset/1_fake/<name>.png"]}`` (paths relative to the dataset root, the label only in the
path), the images in ``dataset_huggingface.zip`` and the test set in ``TestSet.zip``. No DPO file.

The repository is served by a local stand-in of the Hub (fake_hubs.py) and fetched with the real
huggingface_hub client through ``python -m data_prep download --unpack``; the rows go through
``python -m data_prep convert`` and the output through ms-swift's own loader."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from data_prep.hub_download import DownloadFailed, unpack_archive

from .conftest import run_cli
from .fake_hubs import FakeHub
from .published_data import converted, png_bytes, rejects, rows, swift_load, write_jsonl, zip_bytes

REPO = "zzy0123/AIGI-Holmes-Dataset"
# Names in the published pattern (progan_train_horse_1_fake_19373.png): source, split, class, label, number.
FAKES = [
    "progan_train_horse_1_fake_19373.png",
    "sdv14_train_cat_1_fake_00412.png",
    "dalle_train_car_1_fake_7.png",
]
REALS = ["progan_train_horse_0_real_19373.png", "coco_train_dog_0_real_00031.png"]
QUERY = "<image>\nIs this image real or AI-generated? Please explain."


def _sft_rows() -> list[dict]:
    out = []
    for name in FAKES:
        out.append({"query": QUERY, "response": f"This image is AI-generated. The {name.split('_')[2]} has "
                    "smeared fur and warped geometry.", "images": [f"./dataset/1_fake/{name}"]})  # fmt: skip
    for name in REALS:
        out.append({"query": QUERY, "response": "This image is real. Lighting and textures are consistent.",
                    "images": [f"./dataset/0_real/{name}"]})  # fmt: skip
    return out


def _images_zip(top: str = "dataset/") -> bytes:
    members = {f"{top}1_fake/{name}": png_bytes(i) for i, name in enumerate(FAKES)}
    members |= {f"{top}0_real/{name}": png_bytes(10 + i) for i, name in enumerate(REALS)}
    return zip_bytes(members)


def _testset_zip() -> bytes:
    members = {}
    for g, generator in enumerate(("FLUX", "SD35-L", "Janus-Pro-7B")):
        for i in range(2):
            members[f"TestSet/{generator}/0_real/{i}.png"] = png_bytes(100 + 10 * g + i)
            members[f"TestSet/{generator}/1_fake/{i}.png"] = png_bytes(200 + 10 * g + i)
    members["__MACOSX/TestSet/._FLUX"] = b"resource fork"  # zipped on a Mac: not data
    return zip_bytes(members)


def _repo_files() -> dict[str, bytes]:
    sft = "".join(json.dumps(r) + "\n" for r in _sft_rows()).encode()
    return {"SFTDATA.jsonl": sft, "dataset_huggingface.zip": _images_zip(), "TestSet.zip": _testset_zip(),
            "README.md": b"# AIGI-Holmes-Dataset\n"}  # fmt: skip


@pytest.fixture(scope="module")
def downloaded(tmp_path_factory) -> Path:
    """The dataset fetched and unpacked as the recipe's download_data stage does it."""
    root = tmp_path_factory.mktemp("holmes") / "AIGI-Holmes-Dataset"
    with FakeHub(REPO, _repo_files(), repo_type="dataset") as hub:
        result = run_cli("download", "--hub", "hf", "--repo-type", "dataset", "--repo-id", REPO,
                         "--cache-dir", str(root.parent / "cache"), "--local-dir", str(root),
                         "--unpack", "dataset_huggingface.zip=dataset", "--unpack", "TestSet.zip=TestSet",
                         env={"HF_ENDPOINT": hub.endpoint})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert Path(result.stdout.strip().splitlines()[-1]) == root
    assert "dataset_huggingface.zip: unpacked into" in result.stderr and "5 file(s) written" in result.stderr
    return root


def test_download_unpacks_the_archives_where_the_rows_point(downloaded):
    root = downloaded
    for row in _sft_rows():
        assert (root / row["images"][0]).is_file(), row["images"][0]
    # TestSet.zip's entries start with TestSet/: unpacked into TestSet without nesting it twice.
    assert sorted(p.name for p in (root / "TestSet").iterdir()) == ["FLUX", "Janus-Pro-7B", "SD35-L"]
    assert not (root / "TestSet" / "TestSet").exists() and not (root / "TestSet" / "__MACOSX").exists()


def test_rerunning_the_download_does_not_unpack_again(downloaded):
    with FakeHub(REPO, _repo_files(), repo_type="dataset") as hub:
        again = run_cli("download", "--hub", "hf", "--repo-type", "dataset", "--repo-id", REPO,
                        "--cache-dir", str(downloaded.parent / "cache"), "--local-dir", str(downloaded),
                        "--unpack", "dataset_huggingface.zip=dataset", "--unpack", "TestSet.zip=TestSet",
                        env={"HF_ENDPOINT": hub.endpoint})  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "dataset_huggingface.zip: already unpacked" in again.stderr
    assert "TestSet.zip: already unpacked" in again.stderr


def test_published_sft_rows_convert_without_options(downloaded, tmp_path):
    """Paths resolve against the dataset root (the jsonl's folder); labels come from 0_real/1_fake."""
    out = tmp_path / "sft"
    stats = converted("aigi_holmes", [downloaded / "SFTDATA.jsonl"], out)
    assert stats["read"] == 5 and stats["converted"] == 5 and stats["rejected_total"] == 0
    assert stats["labels"] == {"fake": 3, "real": 2}
    assert stats["written"] == {"sft.jsonl": 5, "dpo.jsonl": 0}
    written = rows(out / "sft.jsonl")
    assert written[0]["messages"] == [{"role": "user", "content": QUERY},
                                      {"role": "assistant", "content": _sft_rows()[0]["response"]}]  # fmt: skip
    assert written[0]["images"] == [str(downloaded / "dataset" / "1_fake" / FAKES[0])]


def test_the_recipes_options_read_the_same_rows(downloaded, tmp_path):
    """conf/paper/aigi_holmes.yaml: image_root = the download folder, expect = sft."""
    stats = converted("aigi_holmes", [downloaded / "SFTDATA.jsonl"], tmp_path / "sft",
                      {"image_root": str(downloaded), "expect": "sft"})  # fmt: skip
    assert stats["converted"] == 5 and stats["labels"] == {"fake": 3, "real": 2}


def test_a_jsonl_inside_the_dataset_folder_resolves_against_the_root(downloaded, tmp_path):
    """The README's recommended layout keeps *.jsonl in dataset/; its ./dataset/ paths still resolve."""
    inner = downloaded / "dataset" / "val.jsonl"
    write_jsonl(inner, _sft_rows()[:2])
    try:
        stats = converted("aigi_holmes", [inner], tmp_path / "val")
    finally:
        inner.unlink()
    assert stats["converted"] == 2


def test_testset_zip_converts_with_its_generators(downloaded, tmp_path):
    out = tmp_path / "test"
    stats = converted("testset_folders", [downloaded / "TestSet"], out)
    assert stats["converted"] == 12 and stats["labels"] == {"real": 6, "fake": 6}
    assert {r["generator"] for r in rows(out / "eval.jsonl")} == {"FLUX", "SD35-L", "Janus-Pro-7B"}


def test_the_unpublished_dpo_set_is_named_with_its_format(tmp_path):
    missing = tmp_path / "AIGI-Holmes-DPO" / "DPODATA.jsonl"
    result = run_cli("convert", "--source", "aigi_holmes", "--input", str(missing), "--output-dir",
                     str(tmp_path / "out"), "--options", json.dumps({"expect": "dpo"}))  # fmt: skip
    assert result.returncode == 2
    assert str(missing) in result.stderr and "not published" in result.stderr
    assert '"rejected_response"' in result.stderr and "./dataset/1_fake/" in result.stderr


def test_a_users_dpo_file_in_the_documented_format(downloaded, tmp_path):
    dpo = write_jsonl(tmp_path / "DPODATA.jsonl", [
        {**_sft_rows()[0], "rejected_response": "This image is real."},
        {**_sft_rows()[3], "rejected_response": "This image is AI-generated."},
        _sft_rows()[1],  # no rejected_response: not a DPO row
    ])  # fmt: skip
    out = tmp_path / "dpo"
    stats = converted("aigi_holmes", [dpo], out, {"image_root": str(downloaded), "expect": "dpo"})
    assert stats["written"] == {"sft.jsonl": 0, "dpo.jsonl": 2}
    assert [(r["reason"], "rejected_response" in r["detail"]) for r in rejects(out)] == [
        ("missing_field", True)
    ]
    assert rows(out / "dpo.jsonl")[0]["rejected_response"] == "This image is real."


def test_archive_without_a_top_folder_lands_in_the_same_place(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "dataset_huggingface.zip").write_bytes(_images_zip(top=""))
    unpack_archive(root, "dataset_huggingface.zip=dataset")
    assert (root / "dataset" / "1_fake" / FAKES[0]).is_file()


def test_an_interrupted_unpack_resumes(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    (root / "TestSet.zip").write_bytes(_testset_zip())
    first = unpack_archive(root, "TestSet.zip=TestSet")
    assert "12 file(s) written, 0 already there" in first and "1 platform metadata" in first
    # As if killed mid-way: the marker was never written, one file is missing, one is half written.
    (root / ".unpacked" / "TestSet.zip.json").unlink()
    (root / "TestSet" / "FLUX" / "0_real" / "0.png").unlink()
    (root / "TestSet" / "FLUX" / "1_fake" / "1.png").write_bytes(b"\x89PNG half")
    again = unpack_archive(root, "TestSet.zip=TestSet")
    assert "2 file(s) written, 10 already there" in again
    assert (root / "TestSet" / "FLUX" / "1_fake" / "1.png").read_bytes() == png_bytes(201)


def test_damaged_archives_and_escaping_entries_fail(tmp_path):
    root = tmp_path / "root"
    root.mkdir()
    data = bytearray(zip_bytes({"TestSet/FLUX/0_real/0.png": bytes(range(256)) * 64}))
    (root / "cut.zip").write_bytes(bytes(data[: len(data) // 2]))
    with pytest.raises(DownloadFailed, match="cut.zip is damaged.*re-run the download"):
        unpack_archive(root, "cut.zip=TestSet")
    with zipfile.ZipFile(root / "ok.zip", "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("TestSet/FLUX/0_real/0.png", bytes(range(256)) * 64)
    flipped = bytearray((root / "ok.zip").read_bytes())
    flipped[200] ^= 0xFF  # inside the stored file's data: its CRC no longer matches
    (root / "crc.zip").write_bytes(bytes(flipped))
    with pytest.raises(DownloadFailed, match="crc.zip is damaged"):
        unpack_archive(root, "crc.zip=TestSet")
    (root / "evil.zip").write_bytes(zip_bytes({"../outside.png": b"x"}))
    with pytest.raises(DownloadFailed, match="would land outside"):
        unpack_archive(root, "evil.zip=dataset")
    assert not (tmp_path / "outside.png").exists()
    with pytest.raises(DownloadFailed, match="missing.zip is not in the download"):
        unpack_archive(root, "missing.zip=dataset")


def test_unpack_needs_a_local_dir_and_a_zip(tmp_path):
    no_dir = run_cli("download", "--hub", "hf", "--repo-id", REPO, "--cache-dir", str(tmp_path),
                     "--unpack", "TestSet.zip=TestSet")  # fmt: skip
    assert no_dir.returncode == 2 and "--unpack needs --local-dir" in no_dir.stderr
    tar = run_cli("download", "--hub", "hf", "--repo-id", REPO, "--cache-dir", str(tmp_path), "--local-dir",
                  str(tmp_path / "d"), "--unpack", "TestSet.tar=TestSet")  # fmt: skip
    assert tar.returncode == 2 and "only .zip archives" in tar.stderr


@pytest.mark.slow
def test_ms_swift_loads_the_converted_sft_and_dpo_rows(downloaded, tmp_path):
    stats = converted("aigi_holmes", [downloaded / "SFTDATA.jsonl"], tmp_path / "sft")
    dpo = write_jsonl(tmp_path / "DPODATA.jsonl", [{**r, "rejected_response": "No."} for r in _sft_rows()])
    converted("aigi_holmes", [dpo], tmp_path / "dpo", {"image_root": str(downloaded), "expect": "dpo"})
    sft = swift_load(tmp_path / "sft" / "sft.jsonl")
    assert len(sft) == stats["converted"] == 5
    for row in sft:
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert Path(row["images"][0]["path"]).is_file()
    loaded = swift_load(tmp_path / "dpo" / "dpo.jsonl")
    assert len(loaded) == 5 and all(row["rejected_response"] == "No." for row in loaded)
