"""The `cluster` config as typed, validated values; the one place its keys and defaults live.

The dataclasses below are also the Hydra schema of the `cluster` group (harness/config_schemas.py
registers them as `cluster/_schema`): conf/cluster/<launcher>.yaml states only what that
launcher changes, so a default written here is the default of every composed config too.

Launchers receive the whole `cluster` mapping (a dict or an OmegaConf DictConfig; missing keys
take the defaults). Parsing it here means every launcher reports a bad value the same way: with
the full key path (`cluster.slurm.partition`) and what to change, all problems at once.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from common.errors import ConfigError, Problem
from common.parse import from_mapping
from launch.secret_env import DEFAULT_SECRET_PATTERNS

LAUNCHERS = ("local", "torchrun", "slurm")
# Launchers that queue a chain for a scheduler (submit=true, wait=true); the others run it here.
SCHEDULERS = ("slurm",)
GPU_REQUESTS = ("gpus-per-node", "gres", "none")


class ClusterConfigError(ConfigError):
    """A cluster setting that cannot work; each problem names the key to change."""


@dataclass(frozen=True)
class RayConfig:
    """`cluster.ray`: how a Ray cluster is brought up over the nodes (mode "ray")."""

    # GCS port of the head; fixed so that workers know where to join.
    port: int = 6379
    dashboard: bool = False
    dashboard_port: int | None = None
    client_server_port: int | None = None
    # Fixed per-node ports (firewalled clusters, as NVIDIA NeMo-RL's ray.sub does). The head
    # uses each value + 1 so a head and a worker can share a host. null: Ray picks.
    node_manager_port: int | None = None
    object_manager_port: int | None = None
    runtime_env_agent_port: int | None = None
    dashboard_agent_grpc_port: int | None = None
    dashboard_agent_listen_port: int | None = None
    metrics_export_port: int | None = None
    min_worker_port: int | None = None
    max_worker_port: int | None = None
    # CPUs Ray may schedule per node; null: the Slurm allocation's cpus_per_task, else all.
    num_cpus: int | None = None
    temp_dir: str | None = None
    start_retries: int = 3
    retry_delay_s: float = 5.0
    # How long the head waits for every node (and its GPUs) to join before giving up.
    join_timeout_s: float = 600.0
    # How long a node gets to shut Ray down before it is killed.
    stop_timeout_s: float = 30.0
    extra_start_args: tuple[str, ...] = ()


@dataclass(frozen=True)
class SlurmConfig:
    """`cluster.slurm`: the sbatch request and the shell preamble of every stage."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: str | None = None  # e.g. "2-00:00:00"
    cpus_per_task: int | None = None  # CPUs per node (one task per node)
    mem: str | None = None  # e.g. "0" (all of the node's memory) or "480G"
    # How GPUs are requested: `--gpus-per-node=G`, `--gres=<gres_name>:G`, or not at all
    # (clusters that hand out whole nodes).
    gpu_request: str = "gpus-per-node"
    gres_name: str = "gpu"  # gpu_request=gres: --gres=<gres_name>:<gpus_per_node>
    exclusive: bool = False
    # Requeue after node failure or preemption; the trainer resumes from its last checkpoint
    # (the harness renders the resume flags).
    requeue: bool = True
    # Lines written after `#SBATCH ` verbatim (each must be one line), e.g. "--constraint=a100".
    extra_sbatch: tuple[str, ...] = ()
    # Shell lines run before anything else, e.g. ["module load cuda/12.4", "source ~/venv/bin/activate"].
    # This is the one place where text is written into the script as code, on purpose.
    setup: tuple[str, ...] = ()
    # Extra arguments for every srun (e.g. --mpi=pmix, container flags).
    srun_args: tuple[str, ...] = ()
    # Let Slurm cancel a stage whose dependency failed instead of leaving it pending forever.
    kill_on_invalid_dep: bool = True
    poll_interval_s: float = 5.0  # how often `wait` asks scontrol


