"""The environment a stage's process starts with, per mode.

ms-swift's CLI starts torchrun itself when NPROC_PER_NODE or NNODES is set, forwarding
NPROC_PER_NODE, MASTER_PORT, NNODES, NODE_RANK and MASTER_ADDR (swift/cli/main.py). So for
mode "torchrun" the launcher's whole job on a node is to set exactly those five variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from launch.job import Job

# What a platform or an outer torchrun may have set for the harness process itself. A stage
# must not inherit them: a single-process stage that sees WORLD_SIZE=2 (Fake-HR1's platform
# exports the node count there) would try to join a process group that never forms.
DISTRIBUTED_VARS = (
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "GROUP_WORLD_SIZE",
    "ROLE_RANK",
    "ROLE_WORLD_SIZE",
    "NODE_RANK",
    "NNODES",
    "NPROC_PER_NODE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
)


@dataclass(frozen=True)
class Topology:
    """Where this node sits in a multi-node stage."""

    nnodes: int
    node_rank: int
    master_addr: str
    master_port: int


def nproc_per_node(job: Job) -> int:
    """Processes per node: one per GPU, or one (gloo on CPU) when the stage has no GPU."""
    return job.gpus_per_node if job.gpus_per_node > 0 else 1


def uses_torchrun(job: Job, nnodes: int) -> bool:
    """Whether a torchrun-mode stage gets the ms-swift env contract.

    Without GPUs on one node the stage runs as one plain process (the CPU smoke path):
    setting NPROC_PER_NODE would make ms-swift wrap it in torchrun for nothing.
    """
    return job.mode == "torchrun" and (job.gpus_per_node > 0 or nnodes > 1)


def torchrun_env(job: Job, topo: Topology) -> dict[str, str]:
    """ms-swift's multi-node variables for this node."""
    return {
        "NNODES": str(topo.nnodes),
        "NODE_RANK": str(topo.node_rank),
        "MASTER_ADDR": topo.master_addr,
        "MASTER_PORT": str(topo.master_port),
        "NPROC_PER_NODE": str(nproc_per_node(job)),
    }


def child_env(
    inherited: Mapping[str, str],
    job: Job,
    launcher_vars: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Inherited environment without distributed leftovers, then the stage env, then ours."""
    env = {k: v for k, v in inherited.items() if k not in DISTRIBUTED_VARS}
    env.update(job.env)
    env.update(launcher_vars or {})
    return env


def device_list(count: int) -> str:
    """`0,1,...,count-1`."""
    return ",".join(str(i) for i in range(count))
