"""verl's config tree is composed once per verl install and read from the user's cache after that:
a second dry run does not compose it; another verl version (or edited config files) does."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from harness.validate import verl_overrides


@pytest.fixture
def composes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every composition of verl's tree, with an empty cache under $XDG_CACHE_HOME."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    calls: list[list[str]] = []
    real = verl_overrides.compose_verl

    def counting(overrides):  # type: ignore[no-untyped-def]
        calls.append(list(overrides))
        return real(overrides)

    monkeypatch.setattr(verl_overrides, "compose_verl", counting)
    verl_overrides.verl_defaults.cache_clear()  # a fresh process
    yield calls
    verl_overrides.verl_defaults.cache_clear()


def _dry_run(paper: str) -> None:
    from harness.cli import main

    with contextlib.redirect_stdout(io.StringIO()):
        assert main([f"paper={paper}", "dry_run=true", "profile=full", "run_name=cache-test"]) == 0


def test_second_dry_run_reads_the_cache(composes: list[list[str]], tmp_path: Path) -> None:
    _dry_run("fakexplain")
    assert composes == [[]]
    path = verl_overrides.defaults_cache_path()
    assert path.is_relative_to(tmp_path / "xdg" / "aigi-repro") and path.exists()
    verl_overrides.verl_defaults.cache_clear()  # the next CLI call is a new process
    _dry_run("fakexplain")
    _dry_run("fake_hr1")
    assert composes == [[]]


def test_cached_tree_equals_the_composed_one(composes: list[list[str]]) -> None:
    composed = verl_overrides.verl_defaults()
    verl_overrides.verl_defaults.cache_clear()
    cached = verl_overrides.verl_defaults()
    assert len(composes) == 1 and cached is not composed
    assert OmegaConf.to_container(cached) == OmegaConf.to_container(composed)
    assert OmegaConf.is_struct(cached)  # a typo'd key still raises on access
    assert OmegaConf.is_missing(cached.actor_rollout_ref.rollout, "name")  # '???' kept


def test_another_verl_version_invalidates_the_cache(
    composes: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    verl_overrides.verl_defaults()
    before = verl_overrides.defaults_cache_path()
    real = verl_overrides._installed_version
    monkeypatch.setattr(verl_overrides, "_installed_version", lambda d: "0.9.2" if d == "verl" else real(d))
    verl_overrides.verl_defaults.cache_clear()
    verl_overrides.verl_defaults()
    assert verl_overrides.defaults_cache_path() != before
    assert len(composes) == 2


def test_edited_config_file_or_corrupt_cache_composes_again(
    composes: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    verl_overrides.verl_defaults()
    verl_overrides.defaults_cache_path().write_bytes(b"not a pickle")
    verl_overrides.verl_defaults.cache_clear()
    verl_overrides.verl_defaults()
    assert len(composes) == 2
    # a copy of verl's config tree with one file changed: another key
    import shutil

    tree = tmp_path / "config"
    shutil.copytree(verl_overrides.verl_config_dir(), tree)
    before = verl_overrides.defaults_cache_path()
    monkeypatch.setattr(verl_overrides, "verl_config_dir", lambda: tree)
    assert verl_overrides.defaults_cache_path() == before  # same bytes, same key
    (tree / "ppo_trainer.yaml").write_text((tree / "ppo_trainer.yaml").read_text() + "\n# edited\n")
    assert verl_overrides.defaults_cache_path() != before
