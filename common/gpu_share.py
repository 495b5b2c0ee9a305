"""The share of each GPU's memory vLLM may take (``gpu_memory_utilization``), checked alike everywhere.

vLLM refuses a value outside (0, 1] at start-up, minutes into a stage. The evaluation, verl's rollout
and ms-swift's GRPO each pass one through, so each validator refuses it before launch, in the same
words.
"""

from __future__ import annotations

__all__ = ["GPU_SHARE_RULE", "is_gpu_share"]

GPU_SHARE_RULE = "must be more than 0 and at most 1 (the share of each GPU's memory)"


def is_gpu_share(value: float) -> bool:
    """True for a share vLLM takes: more than 0 and at most 1."""
    return 0 < value <= 1
