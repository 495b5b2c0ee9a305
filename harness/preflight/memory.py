"""Memory formulas of the pre-flight check: model states, activations, vLLM, checkpoints.

Every figure is bytes, with the formula (and its source) it came from, so the report can show
why a stage does or does not fit. The formulas:

- ZeRO model states (DeepSpeed 0.19.8 ``estimate_zero2_model_states_mem_needs`` in
  runtime/zero/stage_1_and_2.py and ``estimate_zero3_model_states_mem_needs`` in
  runtime/zero/stage3.py): per GPU 2 bytes per parameter of the bf16 working copy (all of it
  under ZeRO-0/1/2, 1/N of it under ZeRO-3) plus 18 bytes per trainable parameter split over the
  N GPUs (bf16 and fp32 gradients, fp32 master weights, Adam's two moments), plus 4 bytes per
  parameter of the largest layer under ZeRO-3; offloaded states go to host RAM with DeepSpeed's
  1.5 buffer factor. DeepSpeed's estimators assume every parameter trains; frozen parameters
  (LoRA's base model, a frozen ViT) here keep only their bf16 copy. For full fine-tuning the
  figures equal DeepSpeed's (tests/preflight checks them against DeepSpeed itself).
- No DeepSpeed (DDP): bf16 weights, and 8 bytes per trainable parameter for full training in
  bf16 (weights, gradients, two Adam moments in bf16) or 16 for LoRA (peft keeps adapters in
  fp32: weights, gradients, two moments).
- verl FSDP actor: verl 0.9.1 trains in fp32 (``fsdp_config.model_dtype: fp32``): 16 bytes per
  parameter split over the GPUs (fp32 weights, gradients, Adam). ``param_offload`` and
  ``optimizer_offload`` move them to host RAM between phases and back for the update
  (verl/workers/engine/fsdp/transformer_impl.py), so the update still holds all 16 bytes; only
  FSDP2's ``offload_policy`` (CPUOffloadPolicy) keeps them in host RAM, leaving one unsharded
  layer in bf16 on the GPU.
- Activations with gradient checkpointing (Korthikanti et al. 2022, "Reducing Activation
  Recomputation in Large Transformer Models" §4, adapted to SwiGLU MLPs, grouped-query attention
  and fused (flash / SDPA) attention, so without the s^2 attention-score term): each layer keeps
  its bf16 input (2h bytes per token) and one layer is recomputed at a time, holding
  8h + 4(q + kv widths) + 8i bytes per token; without checkpointing every layer holds the latter.
  The vision tower is counted the same way over its patches.
- Logits: transformers' causal-LM loss upcasts the logits to fp32 (loss_utils.ForCausalLMLoss):
  bf16 logits, their fp32 copy and the fp32 log-softmax kept for backward, 10 bytes per token per
  vocabulary entry. verl computes log-probabilities of the response tokens only: bf16 logits over
  the sequence plus 8 fp32 bytes per response token and vocabulary entry.
- vLLM reserves ``gpu_memory_utilization`` of each GPU; inside it the weights (bf16, split over
  the tensor-parallel GPUs), the activations of one ``max_num_batched_tokens`` batch and at least
  one ``max_model_len`` sequence of KV cache (2 x layers x KV heads per GPU x head_dim x 2 bytes
  per token) must fit, or the engine refuses to start.
- A fixed 2 GiB per GPU for the CUDA context, NCCL buffers and allocator fragmentation (our
  allowance, not from a source).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.preflight.architecture import PARTS, Architecture, max_image_tokens

GIB = 1024**3
CUDA_OVERHEAD = 2 * GIB
DEEPSPEED_BUFFER = 1.5  # DeepSpeed's additional_buffer_factor for host memory


@dataclass(frozen=True)
class Figure:
    """One line of the report: what it is, how many bytes, and where the number comes from."""

    label: str
    bytes: int
    formula: str


@dataclass(frozen=True)
class ZeroSetting:
    stage: int  # 0 (no partitioning / DDP) .. 3
    offload_optimizer: bool = False
    offload_param: bool = False
    deepspeed: bool = True

    @property
    def name(self) -> str:
        if not self.deepspeed:
            return "no DeepSpeed (DDP)"
        offload = [
            n for n, on in (("optimizer", self.offload_optimizer), ("params", self.offload_param)) if on
        ]
        return f"ZeRO-{self.stage}" + (f" + {' and '.join(offload)} offload" if offload else "")


_ZERO_PRESET = re.compile(r"^(?:default-)?zero([0-3])(_offload)?$")


def zero_setting(deepspeed: object) -> ZeroSetting | None:
    """ms-swift's --deepspeed value as a ZeRO setting; None for a JSON file this code cannot read."""
    if deepspeed in (None, "", False):
        return ZeroSetting(0, deepspeed=False)
    match = _ZERO_PRESET.match(str(deepspeed))
    if match:
        stage = int(match.group(1))
        offload = bool(match.group(2))
        # ms-swift's zero2_offload.json offloads the optimizer; zero3_offload.json both.
        return ZeroSetting(stage, offload_optimizer=offload, offload_param=offload and stage == 3)
    return None


