"""What an attempt of each stage kind does to its folder and argv (harness.rerun), in one place."""

from __future__ import annotations

from pathlib import Path

from data_prep.swift_skipped_records import SKIPPED_FILE
from harness.finalize import SKIPPED_SUMMARY
from harness.kinds import get_kind
from harness.rerun import KEEP_PREDICTIONS, REWRITE_IN_PLACE, START_OVER, SWIFT_CHECKPOINTS, VERL_CHECKPOINTS

SWIFT = ("swift", "sft", "--model", "m", "--output_dir", "/x/sft/output")
VERL = ("python3", "-m", "verl.trainer.main_ppo", "trainer.total_epochs=1")


def _stage(tmp_path: Path, checkpoint: int | None = None) -> Path:
    stage = tmp_path / "sft"
    (stage / "output").mkdir(parents=True)
    (stage / "stage.json").write_text("{}")
    if checkpoint is not None:
        ckpt = stage / "output" / f"checkpoint-{checkpoint}"
        ckpt.mkdir()
        (ckpt / "trainer_state.json").write_text("{}")
    return stage


def _prepare(rule, argv, stage, resume=False, requeueable=False, verbatim=False):
    return rule.prepare(argv, stage, resume=resume, requeueable=requeueable, verbatim=verbatim)


def test_the_kinds_use_the_rules_the_docs_describe() -> None:
    assert get_kind("swift_sft").rerun is get_kind("swift_rlhf").rerun is SWIFT_CHECKPOINTS
    assert get_kind("verl_grpo").rerun is VERL_CHECKPOINTS
    assert get_kind("eval").rerun is KEEP_PREDICTIONS
    assert {get_kind(k).rerun for k in ("data_prep", "swift_export", "verl_merge")} == {START_OVER}
    assert {get_kind(k).rerun for k in ("download", "report")} == {REWRITE_IN_PLACE}


def test_swift_fresh_attempt_deletes_only_its_output(tmp_path: Path) -> None:
    stage = _stage(tmp_path, checkpoint=4)
    assert _prepare(SWIFT_CHECKPOINTS, SWIFT, stage) == SWIFT
    assert not (stage / "output").exists() and (stage / "stage.json").exists()


def test_swift_fresh_attempt_drops_the_rows_an_earlier_attempt_left_out(tmp_path: Path) -> None:
    """harness.finalize counts the rows ms-swift left out from the stage's file: a fresh attempt
    must not count the earlier attempt's; a resumed one continues it (each row is counted once)."""
    for resume in (False, True):
        stage = _stage(tmp_path / str(resume), checkpoint=4)
        for name in (SKIPPED_FILE, SKIPPED_SUMMARY):
            (stage / name).write_text("{}\n")
        _prepare(SWIFT_CHECKPOINTS, SWIFT, stage, resume=resume)
        kept = [name for name in (SKIPPED_FILE, SKIPPED_SUMMARY) if (stage / name).exists()]
        assert kept == ([SKIPPED_FILE, SKIPPED_SUMMARY] if resume else []), resume
        assert (stage / "stage.json").exists()


def test_swift_resume_takes_the_newest_complete_checkpoint(tmp_path: Path) -> None:
    stage = _stage(tmp_path, checkpoint=4)
    (stage / "output" / "checkpoint-6").mkdir()  # killed while saving: incomplete
    argv = _prepare(SWIFT_CHECKPOINTS, SWIFT, stage, resume=True)
    assert argv == (*SWIFT, "--resume_from_checkpoint", str(stage / "output" / "checkpoint-4"))
    assert (stage / "output" / "checkpoint-4").exists()
    # Nothing saved yet: the command as rendered.
    assert _prepare(SWIFT_CHECKPOINTS, SWIFT, _stage(tmp_path / "b"), resume=True) == SWIFT


def test_swift_requeueable_job_finds_its_checkpoint_when_it_starts(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    argv = _prepare(SWIFT_CHECKPOINTS, SWIFT, stage, requeueable=True)
    assert argv == ("python3", "-m", "harness.swift_resume", str(stage / "output"), "--", *SWIFT)
    # A seed's command stays as published.
    assert (
        _prepare(SWIFT_CHECKPOINTS, SWIFT, _stage(tmp_path / "b"), requeueable=True, verbatim=True) == SWIFT
    )


def test_verl_starts_over_or_resumes_by_itself(tmp_path: Path) -> None:
    stage = tmp_path / "grpo"
    (stage / "checkpoints").mkdir(parents=True)
    assert _prepare(VERL_CHECKPOINTS, VERL, stage, resume=True) == (*VERL, "trainer.resume_mode=auto")
    assert stage.exists()
    stated = (*VERL, "trainer.resume_mode=disable")
    assert _prepare(VERL_CHECKPOINTS, stated, stage, resume=True) == stated
    assert _prepare(VERL_CHECKPOINTS, VERL, stage, requeueable=True) == VERL  # verl needs no wrapper
    assert not stage.exists()


def test_eval_keeps_its_predictions_when_resumed_and_not_otherwise(tmp_path: Path) -> None:
    stage = tmp_path / "eval"
    stage.mkdir()
    (stage / "predictions.jsonl").write_text("{}\n")
    argv = ("python3", "-m", "harness.evaluation")
    assert _prepare(KEEP_PREDICTIONS, argv, stage, resume=True) == argv
    assert (stage / "predictions.jsonl").exists()
    _prepare(KEEP_PREDICTIONS, argv, stage)
    assert not stage.exists()


def test_a_rule_that_cannot_resume_starts_over_and_rewrite_in_place_keeps_everything(tmp_path: Path) -> None:
    stage = tmp_path / "merge"
    stage.mkdir()
    _prepare(START_OVER, ("x",), stage, resume=True)
    assert not stage.exists()
    stage.mkdir()
    _prepare(REWRITE_IN_PLACE, ("x",), stage)
    assert stage.exists()
