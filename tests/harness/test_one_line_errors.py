"""Every error a user can cause is one `error:` line with exit status 2, in a dry run and a real
run alike, and a refused command leaves nothing behind (issue 14 items 9 and 10, the parts owned
by the run directory; launch-config errors are covered by test_cli_errors.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import main
from harness.config import available


def _lines(capsys: pytest.CaptureFixture[str]) -> tuple[list[str], str]:
    captured = capsys.readouterr()
    return captured.err.strip().splitlines(), captured.out


@pytest.mark.parametrize("dry_run", ["true", "false"])
@pytest.mark.parametrize(
    "override, line",
    [
        ("cluster=_base", "error: cluster: unknown cluster '_base'; available: local, slurm, torchrun"),
        ("model=null", "error: model: choose a model; available: llava1_5_7b, "),
        ("run_name=" + "x" * 300, "error: run_name: 'xxxxxxxx"),
        ("from_stage=sfx", "error: from_stage: no stage 'sfx' in this pipeline (did you mean: sft?)"),
    ],
)
def test_user_errors_are_one_line_and_exit_2(
    override: str, line: str, dry_run: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["paper=fakescope", "profile=smoke", f"paths.runs={tmp_path}", f"dry_run={dry_run}", override]
    )
    lines, _ = _lines(capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(line), lines
    assert list(tmp_path.iterdir()) == []


def test_parts_of_a_config_group_are_not_options() -> None:
    assert "_base" not in available("cluster") and "local" in available("cluster")


def test_an_unwritable_run_directory_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["paper=fakescope", "profile=smoke", "paths.runs=/proc/no-runs-here", "stages=[tiny_model]"])
    lines, _ = _lines(capsys)
    assert code == 2
    assert len(lines) == 1 and lines[0].startswith(
        "error: cannot create the run directory /proc/no-runs-here/"
    )
    assert lines[0].endswith("; choose a writable paths.runs")


def test_a_dry_run_of_a_subset_prints_only_those_stages(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["paper=fakescope", "profile=smoke", "dry_run=true", "stages=[sft,eval]"]) == 0
    _, out = _lines(capsys)
    assert [line for line in out.splitlines() if line.startswith("# stage:")] == [
        "# stage: sft",
        "# stage: eval",
    ]


@pytest.mark.parametrize(
    "override, line",
    [
        (
            "stages.grpo.actor_rollout_ref.actor.optim.lr=abc",
            "error: stages.grpo.actor_rollout_ref.actor.optim.lr: verl 0.9.1 expects a number for "
            "'actor_rollout_ref.actor.optim.lr' (its default is 1e-06), got 'abc'",
        ),
        (
            "stages.grpo.actor_rollout_ref.actor.optim.lr=-1e-6",
            "error: stages.grpo.actor_rollout_ref.actor.optim.lr: a learning rate must not be negative, got -1e-06",
        ),
        (
            "stages.grpo.trainer.total_epochs=[1,2]",
            "error: stages.grpo.trainer.total_epochs: verl 0.9.1 expects a number for 'trainer.total_epochs'",
        ),
        (
            "stages.grpo.actor_rollout_ref.rollout.enforce_eager=maybe",
            "error: stages.grpo.actor_rollout_ref.rollout.enforce_eager: verl 0.9.1 expects true or false",
        ),
    ],
)
def test_verl_values_of_the_wrong_type_are_refused_before_launch(
    override: str, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["paper=fake_hr1", "profile=full", "dry_run=true", override]) == 2
    lines, _ = _lines(capsys)
    assert len(lines) == 1 and lines[0].startswith(line), lines
