"""The launcher protocol the harness uses for every cluster: submit a chain, then wait for it.

Local and torchrun run the chain inside `submit` (hooks around each stage, stop at the first
failure); Slurm queues it (its real cluster behaviour is in test_launch_slurm_cluster.py), can
only write it down (hold) or leave it queued (detach).
"""

import subprocess
import sys

import pytest

from launch import Job, LocalLauncher, SlurmLauncher, TorchrunLauncher, make_launcher
from launch.job import JobError


def _job(tmp_path, name, code):
    return Job(
        name=name,
        argv=(sys.executable, "-c", f"import sys; print('{name}'); sys.exit({code})"),
        workdir=str(tmp_path),
        log_dir=str(tmp_path / "logs"),
    )


def test_every_launcher_offers_the_same_protocol():
    for cls in (LocalLauncher, TorchrunLauncher, SlurmLauncher):
        for name in ("command_line", "is_primary", "run", "submit", "wait", "requeues"):
            assert hasattr(cls, name), (cls.__name__, name)
    assert make_launcher({"launcher": "local"}).requeues is False
    assert make_launcher({"launcher": "torchrun"}).requeues is False
    assert make_launcher({"launcher": "slurm"}).requeues is True
    assert make_launcher({"launcher": "slurm", "slurm": {"requeue": False}}).requeues is False


def test_a_local_chain_runs_in_order_with_hooks_and_stops_at_the_first_failure(tmp_path, capfd):
    launcher = make_launcher({"launcher": "local"})
    events = []
    jobs = [_job(tmp_path, "a", 0), _job(tmp_path, "b", 3), _job(tmp_path, "c", 0)]
    ids = launcher.submit(
        jobs,
        on_start=lambda job: events.append(("start", job.name)),
        on_end=lambda job, state: events.append(("end", job.name, state.state, state.ran)),
    )
    assert events == [
        ("start", "a"),
        ("end", "a", "COMPLETED", True),
        ("start", "b"),
        ("end", "b", "FAILED", True),
        ("end", "c", "CANCELLED", False),
    ]
    assert "c" not in capfd.readouterr().out.split()  # never started
    result = launcher.wait(ids)
    assert not result.ok and result.failed.stage == "b" and result.failed.exit_code == 3
    assert [s.stage for s in result.not_run] == ["c"]
    assert "stage 'b' (local job 2) failed: FAILED, exit code 3" in result.describe()
    assert "stage 'c' (local job 3) never started" in result.describe()
    assert result.failed.log == str(tmp_path / "logs" / "b.node0.log") and result.failed.seconds >= 0
    # A later chain after a failed job never starts; after a successful one it does.
    (after_failure,) = launcher.submit([_job(tmp_path, "d", 0)], after=[ids[1]])
    assert not launcher.wait([after_failure]).stages[0].ran
    (after_success,) = launcher.submit([_job(tmp_path, "e", 0)], after=[ids[0]])
    assert launcher.wait([after_success]).ok
    with pytest.raises(JobError, match="not run by this launcher"):
        launcher.submit([_job(tmp_path, "f", 0)], after=["999"])


def test_slurm_hold_writes_the_chain_and_submits_nothing(tmp_path):
    calls = []

    def runner(argv, **kw):
        calls.append(argv)
        return subprocess.CompletedProcess(argv, 0, "1\n", "")

    launcher = SlurmLauncher(make_launcher({"launcher": "slurm"}).cfg, {}, runner=runner, hold=True)
    jobs = [_job(tmp_path, "a", 0), _job(tmp_path, "b", 0)]
    assert launcher.submit(jobs) == []
    assert calls == []
    assert sorted(p.name for p in (tmp_path / "slurm").iterdir()) == ["a.sbatch", "b.sbatch"]


def test_slurm_detach_reports_the_chain_as_queued_without_asking_slurm(tmp_path):
    calls = []

    def runner(argv, **kw):
        calls.append(argv[0])
        return subprocess.CompletedProcess(argv, 0, f"{len(calls)}\n", "")

    launcher = SlurmLauncher(make_launcher({"launcher": "slurm"}).cfg, {}, runner=runner, detach=True)
    ids = launcher.submit([_job(tmp_path, "a", 0), _job(tmp_path, "b", 0)])
    assert ids == ["1", "2"] and calls == ["sbatch", "sbatch"]
    result = launcher.wait(ids)
    assert calls == ["sbatch", "sbatch"]  # no scontrol
    assert [(s.stage, s.terminal, s.ran) for s in result.stages] == [("a", False, False), ("b", False, False)]
    assert result.failed is None and not result.ok
