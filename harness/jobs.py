"""Planned stages as launch jobs: the only place where harness and launch/ meet."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from omegaconf import OmegaConf

from harness.plan import Plan, PlannedStage


def cluster_settings(plan: Plan) -> dict[str, Any]:
    settings = OmegaConf.to_container(plan.cfg.cluster, resolve=True)
    assert isinstance(settings, dict)
    return settings


def make_job(plan: Plan, planned: PlannedStage, extra_env: Mapping[str, str] | None = None):  # -> launch.job.Job
    from launch.job import Job

    rendered = planned.rendered
    env = dict(rendered.env)
    if extra_env:
        env.update(extra_env)
    return Job(
        name=planned.name,
        argv=tuple(rendered.argv),
        env=env,
        mode=rendered.mode,
        nnodes=planned.ctx.nnodes,
        gpus_per_node=planned.ctx.gpus_per_node,
        workdir=str(plan.cfg.paths.repo),
        log_dir=str(Path(plan.run_dir) / "logs"),
        alloc_args=dict(rendered.alloc_args),
        post_argv=tuple(tuple(p) for p in rendered.post_argv),
    )


def launcher_for(plan: Plan):  # -> launch.Launcher
    from launch import make_launcher

    return make_launcher(cluster_settings(plan))


def command_line(plan: Plan, planned: PlannedStage) -> str:
    """The copy-pasteable shell line the cluster's launcher would run on the first node."""
    return launcher_for(plan).command_line(make_job(plan, planned))
