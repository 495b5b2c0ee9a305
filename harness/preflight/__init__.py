"""Pre-flight: will each training and inference stage fit its GPUs, host RAM and disk?

``python -m harness paper=<p> preflight=true [overrides]`` prints the full report (every figure
with its formula) and exits 1 when a stage does not fit; every dry run prints the summary; a
stage that cannot fit is a validation error naming the stage, the figure and the setting to
change, unless ``allow_oom_risk=true``.

Verdicts: per GPU against ``cluster.gpu_memory_gb`` (GiB, default 80), host RAM per node against
``cluster.host_memory_gb`` (or this machine's RAM for cluster=local/torchrun, or Slurm's
``--mem``), disk of the whole run against the free space of the run directory's filesystem:
``fits`` up to 90 %, ``tight`` up to 100 %, ``does not fit`` above. Inside a vLLM engine's
``gpu_memory_utilization`` share, the weights, one batch of activations and one
``max_model_len`` sequence of KV cache must fit, or vLLM refuses to start.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from omegaconf import OmegaConf

from common.errors import Problem
from harness.plan import Plan, PlannedStage
from harness.preflight.architecture import Architecture, ArchitectureError, architecture_of
from harness.preflight.estimate import (
    StageEstimate,
    estimate_eval,
    estimate_merge,
    estimate_swift,
    estimate_verl,
    expected_grpo_steps,
)

__all__ = ["PreflightReport", "preflight_plan", "preflight_problems", "print_preflight", "stage_architecture"]

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


def preflight_plan(plan: Plan, subset: Sequence[str] | None = None) -> PreflightReport:
    cfg = plan.cfg
    gpu_gb = float(OmegaConf.select(cfg, "cluster.gpu_memory_gb", default=80) or 80)
    host, host_source = host_memory(cfg)
    disk_free, disk_path = free_disk(Path(plan.run_dir))
    report = PreflightReport(int(gpu_gb * GIB), host, host_source, disk_free, disk_path)
    for planned in plan.stages:
        if subset is not None and planned.name not in subset:
            continue
        stage_report = _stage(plan, planned)
        if stage_report is not None:
            report.stages.append(stage_report)
    return report


def _stage(plan: Plan, planned: PlannedStage) -> StageReport | None:
    kind = planned.kind
    if kind not in ("swift_sft", "swift_rlhf", "verl_grpo", "eval", "swift_export", "verl_merge"):
        return None
    if planned.skip_reason:
        return StageReport(None, planned.name, skipped=planned.skip_reason)
    cfg = plan.cfg
    try:
        arch = stage_architecture(plan, planned)
    except ArchitectureError as exc:
        return StageReport(None, planned.name, error=str(exc))
    try:
        return _estimate(planned, arch, _Cluster(cfg))
    except (TypeError, ValueError) as exc:  # a value of the wrong type: the trainer checks report it
        return StageReport(None, planned.name, error=f"cannot read the stage's settings ({exc})")


def _estimate(planned: PlannedStage, arch: Architecture, cluster: Any) -> StageReport | None:
    kind = planned.kind
    args = planned.spec.trainer_args
    if kind in ("swift_sft", "swift_rlhf"):
        est = estimate_swift(planned.name, kind, args, planned.rendered.env, arch, cluster)
    elif kind == "verl_grpo":
        steps = expected_grpo_steps(args, planned.spec.get("expected_rows"))
        est = estimate_verl(planned.name, args, arch, cluster, steps)
    elif kind == "eval":
        options = planned.spec.get("options") or {}
        maybe = estimate_eval(planned.name, options, arch, cluster)
        if maybe is None:
            return None
        est = maybe
    else:
        est = estimate_merge(planned.name, kind, arch)
    return StageReport(est, planned.name, arch=arch)


def stage_architecture(plan: Plan, planned: PlannedStage) -> Architecture:
    """The shape of the model a stage loads: its config.json, else the model group's config_json."""
    fallback = OmegaConf.select(plan.cfg, "model.config_json", default=None)
    fallback = OmegaConf.to_container(fallback, resolve=True) if fallback is not None else None
    model = planned.ctx.inputs.get("model")
    return architecture_of(model if isinstance(model, str) else None, fallback)  # type: ignore[arg-type]


