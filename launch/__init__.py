"""Launchers: run a stage's (argv, env) locally, on hand-started nodes, or on Slurm.

    from launch import Job, make_launcher
    launcher = make_launcher(cfg.cluster)          # cluster.launcher: local | torchrun | slurm
    print(launcher.command_line(job))              # dry run
    rc = launcher.run(job)                         # local / torchrun: blocking
    ids = launcher.submit(jobs, run_dir / "slurm") # slurm: chained with afterok
    result = launcher.wait(ids)                    # slurm: ChainResult, names the failed stage

Launchers know nothing about papers or trainers; see launch.job for the Job contract.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Protocol

from launch.config import ClusterConfig, ClusterConfigError, parse_cluster
from launch.job import MODES, Job, JobError
from launch.local import LocalLauncher
from launch.secret_env import DEFAULT_SECRET_PATTERNS, mask_env, secret_names
from launch.slurm import SlurmLauncher
from launch.slurm_state import ChainResult, StageState
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

    def command_line(self, job: Job, node_rank: int = 0) -> str: ...

    def run(self, job: Job) -> int: ...

    def is_primary(self) -> bool: ...


AnyLauncher = LocalLauncher | TorchrunLauncher | SlurmLauncher


def make_launcher(
    cluster: Mapping[str, Any] | ClusterConfig,
    environ: Mapping[str, str] | None = None,
) -> AnyLauncher:
    """The launcher named by `cluster.launcher`, configured by the rest of `cluster`.

    `environ` is the environment launched processes inherit and where null topology values
    are looked up (default: os.environ at this call).
    """
    cfg = cluster if isinstance(cluster, ClusterConfig) else parse_cluster(cluster)
    env = dict(os.environ if environ is None else environ)
    if cfg.launcher == "local":
        return LocalLauncher(cfg, env)
    if cfg.launcher == "torchrun":
        return TorchrunLauncher(cfg, env)
    return SlurmLauncher(cfg, env)
