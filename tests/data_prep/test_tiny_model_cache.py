"""AIGI_TINY_MODEL_CACHE: the first build is kept, later ones copy it; without it every call builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from data_prep.tiny_model_cache import CACHE_ENV, build_inputs_digest, build_or_copy

REPO = Path(__file__).resolve().parents[2]


def _builder(out: Path, calls: list[Path]):
    def build() -> Path:
        calls.append(out)
        (out / "sub").mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text('{"seed": 0}')
        (out / "sub" / "weights.bin").write_bytes(b"\x00\x01")
        return out

    return build


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_the_first_build_is_kept_and_the_next_run_copies_it(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    calls: list[Path] = []
    first, copied = build_or_copy("qwen2_5_vl", 0, tmp_path / "a", _builder(tmp_path / "a", calls))
    assert (first, copied, calls) == (tmp_path / "a", False, [tmp_path / "a"])
    second, copied = build_or_copy("qwen2_5_vl", 0, tmp_path / "b", _builder(tmp_path / "b", calls))
    assert (second, copied, len(calls)) == (tmp_path / "b", True, 1)
    assert _files(tmp_path / "b") == _files(tmp_path / "a")
    # Another seed or architecture is another model: built, not copied.
    build_or_copy("qwen2_5_vl", 1, tmp_path / "c", _builder(tmp_path / "c", calls))
    build_or_copy("llava1_6", 0, tmp_path / "d", _builder(tmp_path / "d", calls))
    assert calls[1:] == [tmp_path / "c", tmp_path / "d"]
    digest = build_inputs_digest()
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        f"llava1_6-seed0-{digest}",
        f"qwen2_5_vl-seed0-{digest}",
        f"qwen2_5_vl-seed1-{digest}",
    ]


def test_a_model_built_for_another_tokenizer_corpus_is_not_reused(tmp_path: Path, monkeypatch) -> None:
    """A plugin's response format adds to the tiny tokenizer's corpus (tests/test_plugin_paper.py):
    a model built without it must not be copied for a run with it."""
    import data_prep.tiny_corpus as corpus

    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    calls: list[Path] = []
    before = build_inputs_digest()
    build_or_copy("qwen2_5_vl", 0, tmp_path / "a", _builder(tmp_path / "a", calls))
    original = corpus.tokenizer_corpus
    monkeypatch.setattr(corpus, "tokenizer_corpus", lambda extra=(): iter([*original(extra), "[[fake]]"]))
    assert build_inputs_digest() != before
    _, copied = build_or_copy("qwen2_5_vl", 0, tmp_path / "b", _builder(tmp_path / "b", calls))
    assert not copied and calls == [tmp_path / "a", tmp_path / "b"]


def test_without_the_variable_every_call_builds(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv(CACHE_ENV, raising=False)
    calls: list[Path] = []
    for name in ("a", "b"):
        assert build_or_copy("qwen2_5_vl", 0, tmp_path / name, _builder(tmp_path / name, calls)) == (
            tmp_path / name,
            False,
        )
    assert len(calls) == 2


@pytest.mark.slow
def test_the_cli_copies_a_cached_model_without_importing_transformers(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    env = {"PATH": "/usr/bin:/bin", CACHE_ENV: str(cache)}
    argv = [
        sys.executable,
        "-X",
        "importtime",
        "-m",
        "data_prep",
        "tiny-model",
        "--arch",
        "clip_vision",
        "--seed",
        "0",
    ]
    built = subprocess.run([*argv, "--output-dir", str(tmp_path / "a")], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=600)  # fmt: skip
    # The last line is the command's (a library may print before it).
    assert built.returncode == 0 and built.stdout.splitlines()[-1].startswith("wrote tiny clip_vision"), (
        built.stderr[-2000:]
    )
    copied = subprocess.run([*argv, "--output-dir", str(tmp_path / "b")], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)  # fmt: skip
    assert copied.returncode == 0 and copied.stdout.splitlines()[-1].startswith(
        "copied from $AIGI_TINY_MODEL_CACHE"
    ), copied.stderr[-2000:]
    assert " transformers" in built.stderr and " transformers" not in copied.stderr  # -X importtime lines
    assert _files(tmp_path / "b") == _files(tmp_path / "a")
