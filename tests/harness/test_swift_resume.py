"""A requeued Slurm job resumes its ms-swift stage from the checkpoint written before the requeue."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from harness.config import REPO_ROOT
from harness.swift_resume import with_resume, wrap

ECHO = [sys.executable, "-c", "import json, sys; print(json.dumps(sys.argv[1:]))"]


def _checkpoint(root: Path, step: int, complete: bool = True) -> Path:
    path = root / f"checkpoint-{step}"
    path.mkdir(parents=True)
    if complete:
        (path / "trainer_state.json").write_text("{}")
    return path


def test_without_a_checkpoint_the_command_is_unchanged(tmp_path: Path) -> None:
    argv = ["swift", "sft", "--model", "m"]
    assert with_resume(argv, tmp_path / "output") == (argv, None)


def test_the_newest_complete_checkpoint_is_added_or_replaces_an_older_one(tmp_path: Path) -> None:
    out = tmp_path / "output"
    _checkpoint(out, 2)
    newest = _checkpoint(out, 4)
    _checkpoint(out, 6, complete=False)  # the requeue hit while it was saving
    argv, found = with_resume(["swift", "sft", "--lr", "1"], out)
    assert found == newest and argv == ["swift", "sft", "--lr", "1", "--resume_from_checkpoint", str(newest)]
    argv, _ = with_resume(
        ["swift", "sft", "--resume_from_checkpoint", str(out / "checkpoint-2"), "--x", "y"], out
    )
    assert argv == ["swift", "sft", "--resume_from_checkpoint", str(newest), "--x", "y"]
    argv, _ = with_resume(["swift", "sft", f"--resume_from_checkpoint={out / 'checkpoint-2'}"], out)
    assert argv == ["swift", "sft", f"--resume_from_checkpoint={newest}"]


def test_the_wrapper_execs_the_trainer_with_the_resume_flag(tmp_path: Path) -> None:
    out = tmp_path / "output"
    odd = "a 'quoted' $(value)\nwith a newline"
    first = subprocess.run(
        wrap([*ECHO, odd], str(out), python=sys.executable),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(first.stdout.splitlines()[-1]) == [odd]
    checkpoint = _checkpoint(out, 3)
    second = subprocess.run(
        wrap([*ECHO, odd], str(out), python=sys.executable),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin", "SLURM_RESTART_COUNT": "1"},
    )
    assert f"[harness] resuming from {checkpoint} (Slurm restart 1)" in second.stdout
    assert json.loads(second.stdout.splitlines()[-1]) == [odd, "--resume_from_checkpoint", str(checkpoint)]


def test_the_exit_code_is_the_trainers(tmp_path: Path) -> None:
    proc = subprocess.run(
        wrap([sys.executable, "-c", "raise SystemExit(7)"], str(tmp_path), python=sys.executable),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 7


def test_slurm_scripts_wrap_swift_training_stages_only(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "paper=fakexplain",
            "profile=smoke",
            "cluster=slurm",
            "cluster.gpus_per_node=0",
            f"paths.runs={tmp_path}",
            "run_name=r",
            "submit=false",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scripts = tmp_path / "fakexplain" / "r" / "slurm"
    sft = (scripts / "sft.sbatch").read_text()
    assert f"harness.swift_resume {tmp_path / 'fakexplain' / 'r' / 'sft' / 'output'} -- swift sft" in sft
    grpo = (scripts / "grpo_cpu.sbatch").read_text()
    assert "harness.swift_resume" in grpo and "swift rlhf" in grpo
    # The smoke SFT is a full fine-tune (no merge_sft); the LoRA merge after GRPO is an export.
    for name in ("merge_grpo_cpu.sbatch", "eval_sft.sbatch", "prepare_data.sbatch"):
        assert "harness.swift_resume" not in (scripts / name).read_text()
