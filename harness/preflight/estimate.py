"""Per-stage memory and disk estimates from a rendered plan (formulas: harness.preflight.memory).

One function per trainer: `estimate_swift` (swift sft / rlhf), `estimate_verl` (verl GRPO),
`estimate_eval` (the evaluation's vLLM or transformers backend), `estimate_merge` (disk of a
merged model). Each returns a StageEstimate with the per-GPU figures of its peak phase, host RAM
per node, disk, and the settings a user changes when it does not fit.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from omegaconf import DictConfig, OmegaConf

from harness.preflight.architecture import Architecture
from harness.preflight.memory import (
    CUDA_OVERHEAD,
    Figure,
    ZeroSetting,
    ddp_model_states,
    decoder_activations,
    deepspeed_model_states,
    kv_bytes_per_token,
    sample_tokens,
    trainable_params,
    vision_activations,
    vision_patches,
    vllm_activations,
    zero_setting,
)


@dataclass
class VllmCheck:
    """What one vLLM engine needs inside its gpu_memory_utilization share."""

    where: str  # config key of the engine's settings
    share: int  # gpu_memory_utilization x GPU memory
    weights: int
    activations: int
    kv_one_sequence: int
    max_model_len: int
    util_key: str
    len_key: str

    @property
    def kv_room(self) -> int:
        return self.share - self.weights - self.activations

    @classmethod
    def engine(
        cls,
        arch: Architecture,
        share: int,
        tp: int,
        max_model_len: int,
        batched: int,
        where: str,
        util: str,
        length: str,
    ) -> VllmCheck:
        """A vLLM engine of `arch` at tensor parallelism `tp` (bf16 weights), prefilling `batched`
        tokens at once; `where` and the names of its share and length keys under it."""
        tp = max(tp, 1)
        return cls(
            where=where,
            share=share,
            weights=int(2 * arch.total_params / tp),
            activations=vllm_activations(arch, batched, tp),
            kv_one_sequence=kv_bytes_per_token(arch, tp) * max_model_len,
            max_model_len=max_model_len,
            util_key=f"{where}.{util}",
            len_key=f"{where}.{length}",
        )


@dataclass
class StageEstimate:
    stage: str
    kind: str
    model_source: str
    total_params: int
    trainable_params: int
    trainable_how: str
    gpus_per_node: int
    nnodes: int
    setting: str  # e.g. "ZeRO-3", "FSDP + offload_policy", "vLLM TP 2"
    phase: str  # which phase the GPU figures describe
    gpu: list[Figure] = field(default_factory=list)  # per GPU at the peak
    host: list[Figure] = field(default_factory=list)  # per node
    disk: list[Figure] = field(default_factory=list)
    fix_keys: list[str] = field(default_factory=list)  # what to change when it does not fit
    host_fix_keys: list[str] = field(default_factory=list)  # ... when host RAM does not
    notes: list[str] = field(default_factory=list)
    vllm: VllmCheck | None = None

    @property
    def gpu_bytes(self) -> int:
        return sum(f.bytes for f in self.gpu)

    @property
    def host_bytes(self) -> int:
        return sum(f.bytes for f in self.host)

    @property
    def disk_bytes(self) -> int | None:
        if any(f.bytes < 0 for f in self.disk):
            return None  # unbounded (no checkpoint limit)
        return sum(f.bytes for f in self.disk)


# --- ms-swift ---------------------------------------------------------------------------------


def estimate_swift(
    stage: str,
    kind: str,
    args: Mapping[str, Any],
    env: Mapping[str, str],
    arch: Architecture,
    cluster: Any,
    rlhf_type: str | None = None,
) -> StageEstimate:
    """`swift sft`, or `swift rlhf` with its rlhf_type (DPO's pairs and reference model count)."""
    gpus, nodes = int(cluster.gpus_per_node), int(cluster.nnodes)
    key = f"stages.{stage}"
    tuner = str(args.get("tuner_type") or "lora")
    rank = int(args.get("lora_rank") or 8)
    trainable, how = trainable_params(
        arch,
        tuner,
        rank,
        list(args.get("target_modules") or ["all-linear"]),
        bool(args.get("freeze_llm", False)),
        bool(args.get("freeze_vit", True)),
        bool(args.get("freeze_aligner", True)),
    )
    total = arch.total_params
    zero = zero_setting(args.get("deepspeed"))
    notes: list[str] = []
    if zero is None:
        notes.append(f"--deepspeed {args.get('deepspeed')}: a JSON file; estimated as ZeRO-3")
        zero = ZeroSetting(3)
    est = StageEstimate(
        stage, kind, arch.source, total, trainable, how, gpus, nodes, zero.name, "training step"
    )
    est.notes += notes
    if gpus > 0 and zero.deepspeed:
        gpu_states, host_states, formula = deepspeed_model_states(
            total, trainable, arch.largest_layer_params, zero, gpus, nodes
        )
        est.gpu.append(Figure("weights, gradients, optimizer", gpu_states, formula))
        if host_states:
            est.host.append(Figure("DeepSpeed host memory", host_states, "DeepSpeed estimator, cpu_mem"))
    else:
        states, formula = ddp_model_states(total, trainable, tuner == "lora")
        est.gpu.append(Figure("weights, gradients, optimizer", states, formula))
    if tuner == "full" and _swift_reference_model(rlhf_type, args):
        ref = 2 * total // (gpus * nodes if zero.stage == 3 and gpus else 1)
        est.gpu.append(Figure("reference model", ref, "2 B x params (bf16; / N under ZeRO-3)"))
    checkpointing = bool(args.get("gradient_checkpointing", True))  # ms-swift's default is true
    max_length = int(args.get("max_length") or arch.text.max_position_embeddings or 8192)
    per_device = int(args.get("per_device_train_batch_size") or 1)
    if rlhf_type == "dpo":
        per_device *= 2  # chosen and rejected
    max_pixels = _int(env.get("MAX_PIXELS")) or _int(args.get("max_pixels"))
    sample = sample_tokens(arch, max_pixels, max_length)
    if rlhf_type == "grpo":
        # ms-swift's GRPO cuts the prompt at max_length and trains on it with its completion
        sample += int(args.get("max_completion_length") or 512)  # ms-swift 4.6's default
    tokens = per_device * sample
    first_activation = len(est.gpu)
    act, act_formula = decoder_activations(arch, tokens, checkpointing)
    est.gpu.append(Figure(f"activations ({per_device} x {sample} tokens)", act, act_formula))
    patches = vision_patches(arch, max_pixels, sample) * per_device
    vis, vis_formula = vision_activations(
        arch, patches, bool(args.get("vit_gradient_checkpointing", checkpointing))
    )
    est.gpu.append(Figure("vision tower activations", vis, vis_formula))
    logits = tokens * arch.text.vocab_size * 10
    est.gpu.append(
        Figure("logits and loss", logits, "tokens x vocab x 10 B (bf16 + fp32 copy + fp32 log-softmax)")
    )
    rollout_keys: list[str] = []
    if args.get("use_vllm") and str(args.get("vllm_mode") or "colocate") == "colocate" and gpus:
        util = float(args.get("vllm_gpu_memory_utilization") or 0.9)
        share = int(util * gpus_bytes(cluster))
        sleep_level = int(args.get("sleep_level") or 0)
        asleep = sleep_level > 0
        _swift_rollout_engine(est, args, arch, share, sleep_level)
        rollout_keys = [f"{key}.vllm_gpu_memory_utilization"] + ([] if asleep else [f"{key}.sleep_level=1"])
        if asleep:
            # vLLM sleeps through the update (its weights and KV cache released) and the update's
            # activations are gone while it generates: the two phases peak apart, on top of the
            # model states both keep (rlhf_trainers/rollout_mixin.py sleeps the engine after rollouts)
            training = sum(f.bytes for f in est.gpu[first_activation:])
            est.gpu.append(
                Figure(
                    "vLLM share beyond the update's activations (asleep while it trains)",
                    max(0, share - training),
                    f"max(0, {util} x GPU - the activations above); sleep_level > 0",
                )
            )
        else:
            est.gpu.append(Figure("vLLM share (colocated rollouts)", share, f"{util} x GPU"))
    est.gpu.append(Figure("CUDA context, NCCL, fragmentation", CUDA_OVERHEAD, "fixed allowance"))
    est.fix_keys = [
        f"{key}.deepspeed (zero3, zero3_offload)",
        f"{key}.max_length",
        f"{key}.per_device_train_batch_size",
        "cluster.gpus_per_node / cluster.nnodes",
    ]
    if not checkpointing:
        est.fix_keys.insert(0, f"{key}.gradient_checkpointing=true")
    est.fix_keys += rollout_keys
    _swift_disk(est, args, total, trainable, tuner)
    return est


def _swift_reference_model(rlhf_type: str | None, args: Mapping[str, Any]) -> bool:
    """Whether full-parameter `swift rlhf` loads a second copy of the model as its reference.

    ms-swift 4.6 (RLHFArguments.__post_init__) does for DPO, KTO and PPO, and for GRPO unless its
    KL `beta` is 0 (default 0.04); CPO, SimPO and ORPO have none. With LoRA the base weights, the
    adapter disabled, are the reference."""
    if rlhf_type == "grpo":
        beta = args.get("beta")
        return float(0.04 if beta is None else beta) != 0.0
    return rlhf_type in ("dpo", "kto", "ppo")


def _swift_rollout_engine(
    est: StageEstimate, args: Mapping[str, Any], arch: Architecture, share: int, sleep_level: int
) -> None:
    """The colocated vLLM engine of ms-swift's GRPO: its share must hold its weights and one
    sequence's KV cache (rollout_mixin.py `_prepare_vllm_engine`), and at sleep_level 1 vLLM keeps
    every rank's weights in host RAM while it sleeps (level 2 discards them; ms-swift then reloads
    them from the trained model)."""
    key = f"stages.{est.stage}"
    tp = _int(args.get("vllm_tensor_parallel_size")) or 1
    max_len = _int(args.get("vllm_max_model_len")) or int(arch.text.max_position_embeddings)
    if not args.get("vllm_max_model_len"):
        est.notes.append(
            f"{key}.vllm_max_model_len is unset: vLLM makes it the model's max_position_embeddings ({max_len})"
        )
    engine_kwargs = args.get("vllm_engine_kwargs") or {}
    if isinstance(engine_kwargs, str):  # ms-swift reads it as JSON from the command line
        try:
            engine_kwargs = json.loads(engine_kwargs)
        except ValueError:
            engine_kwargs = {}
    batched = (
        _int(engine_kwargs.get("max_num_batched_tokens")) if isinstance(engine_kwargs, Mapping) else None
    )
    est.vllm = VllmCheck.engine(
        arch,
        share,
        tp,
        max_len,
        batched or max(max_len, 8192),
        key,
        "vllm_gpu_memory_utilization",
        "vllm_max_model_len",
    )
    if sleep_level == 1:
        est.host.append(
            Figure(
                "vLLM weights kept in host RAM while asleep",
                est.vllm.weights * est.gpus_per_node,
                f"2 B x params / vllm_tensor_parallel_size {tp} x GPUs per node (sleep_level 1)",
            )
        )
        est.host_fix_keys += [f"{key}.sleep_level=2", f"{key}.vllm_tensor_parallel_size"]


def _swift_disk(est: StageEstimate, args: Mapping[str, Any], total: int, trainable: int, tuner: str) -> None:
    if tuner == "full":
        size, formula = (
            2 * total + 12 * trainable,
            "2 B x params (bf16 weights) + 12 B x trainable (optimizer)",
        )
    else:
        size, formula = 16 * trainable, "16 B x LoRA params (fp32 adapter + optimizer)"
    limit = args.get("save_total_limit")
    if limit is None or int(limit) <= 0:
        est.disk.append(Figure("checkpoints (save_total_limit unset: all kept)", -1, formula))
        est.notes.append("save_total_limit is unset: every checkpoint stays on disk")
        return
    est.disk.append(Figure(f"checkpoints ({limit} kept)", size * int(limit), f"{limit} x ({formula})"))


def gpus_bytes(cluster: Any) -> int:
    """One GPU's memory in bytes (cluster.gpu_memory_gb GiB; its default is ClusterConfig's)."""
    return int(float(cluster.gpu_memory_gb) * 1024**3)


def _int(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


# --- verl ------------------------------------------------------------------------------------


def effective_verl(args: Mapping[str, Any]) -> DictConfig:
    """verl 0.9.1's own defaults with the stage's keys on top (what main_ppo will read).

    Read-only for callers: the same object is returned for equal `args` (building it costs about
    0.2 s, and several checks read each verl stage)."""
    key = json.dumps(args, sort_keys=True, default=str)
    if key not in _EFFECTIVE_VERL:
        from harness.render.values import flatten
        from harness.validate.verl_overrides import verl_defaults

        effective = verl_defaults().copy()
        OmegaConf.set_struct(effective, False)
        for dotted, value in flatten(dict(args)).items():
            OmegaConf.update(effective, dotted, value, force_add=True)
        OmegaConf.set_readonly(effective, True)
        if len(_EFFECTIVE_VERL) > 64:
            _EFFECTIVE_VERL.clear()
        _EFFECTIVE_VERL[key] = effective
    return _EFFECTIVE_VERL[key]


_EFFECTIVE_VERL: dict[str, DictConfig] = {}


def estimate_verl(
    stage: str,
    kind: str,
    args: Mapping[str, Any],
    arch: Architecture,
    cluster: Any,
    expected_steps: int | None,
) -> StageEstimate:
    cfg = effective_verl(args)
    gpus, nodes = int(cluster.gpus_per_node), int(cluster.nnodes)
    n = max(gpus * nodes, 1)
    total = arch.total_params
    key = f"stages.{stage}.actor_rollout_ref"
    actor = cfg.actor_rollout_ref.actor
    rollout = cfg.actor_rollout_ref.rollout
    fsdp = actor.fsdp_config
    strategy = str(actor.get("strategy") or "fsdp")
    offload_policy = bool(fsdp.get("offload_policy")) and strategy == "fsdp2"
    setting = f"{strategy.upper()}" + (" + offload_policy" if offload_policy else "")
    lora_rank = int(cfg.actor_rollout_ref.model.get("lora_rank") or 0)
    trainable = total if lora_rank == 0 else 0
    est = StageEstimate(
        stage,
        kind,
        arch.source,
        total,
        trainable,
        "full" if lora_rank == 0 else "LoRA",
        gpus,
        nodes,
        setting,
        "actor update",
    )
    if lora_rank:
        est.notes.append("LoRA in verl: estimated as full training (an upper bound)")
    gpu_total = gpus_bytes(cluster)
    util = float(rollout.gpu_memory_utilization)
    free_cache = bool(rollout.free_cache_engine)
    prompt, response = int(cfg.data.max_prompt_length), int(cfg.data.max_response_length)
    micro = int(actor.get("ppo_micro_batch_size_per_gpu") or 1)
    tokens = micro * (prompt + response)
    if offload_policy:
        est.gpu.append(
            Figure(
                "actor weights (one unsharded layer)",
                2 * arch.largest_layer_params,
                "FSDP2 CPUOffloadPolicy: 2 B x largest layer gathered in bf16",
            )
        )
        est.host.append(
            Figure(
                "actor states in host RAM",
                int(16 * total / n) * gpus,
                "16 B x params / N GPUs x GPUs per node (fp32 weights, grads, Adam)",
            )
        )
    else:
        est.gpu.append(
            Figure(
                "actor weights, gradients, optimizer",
                int(16 * total / n),
                "16 B x params / N GPUs (fp32 FSDP shards; verl loads offloaded states back for the update)",
            )
        )
        offloaded = (8 if fsdp.get("param_offload") else 0) + (8 if fsdp.get("optimizer_offload") else 0)
        if offloaded:
            est.host.append(
                Figure(
                    "actor states offloaded between phases",
                    int(offloaded * total / n) * gpus,
                    f"{offloaded} B x params / N x GPUs per node (param_offload, optimizer_offload)",
                )
            )
    ref_offload = bool(
        OmegaConf.select(cfg, "actor_rollout_ref.ref.fsdp_config.param_offload", default=False)
    )
    if _uses_reference(cfg):
        if ref_offload or strategy == "fsdp2":
            est.host.append(
                Figure("reference model", int(2 * total / n) * gpus, "2 B x params / N x GPUs per node")
            )
        else:
            est.gpu.append(Figure("reference model", int(2 * total / n), "2 B x params / N (bf16 shards)"))
    checkpointing = bool(cfg.actor_rollout_ref.model.get("enable_gradient_checkpointing", True))
    act, formula = decoder_activations(arch, tokens, checkpointing)
    est.gpu.append(Figure(f"activations ({micro} x {prompt + response} tokens)", act, formula))
    logits = tokens * arch.text.vocab_size * 2 + micro * response * arch.text.vocab_size * 8
    est.gpu.append(Figure("logits", logits, "tokens x vocab x 2 B + response tokens x vocab x 8 B"))
    tp = int(rollout.tensor_model_parallel_size)
    if free_cache:
        est.gpu.append(
            Figure("vLLM while asleep", 1 * 1024**3, "free_cache_engine=true: KV cache and weights released")
        )
        lora = cfg.actor_rollout_ref.model.get("lora") or {}
        if (lora_rank or int(lora.get("rank") or 0)) and not lora.get("merge", False):
            # A LoRA served as an adapter: vLLM sleeps at level 1 and keeps its base weights in host
            # RAM, where full weights (re-synced from FSDP) sleep at level 2 (vllm_async_server.py
            # _resolve_sleep_level)
            est.host.append(
                Figure(
                    "vLLM base weights kept in host RAM while asleep",
                    int(2 * total / max(tp, 1)) * gpus,
                    f"2 B x params / rollout TP {tp} x GPUs per node (LoRA as adapter: sleep level 1)",
                )
            )
            est.host_fix_keys += [f"{key}.model.lora.merge=true", f"{key}.rollout.tensor_model_parallel_size"]
    else:
        est.gpu.append(
            Figure(
                "vLLM share kept during training",
                int(util * gpu_total),
                f"free_cache_engine=false: gpu_memory_utilization {util} x GPU stays reserved",
            )
        )
        est.notes.append(
            f"{key}.rollout.free_cache_engine=false keeps {util:.0%} of every GPU reserved for vLLM while FSDP trains"
        )
    est.gpu.append(Figure("CUDA context, NCCL, fragmentation", CUDA_OVERHEAD, "fixed allowance"))
    # The rollout engine itself.
    max_model_len = rollout.get("max_model_len")
    if max_model_len is None:
        max_model_len = arch.text.max_position_embeddings
        est.notes.append(
            f"{key}.rollout.max_model_len is unset: verl makes it the model's max_position_embeddings "
            f"({max_model_len}) (vllm_async_server.py _validate_configs)"
        )
    batched = int(rollout.max_num_batched_tokens)
    if not rollout.get("enable_chunked_prefill", True) and batched < int(max_model_len):
        est.notes.append(
            f"{key}.rollout.max_num_batched_tokens={batched} < max_model_len {max_model_len} with chunked "
            f"prefill off: verl raises it to {max_model_len}"
        )
        batched = int(max_model_len)
    est.vllm = VllmCheck.engine(
        arch, int(util * gpu_total), tp, int(max_model_len), batched, f"{key}.rollout",
        "gpu_memory_utilization", "max_model_len",
    )  # fmt: skip
    est.fix_keys = [
        f"{key}.rollout.free_cache_engine=true" if not free_cache else "",
        f"{key}.actor.strategy=fsdp2 with {key}.actor.fsdp_config.offload_policy=true",
        f"{key}.actor.ppo_micro_batch_size_per_gpu",
        "cluster.nnodes",
    ]
    est.fix_keys = [k for k in est.fix_keys if k]
    _verl_disk(est, cfg, total, expected_steps)
    return est


def _uses_reference(cfg: DictConfig) -> bool:
    actor = cfg.actor_rollout_ref.actor
    return bool(actor.get("use_kl_loss")) or bool(cfg.algorithm.get("use_kl_in_reward"))


def _verl_disk(est: StageEstimate, cfg: DictConfig, total: int, expected_steps: int | None) -> None:
    trainer = cfg.trainer
    save_freq = int(trainer.get("save_freq") or -1)
    if save_freq <= 0:
        est.notes.append("trainer.save_freq <= 0: verl saves no checkpoint (nothing to resume or merge)")
        return
    keep = trainer.get("max_actor_ckpt_to_keep")
    formula = "12 B x params (fp32 model shards + Adam)"
    if keep is None:
        if expected_steps:
            count = max(1, expected_steps // save_freq)
            est.disk.append(
                Figure(f"checkpoints (all {count} kept)", count * 12 * total, f"{count} x {formula}")
            )
        else:
            est.disk.append(Figure("checkpoints (max_actor_ckpt_to_keep unset: all kept)", -1, formula))
        est.notes.append("trainer.max_actor_ckpt_to_keep is unset: every checkpoint stays on disk")
        return
    est.disk.append(Figure(f"checkpoints ({keep} kept)", int(keep) * 12 * total, f"{keep} x {formula}"))


# --- evaluation ------------------------------------------------------------------------------


def estimate_eval(
    stage: str, kind: str, options: Mapping[str, Any], arch: Architecture, cluster: Any
) -> StageEstimate | None:
    backend = str(options.get("backend") or "transformers")
    gpus = int(cluster.gpus_per_node)
    total = arch.total_params
    key = f"stages.{stage}.options"
    est = StageEstimate(stage, kind, arch.source, total, 0, "inference", gpus, 1, backend, "inference")
    if backend == "openai":
        openai = options.get("openai") or {}
        if not openai.get("launch_server"):
            return None  # a server someone else runs
        tp, util, max_len = _server_engine(list(openai.get("server_args") or []))
        est.setting = f"vLLM server TP {tp}"
        _vllm_engine(est, arch, cluster, tp, util, max_len, f"{key}.openai.server_args", 2048)
        return est
    if backend == "vllm":
        engine = options.get("vllm") or {}
        tp = int(engine.get("tensor_parallel_size") or 1)
        util = float(engine.get("gpu_memory_utilization") or 0.9)
        max_len = engine.get("max_model_len") or arch.text.max_position_embeddings
        batched = int(
            (engine.get("engine_kwargs") or {}).get("max_num_batched_tokens") or max(int(max_len), 8192)
        )
        est.setting = f"vLLM TP {tp}"
        _vllm_engine(est, arch, cluster, tp, util, int(max_len), f"{key}.vllm", batched)
        return est
    dtype_bytes = 4 if str(options.get("dtype")) == "float32" or gpus == 0 else 2
    est.gpu.append(
        Figure(
            "weights",
            dtype_bytes * total,
            f"{dtype_bytes} B x params ({'fp32' if dtype_bytes == 4 else 'bf16'})",
        )
    )
    batch = int(options.get("batch_size") or 1)
    new = int(options.get("max_new_tokens") or 1024)
    context = 8192 + new  # a Qwen2.5-VL image at max_pixels fills about 8k tokens
    kv = batch * context * 2 * arch.text.num_layers * arch.text.num_kv_heads * arch.text.head_dim * 2
    est.gpu.append(Figure("KV cache", kv, f"batch {batch} x {context} tokens x 2 x layers x KV width x 2 B"))
    est.gpu.append(Figure("logits", batch * context * arch.text.vocab_size * 4, "prefill logits in fp32"))
    if gpus:
        est.gpu.append(Figure("CUDA context", CUDA_OVERHEAD, "fixed allowance"))
    est.fix_keys = [f"{key}.batch_size", f"{key}.backend=vllm"]
    return est


def _server_engine(server_args: list[str]) -> tuple[int, float, int | None]:
    tp, util, max_len = 1, 0.9, None
    for i, arg in enumerate(server_args):
        name, _, inline = arg.partition("=")
        value = inline or (server_args[i + 1] if i + 1 < len(server_args) else "")
        if name in ("--tensor-parallel-size", "-tp"):
            tp = int(value)
        elif name == "--gpu-memory-utilization":
            util = float(value)
        elif name == "--max-model-len":
            max_len = int(value)
    return tp, util, max_len


def _vllm_engine(
    est: StageEstimate,
    arch: Architecture,
    cluster: Any,
    tp: int,
    util: float,
    max_len: int | None,
    where: str,
    batched: int,
) -> None:
    max_len = int(max_len or arch.text.max_position_embeddings)
    share = int(util * gpus_bytes(cluster))
    est.gpu.append(Figure("vLLM share", share, f"gpu_memory_utilization {util} x GPU"))
    est.vllm = VllmCheck.engine(
        arch, share, tp, max_len, batched, where, "gpu_memory_utilization", "max_model_len"
    )
    est.fix_keys = [f"{where}.tensor_parallel_size", f"{where}.gpu_memory_utilization"]


def estimate_merge(stage: str, kind: str, arch: Architecture) -> StageEstimate:
    est = StageEstimate(stage, kind, arch.source, arch.total_params, 0, "-", 0, 1, "merge", "-")
    est.disk.append(Figure("merged model", 2 * arch.total_params, "2 B x params (bf16 safetensors)"))
    return est


def expected_grpo_steps(args: Mapping[str, Any], expected_rows: Any) -> int | None:
    trainer = args.get("trainer") or {}
    if trainer.get("total_training_steps"):
        return int(trainer["total_training_steps"])
    if not expected_rows:
        return None
    batch = int((args.get("data") or {}).get("train_batch_size") or 1)
    return int(expected_rows) // batch * int(trainer.get("total_epochs") or 1)
