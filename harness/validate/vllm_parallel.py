"""vLLM's tensor-parallel rules, checked for every vLLM engine a plan starts, before any GPU is asked for.

vLLM 0.24.0 builds its engine only if the model's layers split evenly over the tensor-parallel
GPUs, and verl's config check does not look (FACTS.md):

- attention heads divisible by TP: ``ModelConfig.verify_with_parallel_config`` raises
  "Total number of attention heads (28) must be divisible by tensor parallel size (8)"
  (vllm/config/model.py), on every engine build;
- KV heads divisible by TP, or TP divisible by the KV heads (they are then replicated):
  ``QKVParallelLinear`` (vllm/model_executor/layers/linear.py, ``divide``);
- the MLP width divisible by TP: ``MergedColumnParallelLinear`` / ``ColumnParallelLinear``
  (same file, ``divide(output_size, tp_size)``);
- the vision tower is split the same way unless ``mm_encoder_tp_mode="data"``: its heads and MLP
  width (``Qwen2_5_VisionAttention`` / ``Qwen2_5_VisionMLP`` in models/qwen2_5_vl.py,
  ``CLIPAttention`` / ``CLIPMLP`` in models/clip.py; InternViT's MLP in models/intern_vit.py, whose
  attention is left unsplit when its heads do not divide);
- a rollout replica (TP x PP) lives on one node in verl's hybrid engine (vLLM's ``mp`` executor),
  and the GPUs divide into whole replicas (verl/workers/rollout/replica.py).

The engines: verl's rollout (``actor_rollout_ref.rollout.name: vllm``), the evaluation's vLLM
backend (``eval.vllm``), the OpenAI-compatible server an eval stage starts itself
(``eval.openai.server_args``), and ms-swift GRPO's colocated vLLM (``use_vllm``). Head counts come
from the model's config.json when it exists, else from ``model.config_json``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from common.errors import Problem
from harness.plan import Plan, PlannedStage
from harness.preflight import stage_architecture
from harness.preflight.architecture import Architecture, ArchitectureError

VLLM_VERSION = "0.24.0"


@dataclass(frozen=True)
class VllmEngine:
    """One vLLM engine of a stage and the config keys its parallel sizes come from."""

    stage: str
    tp: int
    tp_key: str
    pp: int = 1
    dp: int = 1
    vision_tp: bool = True  # mm_encoder_tp_mode "weights" (vLLM's default): the ViT is split too
    replicas_over_all_gpus: bool = False  # verl: every GPU belongs to one rollout replica


def parallel_problems(
    arch: Architecture, engine: VllmEngine, gpus_per_node: int, total_gpus: int
) -> list[str]:
    """Why vLLM would refuse `engine` on `arch` (empty when it would start)."""
    tp, text, vision = engine.tp, arch.text, arch.vision
    found: list[str] = []
    if tp < 1:
        return [f"tensor parallel size must be at least 1, got {tp}"]
    if text.num_heads % tp:
        found.append(
            f"vLLM {VLLM_VERSION} refuses it: Total number of attention heads ({text.num_heads}) must be "
            f"divisible by tensor parallel size ({tp}) (vllm/config/model.py)"
        )
    kv = text.num_kv_heads
    if (kv >= tp and kv % tp) or (kv < tp and tp % kv):
        found.append(
            f"the {kv} KV heads must be divisible by the tensor parallel size {tp}, or it by them "
            f"(vllm/model_executor/layers/linear.py QKVParallelLinear)"
        )
    if text.intermediate_size % tp:
        found.append(
            f"the language model's MLP width {text.intermediate_size} is not divisible by {tp} "
            f"(vllm/model_executor/layers/linear.py MergedColumnParallelLinear)"
        )
    if engine.vision_tp:
        where = {"qwen2_5_vl": "models/qwen2_5_vl.py", "intern_vit": "models/intern_vit.py"}.get(
            vision.kind, "models/clip.py"
        )
        # InternViT's attention falls back to an unsplit one when its heads do not divide by TP
        # (vllm/model_executor/models/intern_vit.py InternVisionEncoderLayer._init_attn: "fallback
        # to sdpa attention if tp unavailable"): InternVL2.5-26B's 25 heads run under any TP.
        if vision.num_heads % tp and vision.kind != "intern_vit":
            found.append(
                f"the vision tower's {vision.num_heads} attention heads are not divisible by {tp} "
                f"(vllm/model_executor/{where}; mm_encoder_tp_mode=data keeps the ViT whole)"
            )
        if vision.intermediate_size % tp:
            found.append(
                f"the vision tower's MLP width {vision.intermediate_size} is not divisible by {tp} "
                f"(vllm/model_executor/{where}; mm_encoder_tp_mode=data keeps the ViT whole)"
            )
    per_replica = tp * engine.pp
    # gpus_per_node 0 (a CPU profile, or a recipe that leaves the count to the launcher) cannot
    # hold an engine split over several GPUs; a stage that is not skipped would start it.
    if per_replica > max(gpus_per_node, 1):
        found.append(
            f"tensor x pipeline parallel ({tp} x {engine.pp}) needs {per_replica} GPUs on one node but "
            f"cluster.gpus_per_node is {gpus_per_node}"
        )
    replica = per_replica * engine.dp
    if engine.replicas_over_all_gpus and total_gpus > 0 and total_gpus % replica:
        found.append(
            f"the {total_gpus} GPUs do not divide into rollout replicas of {replica} "
            f"(TP {tp} x DP {engine.dp} x PP {engine.pp}) (verl/workers/rollout/replica.py)"
        )
    return found


def engines_of(planned: PlannedStage) -> list[VllmEngine]:
    """The vLLM engines a stage starts (its kind's gpu.vllm_engines; none for most stages)."""
    engines = planned.stage_kind.gpu.hook("vllm_engines")
    return engines(planned) if engines is not None else []


def verl_engines(planned: PlannedStage) -> list[VllmEngine]:
    """verl GRPO: its rollout, when actor_rollout_ref.rollout.name is vllm."""
    from harness.preflight.estimate import effective_verl

    name = planned.name
    rollout = effective_verl(planned.spec.trainer_args).actor_rollout_ref.rollout
    if str(rollout.get("name")) != "vllm":
        return []
    prefix = "actor_rollout_ref.rollout."
    keys = planned.rendered.keys
    tp_key = keys.get(
        prefix + "tensor_model_parallel_size", f"stages.{name}.{prefix}tensor_model_parallel_size"
    )
    mode = (rollout.get("engine_kwargs") or {}).get("vllm", {}) or {}
    return [
        VllmEngine(
            name,
            int(rollout.tensor_model_parallel_size),
            tp_key,
            pp=int(rollout.get("pipeline_model_parallel_size") or 1),
            dp=int(rollout.get("data_parallel_size") or 1),
            vision_tp=str(mode.get("mm_encoder_tp_mode", "weights")) != "data",
            replicas_over_all_gpus=True,
        )
    ]


def swift_grpo_engines(planned: PlannedStage) -> list[VllmEngine]:
    """`swift rlhf`: GRPO's colocated vLLM, when use_vllm is set."""
    name, args = planned.name, planned.spec.trainer_args
    if not args.get("use_vllm"):
        return []
    return [
        VllmEngine(
            name, int(args.get("vllm_tensor_parallel_size") or 1), f"stages.{name}.vllm_tensor_parallel_size"
        )
    ]


def eval_engines(planned: PlannedStage) -> list[VllmEngine]:
    """harness.evaluation: its vLLM backend, or the OpenAI-compatible vLLM server it starts."""
    name = planned.name
    options: Mapping[str, Any] = planned.spec.get("options") or {}
    backend = options.get("backend")
    where = f"stages.{name}.options"
    if backend == "vllm":
        engine = options.get("vllm") or {}
        extra = engine.get("engine_kwargs") or {}
        return [
            VllmEngine(
                name,
                int(engine.get("tensor_parallel_size") or 1),
                f"{where}.vllm.tensor_parallel_size (eval.vllm.tensor_parallel_size)",
                pp=int(extra.get("pipeline_parallel_size") or 1),
                vision_tp=str(extra.get("mm_encoder_tp_mode", "weights")) != "data",
            )
        ]
    openai = options.get("openai") or {}
    if backend == "openai" and openai.get("launch_server"):
        flags = _server_flags(list(openai.get("server_args") or []))
        return [
            VllmEngine(
                name,
                int(flags.get("tensor-parallel-size", 1)),
                f"{where}.openai.server_args (eval.openai.server_args --tensor-parallel-size)",
                pp=int(flags.get("pipeline-parallel-size", 1)),
                vision_tp=str(flags.get("mm-encoder-tp-mode", "weights")) != "data",
            )
        ]
    return []


_SHORT = {"tp": "tensor-parallel-size", "pp": "pipeline-parallel-size"}


def _server_flags(server_args: Sequence[str]) -> dict[str, str]:
    flags: dict[str, str] = {}
    for i, arg in enumerate(server_args):
        if not arg.startswith("-"):
            continue
        name, eq, inline = arg.lstrip("-").partition("=")
        name = _SHORT.get(name, name).replace("_", "-")
        if eq:
            flags[name] = inline
        elif i + 1 < len(server_args) and not server_args[i + 1].startswith("-"):
            flags[name] = server_args[i + 1]
    return flags


def check_vllm_parallel(plan: Plan, selected: Sequence[PlannedStage]) -> list[Problem]:
    problems: list[Problem] = []
    for planned in selected:
        if planned.skip_reason:
            continue
        try:
            engines = engines_of(planned)
        except (TypeError, ValueError):
            continue  # a parallel size that is not a number: the stage's own check names it
        if not engines:
            continue
        try:
            arch = stage_architecture(plan, planned)
        except ArchitectureError:
            continue  # the shape is unknown until the model exists (model.config_json null)
        gpus = planned.ctx.gpus_per_node
        for engine in engines:
            for reason in parallel_problems(arch, engine, gpus, gpus * planned.ctx.nnodes):
                problems.append(Problem(engine.tp_key, f"{engine.tp} on {_model_name(arch)}: {reason}"))
    return problems


def _model_name(arch: Architecture) -> str:
    return (
        f"{arch.model_type} ({arch.text.num_heads} heads, {arch.text.num_kv_heads} KV heads; {arch.source})"
    )
