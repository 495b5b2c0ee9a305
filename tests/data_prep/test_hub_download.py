"""Downloads with the hubs' own clients. No hub is reachable here, so the real huggingface_hub and
modelscope code runs against local stand-ins of their HTTP APIs (tests/data_prep/fake_hubs.py)."""

from __future__ import annotations

import hashlib
import os

import pytest

from data_prep.hub_download import DownloadFailed, download

from .conftest import run_cli
from .fake_hubs import FakeHub, FakeModelScope

# huggingface_hub writes in 10 MiB chunks, so a resumable cut needs a file larger than that.
BIG = os.urandom(25 * 2**20 + 17)
FILES = {
    "config.json": b'{"model_type": "qwen2_5_vl"}',
    "model.safetensors": BIG,
    "sub/notes.txt": b"hello",
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_hf_download_resumes_a_cut_transfer_with_a_range_request(tmp_path):
    with FakeHub("org/tiny-model", FILES) as hub:
        # The big file's first transfer dies after 12 MiB; the client keeps its first 10 MiB chunk.
        hub.cut_plan["model.safetensors"] = [12 * 2**20]
        path = download("hf", "org/tiny-model", tmp_path / "cache", endpoint=hub.endpoint)
        transfers = [r for r in hub.requests if r[0] == "GET" and r[1].endswith("/model.safetensors")]
    assert [r[2] for r in transfers] == [None, f"bytes={10 * 2**20}-"], "the retry must continue, not restart"
    for name, data in FILES.items():
        assert _sha((path / name).read_bytes()) == _sha(data), name
    assert str(path).startswith(str(tmp_path / "cache"))


def test_hf_download_rerun_after_a_failure_fetches_only_what_is_missing(tmp_path):
    with FakeHub("org/tiny-model", FILES) as hub:
        # Every transfer of the big file dies before a chunk completes: the client gives up.
        hub.cut_plan["model.safetensors"] = [2**20] * 6
        with pytest.raises(DownloadFailed, match="Re-run the same command to resume"):
            download("hf", "org/tiny-model", tmp_path / "cache", endpoint=hub.endpoint)
        before = len(hub.requests)
        path = download("hf", "org/tiny-model", tmp_path / "cache", endpoint=hub.endpoint)
        rerun = [
            r[1].rsplit("/", 1)[1] for r in hub.requests[before:] if r[0] == "GET" and "/resolve/" in r[1]
        ]
    # huggingface_hub 1.x keeps finished files; an interrupted file restarts (its partial file is
    # process-unique and deleted on failure, file_download._download_to_tmp_and_move).
    assert rerun == ["model.safetensors"]
    assert _sha((path / "model.safetensors").read_bytes()) == _sha(BIG)


def test_hf_download_is_served_from_the_cache_offline(tmp_path, monkeypatch):
    with FakeHub("org/tiny-data", FILES, repo_type="dataset") as hub:
        first = download(
            "hf", "org/tiny-data", tmp_path / "cache", repo_type="dataset", endpoint=hub.endpoint
        )
        downloads = [r for r in hub.requests if r[0] == "GET" and "/resolve/" in r[1]]
        assert len(downloads) == len(FILES)
    # the server is gone: with HF_HUB_OFFLINE the client answers from the cache the first call filled
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    again = download("hf", "org/tiny-data", tmp_path / "cache", repo_type="dataset", endpoint=hub.endpoint)
    assert again == first and (again / "sub" / "notes.txt").read_bytes() == b"hello"


def test_hf_download_into_a_local_dir_with_patterns(tmp_path):
    with FakeHub("org/tiny-model", FILES) as hub:
        path = download("hf", "org/tiny-model", tmp_path / "cache", local_dir=tmp_path / "models" / "tiny",
                        allow_patterns=["*.json"], endpoint=hub.endpoint)  # fmt: skip
    assert path == tmp_path / "models" / "tiny"
    assert (path / "config.json").read_bytes() == FILES["config.json"]
    assert not (path / "model.safetensors").exists()


def test_unknown_repo_fails_with_a_hint_and_cli_exit_code(tmp_path):
    with FakeHub("org/tiny-model", FILES) as hub:
        with pytest.raises(DownloadFailed, match="could not download model 'org/missing'"):
            download("hf", "org/missing", tmp_path / "cache", endpoint=hub.endpoint)
        result = run_cli("download", "--hub", "hf", "--repo-id", "org/tiny-model", "--cache-dir",
                         str(tmp_path / "cli_cache"), env={"HF_ENDPOINT": hub.endpoint})  # fmt: skip
        missing = run_cli("download", "--hub", "hf", "--repo-id", "org/missing", "--cache-dir",
                          str(tmp_path / "cli_cache"), env={"HF_ENDPOINT": hub.endpoint})  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli_cache") in [p for p in __import__("pathlib").Path(result.stdout.strip()).parents]
    assert missing.returncode == 1 and "org/missing" in missing.stderr


def test_modelscope_download_resumes_a_cut_transfer_and_reruns_fetch_nothing(tmp_path):
    with FakeModelScope("org/tiny-model", FILES) as hub:
        hub.cut_plan["model.safetensors"] = [12 * 2**20 + 5]
        path = download("modelscope", "org/tiny-model", tmp_path / "cache", endpoint=hub.endpoint)
        transfers = [r[2] for r in hub.requests if r[0] == "GET" and "model.safetensors" in r[1]]
        assert transfers == [None, f"bytes={12 * 2**20 + 5}-"], (
            "the retry must continue where the cut happened"
        )
        for name, data in FILES.items():
            assert _sha((path / name).read_bytes()) == _sha(data), name
        before = len(hub.requests)
        again = download("modelscope", "org/tiny-model", tmp_path / "cache", endpoint=hub.endpoint)
        fetched = [r for r in hub.requests[before:] if "FilePath=" in r[1]]
    assert again == path and fetched == [], "files already in the cache are not fetched again"
    assert str(path).startswith(str(tmp_path / "cache"))
