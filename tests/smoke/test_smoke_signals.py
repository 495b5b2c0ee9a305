"""Stopping the harness mid-training (issue 14 item 3), on a real smoke SFT (`swift sft`, CPU).

Each of SIGTERM, SIGINT and SIGHUP goes to the harness process alone (not its group, as a
scheduler or a closing terminal would send it). Every process of the stage (swift and what it
started) must be gone within the grace period, the manifest says `interrupted`, stderr has one
line with the resume command, and that command resumes SFT from its last checkpoint.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config import REPO_ROOT
from launch.stream import STOP_GRACE_S

HARNESS = [sys.executable, "-m", "harness"]
STAGES = "stages=[tiny_model,synth_data,prepare_data,sft]"


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            text = handle.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text.rsplit(") ", 1)[1].split()  # state, ppid, pgrp, ...


def _live_in_group(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) and fields[2] == str(pgid) and fields[0] != "Z":
            found.append(int(entry))
    return found


def _stage_group(harness_pid: int) -> int | None:
    """The process group of the stage the harness started (its child leads it)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) and fields[1] == str(harness_pid):
            return int(fields[2]) if fields[2] == entry else None
    return None


def _checkpoints(run_dir: Path) -> set[str]:
    return {p.parent.name for p in (run_dir / "sft" / "output").glob("*/checkpoint-*/trainer_state.json")} | {
        p.parent.name for p in (run_dir / "sft" / "output").glob("checkpoint-*/trainer_state.json")
    }


@pytest.mark.slow
def test_each_stop_signal_stops_sft_entirely_and_the_command_resumes(tmp_path: Path) -> None:
    args = ["paper=fakexplain", "profile=smoke", f"paths.runs={tmp_path}", "run_name=sig", STAGES,
            "stages.sft.max_steps=20", "stages.sft.save_steps=2", "stages.sft.global_batch_size=2"]  # fmt: skip
    run_dir = tmp_path / "fakexplain" / "sig"
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        before = _checkpoints(run_dir)
        proc = subprocess.Popen(
            [*HARNESS, *args], cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        try:
            deadline, group = time.monotonic() + 600, None
            while time.monotonic() < deadline:  # SFT running, with a checkpoint newer than the last stop
                assert proc.poll() is None, proc.communicate()
                group = _stage_group(proc.pid)
                if group is not None and _checkpoints(run_dir) - before and _live_in_group(group):
                    break
                time.sleep(0.2)
            else:
                pytest.fail("SFT never wrote a new checkpoint")
            stage_processes = _live_in_group(group)
            assert proc.pid not in stage_processes  # the stage has its own group
            sent = time.monotonic()
            os.kill(proc.pid, signum)
            out, err = proc.communicate(timeout=STOP_GRACE_S + 120)
            took = time.monotonic() - sent
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        assert proc.returncode == 128 + signum, err[-3000:]
        assert _live_in_group(group) == [], f"left running after {signal.Signals(signum).name}"
        assert took < STOP_GRACE_S + 60
        # One line says it (the trainer's own output went to stdout and the log; a library's warning
        # on stderr before the signal is not the harness's to suppress).
        lines = err.strip().splitlines()
        said = [line for line in lines if "interrupted by" in line]
        assert len(said) == 1 and lines[-1] == said[0] and "Traceback" not in err, err[-3000:]
        assert said[0].startswith(f"[4/11] sft: interrupted by {signal.Signals(signum).name} after ")
        assert "resume with: python -m harness " in said[0] and "run_name=sig" in said[0]
        sft = next(
            s for s in json.loads((run_dir / "manifest.json").read_text())["stages"] if s["name"] == "sft"
        )
        assert sft["status"] == "interrupted" and sft["exit_code"] == 128 + signum and sft["ended"]
    again = subprocess.run([*HARNESS, *args], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "[4/11] sft: resuming (was interrupted)" in again.stdout
    sft = next(s for s in json.loads((run_dir / "manifest.json").read_text())["stages"] if s["name"] == "sft")
    assert sft["status"] == "completed" and sft["attempts"] == 4
    assert "--resume_from_checkpoint" in sft["argv"]
