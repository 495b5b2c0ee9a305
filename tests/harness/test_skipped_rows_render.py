"""Every ms-swift training stage loads data_prep/swift_skipped_records.py and names its file in the
stage folder (harness/render/swift.py), after the recipe's own plugins; every verl GRPO stage reads
its data with data_prep/verl_skipped_records.py's dataset class (harness/render/verl.py); a published
command (as_published=true) stays as published. tests/data_prep/test_swift_skipped_records.py,
tests/data_prep/test_verl_skipped_records.py and tests/smoke/test_smoke_skipped_rows.py show what
they record."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from data_prep.swift_skipped_records import SKIPPED_ENV, SKIPPED_FILE
from harness.config import REPO_ROOT
from harness.plan import build_plan
from tests.harness.conftest import PAPERS, compose_paper, load_published, plan_for

PLUGIN = str(REPO_ROOT / "data_prep" / "swift_skipped_records.py")
PUBLISHING = [p for p in PAPERS if OmegaConf.select(compose_paper(p), "published.overrides") is not None]


def _plugins(argv: tuple[str, ...]) -> list[str]:
    if "--external_plugins" not in argv:
        return []
    rest = argv[argv.index("--external_plugins") + 1 :]
    return list(rest[: next((i for i, a in enumerate(rest) if a.startswith("--")), len(rest))])


def _training(plan):
    return [s for s in plan.stages if s.rendered.argv[:2] in (("swift", "sft"), ("swift", "rlhf"))]


@pytest.mark.parametrize("paper", PAPERS)
def test_every_swift_training_stage_records_the_rows_it_leaves_out(paper: str) -> None:
    for overrides in ([], ["profile=smoke"]):
        plan = plan_for(paper, *overrides)
        stages = _training(plan)
        assert stages or overrides, paper  # every paper trains with ms-swift somewhere (its SFT)
        for stage in stages:
            plugins = _plugins(stage.rendered.argv)
            assert plugins[-1] == PLUGIN and plugins.count(PLUGIN) == 1, (stage.name, plugins)
            assert stage.rendered.env[SKIPPED_ENV] == str(Path(stage.ctx.stage_dir) / SKIPPED_FILE)
            assert stage.rendered.keys["--external_plugins"] == f"stages.{stage.name}.external_plugins"


def test_the_recipes_own_plugins_come_first() -> None:
    plan = plan_for("fakexplain", "profile=smoke")
    plugins = {s.name: _plugins(s.rendered.argv) for s in _training(plan)}
    assert any(len(p) == 3 and p[1].endswith("rewards/swift_adapter.py") for p in plugins.values()), plugins
    assert all(p[0].endswith("data_prep/cpu_compat.py") for p in plugins.values()), plugins


@pytest.mark.parametrize("paper", PUBLISHING)
def test_a_published_command_gets_no_plugin(paper: str) -> None:
    for stage in _training(build_plan(load_published(paper), run_name="published")):
        assert PLUGIN not in stage.rendered.argv and SKIPPED_ENV not in stage.rendered.env


def test_some_published_command_trains_with_ms_swift() -> None:
    assert any(_training(build_plan(load_published(p), run_name="published")) for p in PUBLISHING)


# verl: data_prep/verl_skipped_records.py, verl's own data.custom_cls hook
# (tests/data_prep/test_verl_skipped_records.py shows what the class records).
DATASET_CLASS = str(REPO_ROOT / "data_prep" / "verl_skipped_records.py")


def _verl(plan):
    return [s for s in plan.stages if s.rendered.argv[:3] == ("python3", "-m", "verl.trainer.main_ppo")]


def _overrides(argv: tuple[str, ...]) -> dict[str, str]:
    return dict(a.split("=", 1) for a in argv[3:] if "=" in a)


@pytest.mark.parametrize("paper", PAPERS)
def test_every_verl_stage_records_the_prompts_it_filters_out(paper: str) -> None:
    for overrides in ([], ["profile=smoke"]):
        for stage in _verl(plan_for(paper, *overrides)):
            given = _overrides(stage.rendered.argv)
            assert given["data.custom_cls.path"] == DATASET_CLASS, stage.name
            assert given["data.custom_cls.name"] == "RecordingRLHFDataset"
            assert stage.rendered.env[SKIPPED_ENV] == str(Path(stage.ctx.stage_dir) / SKIPPED_FILE)


def test_some_paper_trains_with_verl() -> None:
    assert any(_verl(plan_for(p)) for p in PAPERS)


def test_a_recipes_own_dataset_class_is_kept(tmp_path: Path) -> None:
    """A recipe that brings its own verl dataset class keeps it; nothing records (no variable)."""
    mine = tmp_path / "my_dataset.py"
    plan = plan_for(
        "fakexplain", f"+stages.grpo.data.custom_cls.path={mine}", "+stages.grpo.data.custom_cls.name=Mine"
    )
    [stage] = _verl(plan)
    given = _overrides(stage.rendered.argv)
    assert (given["data.custom_cls.path"], given["data.custom_cls.name"]) == (str(mine), "Mine")
    assert SKIPPED_ENV not in stage.rendered.env


@pytest.mark.parametrize("paper", PUBLISHING)
def test_a_published_verl_command_gets_no_dataset_class(paper: str) -> None:
    for stage in _verl(build_plan(load_published(paper), run_name="published")):
        assert DATASET_CLASS not in " ".join(stage.rendered.argv) and SKIPPED_ENV not in stage.rendered.env
