"""Planned stages as launch jobs (launch.job.Job), and the launcher a plan's cluster picks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, Problem
from harness.plan import Plan, PlannedStage, default_run_name

if TYPE_CHECKING:  # launch/ is imported lazily: the dry run needs only the chosen launcher
    from launch import Launcher
    from launch.job import Job


def cluster_settings(plan: Plan) -> dict[str, Any]:
    from harness.node_env import node_python

    settings = OmegaConf.to_container(plan.cfg.cluster, resolve=True)
    assert isinstance(settings, dict)
    python = node_python(plan)  # a CPU login node submitting GPU stages: the nodes' GPU install
    if python is not None:
        settings["python"] = python
    return settings


def make_job(plan: Plan, planned: PlannedStage) -> Job:
    from harness.node_env import job_environment
    from launch.job import Job

    rendered = planned.rendered
    requires, env_build = job_environment(plan, planned)
    return Job(
        name=planned.name,
        argv=tuple(rendered.argv),
        env=dict(rendered.env),
        mode=rendered.mode,
        nnodes=planned.ctx.nnodes,
        gpus_per_node=planned.ctx.gpus_per_node,
        workdir=str(plan.cfg.paths.repo),
        log_dir=str(Path(plan.run_dir) / "logs"),
        alloc_args=dict(rendered.alloc_args),
        post_argv=tuple(tuple(p) for p in rendered.post_argv),
        requires=requires,
        env_build=env_build,
    )


def generated_run_name(cfg: DictConfig) -> str:
    """The run's name when the command line gives none: its start time. Refused where several
    harness processes walk one run (nodes started by hand): each would take its own start time,
    and the nodes of one training job would write to two run folders."""
    from launch import make_launcher

    settings = OmegaConf.to_container(cfg.cluster, resolve=True)
    assert isinstance(settings, dict)
    processes = make_launcher(settings).harness_processes()
    if processes > 1:
        raise ConfigError(
            Problem(
                "run_name",
                f"cluster={settings.get('launcher')} runs this pipeline from {processes} harness "
                "processes, one per node, and each would name the run after its own start time "
                "(one run folder per node, a training job's checkpoints split between them): start "
                "every node with the same run_name=<name>",
            )
        )
    return default_run_name()


def launcher_for(plan: Plan) -> Launcher:
    """The cluster's launcher; a scheduler holds the chain unless submit=true and leaves it
    running unless wait=true."""
    from launch import make_launcher

    cfg = plan.cfg
    return make_launcher(cluster_settings(plan), hold=not cfg.get("submit"), detach=not cfg.get("wait"))
