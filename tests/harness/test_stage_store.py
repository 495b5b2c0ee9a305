"""Shared stages run once (harness/stage_store.py): with shared_stages=true a second run whose
stages have the same fingerprints links to the first run's published entries and runs nothing
again; a changed option runs its stage (and only the stages downstream of it) anew; an entry
another process holds is refused, not written twice. Real data_prep stages on synthetic data."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from common.errors import HarnessError
from harness.config import Invocation
from harness.invoke import execute, load_config
from harness.stage_store import SHARED_DIR, entry_for

STAGES = ["synth_data", "prepare_data"]


def _run(runs: Path, name: str, *overrides: str, capsys: pytest.CaptureFixture[str]) -> str:
    inv = Invocation(
        overrides=[
            "paper=fakexplain",
            "profile=smoke",
            "shared_stages=true",
            f"paths.runs={runs}",
            f"run_name={name}",
            "smoke.num_fake=6",
            "smoke.num_real=6",
            *overrides,
        ],
        stage_subset=STAGES,
    )
    assert execute(load_config(inv), inv) == 0, capsys.readouterr().err
    return capsys.readouterr().out


def _manifest(run: Path) -> dict[str, dict]:
    data = json.loads((run / "manifest.json").read_text())
    return {s["name"]: s for s in data["stages"]}


def test_a_second_run_reuses_and_runs_nothing_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = _run(tmp_path, "a", capsys=capsys)
    assert (
        "synth_data: running (into shared _shared/synth_data-" in first and "prepare_data: running" in first
    )
    shared = tmp_path / "fakexplain" / SHARED_DIR
    entries = sorted(p.name for p in shared.iterdir())
    assert [e.rsplit("-", 1)[0] for e in entries] == ["prepare_data", "synth_data"]
    for stage in STAGES:  # the run's folder is a link to the published entry
        link = tmp_path / "fakexplain" / "a" / stage
        assert link.is_symlink() and (link.resolve() / "published.json").is_file()
    published = {e: (shared / e / "published.json").stat().st_mtime_ns for e in entries}
    made = (shared / entries[0] / "eval.jsonl").stat().st_mtime_ns

    second = _run(tmp_path, "b", capsys=capsys)
    assert "running" not in second
    assert "synth_data: reused (shared" in second and "prepare_data: reused (shared" in second
    records = _manifest(tmp_path / "fakexplain" / "b")
    assert {records[s]["status"] for s in STAGES} == {"completed"}
    for stage in STAGES:
        assert os.path.samefile(tmp_path / "fakexplain" / "a" / stage, tmp_path / "fakexplain" / "b" / stage)
    assert (shared / entries[0] / "eval.jsonl").stat().st_mtime_ns == made  # not rewritten
    assert {e: (shared / e / "published.json").stat().st_mtime_ns for e in entries} == published
    assert not (tmp_path / "fakexplain" / "b" / "logs" / "synth_data.node0.log").exists()

    third = _run(tmp_path, "c", "+stages.prepare_data.options.drop=[boxes]", capsys=capsys)
    assert "synth_data: reused" in third and "prepare_data: running" in third
    assert len(list(shared.iterdir())) == 3

    def answers(run: str) -> str:
        rows = (tmp_path / "fakexplain" / run / "prepare_data" / "sft.jsonl").read_text().splitlines()
        return "".join(json.loads(row)["messages"][-1]["content"] for row in rows)

    assert "bbox_2d" in answers("a") and "bbox_2d" not in answers("c")

    # from_stage asks to redo: the run gets its own folder, the shared entry stays as published
    again = _run(tmp_path, "b", "from_stage=prepare_data", capsys=capsys)
    assert "synth_data: already completed" in again and "prepare_data: running" in again
    own = tmp_path / "fakexplain" / "b" / "prepare_data"
    assert not own.is_symlink() and (own / "sft.jsonl").is_file()
    assert (tmp_path / "fakexplain" / "a" / "prepare_data").is_symlink()
    assert {e: (shared / e / "published.json").stat().st_mtime_ns for e in entries} == published


def test_an_entry_being_run_is_refused_not_shared(tmp_path: Path) -> None:
    entry = entry_for(tmp_path / "p" / "run", "sft", {"stages.sft.x": 1})
    entry.lock()
    other = entry_for(tmp_path / "p" / "run2", "sft", {"stages.sft.x": 1})
    assert other.path == entry.path
    with pytest.raises(HarnessError, match="being run by another run"):
        other.lock()
    entry.release()
    other.lock()  # free again
    other.release()
    assert other.published is None  # never published: not reusable
    other.publish("id1", tmp_path / "p" / "run2")
    assert other.published is not None and other.published["output_id"] == "id1"
    changed = entry_for(tmp_path / "p" / "run", "sft", {"stages.sft.x": 2})
    assert changed.path != entry.path and changed.published is None


def test_a_scheduled_job_publishes_its_entry_and_a_dead_one_is_not_awaited(tmp_path: Path) -> None:
    """The bookkeeping a Slurm table submission relies on (the submission itself runs on the real
    cluster in tests/launch/test_launch_harness_pipeline.py): the publication is written before
    the job is submitted, beside the entry (a stage may replace its own folder), the job's last
    command publishes it, and `queued` names the job only while the publication holds the same
    fingerprint. Whether that job still runs is Slurm's answer (`SlurmLauncher.active`), asked
    on the real cluster."""
    import subprocess
    import sys

    from harness.config import REPO_ROOT

    entry = entry_for(tmp_path / "p" / "run", "sft", {"stages.sft.x": 1})
    command = entry.prepare_publication("out-1", tmp_path / "p" / "run")
    assert command == ["python3", "-m", "harness.stage_store", "publish", str(entry.path)]
    entry.mark_queued("41", tmp_path / "p" / "run")
    assert entry.queued == {"job_id": "41", "run": str(tmp_path / "p" / "run")} and entry.published is None
    assert entry_for(tmp_path / "p" / "run", "sft", {"stages.sft.x": 2}).queued is None  # another config
    assert not entry.started()  # the bookkeeping lies beside the entry, not in it
    done = subprocess.run(
        [sys.executable, "-m", "harness.stage_store", "publish", str(entry.path)], cwd=REPO_ROOT
    )
    assert done.returncode == 0 and entry.published == {
        "fingerprint": {"stages.sft.x": 1}, "output_id": "out-1", "run": str(tmp_path / "p" / "run"),
    }  # fmt: skip
    missing = subprocess.run(
        [sys.executable, "-m", "harness.stage_store", "publish", str(tmp_path / "nowhere")],
        cwd=REPO_ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert missing.returncode == 1 and "nothing to publish" in missing.stderr


def test_a_run_here_refuses_a_queued_entry_when_it_cannot_ask_slurm(tmp_path: Path) -> None:
    """An entry another submission queued on Slurm, on a machine without `scontrol` (the folder
    shared with a cluster): the run here cannot know whether the job still writes the entry, so it
    stops before writing and names the record to delete if the job has ended. (With Slurm there,
    its answer decides: tests/launch/test_launch_harness_pipeline.py, on the real cluster.)"""
    import subprocess
    import sys

    from harness.config import REPO_ROOT, compose
    from harness.plan import build_plan
    from harness.runner import stage_fingerprint
    from launch.slurm_state import job_active

    bare = tmp_path / "bin"  # a PATH with python3 and git, without scontrol
    bare.mkdir()
    (bare / "python3").symlink_to(sys.executable)
    git = shutil.which("git")
    if git:
        (bare / "git").symlink_to(git)
    assert job_active("41", env={"PATH": str(bare)}) is None
    runs = tmp_path / "runs"
    args = ["paper=fakescope", "profile=smoke", "shared_stages=true", f"paths.runs={runs}", "run_name=here"]
    plan = build_plan(compose(args), "here", launch=True)
    (planned,) = [s for s in plan.stages if s.name == "tiny_model"]
    entry = entry_for(plan.run_dir, "tiny_model", stage_fingerprint(plan, planned, portable=True))
    entry.prepare_publication("from-slurm", runs / "fakescope" / "other")
    entry.mark_queued("41", runs / "fakescope" / "other")
    proc = subprocess.run(
        [sys.executable, "-m", "harness", *args, "stages=[tiny_model]"], cwd=REPO_ROOT,
        env={**os.environ, "PATH": str(bare)}, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode != 0, proc.stdout
    assert "was queued as Slurm job 41 and is not published" in proc.stderr, proc.stderr
    assert f"delete {entry.queued_file} and run this again" in proc.stderr
    assert not (entry.path / "config.json").exists()


def test_a_table_with_submit_false_writes_each_shared_script_once(tmp_path: Path) -> None:
    """`cluster=slurm submit=false` writes the scripts a table's one submission would submit and
    submits nothing (no Slurm is asked: the launcher only writes files): a stage two runs share
    has one script, in the first run that needs it, and the second run names that run instead of
    writing a second script that, submitted by hand, would run the same entry twice. Another
    invocation submitted nothing before it, so it writes the shared scripts again, once."""
    import subprocess
    import sys

    from harness.config import REPO_ROOT

    argv = [
        sys.executable, "-m", "harness", "paper=fakescope", "profile=smoke", "table=table8_training_data",
        "table_runs=[fs_none,fs_full]", "run_name=t8", "cluster=slurm", "cluster.gpus_per_node=0",
        f"paths.runs={tmp_path}", "submit=false",
    ]  # fmt: skip
    root = tmp_path / "fakescope"
    shared = ("tiny_model", "synth_testset", "prepare_testset")
    for attempt in (1, 2):
        proc = subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert (
            "# cluster=slurm submit=false: every run's scripts are written and none is submitted"
            in proc.stdout
        )
        scripts = {
            run: sorted(p.stem for p in (root / run / "slurm").glob("*.sbatch"))
            for run in ("t8__fs_none", "t8__fs_full")
        }
        assert scripts == {
            "t8__fs_none": ["eval", "prepare_testset", "report", "synth_testset", "tiny_model"],
            "t8__fs_full": ["eval", "prepare_data", "report", "sft", "synth_data"],
        }, (attempt, scripts)
        wrote = [ln.split(":")[0] for ln in proc.stdout.splitlines() if ln.startswith("[launch] stage ")]
        assert wrote.count("[launch] stage tiny_model") == 1, proc.stdout
        for stage in shared:
            line = next(ln for ln in proc.stdout.splitlines() if f"] {stage}: no script here: " in ln)
            assert "its script written by t8__fs_none (not submitted)" in line, line
            assert (root / "t8__fs_full" / stage).resolve() == (root / "t8__fs_none" / stage).resolve()
            assert _manifest(root / "t8__fs_full").get(stage, {}).get("status") != "submitted"
        assert not list((root / SHARED_DIR).glob("*.queued.json"))  # nothing was queued
