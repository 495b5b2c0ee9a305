"""cluster=local: real processes on this machine, what they receive, where output goes."""

import subprocess
import sys

import pytest
from launch_testlib import HOSTILE, HOSTILE_ENV, PWNED, read_json

from launch import Job, make_launcher
from launch.config import ClusterConfigError
from launch.job import JobError

SECRETS = {"HF_TOKEN": "hf_local_secret_0123", "WANDB_API_KEY": "wandb-local-secret-4567"}


def _job(tmp_path, programs, out, **kw):
    base = dict(
        name="stage",
        argv=(sys.executable, str(programs / "dump_argv.py"), str(out), *HOSTILE),
        env={
            **HOSTILE_ENV,
            **SECRETS,
            "DUMP_ENV": "AIGI_HOSTILE,AIGI_SPACES,NPROC_PER_NODE,CUDA_VISIBLE_DEVICES,WORLD_SIZE,RANK,NNODES",
            "DUMP_SECRETS": "HF_TOKEN,WANDB_API_KEY",
        },
        mode="single",
        workdir=str(tmp_path),
        log_dir=str(tmp_path / "logs"),
    )
    base.update(kw)
    return Job(**base)


@pytest.mark.parametrize("mode", ["single", "torchrun", "ray"])
def test_hostile_values_and_secrets_reach_the_process_verbatim(tmp_path, programs, mode, capfd):
    PWNED.unlink(missing_ok=True)
    out = tmp_path / "out.json"
    job = _job(tmp_path, programs, out, mode=mode)
    # The harness itself may run under a platform that exported these (Fake-HR1's does).
    launcher = make_launcher(
        {"launcher": "local"}, environ={"PATH": "/usr/bin:/bin", "WORLD_SIZE": "2", "RANK": "1"}
    )
    assert launcher.run(job) == 0
    got = read_json(out)
    assert got["argv"] == list(HOSTILE)
    assert got["env"]["AIGI_HOSTILE"] == HOSTILE_ENV["AIGI_HOSTILE"]
    assert got["env"]["AIGI_SPACES"] == HOSTILE_ENV["AIGI_SPACES"]
    # CPU on one node: a plain process, no torchrun variables, no inherited rank.
    for name in ("NPROC_PER_NODE", "CUDA_VISIBLE_DEVICES", "WORLD_SIZE", "RANK", "NNODES"):
        assert got["env"][name] is None, name
    import hashlib

    for name, value in SECRETS.items():
        assert got["secret_sha256"][name] == hashlib.sha256(value.encode()).hexdigest()
    assert not PWNED.exists()
    log = (tmp_path / "logs" / "stage.node0.log").read_text()
    assert "dumped 17 arguments" in log
    assert "dumped 17 arguments" in capfd.readouterr().out
    for value in SECRETS.values():
        assert value not in log


def test_secret_printed_by_the_child_is_masked_in_log_and_console(tmp_path, capfd):
    code = "import os; print('token:', os.environ['HF_TOKEN'], 'and', os.environ['MY_CORP_PASS'])"
    job = Job(
        "leaky",
        (sys.executable, "-c", code),
        env={"HF_TOKEN": "hf_leaky_9876543", "MY_CORP_PASS": "corp-pass-1234"},
        workdir=str(tmp_path),
        log_dir=str(tmp_path / "logs"),
    )
    launcher = make_launcher({"launcher": "local", "secret_patterns": ["HF_TOKEN", "MY_CORP_*"]})
    assert launcher.run(job) == 0
    log = (tmp_path / "logs" / "leaky.node0.log").read_text()
    console = capfd.readouterr().out
    for text in (log, console):
        assert "token: *** and ***" in text
        assert "hf_leaky_9876543" not in text and "corp-pass-1234" not in text


