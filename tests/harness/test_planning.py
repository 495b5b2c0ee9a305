"""Planning is a pure function of the config (and of completed upstream outputs): it changes
nothing it is given and writes nothing; what a run must do first is part of the plan."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from omegaconf import DictConfig, OmegaConf

from harness.config import Invocation
from harness.invoke import execute
from harness.plan import build_plan

from .conftest import PAPERS, compose_paper

REWARD = (
    "def compute_score(data_source, solution_str, ground_truth, extra_info=None, **kw):\n    return 1.0\n"
)


def _reward_config(paper: str, tmp_path: Path, *overrides: str):
    reward = tmp_path / "my_reward.py"
    reward.write_text(REWARD)
    runs = tmp_path / "runs"
    return compose_paper(paper, f"paths.runs={runs}", f"reward.path={reward}", *overrides), reward, runs


def _scores_with_a_reward(paper: str) -> bool:
    cfg = compose_paper(paper)
    if OmegaConf.select(cfg, "reward.path", default=None) is None:
        return False
    return build_plan(cfg, run_name="probe", launch=True).reward is not None


REWARD_PAPERS = [p for p in PAPERS if _scores_with_a_reward(p)]


def test_some_paper_trains_with_a_reward() -> None:
    assert REWARD_PAPERS, "no paper plans a reward copy: the reward tests below would test nothing"


@pytest.mark.parametrize("paper", REWARD_PAPERS)
def test_a_plan_to_run_uses_the_runs_copy_of_the_reward_and_changes_nothing(
    paper: str, tmp_path: Path
) -> None:
    cfg, reward, runs = _reward_config(paper, tmp_path)
    before = OmegaConf.to_yaml(cfg)
    plan = build_plan(cfg, run_name="r", launch=True)
    assert OmegaConf.to_yaml(cfg) == before  # the composed config is untouched
    assert not runs.exists()  # and nothing was written
    copy = runs / paper / "r" / "reward" / "my_reward.py"
    assert plan.reward is not None and plan.reward.source == reward and plan.reward.copy == copy
    assert plan.run_config().reward.path == str(copy)  # what the run's config.yaml records
    assert plan.cfg.reward.path == str(reward)  # the composed config, as given
    scoring = [s for s in plan.stages if s.stage_kind.uses_reward(s.spec.config)]
    assert scoring and all(
        str(copy) in " ".join(s.rendered.argv) + str(dict(s.rendered.env)) for s in scoring
    )
    assert not any(str(reward) in " ".join(s.rendered.argv) for s in plan.stages)
    # A plan to print keeps the user's file; the launch plan's printed twin is that plan.
    printed = build_plan(cfg, run_name="r")
    assert printed.reward is None and printed.as_printed() is printed
    assert any(str(reward) in " ".join(s.rendered.argv) + str(dict(s.rendered.env)) for s in printed.stages)
    twin = plan.as_printed()
    assert twin is not plan and twin.reward is None
    assert [(s.name, s.rendered) for s in twin.stages] == [(s.name, s.rendered) for s in printed.stages]


@pytest.mark.parametrize("paper", PAPERS)
def test_a_dry_run_changes_nothing_and_writes_nothing(paper: str, tmp_path: Path) -> None:
    if paper in REWARD_PAPERS:
        cfg, _, runs = _reward_config(paper, tmp_path, "dry_run=true")
    else:
        runs = tmp_path / "runs"
        cfg = compose_paper(paper, f"paths.runs={runs}", "dry_run=true")
    before = OmegaConf.to_yaml(cfg)
    assert execute(cfg, Invocation(), out=io.StringIO()) in (0, 1)
    assert OmegaConf.to_yaml(cfg) == before
    assert not runs.exists()


@pytest.mark.parametrize("paper", REWARD_PAPERS)
def test_a_run_refused_by_validation_changes_nothing_and_copies_nothing(paper: str, tmp_path: Path) -> None:
    """The full recipe's data is not on this machine: validation refuses the run before the
    reward file is copied anywhere (it used to be copied, and the config rewritten, first)."""
    cfg, _, runs = _reward_config(paper, tmp_path)
    before = OmegaConf.to_yaml(cfg)
    assert execute(cfg, Invocation(), out=io.StringIO()) == 2
    assert OmegaConf.to_yaml(cfg) == before
    assert not runs.exists()


def test_a_table_dry_run_expands_each_run_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run that scores with a reward file was planned twice in a table's dry run: as launched
    (its fingerprints find the shared stages) and again as printed. The launch plan now renders its
    printed twin from the same expansion of the config."""
    from harness import plan as plan_module
    from harness.cli import main

    expansions: list[DictConfig] = []

    class CountingExpansion(plan_module.ExtendsExpansion):
        def __init__(self, cfg: DictConfig) -> None:
            expansions.append(cfg)
            super().__init__(cfg)

    monkeypatch.setattr(plan_module, "ExtendsExpansion", CountingExpansion)
    runs = ["best", "no_bbox", "grpo_alpha"]
    argv = ["paper=fakexplain", "profile=full", "table=table4", f"table_runs=[{','.join(runs)}]", "dry_run=true",
            f"paths.runs={tmp_path}", "run_name=t"]  # fmt: skip
    assert main(argv) == 0
    assert len(expansions) == len(runs)
    out = capsys.readouterr().out
    # and what it prints is still each run's commands with the user's file, not the run's copy
    user_reward = str(compose_paper("fakexplain").reward.path)
    for run in runs:
        block = out.split(f"=== t__{run} ===")[1].split("===")[0]
        assert user_reward in block and f"t__{run}/reward/" not in block, run
