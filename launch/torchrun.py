"""cluster=torchrun: nodes started by hand (or by another scheduler), one harness per node.

Every node runs the same pipeline with its own NODE_RANK. Topology comes from the config,
and where a config value is null from the environment:

    nnodes       cluster.nnodes      else NNODES, else WORLD_SIZE (Fake-HR1's platforms put
                                     the node count there)
    node_rank    cluster.node_rank   else NODE_RANK, else RANK
    master_addr  cluster.master_addr else MASTER_ADDR
    master_port  cluster.master_port else MASTER_PORT, else 29500

A NNODES that disagrees with a set cluster.nnodes is refused on every node.

- torchrun: ms-swift's variables on every node; ms-swift starts torchrun itself.
- single: rank 0 runs it; the other nodes wait for rank 0's exit code (launch.node_sync).
- ray: rank 0 starts the Ray head, the others join it; rank 0 waits until every node and its
  GPUs registered, then runs the command with RAY_ADDRESS set; afterwards every node stops
  its Ray. trainer.nnodes / n_gpus_per_node (Job.alloc_args) come from the topology.

A multi-node stage ends with a barrier after rank 0's post_argv, so no node starts the next
stage before rank 0 has recorded this one's outputs.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Mapping, Sequence

from launch import shell
from launch.chain import InProcessChain
from launch.config import ClusterConfig, ClusterConfigError
from launch.dist_env import Topology, child_env, torchrun_env, uses_torchrun
from launch.job import Job, JobError, resolved_argv
from launch.node_sync import NodeSyncError, RankZeroChannel, channel_for
from launch.ray_cluster import head_start_argv, resolve_ipv4, worker_start_argv
from launch.ray_sidecar import RaySidecar
from launch.secret_env import log_secret_values, split_env
from launch.shell import ShellVar, Word
from launch.stream import run_logged

DEFAULT_MASTER_PORT = 29500


class TorchrunLauncher(InProcessChain):
    """Runs this node's share of each stage (cluster=torchrun); `submit` runs a chain in order."""

    def __init__(self, cfg: ClusterConfig, environ: Mapping[str, str] | None = None) -> None:
        self.cfg = cfg
        self.environ = dict(os.environ if environ is None else environ)

    # ----- topology -------------------------------------------------------------------------

    def topology(self) -> Topology:
        """This node's topology; raises ClusterConfigError naming what is missing."""
        nnodes = self._nnodes()
        rank = self._from(self.cfg.node_rank, ("NODE_RANK", "RANK"), "cluster.node_rank")
        if rank is None:
            if nnodes > 1:
                raise ClusterConfigError(
                    f"cluster.node_rank is null and neither NODE_RANK nor RANK is set, but the "
                    f"job spans {nnodes} nodes; start each node with NODE_RANK=<0..{nnodes - 1}> "
                    "or cluster.node_rank=<k>"
                )
            rank = 0
        if rank >= nnodes:
            raise ClusterConfigError(
                f"node rank {rank} is outside 0..{nnodes - 1} (cluster.nnodes={nnodes}); fix "
                "cluster.node_rank / NODE_RANK or cluster.nnodes / NNODES"
            )
        addr = self.cfg.master_addr or self.environ.get("MASTER_ADDR") or None
        if addr is None:
            if nnodes > 1:
                raise ClusterConfigError(
                    "cluster.master_addr is null and MASTER_ADDR is not set; set either to the "
                    "address of node 0, reachable from every node"
                )
            addr = "127.0.0.1"
        port = self._from(self.cfg.master_port, ("MASTER_PORT",), "cluster.master_port")
        return Topology(nnodes, rank, addr, port if port is not None else DEFAULT_MASTER_PORT)

    def _nnodes(self) -> int:
        given = self._from(None, ("NNODES",), "cluster.nnodes")
        if given is not None and self.cfg.nnodes is not None and given != self.cfg.nnodes:
            # A paper's cluster.nnodes (1) on a 2-node platform: node 0 trained alone and node 1
            # was refused at launch ("node rank 1 is outside 0..0"), the dry run silent.
            raise ClusterConfigError(
                f"NNODES={given} in this node's environment but cluster.nnodes={self.cfg.nnodes}; make "
                f"them agree: cluster.nnodes={given} to use every node, or start the nodes with "
                f"NNODES={self.cfg.nnodes}"
            )
        n = self._from(self.cfg.nnodes, ("NNODES", "WORLD_SIZE"), "cluster.nnodes")
        if n is None:
            return 1
        if n < 1:
            raise ClusterConfigError(f"cluster.nnodes / NNODES must be >= 1, got {n}")
        return n

    def _from(self, value: int | None, names: tuple[str, ...], key: str) -> int | None:
        if value is not None:
            return value
        for name in names:
            text = self.environ.get(name, "").strip()
            if text:
                try:
                    return int(text)
                except ValueError:
                    raise ClusterConfigError(
                        f"{name}={text!r} is not an integer; fix it or set {key}"
                    ) from None
        return None

    def _check(self, job: Job, topo: Topology) -> None:
        if job.mode != "single" and job.nnodes != topo.nnodes:
            raise JobError(
                f"stage {job.name!r} spans {job.nnodes} nodes but this torchrun cluster has "
                f"{topo.nnodes} (cluster.nnodes / NNODES); make them agree"
            )

    # ----- rendering ------------------------------------------------------------------------

    def launcher_vars(self, job: Job, topo: Topology) -> dict[str, str]:
        out: dict[str, str] = {}
        if self.cfg.visible_devices is not None and job.gpus_per_node > 0:
            out["CUDA_VISIBLE_DEVICES"] = self.cfg.visible_devices
        if uses_torchrun(job, topo.nnodes):
            out.update(torchrun_env(job, topo))
            given = self.environ.get("NPROC_PER_NODE", "").strip()
            if given and given != out["NPROC_PER_NODE"]:
                raise ClusterConfigError(
                    f"NPROC_PER_NODE={given} in this node's environment but stage {job.name!r} "
                    f"uses {out['NPROC_PER_NODE']} processes per node (cluster.gpus_per_node); "
                    "make them agree"
                )
        return out

    def is_primary(self) -> bool:
        """Node 0 writes the run's manifest; the other nodes only run their share."""
        return self.topology().node_rank == 0

    def harness_processes(self) -> int:
        """One per node: every node runs the harness with its own NODE_RANK."""
        return self._nnodes()

    def command_line(self, job: Job, node_rank: int = 0) -> str:
        """What node `node_rank` runs for this stage, as one copy-pasteable line."""
        topo = self._display_topology(node_rank)
        public, _ = split_env(job.env, self.cfg.secret_patterns)
        if job.mode == "single" and node_rank != 0:
            return f"# stage {job.name} runs on node 0 only; node {node_rank} waits for it"
        if job.mode == "ray":
            return self._ray_command_line(job, topo, public)
        env = {**self.launcher_vars(job, topo), **public}
        if isinstance(topo.master_addr, ShellVar) and "MASTER_ADDR" in env:
            env["MASTER_ADDR"] = topo.master_addr
        return shell.command_line(env, resolved_argv(job, topo.nnodes, job.gpus_per_node))

    def dry_run_text(self, job: Job) -> str:
        """Every node's launch line for `job` (one node: just its line), as the dry run prints it."""
        nnodes = self._nnodes()
        if nnodes == 1:
            return self.command_line(job) + "\n"
        return "".join(f"# node {rank}:\n{self.command_line(job, rank)}\n" for rank in range(nnodes))

    def _display_topology(self, node_rank: int) -> Topology:
        # A dry run on a laptop has no MASTER_ADDR: print a reference that fails loudly.
        nnodes = self._nnodes()
        addr = self.cfg.master_addr or self.environ.get("MASTER_ADDR")
        if addr is None:
            addr = (
                ShellVar("MASTER_ADDR", required_hint="set MASTER_ADDR or cluster.master_addr")
                if nnodes > 1
                else "127.0.0.1"
            )
        port = self._from(self.cfg.master_port, ("MASTER_PORT",), "cluster.master_port")
        return Topology(nnodes, node_rank, addr, port or DEFAULT_MASTER_PORT)  # type: ignore[arg-type]

    def _ray_command_line(self, job: Job, topo: Topology, public: Mapping[str, str]) -> str:
        python = self.cfg.python or sys.executable
        ray = self.cfg.ray

        def addr(prefix: str = "", suffix: str = "") -> Word:
            # The head's address, or a reference to MASTER_ADDR when it is not known yet.
            if isinstance(topo.master_addr, ShellVar):
                return ShellVar("MASTER_ADDR", prefix, suffix, topo.master_addr.required_hint)
            return f"{prefix}{topo.master_addr}{suffix}"

        def flag(prefix: str, suffix: str = "") -> Word:
            # ray_cluster writes `--flag=` before a literal value itself, not before a ShellVar.
            return addr(prefix, suffix) if isinstance(topo.master_addr, ShellVar) else addr(suffix=suffix)

        port = f":{ray.port}"
        cpus = _opt(ray.num_cpus)
        if topo.node_rank != 0:
            worker = worker_start_argv(ray, python, flag("--address=", port), num_cpus=cpus)
            return shell.join(a for a in worker if a != "--block")
        head = head_start_argv(ray, python, node_ip=flag("--node-ip-address="), num_cpus=cpus)
        wait = [
            python,
            "-m",
            "launch.ray_node",
            "wait",
            "--address",
            addr(suffix=port),
            "--nodes",
            str(topo.nnodes),
            "--gpus-per-node",
            str(job.gpus_per_node),
            "--timeout",
            f"{ray.join_timeout_s:g}",
        ]
        driver = shell.command_line(
            {**public, "RAY_ADDRESS": addr(suffix=port)},
            resolved_argv(job, topo.nnodes, job.gpus_per_node),
        )
        return " && ".join([shell.join(a for a in head if a != "--block"), shell.join(wait), driver])

    # ----- running --------------------------------------------------------------------------

    def run(self, job: Job) -> int:
        """Run this node's part of the stage, blocking; returns the stage's exit code."""
        topo = self.topology()
        self._check(job, topo)
        multi = topo.nnodes > 1
        channel = (
            channel_for(
                topo.master_addr,
                self.cfg.sync_port or topo.master_port + 1,
                topo.nnodes,
                topo.node_rank,
                self.cfg.sync_timeout_s,
            )
            if multi
            else None
        )
        key = channel.next_key(job.name) if channel is not None else ""
        if job.mode == "ray":
            return self._run_ray(job, topo, channel, key)
        if job.mode == "single" and topo.node_rank != 0 and channel is not None:
            print(f"[launch] stage {job.name}: runs on node 0; node {topo.node_rank} waits", flush=True)
            return _rank0_result(channel, key)
        env = child_env(self.environ, job, self.launcher_vars(job, topo))
        rc = self._run_main(job, topo, env, resolved_argv(job, topo.nnodes, job.gpus_per_node))
        if channel is None:
            return rc
        if topo.node_rank == 0:
            channel.publish(key, rc)
            return rc
        # Wait for rank 0's post_argv: the next stage may read what it records.
        rank0 = _rank0_result(channel, key)
        return rc or rank0

    def _run_main(self, job: Job, topo: Topology, env: dict[str, str], argv: Sequence[str]) -> int:
        secrets = log_secret_values(env, job.argv, self.cfg.secret_patterns)
        log = job.log_file(topo.node_rank)
        rc = run_logged(argv, env=env, cwd=job.workdir, log_path=log, secrets=secrets)
        if topo.node_rank == 0:
            for post in job.post_argv if rc == 0 else ():
                rc = run_logged(post, env=env, cwd=job.workdir, log_path=log, secrets=secrets)
                if rc != 0:
                    break
        return rc

    # ----- ray ------------------------------------------------------------------------------

    def _ray_address(self, topo: Topology) -> str:
        # Ray wants an address, not a name, for the head's GCS.
        return f"{resolve_ipv4(topo.master_addr)}:{self.cfg.ray.port}"

    def _ray_argv(self, job: Job, topo: Topology, address: str, python: str) -> list[Word]:
        ray = self.cfg.ray
        if topo.node_rank == 0:
            return head_start_argv(
                ray, python, node_ip=address.rsplit(":", 1)[0], num_cpus=_opt(ray.num_cpus)
            )
        return worker_start_argv(ray, python, address, num_cpus=_opt(ray.num_cpus))

    def _run_ray(self, job: Job, topo: Topology, channel: RankZeroChannel | None, key: str) -> int:
        python = self.cfg.python or sys.executable
        address = self._ray_address(topo)
        env = child_env(self.environ, job, self.launcher_vars(job, topo))
        env["RAY_ADDRESS"] = address
        ray = self.cfg.ray
        sidecar = RaySidecar(
            self._ray_argv(job, topo, address, python),
            job.log_file(topo.node_rank, ".ray"),
            retries=ray.start_retries,
            retry_delay_s=ray.retry_delay_s,
            stop_timeout_s=ray.stop_timeout_s,
            env=env,
            cwd=job.workdir,
            wait_for=address if topo.node_rank != 0 else None,
            wait_timeout_s=ray.join_timeout_s,
        )
        stop = threading.Event()
        result: dict[str, int] = {}
        thread = threading.Thread(
            target=lambda: result.setdefault("rc", sidecar.supervise(stop.is_set)),
            name=f"ray-{job.name}",
            daemon=True,
        )
        thread.start()
        try:
            if topo.node_rank != 0 and channel is not None:
                rc = _rank0_result(channel, key)
                print(f"[launch] stage {job.name}: rank 0 finished with {rc}; stopping Ray here", flush=True)
                stop.set()
                thread.join()
                channel.confirm(key)
                return rc
            rc = self._ray_driver(job, topo, env, python, address, thread)
            if channel is not None:
                channel.publish(key, rc)
                # Workers stop their Ray first; a head that vanishes under them looks like a crash.
                channel.await_confirmations(key, ray.stop_timeout_s + 10)
            return rc
        finally:
            stop.set()
            thread.join()

    def _ray_driver(
        self,
        job: Job,
        topo: Topology,
        env: dict[str, str],
        python: str,
        address: str,
        sidecar_thread: threading.Thread,
    ) -> int:
        secrets = log_secret_values(env, job.argv, self.cfg.secret_patterns)
        log = job.log_file(0)
        wait = [
            python,
            "-m",
            "launch.ray_node",
            "wait",
            "--address",
            address,
            "--nodes",
            str(topo.nnodes),
            "--gpus-per-node",
            str(job.gpus_per_node),
            "--timeout",
            f"{self.cfg.ray.join_timeout_s:g}",
        ]
        rc = run_logged(wait, env=env, cwd=job.workdir, log_path=log, secrets=secrets)
        if rc != 0:
            return rc
        if not sidecar_thread.is_alive():  # the head died after the cluster was complete
            return 1
        return self._run_main(job, topo, env, resolved_argv(job, topo.nnodes, job.gpus_per_node))


def _rank0_result(channel: RankZeroChannel, key: str) -> int:
    """Rank 0's exit code for `key`; 1 (with the reason on stderr) if rank 0 went away."""
    try:
        return channel.wait(key)
    except NodeSyncError as exc:
        print(f"[launch] error: {exc}", file=sys.stderr, flush=True)
        return 1


def _opt(value: int | None) -> str | None:
    return None if value is None else str(value)