class _Cluster:
    """The cluster values the estimators read (plain attributes, defaults filled in)."""

    def __init__(self, cfg: Any) -> None:
        self.gpus_per_node = int(OmegaConf.select(cfg, "cluster.gpus_per_node", default=0) or 0)
        self.nnodes = int(OmegaConf.select(cfg, "cluster.nnodes", default=1) or 1)
        self.gpu_memory_gb = float(OmegaConf.select(cfg, "cluster.gpu_memory_gb", default=80) or 80)


def host_memory(cfg: Any) -> tuple[int | None, str]:
    """Host RAM of one node: cluster.host_memory_gb, Slurm's --mem, or this machine's RAM."""
    stated = OmegaConf.select(cfg, "cluster.host_memory_gb", default=None)
    if stated:
        return int(float(stated) * GIB), "cluster.host_memory_gb"
    launcher = str(OmegaConf.select(cfg, "cluster.launcher", default="local"))
    if launcher == "slurm":
        mem = OmegaConf.select(cfg, "cluster.slurm.mem", default=None)
        parsed = _slurm_mem(str(mem)) if mem else None
        return (parsed, "cluster.slurm.mem") if parsed else (None, "unknown (set cluster.host_memory_gb)")
    try:
        with open("/proc/meminfo") as handle:
            for line in handle:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024, "this machine"
    except OSError:
        pass
    return None, "unknown (set cluster.host_memory_gb)"


