"""Bringing up a Ray cluster over a stage's nodes, the way NVIDIA NeMo-RL's ray.sub does.

What kills multi-node GRPO runs is the bring-up: a driver started before every worker
joined ("Total available GPUs 8 is less than total desired GPUs 16"), ports that differ
between nodes, Ray processes left behind. So:

- fixed ports from `cluster.ray` (the head adds 1 to each per-node port so a head and a
  worker can share a host);
- every node registers a custom resource `launch_node: 1`, and the driver starts only after
  `nnodes` such nodes are alive and each reports at least `gpus_per_node` GPUs;
- `ray start --block` runs under a supervisor (launch.ray_sidecar) that retries a failed
  start and stops Ray when the stage ends;
- per-node logs `<log_dir>/<stage>.node<k>.ray.log`.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Sequence

from common.errors import HarnessError
from launch.config import RayConfig
from launch.shell import Word

# Registered by every node this launcher starts; counting it tells joined nodes apart from
# anything else attached to the same Ray cluster.
NODE_RESOURCE = "launch_node"

# Per-node port options and their RayConfig fields. The head uses value + 1.
_NODE_PORTS = (
    ("--node-manager-port", "node_manager_port"),
    ("--object-manager-port", "object_manager_port"),
    ("--runtime-env-agent-port", "runtime_env_agent_port"),
    ("--dashboard-agent-grpc-port", "dashboard_agent_grpc_port"),
    ("--dashboard-agent-listen-port", "dashboard_agent_listen_port"),
    ("--metrics-export-port", "metrics_export_port"),
)


class RayClusterError(HarnessError):
    """The Ray cluster did not come up as configured; the message says what joined."""


def ray_cli(python: str) -> list[str]:
    # `python -m ray.scripts.scripts` is the `ray` console script without relying on PATH.
    return [python, "-m", "ray.scripts.scripts"]


def _common_args(cfg: RayConfig, head: bool, num_cpus: Word | None) -> list[Word]:
    args: list[Word] = [
        "--disable-usage-stats",
        "--resources=" + json.dumps({NODE_RESOURCE: 1}),
    ]
    if num_cpus is not None:
        args.append(num_cpus if not isinstance(num_cpus, str) else f"--num-cpus={num_cpus}")
    offset = 1 if head else 0
    for flag, key in _NODE_PORTS:
        value = getattr(cfg, key)
        if value is not None:
            args.append(f"{flag}={value + offset}")
    if cfg.min_worker_port is not None:
        args.append(f"--min-worker-port={cfg.min_worker_port}")
    if cfg.max_worker_port is not None:
        args.append(f"--max-worker-port={cfg.max_worker_port}")
    if cfg.temp_dir is not None:
        args.append(f"--temp-dir={cfg.temp_dir}")
    args.extend(cfg.extra_start_args)
    args.append("--block")
    return args


def head_start_argv(
    cfg: RayConfig,
    python: str,
    node_ip: Word | None = None,
    num_cpus: Word | None = None,
) -> list[Word]:
    """`ray start --head ... --block` for the first node.

    `node_ip` and `num_cpus` may be literal strings or ShellVar words (full `--flag=value`
    words built by the caller) when the value is known only inside a Slurm job.
    """
    argv: list[Word] = [*ray_cli(python), "start", "--head", f"--port={cfg.port}"]
    if node_ip is not None:
        argv.append(node_ip if not isinstance(node_ip, str) else f"--node-ip-address={node_ip}")
    argv.append(f"--include-dashboard={'true' if cfg.dashboard else 'false'}")
    if cfg.dashboard_port is not None:
        argv.append(f"--dashboard-port={cfg.dashboard_port}")
    if cfg.client_server_port is not None:
        argv.append(f"--ray-client-server-port={cfg.client_server_port}")
    return argv + _common_args(cfg, True, num_cpus)


def worker_start_argv(
    cfg: RayConfig,
    python: str,
    address: Word,
    node_ip: Word | None = None,
    num_cpus: Word | None = None,
) -> list[Word]:
    """`ray start --address=<head:port> ... --block` for every other node."""
    argv: list[Word] = [*ray_cli(python), "start"]
    argv.append(address if not isinstance(address, str) else f"--address={address}")
    if node_ip is not None:
        argv.append(node_ip if not isinstance(node_ip, str) else f"--node-ip-address={node_ip}")
    return argv + _common_args(cfg, False, num_cpus)


def resolve_ipv4(host: str) -> str:
    """The IPv4 address of `host`; raises RayClusterError naming the host."""
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RayClusterError(
            f"cannot resolve node {host!r} to an IPv4 address ({exc}); the Ray head must be "
            "reachable by address from every node"
        ) from None
    return str(infos[0][4][0])


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise RayClusterError(f"Ray address {address!r} is not <host>:<port>")
    return host, int(port)


def wait_for_port(address: str, timeout_s: float, alive: Callable[[], bool] | None = None) -> None:
    """Block until something accepts TCP connections at `address` (the head's GCS)."""
    host, port = split_address(address)
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError:
            pass
        if alive is not None and not alive():
            raise RayClusterError(f"gave up waiting for the Ray head at {address}")
        if time.monotonic() > deadline:
            raise RayClusterError(
                f"the Ray head at {address} did not accept connections within {timeout_s:.0f} s "
                "(cluster.ray.join_timeout_s); check the head node's .ray.log"
            )
        time.sleep(1)


def wait_for_cluster(
    address: str,
    nnodes: int,
    gpus_per_node: int,
    timeout_s: float,
    watch: Sequence[tuple[str, Callable[[], bool]]] = (),
    poll_s: float = 2.0,
    report: Callable[[str], None] = print,
) -> None:
    """Block until `nnodes` launcher-started nodes are alive, each with >= gpus_per_node GPUs.

    `watch` pairs a description with a liveness check (the supervisors of each node's Ray);
    if one dies the wait fails at once instead of running into the timeout.
    """

    def check_watched() -> None:
        for what, alive in watch:
            if not alive():
                raise RayClusterError(f"{what} exited before the Ray cluster was complete")

    wait_for_port(address, timeout_s, alive=lambda: check_watched() or True)
    import ray  # lazy: importing ray takes about a second

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        deadline = time.monotonic() + timeout_s
        last = None
        while True:
            nodes = [n for n in ray.nodes() if n.get("Alive") and n["Resources"].get(NODE_RESOURCE)]
            gpus = sorted(float(n["Resources"].get("GPU", 0)) for n in nodes)
            short = [g for g in gpus if g < gpus_per_node]
            state = f"{len(nodes)} of {nnodes} nodes joined, GPUs per node {gpus}"
            if state != last:
                report(f"[launch] Ray cluster at {address}: {state}")
                last = state
            if len(nodes) >= nnodes and not short:
                report(
                    f"[launch] Ray cluster ready: {len(nodes)} nodes, "
                    f"{sum(gpus):g} GPUs (need {gpus_per_node} per node)"
                )
                return
            check_watched()
            if time.monotonic() > deadline:
                hint = (
                    f"{len(short)} node(s) have fewer than {gpus_per_node} GPUs (cluster.gpus_per_node)"
                    if short
                    else "a node never joined; see the nodes' .ray.log files"
                )
                raise RayClusterError(
                    f"Ray cluster at {address} not complete after {timeout_s:.0f} s "
                    f"(cluster.ray.join_timeout_s): {state}; {hint}"
                )
            time.sleep(poll_s)
    finally:
        ray.shutdown()
