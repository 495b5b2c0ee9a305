"""Pre-flight: will each training and inference stage fit its GPUs, host RAM and disk?

``python -m harness paper=<p> preflight=true [overrides]`` prints the full report (every figure
with its formula) and exits 1 when a stage does not fit; every dry run prints the summary; a
stage that cannot fit is a validation error naming the stage, the figure and the setting to
change, unless ``allow_oom_risk=true``.

Verdicts: per GPU against ``cluster.gpu_memory_gb`` (GiB; like every cluster default, set in
launch.config.ClusterConfig), host RAM per node against ``cluster.host_memory_gb`` (or this
machine's RAM for cluster=local/torchrun, or Slurm's ``--mem``), disk of the whole run against the free space of the run directory's filesystem:
``fits`` up to 90 %, ``tight`` up to 100 %, ``does not fit`` above. Inside a vLLM engine's
``gpu_memory_utilization`` share, the weights, one batch of activations and one
``max_model_len`` sequence of KV cache must fit, or vLLM refuses to start.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

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
    gpus_bytes,
)
from harness.preflight.report import print_preflight
from harness.preflight.verdicts import (
    FITS,
    NO_FIT,
    TIGHT,
    UNKNOWN,
    PreflightReport,
    StageReport,
    gib,
    verdict,
)
from launch.config import ClusterConfig, parse_cluster

__all__ = [
    "FITS",
    "NO_FIT",
    "TIGHT",
    "UNKNOWN",
    "PreflightReport",
    "StageReport",
    "preflight_plan",
    "preflight_problems",
    "print_preflight",
    "stage_architecture",
    "verdict",
]


def preflight_plan(plan: Plan, subset: Sequence[str] | None = None) -> PreflightReport:
    # The cluster as the launcher reads it: its defaults are ClusterConfig's, stated nowhere else.
    cluster = parse_cluster(OmegaConf.to_container(plan.cfg.cluster, resolve=True))  # type: ignore[arg-type]
    host, host_source = host_memory(cluster)
    disk_free, disk_path = free_disk(Path(plan.run_dir))
    report = PreflightReport(gpus_bytes(cluster), host, host_source, disk_free, disk_path)
    for planned in plan.stages:
        if subset is not None and planned.name not in subset:
            continue
        stage_report = _stage(plan, planned, cluster)
        if stage_report is not None:
            report.stages.append(stage_report)
    return report


def _stage(plan: Plan, planned: PlannedStage, cluster: ClusterConfig) -> StageReport | None:
    estimate = planned.stage_kind.gpu.hook("estimate")
    if estimate is None:
        return None
    if planned.skip_reason:
        return StageReport(None, planned.name, skipped=planned.skip_reason)
    try:
        arch = stage_architecture(plan, planned)
    except ArchitectureError as exc:
        return StageReport(None, planned.name, error=str(exc))
    try:
        est = estimate(planned, arch, cluster)
    except (TypeError, ValueError) as exc:  # a value of the wrong type: the trainer checks report it
        return StageReport(None, planned.name, error=f"cannot read the stage's settings ({exc})")
    return StageReport(est, planned.name, arch=arch) if est is not None else None


# ----- the estimator of each kind (StageKind.gpu.estimate) ---------------------------------------


def swift_estimate(planned: PlannedStage, arch: Architecture, cluster: Any) -> StageEstimate:
    """`swift sft`: model states, activations, checkpoints."""
    args = planned.spec.trainer_args
    return estimate_swift(planned.name, planned.kind, args, planned.rendered.env, arch, cluster)


def swift_rlhf_estimate(planned: PlannedStage, arch: Architecture, cluster: Any) -> StageEstimate:
    """`swift rlhf`: as `swift sft`, with DPO's pairs and the reference model of its rlhf_type."""
    args = planned.spec.trainer_args
    rlhf_type = str(args.get("rlhf_type"))
    return estimate_swift(planned.name, planned.kind, args, planned.rendered.env, arch, cluster, rlhf_type)