def test_command_line_with_gpus_sets_the_ms_swift_contract_and_hides_secrets(tmp_path):
    job = Job(
        "sft",
        ("swift", "sft", "--system", HOSTILE[1]),
        env={"A": "x y", **SECRETS},
        mode="torchrun",
        gpus_per_node=8,
        workdir=str(tmp_path),
        log_dir=str(tmp_path),
    )
    line = make_launcher({"launcher": "local"}, environ={}).command_line(job)
    assert line.startswith("CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7 NPROC_PER_NODE=8 A='x y' swift sft")
    assert "HF_TOKEN" not in line and SECRETS["HF_TOKEN"] not in line
    # Copy-pasteable: the shell gives back the exact argv.
    echoed = subprocess.run(
        ["bash", "-c", line.replace("swift sft", "printf '%s\\0'", 1)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert echoed.stdout.split("\0")[:-1] == ["--system", HOSTILE[1]]


def test_post_argv_runs_after_success_only(tmp_path):
    marker = tmp_path / "post.txt"
    post = ((sys.executable, "-c", f"open({str(marker)!r}, 'a').write('post\\n')"),)
    ok = Job(
        "ok",
        (sys.executable, "-c", "pass"),
        post_argv=post,
        workdir=str(tmp_path),
        log_dir=str(tmp_path / "logs"),
    )
    bad = Job(
        "bad",
        (sys.executable, "-c", "raise SystemExit(4)"),
        post_argv=post,
        workdir=str(tmp_path),
        log_dir=str(tmp_path / "logs"),
    )
    launcher = make_launcher({"launcher": "local"})
    assert launcher.run(ok) == 0
    assert marker.read_text() == "post\n"
    assert launcher.run(bad) == 4
    assert marker.read_text() == "post\n"
    assert "exit code 4" in (tmp_path / "logs" / "bad.node0.log").read_text()


def test_missing_program_is_exit_127_not_a_crash(tmp_path):
    job = Job("nope", ("/nonexistent/program",), workdir=str(tmp_path), log_dir=str(tmp_path))
    assert make_launcher({"launcher": "local"}).run(job) == 127


def test_multi_node_stage_is_refused_with_a_way_out(tmp_path):
    job = Job("sft", ("x",), mode="torchrun", nnodes=2, workdir=str(tmp_path), log_dir=str(tmp_path))
    with pytest.raises(JobError, match="cluster=torchrun or cluster=slurm"):
        make_launcher({"launcher": "local"}).command_line(job)


def test_visible_devices_must_match_gpus_per_node(tmp_path):
    job = Job("sft", ("x",), mode="torchrun", gpus_per_node=4, workdir=str(tmp_path), log_dir=str(tmp_path))
    launcher = make_launcher({"launcher": "local"}, environ={"CUDA_VISIBLE_DEVICES": "2,3"})
    with pytest.raises(ClusterConfigError, match="CUDA_VISIBLE_DEVICES='2,3' lists 2 GPUs"):
        launcher.command_line(job)
    launcher = make_launcher({"launcher": "local"}, environ={"CUDA_VISIBLE_DEVICES": "4,5,6,7"})
    assert launcher.command_line(job).startswith("CUDA_VISIBLE_DEVICES=4,5,6,7 NPROC_PER_NODE=4 ")


def test_ray_stage_gets_alloc_args_from_this_machine(tmp_path, programs):
    out = tmp_path / "out.json"
    job = _job(
        tmp_path,
        programs,
        out,
        mode="ray",
        env={},
        argv=(sys.executable, str(programs / "dump_argv.py"), str(out), "trainer.nnodes=3"),
        alloc_args={"trainer.nnodes": "nnodes", "trainer.n_gpus_per_node": "gpus_per_node"},
    )
    assert make_launcher({"launcher": "local"}).run(job) == 0
    assert read_json(out)["argv"] == ["trainer.nnodes=1", "trainer.n_gpus_per_node=0"]


@pytest.mark.slow
def test_local_gpus_run_real_torchrun_through_the_ms_swift_contract(tmp_path, programs):
    """gpus_per_node=2 on a CPU box: ms-swift's contract spawns 2 gloo workers (GPUs mocked:
    CUDA_VISIBLE_DEVICES is set but nothing here uses CUDA)."""
    out = tmp_path / "ranks"
    job = Job(
        "sft",
        (
            sys.executable,
            str(programs / "fake_swift.py"),
            str(programs / "dist_worker.py"),
            str(out),
            *HOSTILE[:4],
        ),
        mode="torchrun",
        gpus_per_node=2,
        workdir=str(tmp_path),
        log_dir=str(tmp_path / "logs"),
    )
    launcher = make_launcher({"launcher": "local", "master_port": 29617})
    assert launcher.run(job) == 0
    reports = [read_json(out / f"rank{r}.json") for r in (0, 1)]
    assert [r["world_size"] for r in reports] == [2, 2]
    assert [r["sum"] for r in reports] == [3.0, 3.0]
    assert reports[0]["env"]["NPROC_PER_NODE"] == "2"
    assert reports[0]["env"]["CUDA_VISIBLE_DEVICES"] == "0,1"
    assert reports[1]["argv"] == list(HOSTILE[:4])
