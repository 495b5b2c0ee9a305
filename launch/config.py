"""The `cluster` config (conf/cluster/*.yaml) as typed, validated values.

Launchers receive the whole `cluster` mapping (a dict or an OmegaConf DictConfig). Parsing it
here means every launcher reports a bad value the same way: with the full key path
(`cluster.slurm.partition`) and what to change.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from launch.secret_env import DEFAULT_SECRET_PATTERNS

LAUNCHERS = ("local", "torchrun", "slurm")
GPU_REQUESTS = ("gpus-per-node", "gres", "none")


class ClusterConfigError(ValueError):
    """A cluster setting that cannot work; the message names the key to change."""


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
    time: str | None = None
    cpus_per_task: int | None = None
    mem: str | None = None
    # How GPUs are requested: `--gpus-per-node=G`, `--gres=<gres_name>:G`, or not at all
    # (clusters that hand out whole nodes).
    gpu_request: str = "gpus-per-node"
    gres_name: str = "gpu"
    exclusive: bool = False
    requeue: bool = True
    # Lines written after `#SBATCH ` verbatim (each must be one line), e.g. "--constraint=a100".
    extra_sbatch: tuple[str, ...] = ()
    # Shell lines run before anything else (module load, conda activate). This is the one
    # place where text is written into the script as code, on purpose.
    setup: tuple[str, ...] = ()
    # Extra arguments for every srun (e.g. --mpi=pmix, container flags).
    srun_args: tuple[str, ...] = ()
    # Let Slurm cancel a stage whose dependency failed instead of leaving it pending forever.
    kill_on_invalid_dep: bool = True
    poll_interval_s: float = 5.0


@dataclass(frozen=True)
class ClusterConfig:
    """`cluster`: where stages run. See conf/cluster/*.yaml for the documented defaults."""

    launcher: str
    nnodes: int | None = 1
    gpus_per_node: int = 0
    # torchrun: this node's place in the job; null falls back to the environment
    # (NODE_RANK or RANK, NNODES or WORLD_SIZE, MASTER_ADDR, MASTER_PORT).
    node_rank: int | None = None
    master_addr: str | None = None
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
    secret_patterns: tuple[str, ...] = DEFAULT_SECRET_PATTERNS


def parse_cluster(cluster: Mapping[str, Any]) -> ClusterConfig:
    """Validate a `cluster` mapping and return it typed; raises ClusterConfigError."""
    data = _plain(cluster)
    if not isinstance(data, dict):
        raise ClusterConfigError(f"cluster must be a mapping, got {type(cluster).__name__}")
    if "launcher" not in data:
        raise ClusterConfigError(
            f"cluster.launcher is missing; choose one of {', '.join(LAUNCHERS)} (for example cluster=local)"
        )
    ray = _build(RayConfig, data.pop("ray", None) or {}, "cluster.ray")
    slurm = _build(SlurmConfig, data.pop("slurm", None) or {}, "cluster.slurm")
    cfg = _build(ClusterConfig, data, "cluster", ray=ray, slurm=slurm)
    _check(cfg)
    return cfg


def _check(cfg: ClusterConfig) -> None:
    if cfg.launcher not in LAUNCHERS:
        raise ClusterConfigError(f"cluster.launcher={cfg.launcher!r} is not one of {', '.join(LAUNCHERS)}")
    if cfg.nnodes is not None and cfg.nnodes < 1:
        raise ClusterConfigError(f"cluster.nnodes must be >= 1, got {cfg.nnodes}")
    if cfg.nnodes is None and cfg.launcher != "torchrun":
        raise ClusterConfigError(
            f"cluster.nnodes is null; only cluster=torchrun reads it from the environment. "
            f"Set cluster.nnodes for cluster={cfg.launcher}"
        )
    if cfg.launcher == "local" and cfg.nnodes != 1:
        raise ClusterConfigError(
            f"cluster=local runs on this machine only but cluster.nnodes={cfg.nnodes}; use "
            "cluster=torchrun or cluster=slurm for several nodes"
        )
    if cfg.gpus_per_node < 0:
        raise ClusterConfigError(f"cluster.gpus_per_node must be >= 0, got {cfg.gpus_per_node}")
    if cfg.node_rank is not None and cfg.node_rank < 0:
        raise ClusterConfigError(f"cluster.node_rank must be >= 0, got {cfg.node_rank}")
    for key in ("master_port", "sync_port"):
        _check_port(getattr(cfg, key), f"cluster.{key}")
    for f in fields(RayConfig):
        if f.name.endswith("_port") or f.name == "port":
            _check_port(getattr(cfg.ray, f.name), f"cluster.ray.{f.name}")
    if cfg.ray.start_retries < 1:
        raise ClusterConfigError(f"cluster.ray.start_retries must be >= 1, got {cfg.ray.start_retries}")
    if cfg.slurm.gpu_request not in GPU_REQUESTS:
        raise ClusterConfigError(
            f"cluster.slurm.gpu_request={cfg.slurm.gpu_request!r} is not one of {', '.join(GPU_REQUESTS)}"
        )
    for i, line in enumerate(cfg.slurm.extra_sbatch):
        if "\n" in line or "\r" in line:
            raise ClusterConfigError(
                f"cluster.slurm.extra_sbatch[{i}] spans several lines; give one #SBATCH option per list item"
            )
    for key in ("partition", "account", "qos", "time", "mem", "gres_name"):
        value = getattr(cfg.slurm, key)
        if value is not None and ("\n" in value or "\r" in value):
            raise ClusterConfigError(f"cluster.slurm.{key} contains a newline")
    if not cfg.secret_patterns:
        raise ClusterConfigError(
            "cluster.secret_patterns is empty; keep at least the defaults "
            f"({', '.join(DEFAULT_SECRET_PATTERNS)})"
        )


def _check_port(value: int | None, key: str) -> None:
    if value is not None and not 1 <= value <= 65535:
        raise ClusterConfigError(f"{key} must be a port number in 1..65535, got {value}")


def _build(cls: type, data: Mapping[str, Any], prefix: str, **given: Any) -> Any:
    """Instantiate dataclass `cls` from `data`, naming unknown keys and wrong types."""
    known = {f.name: f for f in fields(cls)}
    unknown = [k for k in data if k not in known]
    if unknown:
        key = unknown[0]
        close = difflib.get_close_matches(key, list(known), n=1)
        hint = f"; did you mean {prefix}.{close[0]}?" if close else ""
        raise ClusterConfigError(f"{prefix}.{key} is not a setting{hint} (known: {', '.join(sorted(known))})")
    kwargs: dict[str, Any] = dict(given)
    for name, value in data.items():
        kwargs[name] = _coerce(value, known[name].type, f"{prefix}.{name}")
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a required key is missing
        raise ClusterConfigError(f"{prefix}: {exc}") from None


def _coerce(value: Any, annotation: Any, key: str) -> Any:
    """Check `value` against the (string) annotation of a config field."""
    text = str(annotation).replace(" ", "")
    optional = text.endswith("|None")
    if value is None:
        if optional:
            return None
        raise ClusterConfigError(f"{key} must not be null")
    base = text[: -len("|None")] if optional else text
    if base == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ClusterConfigError(f"{key} must be an integer, got {value!r}")
        return value
    if base == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ClusterConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if base == "bool":
        if not isinstance(value, bool):
            raise ClusterConfigError(f"{key} must be true or false, got {value!r}")
        return value
    if base == "str":
        if not isinstance(value, str):
            raise ClusterConfigError(f"{key} must be a string, got {value!r}")
        return value
    if base.startswith("tuple[str"):
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            raise ClusterConfigError(f"{key} must be a list of strings, got {value!r}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ClusterConfigError(f"{key}[{i}] must be a string, got {item!r}")
        return tuple(value)
    return value


def _plain(value: Any) -> Any:
    """Mappings and sequences (including OmegaConf containers) as dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)) or _is_list_config(value):
        return [_plain(v) for v in value]
    return value


def _is_list_config(value: Any) -> bool:
    # OmegaConf's ListConfig is a Sequence but not a list; avoid importing omegaconf here.
    return type(value).__name__ == "ListConfig"
