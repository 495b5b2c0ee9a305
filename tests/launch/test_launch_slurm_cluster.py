"""cluster=slurm on a real two-node Slurm cluster (conftest.slurm_cluster), with real
torchrun, Ray and sbatch dependency chains. Only GPUs are absent: every stage runs on CPU
(gloo), and GPU counts are 0."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from launch_testlib import HOSTILE, HOSTILE_ENV, PWNED, free_port_block, processes_mentioning, read_json

from launch import Job, make_launcher

pytestmark = pytest.mark.slow

SECRETS = {
    "HF_TOKEN": "hf_slurm_secret_value_1",
    "WANDB_API_KEY": "wandb_slurm_secret_value_2",
    "CORP_VAULT_CRED": "corp_slurm_secret_value_3",  # matched by a configured pattern only
}


def _launcher(slurm_cluster, **cluster):
    cfg = {"launcher": "slurm", "slurm": {"poll_interval_s": 0.5}, **cluster}
    return make_launcher(cfg, environ=slurm_cluster.environ())


def _job(tmp_path, name, argv, **kw):
    return Job(
        name=name,
        argv=tuple(str(a) for a in argv),
        workdir=str(tmp_path),
        log_dir=str(tmp_path / "run" / "logs"),
        **kw,
    )


def _files_containing(root: Path, needles) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path}: {n}" for n in needles if n.encode() in data]
    return hits


def test_two_node_torchrun_rendezvous(slurm_cluster, tmp_path, programs, capsys):
    PWNED.unlink(missing_ok=True)
    ranks = tmp_path / "ranks"
    job = _job(
        tmp_path,
        "sft",
        [sys.executable, programs / "fake_swift.py", programs / "dist_worker.py", ranks, *HOSTILE],
        env=HOSTILE_ENV,
        mode="torchrun",
        nnodes=2,
        gpus_per_node=0,
    )
    launcher = _launcher(slurm_cluster)
    ids = launcher.submit([job], tmp_path / "run" / "slurm")
    assert f"stage sft: Slurm job {ids[0]}" in capsys.readouterr().out
    result = launcher.wait(ids, timeout_s=240)
    logs = tmp_path / "run" / "logs"
    assert result.ok, result.describe() + "".join(p.read_text() for p in logs.glob("*.log"))
    reports = [read_json(ranks / f"rank{r}.json") for r in (0, 1)]
    assert [(r["rank"], r["world_size"], r["sum"]) for r in reports] == [(0, 2, 3.0), (1, 2, 3.0)]
    assert [r["env"]["SLURMD_NODENAME"] for r in reports] == ["n1", "n2"]
    assert [r["env"]["NODE_RANK"] for r in reports] == ["0", "1"]
    assert all(r["env"]["MASTER_ADDR"] == "n1" and r["env"]["NNODES"] == "2" for r in reports)
    assert all(r["argv"] == list(HOSTILE) for r in reports)
    assert all(r["env"]["AIGI_HOSTILE"] == HOSTILE_ENV["AIGI_HOSTILE"] for r in reports)
    assert all(r["env"]["AIGI_SPACES"] == HOSTILE_ENV["AIGI_SPACES"] for r in reports)
    assert not PWNED.exists()
    for k in (0, 1):
        assert f"rank {k}/2" in (logs / f"sft.node{k}.log").read_text()


def test_two_node_ray_cluster_is_complete_before_the_entry_command(slurm_cluster, tmp_path, programs):
    out = tmp_path / "ray.json"
    temp_dir = f"/tmp/rs{os.getpid()}"
    p = free_port_block(15)
    ray = {
        "port": p,
        "client_server_port": p + 1,
        "dashboard_port": p + 2,
        "node_manager_port": p + 3,
        "object_manager_port": p + 5,
        "runtime_env_agent_port": p + 7,
        "dashboard_agent_grpc_port": p + 9,
        "dashboard_agent_listen_port": p + 11,
        "metrics_export_port": p + 13,
        "min_worker_port": p + 20,
        "max_worker_port": p + 60,
        "num_cpus": 1,
        "retry_delay_s": 2,
        "join_timeout_s": 180,
        "temp_dir": temp_dir,
    }
    job = _job(
        tmp_path,
        "grpo",
        [sys.executable, programs / "ray_entry.py", out, "trainer.nnodes=1", *HOSTILE],
        mode="ray",
        nnodes=2,
        gpus_per_node=0,
        alloc_args={"trainer.nnodes": "nnodes", "trainer.n_gpus_per_node": "gpus_per_node"},
    )
    launcher = _launcher(slurm_cluster, ray=ray)
    try:
        ids = launcher.submit([job], tmp_path / "run" / "slurm")
        result = launcher.wait(ids, timeout_s=300)
        logs = tmp_path / "run" / "logs"
        text = "".join(f"\n== {p}\n{p.read_text()[-3000:]}" for p in sorted(logs.glob("*.log")))
        assert result.ok, result.describe() + text
        report = read_json(out)
        assert report["alive_nodes"] == 2 and report["launch_nodes"] == 2, text
        assert report["argv"] == ["trainer.nnodes=2", *HOSTILE, "trainer.n_gpus_per_node=0"]
        assert report["ray_address"] == f"127.0.0.1:{p}"
        batch = (logs / "grpo.sbatch.log").read_text()
        assert "Ray cluster ready: 2 nodes" in batch
        for k in (0, 1):  # one log per node, and each node's Ray was stopped on request
            assert "attempt 1/3" in (logs / f"grpo.node{k}.ray.log").read_text()
        assert processes_mentioning(temp_dir) == []
    finally:
        for pid in processes_mentioning(temp_dir):
            os.kill(pid, 9)
        shutil.rmtree(temp_dir, ignore_errors=True)


def test_chain_runs_in_dependency_order(slurm_cluster, tmp_path):
    order = tmp_path / "order.txt"
    code = "import sys, time; time.sleep(1); open(sys.argv[1], 'a').write(sys.argv[2] + '\\n')"
    jobs = [_job(tmp_path, n, [sys.executable, "-c", code, order, n]) for n in ("a", "b", "c")]
    launcher = _launcher(slurm_cluster)
    ids = launcher.submit(jobs, tmp_path / "run" / "slurm")
    deps = subprocess.run(
        ["scontrol", "show", "job", ids[2]], capture_output=True, text=True, env=slurm_cluster.environ()
    ).stdout
    assert f"Dependency=afterok:{ids[1]}" in deps or "Dependency=(null)" in deps
    result = launcher.wait(ids, timeout_s=240)
    assert result.ok, result.describe()
    assert order.read_text().split() == ["a", "b", "c"]


def test_failed_middle_stage_stops_the_chain_and_is_named(slurm_cluster, tmp_path, programs, capsys):
    dump = str(programs / "dump_argv.py")
    jobs = [
        _job(tmp_path, "prep", [sys.executable, dump, tmp_path / "prep.json"]),
        _job(tmp_path, "train", [sys.executable, dump, tmp_path / "train.json"], env={"DUMP_EXIT": "3"}),
        _job(tmp_path, "report", [sys.executable, dump, tmp_path / "report.json"]),
    ]
    launcher = _launcher(slurm_cluster)
    ids = launcher.submit(jobs, tmp_path / "run" / "slurm")
    result = launcher.wait(ids, timeout_s=240)
    assert not result.ok
    assert result.failed.stage == "train" and result.failed.exit_code == 3
    assert [s.stage for s in result.not_run] == ["report"]
    assert (tmp_path / "prep.json").exists() and (tmp_path / "train.json").exists()
    assert not (tmp_path / "report.json").exists()  # the last stage never started
    printed = capsys.readouterr().out
    assert f"stage 'train' (Slurm job {ids[1]}) failed: FAILED, exit code 3" in printed
    assert f"stage 'report' (Slurm job {ids[2]}) never started" in printed


def test_hostile_values_and_secrets_through_a_single_stage(slurm_cluster, tmp_path, programs):
    PWNED.unlink(missing_ok=True)
    out = tmp_path / "out.json"
    env = {
        **HOSTILE_ENV,
        **SECRETS,
        "DUMP_ENV": "AIGI_HOSTILE,AIGI_SPACES",
        "DUMP_SECRETS": ",".join(SECRETS),
    }
    job = _job(
        tmp_path,
        "eval",
        [sys.executable, programs / "dump_argv.py", out, *HOSTILE],
        env=env,
        post_argv=((sys.executable, "-c", "print('post ran')"),),
    )
    patterns = ["*_TOKEN", "*_API_KEY", "CORP_VAULT_*"]
    launcher = _launcher(slurm_cluster, secret_patterns=patterns)
    assert launcher.run(job) == 0
    got = read_json(out)
    assert got["argv"] == list(HOSTILE)
    assert got["env"] == {k: HOSTILE_ENV[k] for k in ("AIGI_HOSTILE", "AIGI_SPACES")}
    assert got["secret_sha256"] == {k: hashlib.sha256(v.encode()).hexdigest() for k, v in SECRETS.items()}
    assert got["cwd"] == str(tmp_path)
    assert not PWNED.exists()
    assert "post ran" in (tmp_path / "run" / "logs" / "eval.node0.log").read_text()
    # Nothing the launcher wrote (script, logs) holds a secret's value.
    assert _files_containing(tmp_path / "run", SECRETS.values()) == []
    script = (tmp_path / "run" / "slurm" / "eval.sbatch").read_text()
    assert "passed through the environment sbatch runs with: CORP_VAULT_CRED HF_TOKEN WANDB_API_KEY" in script


def test_requeued_stage_runs_again_and_resumes(slurm_cluster, tmp_path):
    """A stage requeued mid-run (as after a node failure or preemption) starts again with the
    same command; the stand-in trainer finds the checkpoint its first attempt left, and both
    attempts' output stays in the node log."""
    ckpt = tmp_path / "checkpoint-1"
    code = (
        "import os, sys, time\n"
        "attempt = os.environ.get('SLURM_RESTART_COUNT', '0')\n"
        "ckpt = sys.argv[1]\n"
        "if os.path.exists(ckpt):\n"
        "    print(f'attempt {attempt}: resumed from {ckpt}', flush=True)\n"
        "else:\n"
        "    open(ckpt, 'w').write('step 1')\n"
        "    print(f'attempt {attempt}: saved {ckpt}', flush=True)\n"
        "    time.sleep(120)\n"
    )
    job = _job(tmp_path, "train", [sys.executable, "-c", code, ckpt])
    launcher = _launcher(slurm_cluster)
    [job_id] = launcher.submit([job], tmp_path / "run" / "slurm")
    deadline = time.monotonic() + 120
    while not ckpt.exists():
        assert time.monotonic() < deadline, "first attempt never started"
        time.sleep(0.2)
    _requeue_and_restart_now(slurm_cluster, job_id, deadline)
    result = launcher.wait([job_id], timeout_s=120)
    assert result.ok, result.describe() + _diagnosis(slurm_cluster, tmp_path / "run" / "logs", job_id)
    log = (tmp_path / "run" / "logs" / "train.node0.log").read_text()
    assert f"attempt 0: saved {ckpt}" in log
    assert f"attempt 1: resumed from {ckpt}" in log
    assert "restart 1" in (tmp_path / "run" / "logs" / "train.sbatch.log").read_text()


