"""The harness itself on the real two-node Slurm cluster (conftest.slurm_cluster): a paper's
pipeline submitted with `cluster=slurm submit=true` runs as an afterok chain, and when a middle
stage fails the harness names it and the last stage never starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

pytestmark = pytest.mark.slow


def _harness(slurm_cluster, runs: Path, *args: str) -> subprocess.CompletedProcess:
    argv = [
        sys.executable,
        "-m",
        "harness",
        "paper=fakexplain",
        "profile=smoke",
        "cluster=slurm",
        "cluster.gpus_per_node=0",
        "cluster.slurm.poll_interval_s=0.5",
        f"paths.runs={runs}",
        "submit=true",
        "wait=true",
        *args,
    ]
    return subprocess.run(
        argv, cwd=REPO_ROOT, env=slurm_cluster.environ(), capture_output=True, text=True, timeout=900
    )


def _stages(runs: Path, name: str) -> dict[str, dict]:
    manifest = json.loads((runs / "fakexplain" / name / "manifest.json").read_text())
    return {s["name"]: s for s in manifest["stages"]}


def test_pipeline_chain_runs_in_order_on_slurm(slurm_cluster, tmp_path: Path) -> None:
    proc = _harness(slurm_cluster, tmp_path, "run_name=chain", "stages=[synth_data,prepare_data]")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    scripts = sorted((tmp_path / "fakexplain" / "chain" / "slurm").glob("*.sbatch"))
    assert [p.name for p in scripts] == ["prepare_data.sbatch", "synth_data.sbatch"]
    stages = _stages(tmp_path, "chain")
    assert stages["synth_data"]["status"] == stages["prepare_data"]["status"] == "completed"
    assert stages["synth_data"]["job_id"] and stages["prepare_data"]["job_id"]
    stats = json.loads((tmp_path / "fakexplain" / "chain" / "prepare_data" / "stats.json").read_text())
    assert stats["written"]["sft.jsonl"] > 0  # the second stage consumed the first one's output


def test_failing_middle_stage_is_named_and_the_last_never_starts(slurm_cluster, tmp_path: Path) -> None:
    proc = _harness(
        slurm_cluster,
        tmp_path,
        "run_name=broken",
        "stages=[tiny_model,synth_data,prepare_data,sft]",
        "stages.prepare_data.options.min_pixels=0",
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "stage 'prepare_data'" in proc.stderr and "failed" in proc.stderr
    assert "stage 'sft'" in proc.stderr and "never started" in proc.stderr
    stages = _stages(tmp_path, "broken")
    assert stages["synth_data"]["status"] == "completed"
    assert stages["prepare_data"]["status"] == "failed"
    assert stages["sft"]["status"] == "pending"
    assert not (tmp_path / "fakexplain" / "broken" / "sft" / "output").exists()


def test_sweep_members_are_chains_and_the_report_waits_for_all(slurm_cluster, tmp_path: Path) -> None:
    import time

    from launch.slurm_state import query

    proc = _harness(
        slurm_cluster, tmp_path, "run_name=cv", "stages=[synth_data,prepare_data]", "-m", "data.fold=0,1"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "submitted the report across 2 runs" in proc.stdout
    last_ids = [_stages(tmp_path, f"cv__data.fold-{k}")["prepare_data"]["job_id"] for k in (0, 1)]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("submitted the report"))
    report_id = line.split("job ")[1].split()[0]
    assert f"after {', '.join(last_ids)}" in line
    report = tmp_path / "fakexplain" / "cv__sweep" / "report.md"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and query(report_id, env=slurm_cluster.environ())["JobState"] not in (
        "COMPLETED",
        "FAILED",
        "CANCELLED",
        "UNKNOWN",
    ):
        time.sleep(1)
    assert report.exists(), tmp_path / "fakexplain" / "cv__sweep" / "logs"
    assert "cv__data.fold-0" in report.read_text() and "cv__data.fold-1" in report.read_text()
