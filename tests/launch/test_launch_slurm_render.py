"""Rendered sbatch scripts: golden files, shell syntax, quoting, secrets.

Golden files live in tests/launch/golden/. After an intended change to the renderer run
    AIGI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/launch/test_launch_slurm_render.py
and review the diff. The real behaviour is proven on a real cluster by
test_launch_slurm_cluster.py; these pin the text a user reads and submits.
"""

import os
import subprocess
from pathlib import Path

import pytest
from launch_testlib import FAKE_HR1_SYSTEM

from launch import Job, make_launcher
from launch.job import JobError
from tests.golden import assert_matches_golden

GOLDEN = Path(__file__).parent / "golden"

CLUSTER = {
    "launcher": "slurm",
    "python": "/opt/venv/bin/python",
    "slurm": {
        "partition": "gpu",
        "account": "aigi",
        "time": "2-00:00:00",
        "cpus_per_task": 64,
        "mem": "0",
        "extra_sbatch": ["--constraint=a100"],
        "setup": ["module load cuda/12.4", "source /opt/venv/bin/activate"],
        "srun_args": ["--mpi=pmix"],
    },
    "ray": {
        "port": 6379,
        "node_manager_port": 53001,
        "object_manager_port": 53003,
        "min_worker_port": 54001,
        "max_worker_port": 54513,
    },
}
ALLOC = {"trainer.nnodes": "nnodes", "trainer.n_gpus_per_node": "gpus_per_node"}
RUN = "/runs/fake_hr1/demo run"

JOBS = {
    "sft": Job(
        "sft",
        (
            "swift",
            "sft",
            "--model",
            "Qwen/Qwen2.5-VL-7B-Instruct",
            "--system",
            FAKE_HR1_SYSTEM,
            "--response_prefix",
            "<think>\\n",
            "--output_dir",
            f"{RUN}/sft/output",
        ),
        env={"MAX_PIXELS": "12845056", "HF_TOKEN": "hf_never_written_123", "NOTE": "it's $(x)"},
        mode="torchrun",
        nnodes=2,
        gpus_per_node=16,
        workdir="/repo",
        log_dir=f"{RUN}/logs",
        post_argv=(("python", "-m", "harness.finalize", "--stage", "sft"),),
    ),
    "grpo": Job(
        "grpo",
        (
            "python3",
            "-m",
            "verl.trainer.main_ppo",
            "algorithm.adv_estimator=grpo",
            "trainer.nnodes=1",
            "trainer.n_gpus_per_node=16",
            "trainer.resume_mode=auto",
        ),
        env={"WANDB_API_KEY": "wandb_never_written_456"},
        mode="ray",
        nnodes=2,
        gpus_per_node=8,
        workdir="/repo",
        log_dir=f"{RUN}/logs",
        alloc_args=ALLOC,
    ),
    "eval": Job(
        "eval",
        ("python", "-m", "harness.evaluation", "--out", f"{RUN}/eval"),
        mode="single",
        nnodes=1,
        gpus_per_node=1,
        workdir="/repo",
        log_dir=f"{RUN}/logs",
    ),
}


@pytest.mark.parametrize("name", sorted(JOBS))
def test_rendered_script_matches_golden(name):
    text = make_launcher(CLUSTER, environ={}).render_script(JOBS[name])
    assert_matches_golden(text, GOLDEN / f"{name}.sbatch", "tests/launch/test_launch_slurm_render.py")


@pytest.mark.parametrize("name", sorted(JOBS))
def test_rendered_script_is_valid_bash_without_secrets(name, tmp_path):
    launcher = make_launcher(CLUSTER, environ={})
    [path] = launcher.write_scripts([JOBS[name]], tmp_path)
    assert path == tmp_path / f"{name}.sbatch"
    assert os.access(path, os.X_OK)
    subprocess.run(["bash", "-n", str(path)], check=True)
    text = path.read_text()
    assert "never_written" not in text
    for secret in ("HF_TOKEN", "WANDB_API_KEY"):
        if secret in JOBS[name].env:
            assert f"passed through the environment sbatch runs with: {secret}" in text


def test_gres_request_and_fixed_master_port():
    cluster = {
        **CLUSTER,
        "master_port": 29400,
        "slurm": {**CLUSTER["slurm"], "gpu_request": "gres", "gres_name": "gpu:a100"},
    }
    text = make_launcher(cluster, environ={}).render_script(JOBS["sft"])
    assert "#SBATCH --gres=gpu:a100:16\n" in text
    assert "export MASTER_PORT=29400\n" in text


def test_single_stage_on_a_multi_node_cluster_asks_for_one_node():
    job = Job(
        "prep", ("python", "-m", "data_prep"), mode="single", nnodes=4, workdir="/repo", log_dir="/run/logs"
    )
    text = make_launcher(CLUSTER, environ={}).render_script(job)
    assert "#SBATCH --nodes=1\n" in text and "NODE_RANK" not in text.split("unset", 1)[1].split("\n", 1)[1]


def test_cpu_single_node_torchrun_stage_runs_as_a_plain_process():
    job = Job(
        "smoke",
        ("swift", "sft"),
        mode="torchrun",
        nnodes=1,
        gpus_per_node=0,
        workdir="/repo",
        log_dir="/run/logs",
    )
    text = make_launcher(CLUSTER, environ={}).render_script(job)
    assert "NPROC_PER_NODE" not in text.split("unset", 1)[1].split("\n", 1)[1]
    assert "#SBATCH --gpus-per-node" not in text


def test_secret_value_in_argv_is_refused():
    job = Job(
        "leak",
        ("swift", "sft", "--hub_token", "hf_in_argv_123456"),
        env={"HF_TOKEN": "hf_in_argv_123456"},
        workdir="/r",
        log_dir="/r/logs",
    )
    with pytest.raises(JobError, match="would write the value of HF_TOKEN"):
        make_launcher(CLUSTER, environ={}).render_script(job)


def test_secret_value_from_the_environment_in_argv_is_refused():
    job = Job("leak", ("curl", "-H", "Authorization: hf_env_value_7890"), workdir="/r", log_dir="/r/logs")
    with pytest.raises(JobError, match="HF_TOKEN"):
        make_launcher(CLUSTER, environ={"HF_TOKEN": "hf_env_value_7890"}).render_script(job)


def test_command_line_inside_the_allocation():
    launcher = make_launcher(CLUSTER, environ={})
    line = launcher.command_line(JOBS["sft"], 1)
    assert line.startswith('NNODES="${SLURM_JOB_NUM_NODES}" NODE_RANK=1 MASTER_ADDR="${MASTER_ADDR}"')
    assert "hf_never_written" not in line
    assert launcher.command_line(JOBS["grpo"]).endswith(
        'trainer.nnodes="${SLURM_JOB_NUM_NODES}" trainer.n_gpus_per_node=8 trainer.resume_mode=auto'
    )
