"""Verdicts of the pre-flight check and the report's data: per stage, per run."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.preflight.architecture import Architecture
from harness.preflight.estimate import StageEstimate

GIB = 1024**3
FITS, TIGHT, NO_FIT, UNKNOWN = "fits", "tight", "does not fit", "unknown"


def verdict(need: int | None, capacity: int | None) -> str:
    if need is None or capacity is None or capacity <= 0:
        return UNKNOWN
    if need <= 0.9 * capacity:
        return FITS
    return TIGHT if need <= capacity else NO_FIT


@dataclass
class StageReport:
    estimate: StageEstimate | None
    name: str
    skipped: str | None = None
    error: str | None = None
    arch: Architecture | None = None

    def gpu_verdict(self, capacity: int) -> str:
        if self.estimate is None or self.estimate.gpus_per_node == 0 or not self.estimate.gpu:
            return "-"
        return verdict(self.estimate.gpu_bytes, capacity)

    def vllm_verdict(self) -> str:
        check = self.estimate.vllm if self.estimate else None
        if check is None:
            return "-"
        return FITS if check.kv_room >= check.kv_one_sequence else NO_FIT


@dataclass
class PreflightReport:
    gpu_capacity: int
    host_capacity: int | None
    host_source: str
    disk_free: int | None
    disk_path: str
    stages: list[StageReport] = field(default_factory=list)

    @property
    def disk_need(self) -> int | None:
        total = 0
        for stage in self.stages:
            if stage.estimate is None:
                continue
            need = stage.estimate.disk_bytes
            if need is None:
                return None
            total += need
        return total


def gib(value: int | float | None) -> str:
    return "?" if value is None else f"{value / GIB:.1f}"
