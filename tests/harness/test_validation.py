"""Each validation error names the key to change, before anything is launched."""

from __future__ import annotations

from pathlib import Path

import pytest

from common.errors import ConfigError
from harness.validate import validate_plan

from .conftest import PAPERS, compose_paper, plan_for


def _problems(paper: str, *overrides: str, check_paths: bool = False) -> list[str]:
    plan = plan_for(paper, *overrides)
    return [str(p) for p in validate_plan(plan, check_paths=check_paths)]


def test_unknown_paper_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError) as info:
        compose_paper("fakexplian")
    message = str(info.value)
    assert "unknown paper 'fakexplian'" in message and "did you mean: fakexplain" in message
    assert ", ".join(PAPERS) in message


def test_missing_paper_is_asked_for() -> None:
    from harness.config import compose

    with pytest.raises(ConfigError, match="choose a paper with paper=<name>"):
        compose(["dry_run=true"])


def test_mistyped_stage_key_fails_composition_with_a_suggestion() -> None:
    with pytest.raises(ConfigError) as info:
        compose_paper("fakexplain", "stages.sft.learnig_rate=2e-5")
    message = str(info.value)
    assert message.startswith("stages.sft.learnig_rate: no such key (did you mean: learning_rate")
    assert "+stages.sft.learnig_rate" in message


def test_mistyped_harness_key_fails_composition() -> None:
    with pytest.raises(ConfigError, match=r"dry_rn: no such key \(did you mean: dry_run"):
        compose_paper("fakexplain", "dry_rn=true")


def test_unknown_variant_lists_the_variants() -> None:
    with pytest.raises(ConfigError, match="variant: unknown variant 'stagd' .*available: linear, staged"):
        plan_for("fakexplain", "variant=stagd")


def test_flag_the_pinned_ms_swift_does_not_accept() -> None:
    problems = _problems("fakexplain", "+stages.sft.learnig_rate=2e-5")
    assert len(problems) == 1
    assert problems[0].startswith(
        "stages.sft.learnig_rate: ms-swift 4.6.0 `swift sft` has no flag "
        "--learnig_rate (did you mean: --learning_rate"
    )


def test_abbreviated_flag_is_rejected() -> None:
    # ms-swift's own parser would accept a unique prefix silently (libs.md 1).
    problems = _problems("fakexplain", "+stages.sft.per_device_train_batch=2")
    assert len(problems) == 1 and "has no flag --per_device_train_batch" in problems[0]


def test_flag_value_of_the_wrong_type() -> None:
    problems = _problems("fakexplain", "stages.sft.lora_rank=sixteen")
    assert len(problems) == 1
    assert problems[0].startswith("stages.sft.lora_rank: ms-swift 4.6.0 rejects `--lora_rank sixteen`")
    assert "invalid int value" in problems[0]


def test_unknown_model_type_is_caught_without_loading_a_model() -> None:
    problems = _problems("fakexplain", "model.swift_model_type=qwen2_5vl")
    assert problems and all("has no model_type 'qwen2_5vl' (did you mean: qwen2_5_vl" in p for p in problems)
    assert problems[0].startswith("stages.sft.model_type:")


def test_unknown_tuner_type_is_caught_without_loading_a_model() -> None:
    """ms-swift's tuner_type is a free string whose choices only its help lists; an unknown one
    raised in prepare_model, after the model loaded (swift/pipelines/train/tuner.py)."""
    problems = _problems("fakexplain", "stages.sft.tuner_type=lorra")
    assert problems[0] == (
        "stages.sft.tuner_type: ms-swift 4.6.0 has no tuner_type 'lorra' (did you mean: lora, adalora, lora_llm?)"
    )
    assert not any("tuner_type" in p for p in _problems("fakexplain", "stages.sft.tuner_type=full"))


def test_a_warmup_ratio_of_one_or_more_is_refused() -> None:
    """transformers' TrainingArguments reads a warmup_ratio of 1 or more as a number of steps
    (checked on the installed one below): warmup_ratio=5 meant as 5 % warmed up for 5 steps."""
    from transformers import TrainingArguments

    for value, steps in (("5", 5), ("0.05", 5)):
        args = TrainingArguments(output_dir="/nonexistent", warmup_ratio=float(value), report_to=[])
        assert args.get_warmup_steps(100) == steps
    why = "is a fraction of the training steps, at least 0 and below 1, got {} (transformers reads 1 or more as a number of steps: set warmup_steps for that)"
    for value in ("5", "1", "-0.1"):
        assert _problems("fakexplain", f"stages.sft.warmup_ratio={value}") == [
            f"stages.sft.warmup_ratio: {why.format(value)}"
        ]
    for value in ("0", "0.5", "0.999"):
        assert _problems("fakexplain", f"stages.sft.warmup_ratio={value}") == []


@pytest.mark.parametrize(
    "override, message",
    [
        # ms-swift 4.6 RLHFArguments: "num_generations must be greater than 1 for GRPO", at start-up
        ("num_generations=1", "must be at least 2 for GRPO (the responses compared per prompt), got 1"),
        ("max_completion_length=0", "must be at least 1, got 0"),
        ("temperature=-1", "must be 0 or more, got -1"),
        ("beta=-0.5", "must be 0 or more, got -0.5"),
        (
            "vllm_gpu_memory_utilization=1.5",
            "must be more than 0 and at most 1 (the share of each GPU's memory), got 1.5",
        ),
    ],
)
def test_swift_grpo_values_it_refuses_late_are_refused(override: str, message: str) -> None:
    key = override.partition("=")[0]
    problems = _problems("fakexplain", "variant=linear_swift", f"stages.grpo_swift.{override}")
    assert f"stages.grpo_swift.{key}: {message}" in problems, problems


