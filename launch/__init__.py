"""Launchers: run a stage's (argv, env) locally, on hand-started nodes, or on Slurm.

    from launch import Job, make_launcher
    launcher = make_launcher(cfg.cluster)          # cluster.launcher: local | torchrun | slurm
    print(launcher.command_line(job))              # dry run
    rc = launcher.run(job)                         # one stage, blocking
    ids = launcher.submit(jobs, run_dir / "slurm") # a chain, each after the previous succeeded
    result = launcher.wait(ids)                    # ChainResult, names the failed stage

Every launcher offers the same calls (`Launcher`); how a chain runs is the launcher's business:
Slurm queues it with afterok dependencies, local and torchrun run it inside `submit`
(launch.chain). Launchers know nothing about papers or trainers; see launch.job for the Job
contract.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from launch.chain import ChainResult, EndHook, StageState, StartHook
from launch.config import ClusterConfig, ClusterConfigError, parse_cluster
from launch.job import MODES, Job, JobError
from launch.local import LocalLauncher
from launch.secret_env import DEFAULT_SECRET_PATTERNS, mask_env, secret_names
from launch.slurm import SlurmLauncher
from launch.torchrun import TorchrunLauncher

__all__ = [
    "ChainResult",
    "ClusterConfig",
    "ClusterConfigError",
    "DEFAULT_SECRET_PATTERNS",
    "Job",
    "JobError",
    "Launcher",
    "LocalLauncher",
    "MODES",
    "SlurmLauncher",
    "StageState",
    "TorchrunLauncher",
    "make_launcher",
    "mask_env",
    "parse_cluster",
    "secret_names",
]


class Launcher(Protocol):
    """What every launcher offers the harness."""

    @property
    def requeues(self) -> bool:
        """A job may be restarted with the argv it was submitted with (Slurm --requeue)."""
        ...

    @property
    def schedules(self) -> bool:
        """Jobs run under a scheduler after `submit` returned (Slurm), not inside it."""
        ...

    def active(self, job_id: str) -> bool:
        """Whether the job `job_id` (an id `submit` returned, maybe in another process) is
        still queued or running."""
        ...

    def command_line(self, job: Job, node_rank: int = 0) -> str: ...

    def dry_run_text(self, job: Job) -> str:
        """What the dry run prints for `job`: exactly what would be run, written or submitted."""
        ...

    def is_primary(self) -> bool:
        """This process keeps the run's records (one per run, whatever the node count)."""
        ...

    def harness_processes(self) -> int:
        """How many harness processes walk one run's pipeline: one per node where the nodes are
        started by hand (cluster=torchrun), else 1. Each of them must name the same run."""
        ...

    def run(self, job: Job) -> int: ...

    def submit(
        self,
        jobs: Sequence[Job],
        script_dir: Path | None = None,
        after: Sequence[str] = (),
        on_start: StartHook | None = None,
        on_end: EndHook | None = None,
    ) -> list[str]:
        """Hand over a chain: each job runs only after the ones before it (and `after`)
        succeeded. Returns one id per job, or [] when the launcher only wrote the chain down
        (into `script_dir`, or the launcher's default). The hooks are called around each job
        that starts or ends before submit returns."""
        ...

    def wait(self, job_ids: Sequence[str], timeout_s: float | None = None) -> ChainResult: ...


AnyLauncher = LocalLauncher | TorchrunLauncher | SlurmLauncher


def make_launcher(
    cluster: Mapping[str, Any] | ClusterConfig,
    environ: Mapping[str, str] | None = None,
    *,
    hold: bool = False,
    detach: bool = False,
) -> AnyLauncher:
    """The launcher named by `cluster.launcher`, configured by the rest of `cluster`.

    `environ` is the environment launched processes inherit and where null topology values
    are looked up (default: os.environ at this call). For a scheduler (Slurm): `hold` writes
    the chain without submitting it, `detach` returns from `wait` without waiting. Launchers
    that run stages in this process have nothing to hold or detach from.
    """
    cfg = cluster if isinstance(cluster, ClusterConfig) else parse_cluster(cluster)
    env = dict(os.environ if environ is None else environ)
    if cfg.launcher == "local":
        return LocalLauncher(cfg, env)
    if cfg.launcher == "torchrun":
        return TorchrunLauncher(cfg, env)
    return SlurmLauncher(cfg, env, hold=hold, detach=detach)
