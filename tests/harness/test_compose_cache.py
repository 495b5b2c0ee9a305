"""A command line's composed config is kept in the user's cache: the next dry run with the same
files and overrides reads it instead of running Hydra; any edited YAML file, another override or
another search-path folder composes anew; errors are never cached."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from common.errors import ConfigError
from harness import compose_cache, config
from tests.conftest import PAPERS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def hydra_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every composition Hydra really runs, with an empty cache under $XDG_CACHE_HOME."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    calls: list[list[str]] = []
    real = config._hydra_compose

    def counting(full, overrides):  # type: ignore[no-untyped-def]
        calls.append(list(overrides))
        return real(full, overrides)

    monkeypatch.setattr(config, "_hydra_compose", counting)
    return calls


@pytest.mark.parametrize("paper", PAPERS)
def test_the_cached_config_is_the_composed_one(paper: str, hydra_calls: list[list[str]]) -> None:
    overrides = [f"paper={paper}", "profile=full", "dry_run=true"]
    composed = config.compose(overrides)
    cached = config.compose(overrides)
    assert hydra_calls == [overrides] and cached is not composed
    assert OmegaConf.to_yaml(cached) == OmegaConf.to_yaml(composed)  # unresolved, interpolations kept
    assert OmegaConf.to_container(cached, resolve=True) == OmegaConf.to_container(composed, resolve=True)
    assert OmegaConf.is_struct(cached) and OmegaConf.is_struct(cached.cluster)
    with pytest.raises(Exception, match="nnodes"):  # the cluster schema still checks types
        cached.cluster.nnodes = "two"


def test_another_override_composes_anew(hydra_calls: list[list[str]]) -> None:
    config.compose(["paper=fakexplain", "profile=full"])
    config.compose(["paper=fakexplain", "profile=smoke"])
    config.compose(["profile=full", "paper=fakexplain"])  # the order is part of the command line
    assert len(hydra_calls) == 3


def test_an_edited_yaml_file_composes_anew(tmp_path: Path, hydra_calls: list[list[str]]) -> None:
    """A search-path folder's file (a results table of a run's own) is part of the key too."""
    conf = tmp_path / "conf"
    (conf / "results").mkdir(parents=True)
    table = conf / "results" / "mine.yaml"
    shutil.copy(REPO / "conf" / "results" / "fakescope.yaml", table)
    overrides = [f"hydra.searchpath=[file://{conf}]", "paper=fakescope", "results=mine"]
    first = config.compose(overrides)
    assert config.compose(overrides) is not None and len(hydra_calls) == 1
    table.write_text(table.read_text().replace('title: "', 'title: "edited ', 1))
    second = config.compose(overrides)
    assert len(hydra_calls) == 2
    assert not str(first.results.title).startswith("edited")
    assert str(second.results.title).startswith("edited")


def test_errors_are_not_cached(hydra_calls: list[list[str]]) -> None:
    for _ in range(2):
        with pytest.raises(ConfigError, match="holmes"):
            config.compose(["paper=holmes"])
    # _check_groups answers the unknown paper before Hydra; a bad key reaches Hydra both times
    bad = ["paper=fakexplain", "+stages.sft.no_such=1", "stages.nope.kind=x"]
    for _ in range(2):
        with pytest.raises(ConfigError):
            config.compose(bad)
    assert hydra_calls.count(bad) == 2


def test_a_damaged_cache_file_composes_again(hydra_calls: list[list[str]]) -> None:
    overrides = ["paper=fake_hr1", "profile=full"]
    config.compose(overrides)
    path = compose_cache.cache_path([config.CONF_DIR], [f"paths.repo={config.REPO_ROOT}", *overrides])
    assert path.is_file()
    path.write_bytes(b"not a pickle")
    assert config.compose(overrides).paper.name == "fake_hr1" and len(hydra_calls) == 2


def test_the_cache_keeps_the_most_recent_compositions(
    tmp_path: Path, hydra_calls: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(compose_cache, "KEEP", 2)
    for run in ("a", "b", "c"):
        config.compose(["paper=fakescope", "profile=full", f"run_name={run}"])
    assert len(list((tmp_path / "xdg" / "aigi-repro" / "compose").glob("config-*.pickle"))) == 2


def test_a_table_composes_its_runs_once_whatever_their_run_name(
    tmp_path: Path, hydra_calls: list[list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each run of a table was composed with `run_name=<base>__<run>`: a generated base (a
    timestamp) made every run's key new, so each dry run of table=all composed all 42 runs with
    Hydra. The run's name is set after composing; the second table composes nothing."""
    from harness.cli import main

    common = ["paper=fakexplain", "profile=full", "table=table4", "table_runs=[best,no_bbox]", "dry_run=true",
              f"paths.runs={tmp_path}"]  # fmt: skip
    assert main([*common, "run_name=first"]) == 0
    composed = len(hydra_calls)
    assert composed == 3  # the table's command line and its two runs
    assert main([*common, "run_name=second"]) == 0
    assert len(hydra_calls) == composed + 1  # the new command line only: its runs come from the cache
    out = capsys.readouterr().out
    for run in ("best", "no_bbox"):
        assert f"=== second__{run} ===\n" in out and f"{tmp_path}/fakexplain/second__{run}\n" in out
        block = out.split(f"=== second__{run} ===")[1].split("===")[0]
        assert "first__" not in block and f"--run_name second__{run}-sft" in block


def test_the_cache_holds_every_table_of_every_paper_in_both_profiles() -> None:
    """A table's runs are composed from the cache only while it still holds them: at 64 entries one
    `table=all` of FakeXplain (43 compositions) evicted another profile's, whose next dry run
    composed its 42 runs with Hydra again (about 15 s)."""
    from harness.table import table_runs, tables_with_runs

    needed = 0
    for paper in PAPERS:
        for profile in ("full", "smoke"):
            cfg = config.compose([f"paper={paper}", f"profile={profile}"])
            if tables_with_runs(cfg):
                needed += 1 + len(table_runs(cfg, "all"))  # the table's command line and its runs
    assert needed > 64 and compose_cache.KEEP >= needed, (needed, compose_cache.KEEP)
