"""cluster=slurm: one sbatch script per stage, chained with --dependency=afterok.

Rendering (`render_script`, `write_scripts`) is pure apart from writing the files asked for;
`submit` is the only thing that talks to Slurm. Secrets are never written into a script:
`submit` hands them to sbatch through its environment, and sbatch (run with --export=ALL)
passes them on to the job.

`hold=True` (the harness's submit=false) writes the scripts without submitting them;
`detach=True` (wait=false) makes `wait` report the chain as submitted instead of polling it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from common.atomic import write_text
from launch import shell
from launch.chain import ChainResult, EndHook, StageState, StartHook
from launch.config import ClusterConfig
from launch.dist_env import DISTRIBUTED_VARS, nproc_per_node, uses_torchrun
from launch.job import AllocRef, Job, JobError, alloc_argv
from launch.secret_env import leaked_secret_names, secret_values, split_env
from launch.shell import ShellVar
from launch.slurm_script import render_sbatch, script_name
from launch.slurm_state import ACTIVE_STATES, SlurmError, query, wait_chain

SUBMITTED = "SUBMITTED"  # the state of a job `wait` did not look at (detach=True)


class SlurmLauncher:
    """Renders and submits stages as Slurm batch jobs (cluster=slurm)."""

    def __init__(
        self,
        cfg: ClusterConfig,
        environ: Mapping[str, str] | None = None,
        runner: Callable[..., subprocess.CompletedProcess] = subprocess.run,
        hold: bool = False,
        detach: bool = False,
    ) -> None:
        self.cfg = cfg
        self.environ = dict(os.environ if environ is None else environ)
        self.runner = runner
        self.python = cfg.python or sys.executable
        self.hold = hold
        self.detach = detach
        self._submitted: dict[str, Job] = {}

    @property
    def requeues(self) -> bool:
        """A failed node or a preemption restarts a job with the argv it was submitted with."""
        return self.cfg.slurm.requeue

    @property
    def schedules(self) -> bool:
        return True

    def active(self, job_id: str) -> bool:
        """Queued or running (a requeued or suspended job too); a job the controller forgot is not."""
        state = query(job_id, runner=self.runner, env=self.environ).get("JobState", "UNKNOWN")
        return state in ACTIVE_STATES

    # ----- rendering ------------------------------------------------------------------------

    def render_script(self, job: Job) -> str:
        """The sbatch script for `job` (pure). Refuses argv or env carrying a secret's value."""
        self._check_no_secret_values(job)
        return render_sbatch(job, self.cfg, self.python)

    def dry_run_text(self, job: Job) -> str:
        """The sbatch script `submit` writes for `job`, byte for byte (nothing is written)."""
        return self.render_script(job)

    def write_scripts(self, jobs: Sequence[Job], script_dir: Path) -> list[Path]:
        """Write `<script_dir>/<stage>.sbatch` for every job; return the paths in order."""
        script_dir = Path(script_dir)
        texts = [(job, self.render_script(job)) for job in jobs]  # all checks before writing
        script_dir.mkdir(parents=True, exist_ok=True)
        paths = []
        for job, text in texts:
            path = script_dir / script_name(job)
            write_text(path, text, chmod=0o755)
            paths.append(path)
        return paths

    def is_primary(self) -> bool:
        """The submitting process writes the run's manifest."""
        return True

    def harness_processes(self) -> int:
        """One: the submitting process; the jobs run the stages, not the harness's pipeline."""
        return 1

    def command_line(self, job: Job, node_rank: int = 0) -> str:
        """What node `node_rank` runs inside the allocation (Slurm values as variables)."""
        public, _ = split_env(job.env, self.cfg.secret_patterns)
        argv = [
            (
                ShellVar("SLURM_JOB_NUM_NODES", prefix=f"{a.key}=")
                if a.field == "nnodes"
                else f"{a.key}={job.gpus_per_node}"
            )
            if isinstance(a, AllocRef)
            else a
            for a in alloc_argv(job)
        ]
        env: dict = {}
        if job.mode == "single" and node_rank != 0:
            return f"# stage {job.name} runs on node 0 only"
        if job.mode == "ray":
            env["RAY_ADDRESS"] = ShellVar("RAY_ADDRESS")
            if node_rank != 0:
                return f"# stage {job.name}: node {node_rank} runs a Ray worker (see the script)"
        elif uses_torchrun(job, job.nodes_used):
            env.update(
                NNODES=ShellVar("SLURM_JOB_NUM_NODES"),
                NODE_RANK=str(node_rank),
                MASTER_ADDR=ShellVar("MASTER_ADDR"),
                MASTER_PORT=ShellVar("MASTER_PORT"),
                NPROC_PER_NODE=str(nproc_per_node(job)),
            )
        env.update(public)
        return shell.command_line(env, argv)

    def default_script_dir(self, job: Job) -> Path:
        """`<run_dir>/slurm` for a log_dir of `<run_dir>/logs`."""
        return Path(job.log_dir).parent / "slurm"

    # ----- submitting -----------------------------------------------------------------------

    def submit(
        self,
        jobs: Sequence[Job],
        script_dir: Path | None = None,
        after: Sequence[str] = (),
        on_start: StartHook | None = None,
        on_end: EndHook | None = None,
    ) -> list[str]:
        """Write and sbatch every job, each after the previous one succeeded; print the ids.

        `after`: job ids the first job waits for (all must succeed), e.g. the last stage of
        every member of a sweep before the report that compares them. The jobs start later,
        under Slurm: the hooks are never called here (`wait` reports how they ended). With
        hold=True the scripts are written and nothing is submitted: returns []. The scripts go
        to `script_dir`, by default `<run_dir>/slurm` (`default_script_dir`).
        """
        if script_dir is None and jobs:
            script_dir = self.default_script_dir(jobs[0])
        paths = self.write_scripts(jobs, Path(script_dir or "."))
        if self.hold:
            for job, path in zip(jobs, paths):
                print(f"[launch] stage {job.name}: wrote {path} (not submitted)", flush=True)
            return []
        for job in jobs:
            # Slurm opens --output before the script runs: the directory must exist already.
            Path(job.log_dir).mkdir(parents=True, exist_ok=True)
        ids: list[str] = []
        for job, path in zip(jobs, paths):
            argv = ["sbatch", "--parsable", "--export=ALL"]
            waits_for = [ids[-1]] if ids else list(after)
            if waits_for:
                argv.append(f"--dependency=afterok:{':'.join(waits_for)}")
                if self.cfg.slurm.kill_on_invalid_dep:
                    argv.append("--kill-on-invalid-dep=yes")
            argv.append(str(path))
            proc = self.runner(argv, env=self._submit_env(job), capture_output=True, text=True)
            if proc.returncode != 0:
                self._cancel(ids)
                raise SlurmError(
                    f"sbatch refused stage {job.name!r} ({path}): {proc.stderr.strip()}"
                    + (f"; cancelled the stages submitted before it ({', '.join(ids)})" if ids else "")
                )
            job_id = proc.stdout.strip().split(";")[0]
            ids.append(job_id)
            self._submitted[job_id] = job
            waited = ids[-2:-1] if len(ids) > 1 else list(after)
            note = f" after job {', '.join(waited)}" if waited else ""
            print(f"[launch] stage {job.name}: Slurm job {job_id}{note} ({path})", flush=True)
        return ids

    def wait(self, job_ids: Sequence[str], timeout_s: float | None = None) -> ChainResult:
        """Block until every job ended; print and return which stage failed, if any.

        With detach=True, return at once: every job is reported as submitted (not terminal).
        """
        triples = []
        for job_id in job_ids:
            job = self._submitted.get(job_id)
            name = job.name if job is not None else f"job-{job_id}"
            log = job.log_file(0) if job is not None else ""
            triples.append((name, job_id, log))
        if self.detach:
            return ChainResult(tuple(StageState(n, i, SUBMITTED, ran=False, log=lg) for n, i, lg in triples))
        result = self.watch(triples, timeout_s)
        print(result.describe(), flush=True)
        return result

    def watch(self, jobs: Sequence[tuple[str, str, str]], timeout_s: float | None = None) -> ChainResult:
        """Block until every job of (name, job id, log) ended, jobs submitted by this process or
        another (a table's runs); silent. A job is looked at until Slurm says it ended, so one
        that ends long before the last is still seen (the controller forgets it after MinJobAge)."""
        return wait_chain(
            jobs,
            poll_s=self.cfg.slurm.poll_interval_s,
            timeout_s=timeout_s,
            runner=self.runner,
            env=self.environ,
        )

    def run(self, job: Job) -> int:
        """Submit one stage and wait for it; returns its exit code."""
        ids = self.submit([job], self.default_script_dir(job))
        state = self.wait(ids).stages[0]
        if state.ok:
            return 0
        return state.exit_code or (128 + state.signal if state.signal else 1)

    # ----- internals ------------------------------------------------------------------------

    def _submit_env(self, job: Job) -> dict[str, str]:
        # The job's secrets travel in sbatch's environment; its public env is in the script.
        _, secret = split_env(job.env, self.cfg.secret_patterns)
        env = {k: v for k, v in self.environ.items() if k not in DISTRIBUTED_VARS}
        env.update(secret)
        return env

    def _check_no_secret_values(self, job: Job) -> None:
        known = {
            **secret_values(self.environ, self.cfg.secret_patterns),
            **secret_values(job.env, self.cfg.secret_patterns),
        }
        public, _ = split_env(job.env, self.cfg.secret_patterns)
        texts = [*job.argv, *(a for cmd in job.post_argv for a in cmd), *public.values()]
        leaked = leaked_secret_names(texts, known)
        if leaked:
            raise JobError(
                f"stage {job.name!r} would write the value of {', '.join(leaked)} into its "
                "sbatch script (in argv or a non-secret env variable); pass secrets only "
                "through the environment"
            )

    def _cancel(self, ids: Sequence[str]) -> None:
        if ids:
            self.runner(["scancel", *ids], capture_output=True, text=True, env=self.environ)
