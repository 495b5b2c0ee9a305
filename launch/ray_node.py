"""Per-node Ray helpers that rendered Slurm scripts call: `python -m launch.ray_node ...`.

    resolve NODE                      print NODE's IPv4 address
    sidecar --stop-file F [...] -- ARGV
                                      run ARGV (`ray start ... --block`) under RaySidecar
                                      until F exists or SIGTERM arrives
    wait --address A --nodes N --gpus-per-node G --timeout S [--watch-pid PID ...]
                                      exit 0 once N nodes with >= G GPUs each joined

Kept import-light (no ray, no torch at module level): it starts once per node per stage.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from launch.ray_cluster import RayClusterError, resolve_ipv4, wait_for_cluster
from launch.ray_sidecar import RaySidecar


def _pid_alive(pid: int) -> bool:
    try:
        # Reap it if it is our child zombie; otherwise just probe.
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent shell) still answers kill(pid, 0).
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _cmd_resolve(args: argparse.Namespace) -> int:
    try:
        print(resolve_ipv4(args.node))
    except RayClusterError as exc:
        print(f"[launch] {exc}", file=sys.stderr)
        return 1
    return 0


def _cmd_sidecar(args: argparse.Namespace) -> int:
    argv = list(args.argv)
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        print("[launch] sidecar: no command after --", file=sys.stderr)
        return 2
    stopping = {"signal": False}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["signal"] = True

    # Slurm sends SIGTERM to every step at the end of the job (or on scancel / time limit).
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    sidecar = RaySidecar(
        argv,
        None,
        retries=args.retries,
        retry_delay_s=args.retry_delay,
        stop_timeout_s=args.stop_timeout,
        wait_for=args.wait_for,
        wait_timeout_s=args.wait_timeout,
    )
    return sidecar.supervise(lambda: stopping["signal"] or os.path.exists(args.stop_file))


def _cmd_wait(args: argparse.Namespace) -> int:
    watch = [
        (f"the Ray process of node {i} (srun pid {pid})", (lambda p=pid: _pid_alive(p)))
        for i, pid in enumerate(args.watch_pid)
    ]
    try:
        wait_for_cluster(
            args.address,
            args.nodes,
            args.gpus_per_node,
            args.timeout,
            watch=watch,
            report=lambda msg: print(msg, flush=True),
        )
    except RayClusterError as exc:
        print(f"[launch] error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m launch.ray_node",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("resolve", help="print a node's IPv4 address")
    p.add_argument("node")
    p.set_defaults(func=_cmd_resolve)

    p = sub.add_parser("sidecar", help="supervise `ray start --block` on this node")
    p.add_argument("--stop-file", required=True)
    p.add_argument("--retries", type=int, default=3)
    p.add_argument("--retry-delay", type=float, default=5.0)
    p.add_argument("--stop-timeout", type=float, default=30.0)
    p.add_argument("--wait-for", default=None, help="head address to wait for before starting")
    p.add_argument("--wait-timeout", type=float, default=600.0)
    p.add_argument("argv", nargs=argparse.REMAINDER)
    p.set_defaults(func=_cmd_sidecar)

    p = sub.add_parser("wait", help="wait until every node and GPU joined the Ray cluster")
    p.add_argument("--address", required=True)
    p.add_argument("--nodes", type=int, required=True)
    p.add_argument("--gpus-per-node", type=int, required=True)
    p.add_argument("--timeout", type=float, default=600.0)
    p.add_argument("--watch-pid", type=int, nargs="*", default=[])
    p.set_defaults(func=_cmd_wait)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