def _requeue_and_restart_now(slurm_cluster, job_id: str, deadline: float) -> None:
    """Requeue a running job as a preemption would, then start its second attempt at once.

    Slurm holds a requeued job for about two minutes (BeginTime) so that the first attempt is
    gone from its nodes before the second starts; the test skips that wait (StartTime=now) but
    keeps its guarantee. It requeues only a job whose step 0 the controller has running (a
    preempted trainer has been running a while, not starting), and it restarts only once no
    step daemon of the first attempt is left on a node (each holds a socket named
    <node>_<job>.<step> in its node's spool directory) and the clock has passed the second in
    which the first attempt's credential was revoked (slurmd compares whole seconds)."""
    env = slurm_cluster.environ()
    while "State=RUNNING" not in _show_step(f"{job_id}.0", env):
        assert time.monotonic() < deadline, "step 0 never ran: " + _show(job_id, env)
        time.sleep(0.2)
    subprocess.run(["scontrol", "requeue", job_id], env=env, check=True, capture_output=True)
    revoked = time.time()
    while "JobState=PENDING" not in _show(job_id, env) or _step_daemons(slurm_cluster, job_id):
        left = _step_daemons(slurm_cluster, job_id)
        assert time.monotonic() < deadline, f"first attempt not torn down: {left} " + _show(job_id, env)
        time.sleep(0.2)
    time.sleep(max(0.0, int(revoked) + 1.05 - time.time()))
    subprocess.run(
        ["scontrol", "update", f"JobId={job_id}", "StartTime=now"], env=env, check=True, capture_output=True
    )


