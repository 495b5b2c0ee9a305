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
        # every image missing: a failure only the data shows (min_pixels=0, used before, is now
        # refused before launch by the source's check_options)
        "+stages.prepare_data.options.image_root=/nonexistent",
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


def test_a_table_is_one_submission_sharing_its_stages(slurm_cluster, tmp_path: Path) -> None:
    """Issue 18 item 4: FakeScope's Table VIII, two of its runs (the untrained backbone and the
    recipe), submitted at once: the stages both runs read are submitted by the first run only,
    the second run's chain waits for those jobs, each job publishes its shared entry itself, and
    the report across the runs is queued after both chains; a second submission runs nothing
    but the reports again; a stage that fails while the table waits is named with its run, job
    and log. Sized down (8 images, a 2-step SFT): the point is the wiring."""
    argv = [
        sys.executable, "-m", "harness", "paper=fakescope", "profile=smoke", "table=table8_training_data",
        "table_runs=[fs_none,fs_full]", "run_name=t8", "cluster=slurm", "cluster.gpus_per_node=0",
        "cluster.slurm.poll_interval_s=0.5", f"paths.runs={tmp_path}", "submit=true", "wait=true",
        "smoke.num_fake=4", "smoke.num_real=4", "stages.synth_testset.num_fake=2",
        "stages.synth_testset.num_real=2", "stages.sft.max_steps=2", "stages.sft.save_steps=2",
    ]  # fmt: skip
    proc = subprocess.run(
        argv, cwd=REPO_ROOT, env=slurm_cluster.environ(), capture_output=True, text=True, timeout=1200
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "# cluster=slurm: one submission" in proc.stdout
    root = tmp_path / "fakescope"
    shared = ("tiny_model", "synth_testset", "prepare_testset")  # the untrained backbone's eval reads them
    none, full = _table_stages(root, "t8__fs_none"), _table_stages(root, "t8__fs_full")
    # the first run submitted the shared stages; the second waited for those very jobs
    assert sorted(p.stem for p in (root / "t8__fs_full" / "slurm").glob("*.sbatch")) == [
        "eval", "prepare_data", "report", "sft", "synth_data",
    ]  # fmt: skip
    for stage in shared:
        assert full[stage]["status"] == "submitted" and full[stage]["job_id"] == none[stage]["job_id"], stage
        assert f"run by job {none[stage]['job_id']}" in full[stage]["skip_reason"]
    first = next(
        ln for ln in proc.stdout.splitlines() if ln.startswith("[launch] stage synth_data: Slurm job")
    )
    waited = first.split(" after job ")[1].split(" (")[0].split(", ")
    assert sorted(waited) == sorted(none[s]["job_id"] for s in shared)
    # each shared entry was published by its own job, and the second run's folders are links to it
    for stage in (*shared, "synth_data", "sft"):
        entry = (root / "t8__fs_full" / stage).resolve()
        assert entry.parent == (root / "_shared").resolve() and entry.name.startswith(f"{stage}-"), entry
        assert (entry / "published.json").is_file() and entry.with_name(
            entry.name + ".publication.json"
        ).is_file()
    # the report across both runs came last and names the run behind each column
    report = (root / "t8__table8_training_data" / "report.md").read_text()
    assert "(run fs_none: t8__fs_none)" in report and "(run fs_full: t8__fs_full)" in report
    # again, after one entry lost its publication (as when its job died before its last command):
    # that stage is submitted once more, by the first run, whose old job Slurm reports as ended
    # (not active); the second run waits for the new job; every other stage is reused
    (lost,) = (root / "_shared").glob("synth_testset-*.queued.json")
    entry = lost.with_name(lost.name.removesuffix(".queued.json"))
    (entry / "published.json").unlink()
    again = subprocess.run(
        argv, cwd=REPO_ROOT, env=slurm_cluster.environ(), capture_output=True, text=True, timeout=1200
    )
    assert again.returncode == 0, again.stdout + again.stderr
    submitted = [ln.split(":")[0] for ln in again.stdout.splitlines() if ln.startswith("[launch] stage ")]
    assert submitted == [
        "[launch] stage synth_testset", "[launch] stage report", "[launch] stage report",
        "[launch] stage sweep_report",
    ]  # fmt: skip
    rerun = _table_stages(root, "t8__fs_none")["synth_testset"]["job_id"]
    assert rerun != none["synth_testset"]["job_id"]
    assert _table_stages(root, "t8__fs_full")["synth_testset"]["job_id"] == rerun
    assert "reused (shared _shared/sft-" in again.stdout
    assert (entry / "published.json").is_file()
    # a stage that fails while the table waits: the exit names it (run, job, log) and what never
    # started after it, not only the report across the runs. Another table of the same runs
    # (t8b) submits the SFT again (its entry lost its publication), which cannot load the model.
    sft = (root / "t8__fs_full" / "sft").resolve()
    (sft / "published.json").unlink()
    ((root / "t8__fs_full" / "tiny_model").resolve() / "model.safetensors").write_bytes(b"not a model")
    broken = subprocess.run(
        [a if a != "run_name=t8" else "run_name=t8b" for a in argv],
        cwd=REPO_ROOT, env=slurm_cluster.environ(), capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert broken.returncode == 1, broken.stdout + broken.stderr
    lines = broken.stderr.strip().splitlines()
    named = [ln for ln in lines if ln.startswith("stage 't8b__fs_full/sft' (Slurm job ")]
    assert len(named) == 1 and " failed: FAILED, exit code " in named[0], broken.stderr
    log = Path(named[0].split("; see ", 1)[1])
    assert log.is_file() and "safetensors" in log.read_text().lower(), log
    never = next(ln for ln in lines if ln.startswith("never started"))
    assert never.endswith(": t8b__fs_full/report, sweep_report"), never


def _table_stages(root: Path, name: str) -> dict[str, dict]:
    manifest = json.loads((root / name / "manifest.json").read_text())
    return {s["name"]: s for s in manifest["stages"]}


def test_a_run_here_does_not_run_an_entry_a_slurm_job_will_run(slurm_cluster, tmp_path: Path) -> None:
    """A shared entry another submission queued on Slurm (`<entry>.queued.json`) is not run by a
    run on this machine while Slurm says the job may still run: both would write the same folder.
    Once the job has ended without publishing (here: cancelled), the run here redoes the stage."""
    from harness.config import compose
    from harness.plan import build_plan
    from harness.runner import stage_fingerprint
    from harness.stage_store import entry_for

    args = [
        "paper=fakescope",
        "profile=smoke",
        "shared_stages=true",
        f"paths.runs={tmp_path}",
        "run_name=here",
    ]
    plan = build_plan(compose(args), "here", launch=True)
    args.append("stages=[tiny_model]")
    (planned,) = [s for s in plan.stages if s.name == "tiny_model"]
    entry = entry_for(plan.run_dir, "tiny_model", stage_fingerprint(plan, planned, portable=True))
    env = slurm_cluster.environ()
    held = subprocess.run(["sbatch", "--parsable", "--hold", "--output=/dev/null", "--wrap", "sleep 1"],
                          env=env, capture_output=True, text=True, check=True)  # fmt: skip
    job_id = held.stdout.strip().split(";")[0]
    entry.prepare_publication("from-slurm", tmp_path / "fakescope" / "other")
    entry.mark_queued(job_id, tmp_path / "fakescope" / "other")
    try:
        refused = subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO_ROOT, env=env,
                                 capture_output=True, text=True, timeout=600)  # fmt: skip
    finally:
        subprocess.run(["scancel", job_id], env=env, check=True)
    assert refused.returncode != 0, refused.stdout
    assert f"is being run by Slurm job {job_id} (queued by another submission)" in refused.stderr
    assert f"scancel {job_id}" in refused.stderr
    assert entry.published is None and not (entry.path / "config.json").exists()  # nothing written
    # cancelled: Slurm says it will not run, so the stage runs here and publishes the entry
    done = subprocess.run([sys.executable, "-m", "harness", *args], cwd=REPO_ROOT, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert entry.published is not None and (entry.path / "config.json").is_file()
