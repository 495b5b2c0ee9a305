"""Every ms-swift training stage loads data_prep/swift_skipped_records.py and names its file in the
stage folder (harness/render/swift.py), after the recipe's own plugins; a published command
(as_published=true) stays as published. tests/data_prep/test_swift_skipped_records.py and
tests/smoke/test_smoke_skipped_rows.py show what the plugin records."""

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
