"""Render one stage as an sbatch script (pure: text out, nothing touched).

Inside the job:
- node 0's name (`scontrol show hostnames "$SLURM_JOB_NODELIST"`) becomes MASTER_ADDR;
- `srun` starts one task per node and each exports NODE_RANK=$SLURM_NODEID before it
  execs the trainer (mode "torchrun");
- mode "ray" starts the Ray head and the workers through `srun`, as verl's
  ray_on_slurm.slurm does, under launch.ray_node's supervisor (fixed ports, retries,
  per-node logs, teardown through a stop file, as NeMo-RL's ray.sub does), waits until
  every node and GPU joined, then runs the command on the head with `srun --overlap`;
- nodes and GPUs per node come from the allocation (SLURM_JOB_NUM_NODES,
  SLURM_GPUS_ON_NODE) and the script stops if they disagree with the config.

Every value from a config or a Job is quoted with shlex.quote (launch.shell). The only text
written as code is the launcher's own and `cluster.slurm.setup`, which is shell by design.
"""

from __future__ import annotations

import shlex
from pathlib import PurePath

from launch import shell
from launch.config import ClusterConfig
from launch.dist_env import DISTRIBUTED_VARS, nproc_per_node, uses_torchrun
from launch.job import AllocRef, Job, alloc_argv
from launch.ray_cluster import head_start_argv, worker_start_argv
from launch.secret_env import split_env
from launch.shell import ShellVar, Word

GENERATED_BY = "launch.slurm_script"


def script_name(job: Job) -> str:
    return f"{job.name}.sbatch"


def render_sbatch(job: Job, cfg: ClusterConfig, python: str) -> str:
    """The sbatch script for `job`. `python` runs the launch helpers on the nodes."""
    return _Renderer(job, cfg, python).render()


