"""A torchrun worker for tests: joins the gloo process group, all-reduces, reports.

    python dist_worker.py <out_dir> <args...>

Writes <out_dir>/rank<RANK>.json with rank, world size, the all-reduce sum (of rank + 1 over
all ranks), the node it ran on, the launcher variables it saw and its argv (after out_dir).
Without torchrun's variables it runs as rank 0 of a world of 1.
"""

import json
import os
import socket
import sys


def main() -> None:
    out_dir, args = sys.argv[1], sys.argv[2:]
    rank, world = 0, 1
    total = 1.0
    if "WORLD_SIZE" in os.environ:
        import torch
        import torch.distributed as dist

        dist.init_process_group("gloo")
        rank, world = dist.get_rank(), dist.get_world_size()
        t = torch.tensor([float(rank + 1)])
        dist.all_reduce(t)
        total = float(t.item())
        dist.destroy_process_group()
    keys = (
        "NNODES",
        "NODE_RANK",
        "MASTER_ADDR",
        "MASTER_PORT",
        "NPROC_PER_NODE",
        "LOCAL_RANK",
        "SLURMD_NODENAME",
        "SLURM_NODEID",
        "CUDA_VISIBLE_DEVICES",
        "AIGI_HOSTILE",
        "AIGI_SPACES",
    )
    report = {
        "rank": rank,
        "world_size": world,
        "sum": total,
        "host": socket.gethostname(),
        "env": {k: os.environ[k] for k in keys if k in os.environ},
        "argv": args,
    }
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"rank{rank}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(report, f)
    os.replace(path + ".tmp", path)
    print(f"rank {rank}/{world} sum {total}", flush=True)


if __name__ == "__main__":
    main()
