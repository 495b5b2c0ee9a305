"""Slurm jobs submitted from the CPU install run the repository's GPU install on the nodes."""

from __future__ import annotations

from harness.jobs import cluster_settings, launcher_for, make_job
from harness.node_env import job_environment, node_python

from .conftest import plan_for


def test_a_cpu_login_node_sends_gpu_stages_to_the_gpu_install() -> None:
    plan = plan_for("fake_hr1", "cluster=slurm")
    python = node_python(plan)
    assert python is not None and python.endswith("/.venv-gpu/bin/python")
    assert cluster_settings(plan)["python"] == python
    requires, build = job_environment(plan, plan.stage("grpo"))
    assert requires == ("vllm",)
    assert build[:2] == ("make", "-C") and build[-2:] == ("install-gpu", "GPU=1")
    # A data stage needs no GPU module, but runs the same interpreter: checked and built too.
    assert job_environment(plan, plan.stage("prepare_genimage")) == ((), build)
    script = launcher_for(plan).render_script(make_job(plan, plan.stage("sft")))
    assert f"{python} -m common.gpu_env check deepspeed" in script
    assert f'export PATH={python.rsplit("/", 1)[0]}:"$PATH"' in script


def test_cluster_python_is_used_as_given_and_only_checked() -> None:
    plan = plan_for("fake_hr1", "cluster=slurm", "cluster.python=/opt/gpu/bin/python")
    assert node_python(plan) is None
    assert job_environment(plan, plan.stage("grpo")) == (("vllm",), ())


def test_local_runs_and_gpu_free_pipelines_change_nothing() -> None:
    local = plan_for("fake_hr1")
    assert node_python(local) is None and job_environment(local, local.stage("grpo")) == ((), ())
    from harness.config import compose
    from harness.plan import build_plan

    smoke = build_plan(compose(["paper=fakexplain", "profile=smoke", "cluster=slurm"]), run_name="x")
    assert node_python(smoke) is None
    assert all(job_environment(smoke, s) == ((), ()) for s in smoke.stages)
