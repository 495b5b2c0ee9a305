"""cluster=local: every stage on this machine, one node.

- single: the command as one process.
- torchrun: ms-swift gets NPROC_PER_NODE (and CUDA_VISIBLE_DEVICES) and starts torchrun
  itself; without GPUs it runs as one plain process (the CPU smoke path).
- ray: the command runs as one process and verl's own `ray.init()` starts a private local
  Ray with this machine's GPUs. The launcher does not start a Ray head: a head left over
  from a crashed run would otherwise be joined silently, and verl already does the right
  thing alone. (If RAY_ADDRESS is set in the environment, verl joins that cluster instead.)
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from launch import shell
from launch.chain import InProcessChain
from launch.config import ClusterConfig, ClusterConfigError
from launch.dist_env import child_env, device_list, uses_torchrun
from launch.job import Job, JobError, resolved_argv
from launch.secret_env import log_secret_values, split_env
from launch.stream import run_logged


class LocalLauncher(InProcessChain):
    """Runs stages on this machine (cluster=local); `submit` runs a chain of them in order."""

    def __init__(self, cfg: ClusterConfig, environ: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self.environ = dict(os.environ if environ is None else environ)

    def launcher_vars(self, job: Job) -> dict[str, str]:
        """Variables this launcher adds for `job` (on top of the stage env)."""
        self._check(job)
        out: dict[str, str] = {}
        devices = self._visible_devices(job)
        if devices is not None:
            out["CUDA_VISIBLE_DEVICES"] = devices
        if uses_torchrun(job, 1):
            out["NPROC_PER_NODE"] = str(job.gpus_per_node)
            if self.cfg.master_port is not None:
                out["MASTER_PORT"] = str(self.cfg.master_port)
        return out

    def argv(self, job: Job) -> tuple[str, ...]:
        return resolved_argv(job, 1, job.gpus_per_node)

    def is_primary(self) -> bool:
        """This process writes the run's manifest (one machine: always)."""
        return True

    def harness_processes(self) -> int:
        return 1

    def command_line(self, job: Job, node_rank: int = 0) -> str:
        """The one-line shell command `run` executes (secrets left to the environment)."""
        if node_rank != 0:
            raise JobError(f"cluster=local has one node; node_rank {node_rank} does not exist")
        public, _ = split_env(job.env, self.cfg.secret_patterns)
        env = {**self.launcher_vars(job), **public}
        return shell.command_line(env, self.argv(job))

    def dry_run_text(self, job: Job) -> str:
        """What `run` executes, as the dry run prints it."""
        return self.command_line(job) + "\n"

    def run(self, job: Job) -> int:
        """Run the stage here, blocking; output goes to the console and the node-0 log."""
        env = child_env(self.environ, job, self.launcher_vars(job))
        secrets = log_secret_values(env, job.argv, self.cfg.secret_patterns)
        log = job.log_file(0)
        rc = run_logged(self.argv(job), env=env, cwd=job.workdir, log_path=log, secrets=secrets)
        for post in job.post_argv if rc == 0 else ():
            rc = run_logged(post, env=env, cwd=job.workdir, log_path=log, secrets=secrets)
            if rc != 0:
                break
        return rc

    def _check(self, job: Job) -> None:
        if job.nodes_used != 1:
            raise JobError(
                f"stage {job.name!r} asks for {job.nnodes} nodes but cluster=local runs on one; "
                "use cluster=torchrun or cluster=slurm with cluster.nnodes="
                f"{job.nnodes}, or set cluster.nnodes=1"
            )

    def _visible_devices(self, job: Job) -> str | None:
        if job.gpus_per_node == 0:
            return None
        chosen = self.cfg.visible_devices
        key = "cluster.visible_devices"
        if chosen is None and self.environ.get("CUDA_VISIBLE_DEVICES"):
            chosen, key = self.environ["CUDA_VISIBLE_DEVICES"], "CUDA_VISIBLE_DEVICES"
        if chosen is None:
            return device_list(job.gpus_per_node)
        count = len([d for d in chosen.split(",") if d.strip()])
        if count != job.gpus_per_node:
            raise ClusterConfigError(
                f"{key}={chosen!r} lists {count} GPUs but stage {job.name!r} uses "
                f"{job.gpus_per_node} (cluster.gpus_per_node); make them agree"
            )
        return chosen
