"""Which Python a Slurm job runs on its node, and what the job checks there before it starts.

A login node without GPUs usually has the CPU install (`make install`: .venv). When a pipeline
submitted from it has GPU stages (harness/validate/environment.py lists what each needs), every
job runs the repository's GPU install instead (`.venv-gpu`, `make install-gpu`): the sbatch
script checks it on the node (`python -m common.gpu_env check ...`) and, if it is missing or
incomplete, builds it under a lock in the shared checkout (launch/slurm_script.py). A submitting
environment that is already the GPU set, or `cluster.python`, is used as it is and only checked.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import OmegaConf

from common import gpu_env
from harness.plan import Plan, PlannedStage
from harness.validate.environment import stage_requirements, tracking_need


def _needs(planned: PlannedStage) -> list[str]:
    """What of the GPU set the stage needs. Its tracker is not the GPU set's business (building
    .venv-gpu would not install it): the trainers fail at start-up, naming it, when it is missing."""
    if planned.skip_reason:
        return []
    return [n.module for n in stage_requirements(planned) if not tracking_need(n)]


def plan_needs_gpu_set(plan: Plan) -> bool:
    return any(_needs(planned) for planned in plan.stages)


def gpu_venv_python(plan: Plan) -> str:
    return str(Path(str(plan.cfg.paths.repo)) / gpu_env.GPU_VENV / "bin" / "python")


def node_python(plan: Plan) -> str | None:
    """The interpreter Slurm jobs run, when the harness picks it (None: cluster.python or this one)."""
    if str(plan.cfg.cluster.launcher) != "slurm" or OmegaConf.select(plan.cfg, "cluster.python"):
        return None
    if gpu_env.environment_set() == "gpu" or not plan_needs_gpu_set(plan):
        return None
    return gpu_venv_python(plan)


def job_environment(plan: Plan, planned: PlannedStage) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(modules the node's interpreter must have, command that builds it) for a Slurm job."""
    if str(plan.cfg.cluster.launcher) != "slurm":
        return (), ()  # stages on this machine are checked before launch (validate/environment.py)
    needs = _needs(planned)
    modules = tuple(sorted({m for m in needs if m != "torch.cuda"}))
    if node_python(plan) is not None:
        repo = str(plan.cfg.paths.repo)
        return modules, ("make", "-C", repo, "install-gpu", "GPU=1")
    return (modules, ()) if needs else ((), ())