class _Renderer:
    def __init__(self, job: Job, cfg: ClusterConfig, python: str) -> None:
        self.job, self.cfg, self.python = job, cfg, python
        self.s = cfg.slurm
        self.lines: list[str] = []

    # -- helpers -------------------------------------------------------------------------------

    def add(self, *lines: str) -> None:
        self.lines.extend(lines)

    def log_path(self, suffix: str) -> str:
        """A log file name as a Slurm filename pattern (`%` in the user's path escaped)."""
        return f"{_pattern_escape(self.job.log_dir)}/{self.job.name}{suffix}"

    def srun(self, *opts: Word, output: Word, node: Word | None = None, overlap: bool = False) -> list[Word]:
        """`srun` with the options every step shares; `output` is a path or a ShellVar word."""
        argv: list[Word] = ["srun"]
        if overlap:
            # Ray's sidecars hold the node's CPUs; the driver and post steps share them.
            argv.append("--overlap")
        argv.extend(opts)
        if node is not None:
            argv.extend(["-w", node])
        if self.s.cpus_per_task is not None:
            # Slurm 22.05 does not pass the job's --cpus-per-task on to srun; say it again.
            argv.append(f"--cpus-per-task={self.s.cpus_per_task}")
        argv.append(output if isinstance(output, ShellVar) else f"--output={output}")
        argv.append("--open-mode=append")
        argv.extend(self.s.srun_args)
        return argv

    def main_argv(self) -> list[Word]:
        values = {
            "nnodes": ShellVar("SLURM_JOB_NUM_NODES"),
            "gpus_per_node": ShellVar("gpus_per_node"),
        }
        out: list[Word] = []
        for item in alloc_argv(self.job):
            if isinstance(item, AllocRef):
                out.append(ShellVar(values[item.field].ref, prefix=f"{item.key}="))
            else:
                out.append(item)
        return out

    # -- sections ------------------------------------------------------------------------------

    def render(self) -> str:
        self.header()
        self.prologue()
        mode = self.job.mode
        if mode == "ray":
            self.ray()
        elif uses_torchrun(self.job, self.job.nodes_used):
            self.torchrun()
        else:
            self.single()
        self.post_and_exit()
        return "\n".join(self.lines) + "\n"

    def header(self) -> None:
        job, s = self.job, self.s
        sb = []
        sb.append(f"--job-name={job.name}")
        sb.append(f"--nodes={job.nodes_used}")
        sb.append("--ntasks-per-node=1")
        if s.cpus_per_task is not None:
            sb.append(f"--cpus-per-task={s.cpus_per_task}")
        if job.gpus_per_node > 0 and s.gpu_request == "gpus-per-node":
            sb.append(f"--gpus-per-node={job.gpus_per_node}")
        elif job.gpus_per_node > 0 and s.gpu_request == "gres":
            sb.append(f"--gres={s.gres_name}:{job.gpus_per_node}")
        for key, flag in (
            ("mem", "--mem"),
            ("time", "--time"),
            ("partition", "--partition"),
            ("account", "--account"),
            ("qos", "--qos"),
        ):
            value = getattr(s, key)
            if value is not None:
                sb.append(f"{flag}={value}")
        if s.exclusive:
            sb.append("--exclusive")
        sb.append("--requeue" if s.requeue else "--no-requeue")
        # A requeued stage appends to its logs instead of erasing the first attempt's.
        sb.append("--open-mode=append")
        sb.append(f"--output={self.log_path('.sbatch.log')}")
        self.add("#!/bin/bash")
        self.add(f"# Stage {shlex.quote(job.name)} (mode {job.mode}), rendered by {GENERATED_BY}.")
        self.add("# Re-render it through the harness rather than editing it.")
        self.add(*(f"#SBATCH {shlex.quote(opt)}" for opt in sb))
        # extra_sbatch items are whole options chosen by the user (one line each, checked).
        self.add(*(f"#SBATCH {line}" for line in s.extra_sbatch))
        self.add("")

    def prologue(self) -> None:
        job = self.job
        self.add("set -uo pipefail")
        if self.s.setup:
            self.add("", "# cluster.slurm.setup (shell code from the config, verbatim)")
            self.add(*self.s.setup)
        self.add("")
        self.add(f"cd {shlex.quote(job.workdir)} || exit 1")
        self.add(f"mkdir -p {shlex.quote(job.log_dir)} || exit 1")
        if job.requires or job.env_build:
            self.environment()
        # sbatch exports the submitting environment; drop what would make a single process
        # believe it is part of a process group (launch.dist_env.DISTRIBUTED_VARS).
        self.add("unset " + " ".join(DISTRIBUTED_VARS))
        public, secret = split_env(job.env, self.cfg.secret_patterns)
        if secret:
            self.add(
                "# Not written here, passed through the environment sbatch runs with: "
                + " ".join(sorted(secret))
            )
        if public:
            self.add("# Stage environment")
            self.add(*shell.export_lines(public))
        self.add("")
        self.add('mapfile -t nodes < <(scontrol show hostnames "$SLURM_JOB_NODELIST")')
        self.add("if (( ${#nodes[@]} != SLURM_JOB_NUM_NODES )); then")
        self.add(
            '  echo "[launch] error: scontrol listed ${#nodes[@]} nodes, expected $SLURM_JOB_NUM_NODES" >&2'
        )
        self.add("  exit 1")
        self.add("fi")
        self.add(f"gpus_per_node={job.gpus_per_node}")
        self.add('if [[ -n "${SLURM_GPUS_ON_NODE:-}" && "$SLURM_GPUS_ON_NODE" != "$gpus_per_node" ]]; then')
        self.add(
            '  echo "[launch] error: the allocation has $SLURM_GPUS_ON_NODE GPUs per node but '
            'cluster.gpus_per_node is $gpus_per_node; make them agree" >&2'
        )
        self.add("  exit 1")
        self.add("fi")
        # Stage names are [A-Za-z0-9_.-] only (launch.job), safe inside double quotes.
        self.add(
            f'echo "[launch] stage {job.name}: Slurm job $SLURM_JOB_ID on ${{nodes[*]}}, '
            'restart ${SLURM_RESTART_COUNT:-0}"'
        )
        self.add("")

    def environment(self) -> None:
        """Check (or build) the environment the stage runs in, on the node, before anything starts.

        A login node without GPUs may submit from the CPU install; the job runs the interpreter
        `python` (and its bin directory first on PATH, for the trainers' own commands) and stops
        here, naming what is missing, unless `env_build` can build it.
        """
        job, py = self.job, self.python
        check = shell.join([py, "-m", "common.gpu_env", "check", *job.requires])
        needs = (
            " ".join([*job.requires, "and a CUDA build of torch"])
            if job.requires
            else "a CUDA build of torch"
        )
        self.add(f"# The stage needs {needs} in {shlex.quote(py)}")
        self.add(f'export PATH={shlex.quote(str(PurePath(py).parent))}:"$PATH"')
        self.add(f"if ! {check}; then")
        if job.env_build:
            lock = shlex.quote(f"{job.workdir}/.env-build.lock")
            build = shell.join(["flock", f"{job.workdir}/.env-build.lock", *job.env_build])
            self.add(f'  echo "[launch] building the environment: {shell.join(job.env_build)} (lock {lock})"')
            self.add(
                f'  {build} || {{ echo "[launch] error: building the environment failed" >&2; exit 1; }}'
            )
            self.add(f"  {check} || exit 1")
        else:
            self.add(
                "  echo \"[launch] error: this node's environment cannot run the stage; "
                'build the gpu environment (make install-gpu) or set cluster.python" >&2'
            )
            self.add("  exit 1")
        self.add("fi")

    def single(self) -> None:
        self.add('head_node="${nodes[0]}"')
        argv = self.srun(
            "--nodes=1", "--ntasks=1", node=ShellVar("head_node"), output=self.log_path(".node0.log")
        )
        self.add("rc=0")
        self.add(shell.join([*argv, *self.main_argv()]) + " || rc=$?")

    def torchrun(self) -> None:
        job = self.job
        self.add('head_node="${nodes[0]}"')
        self.add('export MASTER_ADDR="$head_node"')
        if self.cfg.master_port is not None:
            self.add(f"export MASTER_PORT={self.cfg.master_port}")
        else:
            # One port per job id: two stages sharing a node must not collide.
            self.add("export MASTER_PORT=$(( 20000 + SLURM_JOB_ID % 20000 ))")
        self.add('export NNODES="$SLURM_JOB_NUM_NODES"')
        self.add(f"export NPROC_PER_NODE={nproc_per_node(job)}")
        # %n in --output is srun's node index: one log per node.
        argv = self.srun(
            ShellVar("NNODES", prefix="--nodes="),
            "--ntasks-per-node=1",
            "--kill-on-bad-exit=1",
            output=self.log_path(".node%n.log"),
        )
        per_node = ["bash", "-c", 'export NODE_RANK="$SLURM_NODEID"; exec "$@"', "launch-node"]
        self.add("rc=0")
        self.add(shell.join([*argv, *per_node, *self.main_argv()]) + " || rc=$?")

    def ray(self) -> None:
        ray = self.cfg.ray
        py = self.python
        num_cpus = ray.num_cpus if ray.num_cpus is not None else self.s.cpus_per_task
        cpus = None if num_cpus is None else str(num_cpus)
        helper = [py, "-m", "launch.ray_node"]
        sidecar = [
            *helper,
            "sidecar",
            "--stop-file",
            ShellVar("ray_stop_file"),
            "--retries",
            str(ray.start_retries),
            "--retry-delay",
            f"{ray.retry_delay_s:g}",
            "--stop-timeout",
            f"{ray.stop_timeout_s:g}",
        ]
        self.add('head_node="${nodes[0]}"')
        self.add("head_ip=$(" + shell.join([*helper, "resolve", ShellVar("head_node")]) + ") || exit 1")
        self.add(f'export RAY_ADDRESS="$head_ip:{ray.port}"')
        stop_file = ShellVar("SLURM_JOB_ID", prefix=f"{self.job.log_dir}/{self.job.name}.ray-stop.")
        self.add("ray_stop_file=" + stop_file.render())
        self.add('rm -f "$ray_stop_file"')
        self.add("ray_pids=()")
        self.add("# Teardown on every exit path: the sidecars stop Ray once the stop file exists.")
        self.add(
            'stop_ray() { touch "$ray_stop_file"; wait "${ray_pids[@]}" 2>/dev/null; rm -f "$ray_stop_file"; }'
        )
        self.add("trap stop_ray EXIT")
        self.add("")
        self.add("# Ray head on node 0")
        head = head_start_argv(
            ray, py, node_ip=ShellVar("head_ip", prefix="--node-ip-address="), num_cpus=cpus
        )
        srun_head = self.srun(
            "--nodes=1",
            "--ntasks=1",
            node=ShellVar("head_node"),
            output=self.log_path(".node0.ray.log"),
        )
        self.add(shell.join([*srun_head, *sidecar, "--", *head]) + " &")
        self.add("ray_pids+=($!)")
        self.add("# Ray workers on nodes 1..N-1; each waits for the head before its first try")
        self.add("for (( i = 1; i < ${#nodes[@]}; i++ )); do")
        self.add("  node_ip=$(" + shell.join([*helper, "resolve", ShellVar("nodes[$i]")]) + ") || exit 1")
        worker = worker_start_argv(
            ray,
            py,
            ShellVar("RAY_ADDRESS", prefix="--address="),
            node_ip=ShellVar("node_ip", prefix="--node-ip-address="),
            num_cpus=cpus,
        )
        srun_worker = self.srun(
            "--nodes=1",
            "--ntasks=1",
            node=ShellVar("nodes[$i]"),
            output=ShellVar("i", prefix=f"--output={self.log_path('.node')}", suffix=".ray.log"),
        )
        wait_head = ["--wait-for", ShellVar("RAY_ADDRESS"), "--wait-timeout", f"{ray.join_timeout_s:g}"]
        self.add("  " + shell.join([*srun_worker, *sidecar, *wait_head, "--", *worker]) + " &")
        self.add("  ray_pids+=($!)")
        self.add("done")
        self.add("")
        self.add("# Start the command only when every node and its GPUs registered")
        wait = [
            *helper,
            "wait",
            "--address",
            ShellVar("RAY_ADDRESS"),
            "--nodes",
            ShellVar("SLURM_JOB_NUM_NODES"),
            "--gpus-per-node",
            ShellVar("gpus_per_node"),
            "--timeout",
            f"{ray.join_timeout_s:g}",
            "--watch-pid",
        ]
        self.add(shell.join(wait) + ' "${ray_pids[@]}" || exit 1')
        driver = self.srun(
            "--nodes=1",
            "--ntasks=1",
            node=ShellVar("head_node"),
            output=self.log_path(".node0.log"),
            overlap=True,
        )
        self.add("rc=0")
        self.add(shell.join([*driver, *self.main_argv()]) + " || rc=$?")

    def post_and_exit(self) -> None:
        for cmd in self.job.post_argv:
            argv = self.srun(
                "--nodes=1",
                "--ntasks=1",
                node=ShellVar("head_node"),
                output=self.log_path(".node0.log"),
                overlap=True,
            )
            self.add("if (( rc == 0 )); then")
            self.add("  " + shell.join([*argv, *cmd]) + " || rc=$?")
            self.add("fi")
        self.add(f'echo "[launch] stage {self.job.name} finished with exit code $rc"')
        self.add('exit "$rc"')


def _pattern_escape(path: str) -> str:
    # sbatch/srun expand %j, %n, ... in --output; a literal % in a path must be written %%.
    return path.replace("%", "%%")