def verl_estimate(planned: PlannedStage, arch: Architecture, cluster: Any) -> StageEstimate:
    """verl GRPO: the actor's FSDP states, the rollout's vLLM share, the checkpoints of its steps."""
    args = planned.spec.trainer_args
    steps = expected_grpo_steps(args, planned.spec.get("expected_rows"))
    return estimate_verl(planned.name, planned.kind, args, arch, cluster, steps)


def eval_estimate(planned: PlannedStage, arch: Architecture, cluster: Any) -> StageEstimate | None:
    """harness.evaluation: its backend's weights and cache (None for a remote OpenAI endpoint)."""
    options = planned.spec.get("options") or {}
    return estimate_eval(planned.name, planned.kind, options, arch, cluster)


def merge_estimate(planned: PlannedStage, arch: Architecture, cluster: Any) -> StageEstimate:
    """A merge or export: the bf16 model it writes."""
    return estimate_merge(planned.name, planned.kind, arch)


def stage_architecture(plan: Plan, planned: PlannedStage) -> Architecture:
    """The shape of the model a stage loads: its config.json, else the model group's config_json."""
    fallback = OmegaConf.select(plan.cfg, "model.config_json", default=None)
    fallback = OmegaConf.to_container(fallback, resolve=True) if fallback is not None else None
    model = planned.ctx.inputs.get("model")
    return architecture_of(model if isinstance(model, str) else None, fallback)  # type: ignore[arg-type]


def host_memory(cluster: ClusterConfig) -> tuple[int | None, str]:
    """Host RAM of one node: cluster.host_memory_gb, Slurm's --mem, or this machine's RAM."""
    if cluster.host_memory_gb:
        return int(float(cluster.host_memory_gb) * 1024**3), "cluster.host_memory_gb"
    if cluster.launcher == "slurm":
        mem = cluster.slurm.mem
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
                    f"does not fit: {gib(est.gpu_bytes)} GiB per GPU ({est.setting}) but "
                    f"cluster.gpu_memory_gb is {gib(report.gpu_capacity)}; largest part: {biggest.label} "
                    f"{gib(biggest.bytes)} GiB ({biggest.formula}); change {', '.join(est.fix_keys)}{override}",
                )
            )
        if stage.vllm_verdict() == NO_FIT and est.vllm is not None:
            check = est.vllm
            problems.append(
                Problem(
                    check.len_key,
                    f"vLLM cannot start: one {check.max_model_len}-token sequence needs "
                    f"{gib(check.kv_one_sequence)} GiB of KV cache but only {gib(max(check.kv_room, 0))} GiB "
                    f"of the {gib(check.share)} GiB share is left after the weights and activations; lower "
                    f"max_model_len or raise {check.util_key}{override}",
                )
            )
        host_checked = machine or report.host_source == "cluster.host_memory_gb"
        if host_checked and report.host_capacity and verdict(est.host_bytes, report.host_capacity) == NO_FIT:
            problems.append(
                Problem(
                    key,
                    f"does not fit in host RAM: {gib(est.host_bytes)} GiB per node but the node has "
                    f"{gib(report.host_capacity)} GiB ({report.host_source}); offload less or use more nodes"
                    + (f", or change {', '.join(est.host_fix_keys)}" if est.host_fix_keys else "")
                    + override,
                )
            )
    need = report.disk_need
    if machine and need is not None and report.disk_free is not None and need > report.disk_free:
        problems.append(
            Problem(
                "paths.runs",
                f"the run's checkpoints and merged models need {gib(need)} GiB but {report.disk_path} has "
                f"{gib(report.disk_free)} GiB free; lower save_total_limit / max_actor_ckpt_to_keep or "
                f"move paths.runs{override}",
            )
        )
    return problems


def allow_oom_risk(cfg: Any) -> bool:
    return bool(OmegaConf.select(cfg, "allow_oom_risk", default=False))
