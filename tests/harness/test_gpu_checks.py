"""What would break on a GPU node, caught before launch: vLLM's tensor-parallel rules for every vLLM
engine, the attention implementation each trainer gets, the recipes' fixed values (and the seeds'
values under as_published=true), and refusing GPU stages from the CPU install."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.config import compose
from harness.plan import build_plan
from harness.preflight.architecture import parse_architecture
from harness.validate import validate_plan
from harness.validate.attention import needs_flash_attn
from harness.validate.environment import check_environment, stage_requirements
from harness.validate.vllm_parallel import VllmEngine, check_vllm_parallel, parallel_problems
from tests.preflight.conftest import model_config_json

from .conftest import load_published, plan_for
from .published import swift_flags, verl_overrides

TP_KEY = "stages.grpo.actor_rollout_ref.rollout.tensor_model_parallel_size"


def _vllm(plan) -> list[str]:
    return [str(p) for p in check_vllm_parallel(plan, plan.stages)]


# --- vLLM's rules ----------------------------------------------------------------------------------


def test_seed_tp_8_on_the_7b_is_refused_with_vllms_own_message() -> None:
    plan = build_plan(load_published("fake_hr1"), run_name="x")
    assert (
        verl_overrides(list(plan.stage("grpo").rendered.argv))[
            "actor_rollout_ref.rollout.tensor_model_parallel_size"
        ]
        == 8
    )  # as_published still renders the seed's value
    problems = _vllm(plan)
    assert problems[0].startswith(
        f"{TP_KEY}: 8 on qwen2_5_vl (28 heads, 4 KV heads; conf/model): vLLM 0.24.0 refuses it: "
        "Total number of attention heads (28) must be divisible by tensor parallel size (8)"
    )
    assert any("vision tower's MLP width 3420 is not divisible by 8" in p for p in problems)
    # ... and it is part of the plan's validation.
    assert any(TP_KEY in str(p) for p in validate_plan(plan, check_paths=False))


def test_pinned_recipes_pass_vllms_rules(paper: str) -> None:
    assert _vllm(plan_for(paper)) == []


def test_fake_hr1_renders_a_tp_that_divides_the_heads() -> None:
    argv = list(plan_for("fake_hr1").stage("grpo").rendered.argv)
    assert verl_overrides(argv)["actor_rollout_ref.rollout.tensor_model_parallel_size"] == 2


@pytest.mark.parametrize("tp,kv,refused", [(2, 4, False), (8, 4, False), (3, 4, True), (6, 4, True)])
def test_kv_head_rule(tp: int, kv: int, refused: bool) -> None:
    """KV heads split over TP, or are replicated when TP is a multiple of them (8 over 4)."""
    config = {**model_config_json("qwen2_5_vl_7b"), "num_attention_heads": 24, "num_key_value_heads": kv}
    config["intermediate_size"] = 24 * 768
    found = parallel_problems(parse_architecture(config, "x"), VllmEngine("s", tp, "k"), 8, 8)
    assert any("KV heads must be divisible" in p for p in found) is refused
    assert not any("Total number of attention heads" in p for p in found)


def test_placement_rules_and_the_vision_tower_option() -> None:
    arch = parse_architecture(model_config_json("qwen2_5_vl_7b"), "7b")
    assert parallel_problems(arch, VllmEngine("s", 4, "k"), 2, 2)[0].startswith(
        "tensor x pipeline parallel (4 x 1) needs 4 GPUs on one node but cluster.gpus_per_node is 2"
    )
    uneven = parallel_problems(arch, VllmEngine("s", 4, "k", replicas_over_all_gpus=True), 6, 6)
    assert any("do not divide into rollout replicas of 4" in p for p in uneven)
    # The 32B's language model splits over 8 (40 heads, 8 KV heads, 27648), its ViT's MLP (3420) does not ...
    big = parse_architecture(model_config_json("qwen2_5_vl_32b"), "32b")
    assert parallel_problems(big, VllmEngine("s", 8, "k"), 8, 8) == [
        "the vision tower's MLP width 3420 is not divisible by 8 (vllm/model_executor/models/qwen2_5_vl.py; "
        "mm_encoder_tp_mode=data keeps the ViT whole)"
    ]
    # ... unless vLLM keeps the ViT whole (mm_encoder_tp_mode=data)
    assert parallel_problems(big, VllmEngine("s", 8, "k", vision_tp=False), 8, 8) == []


def test_every_vllm_engine_is_checked() -> None:
    evaluation = _vllm(plan_for("fake_hr1", "eval.vllm.tensor_parallel_size=8"))
    assert evaluation and all("eval.vllm.tensor_parallel_size" in p for p in evaluation)
    server = plan_for(
        "aigi_holmes",
        "eval.backend=openai",
        "eval.openai.launch_server=true",
        "eval.openai.server_args=[--tensor-parallel-size,'3']",
    )
    assert any(
        "--tensor-parallel-size" in p and "must be divisible by tensor parallel size (3)" in p
        for p in _vllm(server)
    )


def test_a_config_json_on_disk_wins_over_the_model_group(tmp_path: Path) -> None:
    model = tmp_path / "models" / "Qwen2.5-VL-32B-Instruct"
    model.mkdir(parents=True)
    shape = {**model_config_json("qwen2_5_vl_32b"), "num_attention_heads": 42, "num_key_value_heads": 2}
    (model / "config.json").write_text(json.dumps(shape))
    plan = plan_for("fakexplain", f"paths.models={tmp_path}/models")  # eval TP 4
    problems = _vllm(plan)
    # eval_base loads the downloaded folder: its config.json (42 heads) is read; the later eval
    # stages load models the run has not produced yet, so conf/model's shape (40 heads) applies.
    assert problems and all(
        p.startswith("stages.eval_base.options.vllm.tensor_parallel_size") for p in problems
    )
    assert f"(42 heads, 2 KV heads; {model / 'config.json'})" in problems[0]


# --- attention -------------------------------------------------------------------------------------


def test_recipes_render_sdpa_and_no_remove_padding() -> None:
    plan = plan_for("fake_hr1")
    assert swift_flags(list(plan.stage("sft").rendered.argv))["--attn_impl"] == ["sdpa"]
    grpo = list(plan.stage("grpo").rendered.argv)
    assert "+actor_rollout_ref.model.override_config.attn_implementation=sdpa" in grpo
    assert "actor_rollout_ref.model.use_remove_padding=false" in grpo
    assert swift_flags(list(plan_for("fakexplain").stage("sft").rendered.argv))["--attn_impl"] == ["sdpa"]


def test_no_pinned_recipe_needs_what_the_gpu_extra_does_not_install(paper: str) -> None:
    plan = plan_for(paper)
    assert [s.name for s in plan.stages if needs_flash_attn(s)] == []


def test_flash_attention_is_an_opt_in() -> None:
    plan = plan_for("fake_hr1", "attention=flash_attention_2")
    assert swift_flags(list(plan.stage("sft").rendered.argv))["--attn_impl"] == ["flash_attention_2"]
    assert "actor_rollout_ref.model.use_remove_padding=true" in plan.stage("grpo").rendered.argv
    assert {n.module for n in stage_requirements(plan.stage("grpo"))} >= {"vllm", "flash_attn"}
    assert validate_plan(plan, check_paths=False) == []


def test_remove_padding_without_flash_attention_is_an_error() -> None:
    plan = plan_for("fake_hr1", "stages.grpo.actor_rollout_ref.model.use_remove_padding=true")
    problems = [str(p) for p in validate_plan(plan, check_paths=False)]
    assert problems == [
        "stages.grpo.actor_rollout_ref.model.use_remove_padding: true with attention sdpa: verl's "
        "remove-padding path for qwen2_5_vl calls flash_attn_varlen_func (verl/models/transformers/"
        "qwen2_vl.py) and fails without flash-attn; set it to false (${attention.verl_use_remove_padding}) "
        "or use attention=flash_attention_2 after make install-flash-attn"
    ]


# --- the recipes' fixed values and the seeds' values ----------------------------------------------


def test_out_of_memory_fixes_are_rendered_and_the_seed_values_kept_as_published() -> None:
    pinned = verl_overrides(list(plan_for("fake_hr1").stage("grpo").rendered.argv))
    assert pinned["actor_rollout_ref.rollout.free_cache_engine"] is True
    assert pinned["actor_rollout_ref.rollout.max_model_len"] == 10240
    seed = verl_overrides(
        list(build_plan(load_published("fake_hr1"), run_name="x").stage("grpo").rendered.argv)
    )
    assert seed["actor_rollout_ref.rollout.free_cache_engine"] is False
    assert "actor_rollout_ref.rollout.max_model_len" not in seed
    assert seed["actor_rollout_ref.model.use_remove_padding"] is True
    xplain = plan_for("fakexplain")
    assert swift_flags(list(xplain.stage("sft").rendered.argv))["--deepspeed"] == ["zero3"]
    assert (
        verl_overrides(list(xplain.stage("grpo").rendered.argv))["actor_rollout_ref.rollout.max_model_len"]
        == 10240
    )


# --- the environment -------------------------------------------------------------------------------


def test_gpu_stages_are_refused_from_the_cpu_install() -> None:
    plan = plan_for("fake_hr1")
    problems = check_environment(plan, plan.stages, has_module=lambda m: False, cuda_torch=lambda: False)
    by_stage = {p.key: p.message for p in problems}
    assert set(by_stage) >= {"stages.sft", "stages.grpo", "stages.eval"}
    grpo = by_stage["stages.grpo"]
    assert "a CUDA build of torch (it runs on 16 GPUs, cluster.gpus_per_node)" in grpo
    assert "vllm (verl's vLLM rollout" in grpo
    assert "make reproduce GPU=1 PAPER=fake_hr1" in grpo
    assert "deepspeed (--deepspeed zero2, stages.sft.deepspeed)" in by_stage["stages.sft"]
    everything = check_environment(plan, plan.stages, has_module=lambda m: True, cuda_torch=lambda: True)
    assert everything == []
    slurm = plan_for("fake_hr1", "cluster=slurm")
    assert check_environment(slurm, slurm.stages, has_module=lambda m: False, cuda_torch=lambda: False) == []


def test_this_cpu_install_is_refused_for_a_real_gpu_run(capsys) -> None:
    from harness.cli import main

    code = main(["paper=fake_hr1", "profile=full", "stages=[grpo]", "allow_oom_risk=true"])
    err = capsys.readouterr().err
    assert code == 2
    assert "error: stages.grpo: this environment cannot run it: it lacks a CUDA build of torch" in err
    assert "environment: cpu set in .venv" in err and "make reproduce GPU=1 PAPER=fake_hr1" in err


def test_smoke_profiles_need_nothing_the_cpu_install_lacks(paper: str) -> None:
    plan = build_plan(compose([f"paper={paper}", "profile=smoke"]), run_name="x")
    assert check_environment(plan, plan.stages) == []