def deepspeed_model_states(
    total: int, trainable: int, largest_layer: int, zero: ZeroSetting, gpus_per_node: int, nnodes: int
) -> tuple[int, int, str]:
    """(bytes per GPU, host bytes per node, formula) of weights, gradients and optimizer states."""
    n = max(gpus_per_node * nnodes, 1)
    frozen = total - trainable
    if not zero.deepspeed:
        return 0, 0, ""  # handled by ddp_model_states
    if zero.stage < 3:
        if zero.offload_optimizer:
            gpu = 2 * total
            host = int(trainable * max(4 * n, 16) * DEEPSPEED_BUFFER)
            return gpu, host, "2 B x params (bf16 copy) on GPU; trainable x max(4 N, 16) x 1.5 B in host RAM"
        # DeepSpeed's cpu_mem without offload is fp32 checkpoint loading in every process;
        # ms-swift loads bf16 weights lazily, so it is not a requirement here.
        return 2 * total + int(18 * trainable / n), 0, "2 B x params (bf16 copy) + 18 B x trainable / N GPUs"
    gpus_factor = 1 / max(nnodes, 1)
    layer = 4 * largest_layer
    if zero.offload_optimizer and zero.offload_param:
        host = int((2 * total + 16 * trainable) * gpus_factor * DEEPSPEED_BUFFER)
        return layer, host, "4 B x largest layer on GPU; (2 B x params + 16 B x trainable) x 1.5 in host RAM"
    if zero.offload_optimizer:
        gpu = layer + int(2 * total / n)
        host = int(16 * trainable * gpus_factor * DEEPSPEED_BUFFER)
        return gpu, host, "4 B x largest layer + 2 B x params / N; 16 B x trainable x 1.5 in host RAM"
    gpu = layer + int((2 * frozen + 18 * trainable) / n)
    return gpu, 0, "4 B x largest layer + (2 B x frozen + 18 B x trainable) / N GPUs"


def ddp_model_states(total: int, trainable: int, lora: bool) -> tuple[int, str]:
    per_trainable = 16 if lora else 8
    gpu = 2 * (total - trainable) + per_trainable * trainable
    if lora:
        return gpu, "2 B x frozen params (bf16) + 16 B x LoRA params (fp32 weights, grads, Adam)"
    return gpu, "8 B x params (bf16 weights, grads and two Adam moments)"


def layer_activation_per_token(hidden: int, q_width: int, kv_width: int, intermediate: int) -> int:
    """Bytes one recomputed decoder layer holds per token (bf16, fused attention, SwiGLU)."""
    return 8 * hidden + 4 * (q_width + 2 * kv_width) + 8 * intermediate


def decoder_activations(arch: Architecture, tokens: int, checkpointing: bool) -> tuple[int, str]:
    text = arch.text
    q = text.num_heads * text.head_dim
    kv = text.num_kv_heads * text.head_dim
    per_layer = layer_activation_per_token(text.hidden_size, q, kv, text.intermediate_size)
    if checkpointing:
        return (
            tokens * (text.num_layers * 2 * text.hidden_size + per_layer),
            f"{tokens} tokens x (layers x 2h + one recomputed layer {per_layer} B)",
        )
    return (
        tokens * text.num_layers * per_layer,
        f"{tokens} tokens x layers x {per_layer} B (no checkpointing)",
    )