def _step_daemons(slurm_cluster, job_id: str) -> list[str]:
    return sorted(p.name for p in (slurm_cluster.base / "spool").glob(f"*/*_{job_id}.*"))


def _show_step(step_id: str, env) -> str:
    return subprocess.run(
        ["scontrol", "show", "step", "-o", step_id], env=env, capture_output=True, text=True
    ).stdout


def _diagnosis(slurm_cluster, logs: Path, job_id: str) -> str:
    """What a failed requeue test needs to be understood from a CI log alone: the stage's logs,
    the job as the controller sees it and the daemons' last lines."""
    files = [*sorted(logs.glob("*.log")), *sorted((slurm_cluster.base / "log").glob("*.log"))]
    text = "".join(f"\n== {p}\n{p.read_text(errors='replace')[-4000:]}" for p in files)
    return f"\n== scontrol show job {job_id}\n{_show(job_id, slurm_cluster.environ())}{text}"


def _show(job_id: str, env) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", "-o", job_id], env=env, capture_output=True, text=True
    ).stdout


def test_a_requeued_swift_stage_resumes_from_its_checkpoint(slurm_cluster, tmp_path, programs):
    """What the harness submits for an ms-swift training stage (harness.runner wraps it in
    harness.swift_resume): requeued after its first attempt saved checkpoint-5, the second
    attempt gets --resume_from_checkpoint pointing there."""
    from harness.swift_resume import wrap

    output, report = tmp_path / "sft" / "output", tmp_path / "starts.jsonl"
    trainer = [sys.executable, str(programs / "requeued_trainer.py"), str(output), str(report)]
    job = _job(tmp_path, "sft", wrap(trainer, str(output), python=sys.executable))
    launcher = _launcher(slurm_cluster)
    [job_id] = launcher.submit([job], tmp_path / "run" / "slurm")
    env = slurm_cluster.environ()
    deadline = time.monotonic() + 300  # the job may wait for a node another test has not released yet
    while not (output / "checkpoint-5" / "trainer_state.json").exists():
        assert time.monotonic() < deadline, "first attempt never saved its checkpoint: " + _show(job_id, env)
        time.sleep(0.2)
    _requeue_and_restart_now(slurm_cluster, job_id, deadline)
    result = launcher.wait([job_id], timeout_s=120)
    logs = tmp_path / "run" / "logs"
    seen = _show(job_id, env) + "".join(f"\n== {p.name}\n{p.read_text()}" for p in logs.glob("*.log"))
    assert result.ok, result.describe() + _diagnosis(slurm_cluster, logs, job_id)
    starts = [json.loads(line) for line in report.read_text().splitlines()]
    assert starts == [
        {"argv": [], "restart": "0"},
        {"argv": ["--resume_from_checkpoint", str(output / "checkpoint-5")], "restart": "1"},
    ], seen
    assert f"[harness] resuming from {output / 'checkpoint-5'} (Slurm restart 1)" in seen