def _slurm_mem(text: str) -> int | None:
    units = {"K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
    text = text.strip().upper()
    if not text or text == "0":
        return None  # "all of the node's memory": not known here
    unit = units.get(text[-1])
    number = text[:-1] if unit else text
    try:
        return int(float(number) * (unit or 1024**2))  # Slurm's default unit is megabytes
    except ValueError:
        return None


def free_disk(run_dir: Path) -> tuple[int | None, str]:
    path = run_dir
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        return shutil.disk_usage(path).free, str(path)
    except OSError:
        return None, str(path)


# --- problems ----------------------------------------------------------------------------------


def preflight_problems(
    report: PreflightReport, allow_oom_risk: bool = False, machine: bool = True
) -> list[Problem]:
    """A validation error per stage that cannot fit (none with allow_oom_risk=true).

    GPU and vLLM verdicts follow from the config alone. Host RAM and disk are this machine's (or
    stated in the config): with `machine=False` (a dry run, which may be planning for another
    machine) they are reported but not errors unless cluster.host_memory_gb states the RAM.
    """
    if allow_oom_risk:
        return []
    problems: list[Problem] = []
    override = " (allow_oom_risk=true runs it anyway)"
    for stage in report.stages:
        est = stage.estimate
        if est is None:
            continue
        key = f"stages.{stage.name}"
        if stage.gpu_verdict(report.gpu_capacity) == NO_FIT:
            biggest = max(est.gpu, key=lambda f: f.bytes)
            problems.append(
                Problem(
                    key,
                    f"does not fit: {_gib(est.gpu_bytes)} GiB per GPU ({est.setting}) but "
                    f"cluster.gpu_memory_gb is {_gib(report.gpu_capacity)}; largest part: {biggest.label} "
                    f"{_gib(biggest.bytes)} GiB ({biggest.formula}); change {', '.join(est.fix_keys)}{override}",
                )
            )
        if stage.vllm_verdict() == NO_FIT and est.vllm is not None:
            check = est.vllm
            problems.append(
                Problem(
                    check.len_key,
                    f"vLLM cannot start: one {check.max_model_len}-token sequence needs "
                    f"{_gib(check.kv_one_sequence)} GiB of KV cache but only {_gib(max(check.kv_room, 0))} GiB "
                    f"of the {_gib(check.share)} GiB share is left after the weights and activations; lower "
                    f"max_model_len or raise {check.util_key}{override}",
                )
            )
        host_checked = machine or report.host_source == "cluster.host_memory_gb"
        if host_checked and report.host_capacity and verdict(est.host_bytes, report.host_capacity) == NO_FIT:
            problems.append(
                Problem(
                    key,
                    f"does not fit in host RAM: {_gib(est.host_bytes)} GiB per node but the node has "
                    f"{_gib(report.host_capacity)} GiB ({report.host_source}); offload less or use more nodes"
                    f"{override}",
                )
            )
    need = report.disk_need
    if machine and need is not None and report.disk_free is not None and need > report.disk_free:
        problems.append(
            Problem(
                "paths.runs",
                f"the run's checkpoints and merged models need {_gib(need)} GiB but {report.disk_path} has "
                f"{_gib(report.disk_free)} GiB free; lower save_total_limit / max_actor_ckpt_to_keep or "
                f"move paths.runs{override}",
            )
        )
    return problems


# --- printing ----------------------------------------------------------------------------------


def _gib(value: int | float | None) -> str:
    return "?" if value is None else f"{value / GIB:.1f}"


def _params(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e8 else f"{n / 1e6:.2f}M" if n >= 1e5 else str(n)


def print_preflight(report: PreflightReport, out: TextIO, details: bool = False) -> None:
    print(
        f"# pre-flight: GPU {_gib(report.gpu_capacity)} GiB (cluster.gpu_memory_gb), host RAM "
        f"{_gib(report.host_capacity)} GiB ({report.host_source}), free disk {_gib(report.disk_free)} GiB "
        f"at {report.disk_path}",
        file=out,
    )
    for stage in report.stages:
        if stage.skipped:
            print(f"#   {stage.name}: skipped in this profile", file=out)
            continue
        if stage.error:
            print(f"#   {stage.name}: no estimate ({stage.error})", file=out)
            continue
        est = stage.estimate
        assert est is not None
        gpu = (
            f"{_gib(est.gpu_bytes)} GiB/GPU {stage.gpu_verdict(report.gpu_capacity)}"
            if est.gpus_per_node and est.gpu
            else "no GPU"
        )
        host = f"host {_gib(est.host_bytes)} GiB" if est.host else "host -"
        disk = est.disk_bytes
        disk_text = "disk unbounded" if disk is None else f"disk {_gib(disk)} GiB" if est.disk else "disk -"
        params = f"params {_params(est.total_params)}"
        if est.trainable_params:
            params += f" (trainable {_params(est.trainable_params)})"
        line = f"#   {stage.name}: {params}; {est.setting}; {gpu}; {host}; {disk_text}"
        if est.vllm is not None:
            line += f"; vLLM KV for {est.vllm.max_model_len} tokens {stage.vllm_verdict()}"
        print(line, file=out)
        for note in est.notes:
            print(f"#     note: {note}", file=out)
        if details:
            print(
                f"#     source: {est.model_source}; trainable: {est.trainable_how}; phase: {est.phase}",
                file=out,
            )
            for figure in est.gpu:
                print(
                    f"#     per GPU  {_gib(figure.bytes):>7} GiB  {figure.label}: {figure.formula}", file=out
                )
            for figure in est.host:
                print(
                    f"#     per node {_gib(figure.bytes):>7} GiB  {figure.label}: {figure.formula}", file=out
                )
            for figure in est.disk:
                size = "unbounded" if figure.bytes < 0 else f"{_gib(figure.bytes)} GiB"
                print(f"#     disk     {size:>7}  {figure.label}: {figure.formula}", file=out)
            if est.vllm is not None:
                check = est.vllm
                print(
                    f"#     vLLM     share {_gib(check.share)} GiB = weights {_gib(check.weights)} + activations "
                    f"{_gib(check.activations)} + KV room {_gib(check.kv_room)} (one sequence needs "
                    f"{_gib(check.kv_one_sequence)})",
                    file=out,
                )
    need = report.disk_need
    print(
        f"#   run disk: {'unbounded' if need is None else _gib(need) + ' GiB'} needed, "
        f"{verdict(need, report.disk_free) if need is not None else UNKNOWN}",
        file=out,
    )


def preflight_enabled(cfg: Any) -> bool:
    return bool(OmegaConf.select(cfg, "preflight", default=False))


def allow_oom_risk(cfg: Any) -> bool:
    return bool(OmegaConf.select(cfg, "allow_oom_risk", default=False))
