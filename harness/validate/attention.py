"""The attention implementation each trainer is told to use, and what it needs installed.

ms-swift takes ``--attn_impl`` (``flash_attn`` is its old name for ``flash_attention_2``;
swift/model/utils.py AttnImpl); verl reads ``actor_rollout_ref.model.override_config.
attn_implementation`` and defaults to ``flash_attention_2`` when it is absent
(verl/workers/config/model.py). flash-attn is not in the gpu extra (no wheel for torch 2.11;
conf/attention/), so a stage that renders it needs ``make install-flash-attn`` first.

verl's remove-padding (``use_remove_padding``, on by default) packs a micro batch into one
sequence; for Qwen2-VL-family models verl patches their attention with
``qwen2_vl_attn_forward``, which calls flash-attn's ``flash_attn_varlen_func`` whatever the
attention implementation (verl/models/transformers/monkey_patch.py, qwen2_vl.py): with SDPA it
fails at the first forward pass. That combination is a validation error.
"""

from __future__ import annotations

from collections.abc import Sequence

from common.errors import Problem
from harness.plan import Plan, PlannedStage

VERL_DEFAULT_ATTENTION = "flash_attention_2"
FLASH = {"flash_attn", "flash_attention_2"}
# Model types whose verl remove-padding path calls flash_attn_varlen_func directly.
VERL_VARLEN_MODELS = {"qwen2_5_vl", "qwen2_vl"}


def stage_attention(planned: PlannedStage) -> tuple[str | None, str]:
    """(attention implementation the stage's trainer will use, config key), None if not a trainer."""
    attention = planned.stage_kind.gpu.hook("attention")
    return attention(planned) if attention is not None else (None, "")


def swift_attention(planned: PlannedStage) -> tuple[str, str]:
    """ms-swift: --attn_impl, SDPA when unset."""
    value = planned.spec.trainer_args.get("attn_impl")
    return (str(value) if value else "sdpa"), f"stages.{planned.name}.attn_impl"


def verl_attention(planned: PlannedStage) -> tuple[str, str]:
    """verl: the model's override_config.attn_implementation, flash-attention when unset."""
    from harness.preflight.estimate import effective_verl

    model = effective_verl(planned.spec.trainer_args).actor_rollout_ref.model
    value = (model.get("override_config") or {}).get("attn_implementation") or VERL_DEFAULT_ATTENTION
    return str(value), f"stages.{planned.name}.actor_rollout_ref.model.override_config.attn_implementation"


def needs_flash_attn(planned: PlannedStage) -> str | None:
    """The config key that makes this stage need flash-attn, or None."""
    impl, key = stage_attention(planned)
    return key if impl in FLASH else None


def check_attention(plan: Plan, selected: Sequence[PlannedStage]) -> list[Problem]:
    """Attention settings a stage's trainer cannot run (its kind's gpu.attention_problems)."""
    problems: list[Problem] = []
    for planned in selected:
        check = planned.stage_kind.gpu.hook("attention_problems")
        if check is None or planned.skip_reason:
            continue
        problems += check(plan, planned)
    return problems


def verl_remove_padding_problems(plan: Plan, planned: PlannedStage) -> list[Problem]:
    """verl's remove-padding with a Qwen2-VL-family model needs flash-attn (the module docstring)."""
    from harness.preflight import stage_architecture
    from harness.preflight.architecture import ArchitectureError
    from harness.preflight.estimate import effective_verl

    impl, _ = stage_attention(planned)
    model = effective_verl(planned.spec.trainer_args).actor_rollout_ref.model
    if not model.get("use_remove_padding") or impl in FLASH:
        return []
    try:
        model_type = stage_architecture(plan, planned).model_type
    except ArchitectureError:
        return []
    if model_type not in VERL_VARLEN_MODELS:
        return []
    return [
        Problem(
            f"stages.{planned.name}.actor_rollout_ref.model.use_remove_padding",
            f"true with attention {impl}: verl's remove-padding path for {model_type} calls "
            f"flash_attn_varlen_func (verl/models/transformers/qwen2_vl.py) and fails without "
            f"flash-attn; set it to false (${{attention.verl_use_remove_padding}}) or use "
            f"attention=flash_attention_2 after make install-flash-attn",
        )
    ]
