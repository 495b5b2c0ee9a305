"""A training stage that would save no checkpoint is refused before launch: the trainer trains to
the end and the harness's finalize step, and every stage after it, find nothing (verl with
trainer.save_freq <= 0, the previous notes' open case; ms-swift with save_strategy=no)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from harness.cli import main
from harness.render.verl import VERL_DEFAULT_SAVE_FREQ
from harness.validate.verl_overrides import verl_defaults, verl_package_dir
from tests.harness.conftest import PAPERS, compose_paper


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


# The papers whose recipe trains with verl (its GRPO stage says how often to save).
VERL_PAPERS = [
    p for p in PAPERS if OmegaConf.select(compose_paper(p), "stages.grpo.trainer.save_freq") is not None
]


def test_the_verl_papers_are_found() -> None:
    assert len(VERL_PAPERS) >= 2, VERL_PAPERS


@pytest.mark.parametrize("paper", VERL_PAPERS)
def test_a_positive_save_freq_passes(paper: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _errors(capsys, f"paper={paper}", "stages.grpo.trainer.save_freq=1")
    assert code == 0, lines


def test_a_published_command_is_printed_as_published(capsys: pytest.CaptureFixture[str]) -> None:
    """as_published=true prints the seed's own main_ppo command (it sets no save_freq) and runs
    no finalize step after it, so it is not refused for it (it is for its other problems)."""
    code, lines = _errors(capsys, "paper=fake_hr1", "as_published=true")
    assert code == 2 and lines, lines
    assert not [line for line in lines if "save_freq" in line], lines


SWIFT_REFUSAL = (
    "ms-swift then saves no checkpoint-N, so the stage would train to the end and leave nothing for the "
    "next stage (nothing to merge, evaluate or resume); use steps (with save_steps) or epoch, which also "
    "save at the last step"
)


def test_swift_saves_at_the_last_step_unless_told_no() -> None:
    """The refusal rests on the pinned ms-swift's callback: the last step saves for any strategy but no."""
    spec = importlib.util.find_spec("swift")  # the package's folder, without importing it
    assert spec is not None and spec.origin is not None
    source = (Path(spec.origin).parent / "trainers" / "patcher.py").read_text()
    at_last_step = source.split("if state.global_step == state.max_steps:", 1)[1].split("return control", 1)[
        0
    ]
    assert "if args.save_strategy != IntervalStrategy.NO:" in at_last_step
    assert "control.should_save = True" in at_last_step


@pytest.mark.parametrize(
    "overrides, keys",
    [
        (["paper=fakexplain", "+stages.sft.save_strategy=no"], ["stages.sft.save_strategy"]),
        (["paper=aigi_holmes", "+stages.sft.save_strategy=NO"], ["stages.sft.save_strategy"]),
        (
            ["paper=fakexplain", "variant=staged_swift", "+stages.grpo_swift_alpha.save_strategy=no"],
            [f"stages.grpo_swift_{name}.save_strategy" for name in ("alpha", "beta", "gamma")],
        ),
    ],
)
def test_a_swift_stage_told_to_save_nothing_is_refused(
    overrides: list[str], keys: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, lines = _errors(capsys, *overrides)
    assert code == 2
    typed = overrides[-1].rsplit("=", 1)[1]
    assert lines == [f"error: {key}: is {typed!r}: {SWIFT_REFUSAL}" for key in keys], lines


def test_a_swift_stage_saving_by_epoch_passes(capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _errors(capsys, "paper=fakexplain", "+stages.sft.save_strategy=epoch")
    assert code == 0, lines
