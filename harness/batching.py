"""Keep a paper's global batch size when the hardware changes.

global batch = per-device batch x processes per node x nodes x gradient accumulation steps.
ms-swift runs one process per GPU; on a CPU node it runs one process.
"""

from __future__ import annotations

from common.errors import ConfigError, Problem


def processes(gpus_per_node: int, nnodes: int) -> int:
    return max(int(gpus_per_node), 1) * max(int(nnodes), 1)


def gradient_accumulation_steps(
    global_batch: int, per_device: int, gpus_per_node: int, nnodes: int, key: str
) -> int:
    """The accumulation that keeps `global_batch`, or an error naming the numbers."""
    procs = processes(gpus_per_node, nnodes)
    per_step = int(per_device) * procs
    if per_step <= 0:
        raise ConfigError(Problem(key, f"per-device batch {per_device} must be positive"))
    if global_batch % per_step != 0 or global_batch < per_step:
        raise ConfigError(
            Problem(
                key,
                f"global batch {global_batch} cannot be split over per-device batch {per_device} x "
                f"{max(gpus_per_node, 1)} processes per node x {max(nnodes, 1)} nodes = {per_step} samples "
                f"per step; pick a per-device batch, GPU count or node count whose product divides "
                f"{global_batch}",
            )
        )
    return global_batch // per_step