# Text tokens of one sample beside its image (prompt, system message and answer): our
# allowance, not from a source; the papers' answers are a few hundred tokens.
TEXT_TOKENS = 1024


def sample_tokens(arch: Architecture, max_pixels: int | None, max_length: int) -> int:
    """The longest sample: its largest image plus TEXT_TOKENS, cut at max_length. Batches are
    padded to their longest sample, not to max_length."""
    return min(max_length, max_image_tokens(arch.vision, max_pixels) + TEXT_TOKENS)


def vision_patches(arch: Architecture, max_pixels: int | None, tokens: int) -> int:
    """Patches the vision tower sees for the largest image the stage admits."""
    vision = arch.vision
    if vision.kind == "clip":
        side = (vision.image_size or 336) // vision.patch_size
        return (side * side + 1) * (1 + vision.max_tiles if vision.max_tiles > 1 else 1)
    if vision.kind == "intern_vit":
        side = (vision.image_size or 448) // vision.patch_size
        tiles = vision.max_tiles + (1 if vision.max_tiles > 1 else 0)  # plus the thumbnail
        return (side * side + 1) * tiles
    merge = vision.spatial_merge_size
    return min(max_image_tokens(vision, max_pixels), tokens) * merge * merge


def vision_activations(arch: Architecture, patches: int, checkpointing: bool) -> tuple[int, str]:
    vision = arch.vision
    per_layer = layer_activation_per_token(
        vision.hidden_size, vision.hidden_size, vision.hidden_size, vision.intermediate_size
    )
    if checkpointing:
        return (
            patches * (vision.num_layers * 2 * vision.hidden_size + per_layer),
            f"{patches} patches x (blocks x 2h + one block)",
        )
    return patches * vision.num_layers * per_layer, f"{patches} patches x blocks x {per_layer} B"


def kv_bytes_per_token(arch: Architecture, tensor_parallel: int) -> int:
    """vLLM's KV cache per token on one GPU (KV heads are split, or replicated when fewer than TP)."""
    text = arch.text
    kv_heads_per_gpu = max(1, text.num_kv_heads // max(tensor_parallel, 1))
    return 2 * text.num_layers * kv_heads_per_gpu * text.head_dim * 2


def vllm_activations(arch: Architecture, batched_tokens: int, tensor_parallel: int) -> int:
    """A forward pass over `batched_tokens` in vLLM's profile run (one layer live, split by TP)."""
    text = arch.text
    tp = max(tensor_parallel, 1)
    q = text.num_heads * text.head_dim // tp
    kv = max(1, text.num_kv_heads // tp) * text.head_dim
    per_token = 4 * text.hidden_size + 2 * (q + 2 * kv) + 6 * text.intermediate_size // tp
    return batched_tokens * per_token


def trainable_params(
    arch: Architecture,
    tuner: str,
    lora_rank: int,
    target_modules: list[str] | tuple[str, ...],
    freeze_llm: bool,
    freeze_vit: bool,
    freeze_aligner: bool,
) -> tuple[int, str]:
    """Trainable parameters under ms-swift 4.6's freezing rules (swift/arguments/tuner_args.py)."""
    parts = set()
    if not freeze_llm:
        parts.add("language_model")
    if not freeze_vit:
        parts.add("vision_tower")
    if not freeze_aligner:
        parts.add("aligner")
    if tuner == "full":
        count = sum(arch.part_params(p) for p in parts)
        if not freeze_llm:
            count += arch.part_params("lm_head")
        return count, f"full: {'+'.join(sorted(parts | ({'lm_head'} if not freeze_llm else set())))}"
    if tuner != "lora":
        return arch.total_params, f"tuner_type {tuner}: counted as full training (no closed form here)"
    # all-linear: every nn.Linear of the trained parts, lm_head excluded
    # (swift/utils/transformers_utils.py get_multimodal_target_regex, find_all_linears).
    names = set(target_modules)
    count = 0
    for linear in arch.linear_layers(parts):
        if "all-linear" in names or linear.name.rsplit(".", 1)[-1] in names:
            count += lora_rank * (linear.in_features + linear.out_features) * linear.count
    return (
        count,
        f"LoRA r={lora_rank} on {', '.join(sorted(names))} of {', '.join(p for p in PARTS if p in parts)}",
    )
