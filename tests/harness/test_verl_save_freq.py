"""A verl stage that would save no checkpoint is refused before launch: verl trains to the end and
the harness's finalize step, and every stage after it, find nothing (the previous notes' open
"save_freq <= 0" case)."""

from __future__ import annotations

import pytest

from harness.cli import main
from harness.render.verl import VERL_DEFAULT_SAVE_FREQ
from harness.validate.verl_overrides import verl_defaults, verl_package_dir


def _errors(capsys: pytest.CaptureFixture[str], *overrides: str) -> tuple[int, list[str]]:
    code = main(["profile=full", "dry_run=true", *overrides])
    return code, capsys.readouterr().err.strip().splitlines()


def test_the_default_and_the_guard_are_the_installed_verls() -> None:
    """The refusal rests on two facts of the pinned verl: its config's default and fit's guard."""
    assert verl_defaults().trainer.save_freq == VERL_DEFAULT_SAVE_FREQ
    source = (verl_package_dir() / "trainer" / "ppo" / "ray_trainer.py").read_text()
    assert "self.config.trainer.save_freq > 0 and" in source


def test_an_unset_save_freq_is_refused_naming_the_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _errors(capsys, "paper=fake_hr1", "~stages.grpo.trainer.save_freq")
    assert code == 2
    assert lines == [
        "error: stages.grpo.trainer.save_freq: is not set (verl's default is -1): verl saves a "
        "checkpoint only when trainer.save_freq > 0, so the stage would train to the end and leave "
        "no global_step_N for the next stage (nothing to merge, evaluate or resume); set a number of "
        "steps, e.g. stages.grpo.trainer.save_freq=50 (verl also saves at the last step)"
    ]


def test_every_verl_stage_of_a_pipeline_is_named(capsys: pytest.CaptureFixture[str]) -> None:
    """The staged recipe's three GRPO stages take save_freq from stages.grpo: all three are listed."""
    code, lines = _errors(capsys, "paper=fakexplain", "variant=staged", "stages.grpo.trainer.save_freq=-1")
    assert code == 2
    assert [line.split(":")[1].strip() for line in lines] == [
        f"stages.grpo_{name}.trainer.save_freq" for name in ("alpha", "beta", "gamma")
    ], lines
    assert all(": is -1: verl saves a checkpoint only when" in line for line in lines), lines


@pytest.mark.parametrize("paper", ["fake_hr1", "fakexplain"])
def test_a_positive_save_freq_passes(paper: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _errors(capsys, f"paper={paper}", "stages.grpo.trainer.save_freq=1")
    assert code == 0, lines


def test_a_published_command_is_printed_as_published(capsys: pytest.CaptureFixture[str]) -> None:
    """as_published=true prints the seed's own main_ppo command (it sets no save_freq) and runs
    no finalize step after it, so it is not refused for it (it is for its other problems)."""
    code, lines = _errors(capsys, "paper=fake_hr1", "as_published=true")
    assert code == 2 and lines, lines
    assert not [line for line in lines if "save_freq" in line], lines