def test_swift_grpo_values_at_their_limits_pass() -> None:
    limits = [
        "num_generations=2",
        "temperature=0",
        "beta=0",
        "vllm_gpu_memory_utilization=1",
        "max_completion_length=1",
    ]
    problems = _problems("fakexplain", "variant=linear_swift", *(f"stages.grpo_swift.{o}" for o in limits))
    assert not [p for p in problems if "grpo_swift." in p and "does not fit" not in p], problems


def test_grpo_rollout_mode_and_use_vllm_go_together() -> None:
    # ms-swift raises at start-up on either mismatch (RLHFArguments._init_rollout): the CPU run of
    # this stage with use_vllm=false and vllm_mode left at colocate stopped with
    # "vllm_mode is not supported when use_vllm is false"
    off = _problems("fakexplain", "variant=linear_swift", "stages.grpo_swift.use_vllm=false")
    assert off == [
        "stages.grpo_swift.vllm_mode: ms-swift 4.6.0 rejects vllm_mode without use_vllm=true; set it to null"
    ]
    no_mode = _problems("fakexplain", "variant=linear_swift", "stages.grpo_swift.vllm_mode=null")
    assert no_mode == [
        "stages.grpo_swift.use_vllm: ms-swift 4.6.0 needs vllm_mode (colocate or server) with use_vllm=true"
    ]
    both_off = ["stages.grpo_swift.use_vllm=false", "stages.grpo_swift.vllm_mode=null"]
    assert _problems("fakexplain", "variant=linear_swift", *both_off) == []


def test_unknown_deepspeed_preset() -> None:
    problems = _problems("aigi_holmes", "stages.sft.deepspeed=default-zero2")
    assert problems == [
        "stages.sft.deepspeed: ms-swift 4.6.0 --deepspeed takes one of zero0, zero1, zero2, "
        "zero3, zero2_offload, zero3_offload, a JSON string or an existing JSON file, "
        "not 'default-zero2'"
    ]


def test_verl_key_the_pinned_verl_does_not_have() -> None:
    problems = _problems("fakexplain", "+stages.grpo.actor_rollout_ref.actor.ppo_mini_batchsize=8")
    assert len(problems) == 1
    assert problems[0].startswith(
        "stages.grpo.actor_rollout_ref.actor.ppo_mini_batchsize: verl 0.9.1 has no "
        "config key 'actor_rollout_ref.actor.ppo_mini_batchsize' (did you mean: "
        "ppo_mini_batch_size"
    )


def test_verl_key_that_composes_but_is_dead() -> None:
    problems = _problems("fakexplain", "+stages.grpo.custom_reward_function.path=/tmp/reward.py")
    assert len(problems) == 1
    assert problems[0].startswith(
        "stages.grpo.custom_reward_function.path: 'custom_reward_function.path' "
        "composes in verl 0.9.1 but main_ppo never reads it"
    )
    assert "use 'reward.custom_reward_function.path' instead" in problems[0]


def test_verl_batch_rule() -> None:
    problems = _problems("fakexplain", "stages.grpo.actor_rollout_ref.actor.ppo_mini_batch_size=64")
    assert problems == [
        "stages.grpo.actor_rollout_ref.actor.ppo_mini_batch_size: verl 0.9.1 rejects "
        "data.train_batch_size (32) < actor_rollout_ref.actor.ppo_mini_batch_size (64) "
        "(ActorConfig.validate); lower the mini batch or raise stages.grpo.data.train_batch_size"
    ]


def test_required_paths_are_checked_outside_dry_runs(tmp_path: Path) -> None:
    overrides = [f"paths.data={tmp_path}/data", f"paths.models={tmp_path}/models"]
    problems = _problems("fakexplain", *overrides, check_paths=True)
    # The model is downloaded by an earlier stage of the same run, so only the dataset is missing.
    assert problems == [
        f"stages.prepare_data.inputs.input: {tmp_path}/data/FakeXplained does not exist; "
        f"put the file there or point stages.prepare_data.inputs.input at it"
    ]
    (tmp_path / "data" / "FakeXplained").mkdir(parents=True)
    assert _problems("fakexplain", *overrides, check_paths=True) == []


def test_problems_are_reported_together() -> None:
    problems = _problems(
        "fakexplain",
        "+stages.sft.learnig_rate=2e-5",
        "stages.sft.lora_rank=x",
        "+stages.grpo.actor_rollout_ref.actor.bogus=1",
    )
    assert len(problems) == 3


def test_seed_dialect_is_flagged_on_the_pinned_trainers() -> None:
    from harness.plan import build_plan

    from .conftest import load_published

    problems = [
        str(p) for p in validate_plan(build_plan(load_published("fake_hr1"), run_name="x"), check_paths=False)
    ]
    assert any(
        p.startswith("stages.sft.tuner_type: ms-swift 4.6.0 `swift sft` has no flag --train_type")
        for p in problems
    )
    assert any(
        "data.train_batch_size (32) < actor_rollout_ref.actor.ppo_mini_batch_size (128)" in p
        for p in problems
    )
    assert sum("composes in verl 0.9.1 but main_ppo never reads it" in p for p in problems) == 2