@dataclass(frozen=True)
class ClusterConfig:
    """`cluster`: where stages run; conf/cluster/<launcher>.yaml changes a few of these defaults."""

    launcher: str  # local | torchrun | slurm (conf/cluster/<launcher>.yaml sets it)
    # Nodes a multi-node stage spans, and GPUs used on each. Paper configs set gpus_per_node
    # (Fake-HR1: 16, FakeXplain: 8); override on the command line, e.g. cluster.nnodes=2.
    nnodes: int | None = 1
    gpus_per_node: int = 0
    # torchrun: this node's place in the job; null falls back to the environment
    # (NODE_RANK or RANK, NNODES or WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
    node_rank: int | None = None
    master_addr: str | None = None
    # torchrun's rendezvous port; null: MASTER_PORT, else 29500 (local, torchrun) or
    # 20000 + job id % 20000 (slurm, so two jobs that share a node do not collide).
    master_port: int | None = None
    # CUDA_VISIBLE_DEVICES for the stage; null: local derives 0..G-1, others leave it alone.
    visible_devices: str | None = None
    # GiB of one GPU and of one node's host RAM: read by the harness's pre-flight check only.
    gpu_memory_gb: float = 80.0
    host_memory_gb: float | None = None
    # Interpreter for launch helpers on the nodes (Ray sidecars); null: the running one.
    python: str | None = None
    # torchrun: rank 0 tells the other nodes when a rank-0-only step ended over this port
    # (null: master_port + 1); they wait at most sync_timeout_s.
    sync_port: int | None = None
    sync_timeout_s: float = 86400.0
    ray: RayConfig = field(default_factory=RayConfig)
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    # Environment variables whose values never go into a script, log or manifest; they reach
    # the trainer through the environment only (fnmatch, case-insensitive). Extend per cluster.
    secret_patterns: tuple[str, ...] = DEFAULT_SECRET_PATTERNS


# CUDA_VISIBLE_DEVICES items: an index, or a GPU / MIG UUID as nvidia-smi -L prints them.
_DEVICE = re.compile(r"\d+|GPU-[0-9A-Fa-f-]+|MIG-[\w/-]+")
# sbatch --time (man sbatch) and --mem (a size with an optional unit suffix).
_SLURM_TIME = re.compile(
    r"(?i:unlimited|infinite)|\d+(:\d{1,2}){0,2}|\d+-\d{1,2}(:\d{1,2}){0,2}",
)
_SLURM_MEM = re.compile(r"\d+[KMGTkmgt]?")


def parse_cluster(cluster: Mapping[str, Any]) -> ClusterConfig:
    """Validate a `cluster` mapping and return it typed; raises ClusterConfigError listing every problem.

    Keys the mapping leaves out take the dataclasses' defaults (those conf/cluster/ composes from).
    """
    if not isinstance(cluster, Mapping):
        raise ClusterConfigError(Problem("cluster", f"must be a mapping, got {type(cluster).__name__}"))
    if "launcher" not in cluster:
        raise ClusterConfigError(
            Problem(
                "cluster.launcher",
                f"is missing; choose one of {', '.join(LAUNCHERS)} (for example cluster=local)",
            )
        )
    problems: list[Problem] = []
    cfg = from_mapping(ClusterConfig, cluster, "cluster", problems)
    if not problems:
        problems += _check(cfg)
    if problems:
        raise ClusterConfigError(problems)
    return cfg


