"""Data parallelism for the expert: torchrun when the launcher asks for it, then plain DDP.

The harness' launchers speak ms-swift's contract for mode "torchrun" (launch/dist_env.py): they
set ``NPROC_PER_NODE``, ``NNODES``, ``NODE_RANK``, ``MASTER_ADDR``, ``MASTER_PORT`` and the
program starts torchrun itself. ``relaunch_under_torchrun`` does that for ``python -m expert``,
so the expert runs on one GPU, on every GPU of a node, across nodes and on Slurm through the same
launchers as ms-swift. Without GPUs a process group uses gloo (the CPU tests).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = ["DistContext", "relaunch_under_torchrun"]


def relaunch_under_torchrun(argv: Sequence[str]) -> None:
    """exec ``torch.distributed.run ... -m expert <argv>`` when asked to and not yet under it."""
    env = os.environ
    if "LOCAL_RANK" in env or not (env.get("NPROC_PER_NODE") or env.get("NNODES")):
        return
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nproc_per_node={env.get('NPROC_PER_NODE') or 1}",
        f"--nnodes={env.get('NNODES') or 1}",
        f"--node_rank={env.get('NODE_RANK') or 0}",
        f"--master_addr={env.get('MASTER_ADDR') or '127.0.0.1'}",
        f"--master_port={env.get('MASTER_PORT') or 29500}",
        "-m",
        "expert",
        *argv,
    ]
    sys.stdout.flush()
    os.execv(sys.executable, command)


@dataclass
class DistContext:
    rank: int
    world_size: int
    local_rank: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def setup(cls, device: str) -> DistContext:
        world = int(os.environ.get("WORLD_SIZE", "1"))
        rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        use_cuda = torch.cuda.is_available() if device == "auto" else device == "cuda"
        if device == "cuda" and not torch.cuda.is_available():
            raise RuntimeError("device=cuda but torch sees no GPU")
        if use_cuda:
            torch.cuda.set_device(local_rank)
            chosen = torch.device("cuda", local_rank)
        else:
            chosen = torch.device("cpu")
        if world > 1 and not dist.is_initialized():
            dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        return cls(rank=rank, world_size=world, local_rank=local_rank, device=chosen)

    def barrier(self) -> None:
        if self.world_size > 1:
            dist.barrier()

    def gather(self, value: Any) -> list[Any]:
        """Every rank's ``value`` on every rank (rank order)."""
        if self.world_size == 1:
            return [value]
        out: list[Any] = [None] * self.world_size
        dist.all_gather_object(out, value)
        return out

    def broadcast(self, value: Any) -> Any:
        """Rank 0's ``value`` on every rank."""
        if self.world_size == 1:
            return value
        box = [value]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    def close(self) -> None:
        if self.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()
