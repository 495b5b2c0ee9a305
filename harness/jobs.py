"""Planned stages as launch jobs (launch.job.Job), and the launcher a plan's cluster picks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import OmegaConf

from harness.plan import Plan, PlannedStage

if TYPE_CHECKING:  # launch/ is imported lazily: the dry run needs only the chosen launcher
    from launch import Launcher
    from launch.job import Job


def cluster_settings(plan: Plan) -> dict[str, Any]:
    settings = OmegaConf.to_container(plan.cfg.cluster, resolve=True)
    assert isinstance(settings, dict)
    return settings


def make_job(plan: Plan, planned: PlannedStage) -> Job:
    from launch.job import Job

    rendered = planned.rendered
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
    )


def launcher_for(plan: Plan) -> Launcher:
    """The cluster's launcher; a scheduler holds the chain unless submit=true and leaves it
    running unless wait=true."""
    from launch import make_launcher

    cfg = plan.cfg
    return make_launcher(cluster_settings(plan), hold=not cfg.get("submit"), detach=not cfg.get("wait"))
