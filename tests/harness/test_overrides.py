"""Command-line overrides reach the rendered commands; the global batch survives hardware changes."""

from __future__ import annotations

import pytest

from common.errors import ConfigError

from .conftest import plan_for
from .published import parse_verl_argv, swift_flags


def _swift(plan, stage: str) -> dict[str, list[str]]:
    return swift_flags(list(plan.stage(stage).rendered.argv))


def _verl(plan, stage: str) -> dict:
    return parse_verl_argv(list(plan.stage(stage).rendered.argv[3:]))


def test_stage_hyperparameter_override_reaches_the_command() -> None:
    assert _swift(plan_for("fakexplain"), "sft")["--learning_rate"] == ["0.0001"]
    plan = plan_for("fakexplain", "stages.sft.learning_rate=2e-5")
    assert _swift(plan, "sft")["--learning_rate"] == ["2e-05"]


def test_model_override_changes_model_path_and_rollout_parallelism() -> None:
    plan = plan_for("fakexplain", "model=qwen2_5_vl_7b")
    assert _swift(plan, "sft")["--model"] == [f"{plan.cfg.paths.models}/Qwen2.5-VL-7B-Instruct"]
    assert _verl(plan, "grpo")["actor_rollout_ref.rollout.tensor_model_parallel_size"] == 2
    default = plan_for("fakexplain")
    assert _swift(default, "sft")["--model"][0].endswith("Qwen2.5-VL-32B-Instruct")


def test_verl_override_reaches_every_stage_that_extends_it() -> None:
    plan = plan_for("fakexplain", "variant=staged", "stages.grpo.actor_rollout_ref.actor.optim.lr=3e-6")
    for stage in ("grpo_alpha", "grpo_beta", "grpo_gamma"):
        assert _verl(plan, stage)["actor_rollout_ref.actor.optim.lr"] == 3e-6


def test_cluster_size_reaches_verl_trainer_topology() -> None:
    plan = plan_for("fakexplain", "cluster.nnodes=2", "cluster.gpus_per_node=4")
    overrides = _verl(plan, "grpo")
    assert overrides["trainer.nnodes"] == 2 and overrides["trainer.n_gpus_per_node"] == 4
    assert plan.stage("grpo").rendered.alloc_args == {
        "trainer.nnodes": "nnodes",
        "trainer.n_gpus_per_node": "gpus_per_node",
    }


def _global_batch(plan, stage: str) -> int:
    flags = _swift(plan, stage)
    ctx = plan.stage(stage).ctx
    return (
        int(flags["--per_device_train_batch_size"][0])
        * int(flags["--gradient_accumulation_steps"][0])
        * max(ctx.gpus_per_node, 1)
        * ctx.nnodes
    )


@pytest.mark.parametrize(
    "paper,stage,expected",
    [
        ("aigi_holmes", "sft", 128),
        ("aigi_holmes", "dpo", 64),
        ("fake_hr1", "sft", 32),
        ("fakexplain", "sft", 16),
        ("fakescope", "sft", 128),
    ],
)
def test_global_batch_is_invariant_under_nodes_and_gpus(paper: str, stage: str, expected: int) -> None:
    seen = set()
    for nodes, gpus in [(1, None), (2, None), (1, 2), (2, 4), (4, 1)]:
        overrides = [f"cluster.nnodes={nodes}"] + ([f"cluster.gpus_per_node={gpus}"] if gpus else [])
        try:
            plan = plan_for(paper, *overrides)
        except ConfigError as exc:
            assert "cannot be split" in str(exc)
            continue
        seen.add(_global_batch(plan, stage))
    assert seen == {expected}


def test_default_render_matches_the_seed_hardware() -> None:
    # 000 README: --batch_size 16 --gradient_accumulation_steps 1 on 8 GPUs.
    assert _swift(plan_for("aigi_holmes"), "sft")["--gradient_accumulation_steps"] == ["1"]
    # 001 README: --gradient_accumulation_steps 2 on 16 GPUs.
    assert _swift(plan_for("fake_hr1"), "sft")["--gradient_accumulation_steps"] == ["2"]


def test_more_nodes_lower_the_accumulation() -> None:
    assert _swift(plan_for("fake_hr1", "cluster.nnodes=2"), "sft")["--gradient_accumulation_steps"] == ["1"]


def test_impossible_batch_split_names_the_numbers() -> None:
    with pytest.raises(ConfigError) as info:
        plan_for("aigi_holmes", "cluster.gpus_per_node=3")
    message = str(info.value)
    assert "stages.sft.global_batch_size" in message
    assert "global batch 128" in message and "16 x 3 processes per node x 1 nodes = 48" in message


def test_global_batch_and_explicit_accumulation_conflict() -> None:
    with pytest.raises(ConfigError, match="gradient_accumulation_steps: is derived from global_batch_size"):
        plan_for("aigi_holmes", "+stages.sft.gradient_accumulation_steps=4")