def _check(cfg: ClusterConfig) -> list[Problem]:
    problems: list[Problem] = []

    def bad(key: str, message: str) -> None:
        problems.append(Problem(key, message))

    if cfg.launcher not in LAUNCHERS:
        bad("cluster.launcher", f"{cfg.launcher!r} is not one of {', '.join(LAUNCHERS)}")
    if cfg.nnodes is not None and cfg.nnodes < 1:
        bad("cluster.nnodes", f"must be >= 1, got {cfg.nnodes}")
    if cfg.nnodes is None and cfg.launcher != "torchrun":
        bad(
            "cluster.nnodes",
            f"is null; only cluster=torchrun reads it from the environment. "
            f"Set cluster.nnodes for cluster={cfg.launcher}",
        )
    if cfg.launcher == "local" and cfg.nnodes is not None and cfg.nnodes > 1:
        bad(
            "cluster.nnodes",
            f"cluster=local runs on this machine only but cluster.nnodes={cfg.nnodes}; use "
            "cluster=torchrun or cluster=slurm for several nodes",
        )
    if cfg.gpus_per_node < 0:
        bad("cluster.gpus_per_node", f"must be >= 0, got {cfg.gpus_per_node}")
    if cfg.node_rank is not None and cfg.node_rank < 0:
        bad("cluster.node_rank", f"must be >= 0, got {cfg.node_rank}")
    if (
        cfg.node_rank is not None
        and cfg.nnodes is not None
        and cfg.nnodes >= 1
        and cfg.node_rank >= cfg.nnodes
    ):
        bad("cluster.node_rank", f"must be below cluster.nnodes ({cfg.nnodes}), got {cfg.node_rank}")
    for key in ("master_addr", "visible_devices", "python"):
        if getattr(cfg, key) is not None and not str(getattr(cfg, key)).strip():
            bad(f"cluster.{key}", "is empty; give a value or null (the default)")
    if cfg.visible_devices and str(cfg.visible_devices).strip():
        wrong = [d for d in str(cfg.visible_devices).split(",") if not _DEVICE.fullmatch(d.strip())]
        if wrong:
            bad(
                "cluster.visible_devices",
                f"{', '.join(map(repr, wrong))} is not a GPU index or UUID (CUDA_VISIBLE_DEVICES: '0,1,2,3')",
            )
    ports = [(f"cluster.{key}", getattr(cfg, key)) for key in ("master_port", "sync_port")]
    ports += [
        (f"cluster.ray.{f.name}", getattr(cfg.ray, f.name))
        for f in fields(RayConfig)
        if f.name.endswith("_port") or f.name == "port"
    ]
    for key, value in ports:
        if value is not None and not 1 <= value <= 65535:
            bad(key, f"must be a port number in 1..65535, got {value}")
    if cfg.ray.start_retries < 1:
        bad("cluster.ray.start_retries", f"must be >= 1, got {cfg.ray.start_retries}")
    low, high = cfg.ray.min_worker_port, cfg.ray.max_worker_port
    if low is not None and high is not None and low > high:
        bad("cluster.ray.min_worker_port", f"must not be above cluster.ray.max_worker_port ({low} > {high})")
    # Amounts and durations a launcher divides by, sleeps for or waits on: a value of 0 or less is a
    # memory check that cannot pass, a `wait` that polls scontrol without pause, a Ray that cannot
    # schedule a task, a sleep that raises on the node after the allocation started.
    positive = [
        ("gpu_memory_gb", cfg.gpu_memory_gb),
        ("host_memory_gb", cfg.host_memory_gb),
        ("sync_timeout_s", cfg.sync_timeout_s),
        ("ray.num_cpus", cfg.ray.num_cpus),
        ("ray.join_timeout_s", cfg.ray.join_timeout_s),
        ("ray.stop_timeout_s", cfg.ray.stop_timeout_s),
        ("slurm.cpus_per_task", cfg.slurm.cpus_per_task),
        ("slurm.poll_interval_s", cfg.slurm.poll_interval_s),
    ]
    for key, value in positive:
        if value is not None and value <= 0:
            bad(f"cluster.{key}", f"must be more than 0, got {value}")
    if cfg.ray.retry_delay_s < 0:
        bad("cluster.ray.retry_delay_s", f"must be 0 or more, got {cfg.ray.retry_delay_s}")
    if cfg.slurm.gpu_request not in GPU_REQUESTS:
        bad("cluster.slurm.gpu_request", f"{cfg.slurm.gpu_request!r} is not one of {', '.join(GPU_REQUESTS)}")
    for i, line in enumerate(cfg.slurm.extra_sbatch):
        if "\n" in line or "\r" in line:
            bad(
                f"cluster.slurm.extra_sbatch[{i}]",
                "spans several lines; give one #SBATCH option per list item",
            )
    for key in ("partition", "account", "qos", "time", "mem", "gres_name"):
        value = getattr(cfg.slurm, key)
        if value is not None and ("\n" in value or "\r" in value):
            bad(f"cluster.slurm.{key}", "contains a newline")
    # `--account=` with nothing after it and a partition with a space in it were written into the
    # script as they were; sbatch refuses both at submission, after the jobs before were queued
    for key in ("partition", "account", "qos", "gres_name"):
        value = getattr(cfg.slurm, key)
        if value is None or "\n" in value or "\r" in value:
            continue
        if not value.strip():
            bad(f"cluster.slurm.{key}", "is empty; give a value or null (the default)")
        elif any(c.isspace() for c in value):
            bad(f"cluster.slurm.{key}", f"{value!r} has a space in it; Slurm names have none (a list is a,b)")
    # sbatch refuses these at submission; with a chain that is after the jobs before were queued
    time = cfg.slurm.time
    if time is not None and "\n" not in time and not _SLURM_TIME.fullmatch(time.strip()):
        bad(
            "cluster.slurm.time",
            f"{time!r} is not a Slurm time limit (minutes, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS or UNLIMITED)",
        )
    mem = cfg.slurm.mem
    if mem is not None and "\n" not in mem and not _SLURM_MEM.fullmatch(mem.strip()):
        bad(
            "cluster.slurm.mem",
            f"{mem!r} is not a Slurm memory size (a number with K, M, G or T, e.g. 480G; 0: all)",
        )
    if not cfg.secret_patterns:
        bad(
            "cluster.secret_patterns",
            f"is empty; keep at least the defaults ({', '.join(DEFAULT_SECRET_PATTERNS)})",
        )
    return problems
