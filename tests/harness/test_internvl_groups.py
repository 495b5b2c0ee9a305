"""InternVL-2.5 8B / 26B model groups (002 Table 7): SFT and GRPO render for ms-swift, verl GRPO is refused.

ms-swift 4.6 trains OpenGVLab/InternVL2_5-* as model type internvl_chat with the internvl2_5 template,
SFT and GRPO (variant=linear_swift / staged_swift); verl 0.9.1 has no InternVL support and this
harness's evaluation backends cannot load the remote-code model, so a plan with a verl GRPO or an
eval stage and an InternVL group fails validation with the group's own reason
(conf/model/internvl2_5_*.yaml unsupported_kinds).
"""

from __future__ import annotations

import json

import pytest

from harness.preflight import FITS, preflight_plan
from harness.preflight.architecture import max_image_tokens, parse_architecture
from harness.validate import validate_plan
from harness.validate.model_support import unsupported
from harness.validate.vllm_parallel import VllmEngine, parallel_problems
from tests.preflight.conftest import model_config_json

from .conftest import plan_for
from .published import swift_flags

GROUPS = ["internvl2_5_8b", "internvl2_5_26b"]
SFT_STAGES = ["prepare_data", "download_model", "sft", "merge_sft"]


def _stage(plan, name: str):
    return next(s for s in plan.stages if s.name == name)


@pytest.mark.parametrize("group", GROUPS)
def test_sft_stages_render_and_validate_for_ms_swift(group: str) -> None:
    plan = plan_for("fakexplain", f"model={group}")
    size = group.rsplit("_", 1)[1].upper()
    sft = _stage(plan, "sft").rendered
    flags = swift_flags(sft.argv)
    assert flags["--model_type"] == ["internvl_chat"] and flags["--template"] == ["internvl2_5"]
    assert flags["--model"][0].endswith(f"/InternVL2_5-{size}")
    # InternVL's tile budget reaches ms-swift; Qwen2.5-VL's pixel bounds do not
    assert sft.env["MAX_NUM"] == "12"
    assert "MAX_PIXELS" not in sft.env and "MIN_PIXELS" not in sft.env
    # data preparation writes InternVL's grounding syntax (the model group's, not a paper's)
    prepare = " ".join(_stage(plan, "prepare_data").rendered.argv)
    assert '"region_syntax": "internvl"' in prepare
    assert validate_plan(plan, check_paths=False, subset=SFT_STAGES) == []
    evals = validate_plan(plan, check_paths=False, subset=["eval_base", "eval_sft"])
    assert [p.key for p in evals if "cannot run this eval stage" in p.message] == [
        "stages.eval_base",
        "stages.eval_sft",
    ]
    assert all("not runnable with this harness's evaluation backends" in p.message for p in evals)


@pytest.mark.parametrize("group,tp", [("internvl2_5_8b", "1"), ("internvl2_5_26b", "2")])
def test_grpo_through_ms_swift_renders_and_validates_for_internvl(group: str, tp: str) -> None:
    plan = plan_for("fakexplain", f"model={group}", "variant=staged_swift")
    grpo = [s for s in plan.stages if s.kind == "swift_rlhf"]
    assert [s.name for s in grpo] == ["grpo_swift_alpha", "grpo_swift_beta", "grpo_swift_gamma"]
    weights = []
    for stage in grpo:
        flags = swift_flags(stage.rendered.argv)
        assert flags["--rlhf_type"] == ["grpo"] and flags["--reward_funcs"] == ["aigi_reward"]
        assert flags["--model_type"] == ["internvl_chat"] and flags["--template"] == ["internvl2_5"]
        assert flags["--external_plugins"][0].endswith("rewards/swift_adapter.py")
        assert flags["--vllm_tensor_parallel_size"] == [tp]  # the group's rollout_tp
        assert flags["--num_generations"] == ["4"] and flags["--learning_rate"] == ["1e-05"]
        assert stage.rendered.env["MAX_NUM"] == "12" and "MAX_PIXELS" not in stage.rendered.env
        reward = json.loads(stage.rendered.env["AIGI_REWARD"])
        assert reward["path"].endswith("rewards/fakexplain.py")
        weights.append(reward["kwargs"]["w_iou"])
    # each stage its own reward weights (002 §4.4 alpha, beta, gamma), each from the previous merge
    assert weights == [1.0, 1.5, 2.0]
    assert grpo[1].ctx.inputs["model"] == str(plan.stage("merge_swift_alpha").output)
    assert grpo[2].ctx.inputs["model"] == str(plan.stage("merge_swift_beta").output)
    runnable = [s.name for s in plan.stages if s.kind != "eval"]
    assert "merge_swift_gamma" in runnable
    assert validate_plan(plan, check_paths=False, subset=runnable) == []
    # the pre-flight finds it fits 8 x 80 GB beside the sleeping rollout engine
    report = preflight_plan(plan)
    for stage in grpo:
        [estimate] = [s for s in report.stages if s.name == stage.name]
        assert estimate.gpu_verdict(report.gpu_capacity) == FITS


def test_qwen_groups_keep_their_grounding_json() -> None:
    prepare = " ".join(_stage(plan_for("fakexplain", "model=qwen2_5_vl_7b"), "prepare_data").rendered.argv)
    assert '"region_syntax": "json"' in prepare and '"max_pixels": 12845056' in prepare


@pytest.mark.parametrize("group", GROUPS)
@pytest.mark.parametrize(
    "variant,stages", [("linear", ["grpo"]), ("staged", ["grpo_alpha", "grpo_beta", "grpo_gamma"])]
)
def test_verl_grpo_with_an_internvl_group_fails_validation_naming_it(group, variant, stages) -> None:
    plan = plan_for("fakexplain", f"model={group}", f"variant={variant}")
    problems = validate_plan(plan, check_paths=False)
    refused = [p for p in problems if "cannot run this verl_grpo stage" in p.message]
    assert {p.key for p in problems if "cannot run this eval stage" in p.message} == {
        f"stages.{s.name}" for s in plan.stages if s.kind == "eval"
    }
    assert [p.key for p in refused] == [f"stages.{s}" for s in stages]
    for problem in refused:
        assert f"model={group}" in problem.message
        assert "not runnable with verl 0.9.1" in problem.message
    assert unsupported({"unsupported_kinds": {}}, "verl_grpo") is None
    # the Qwen2.5-VL backbones are not refused
    assert not [
        p for p in validate_plan(plan_for("fakexplain"), check_paths=False) if "cannot run" in p.message
    ]


def test_the_shapes_vllm_and_the_preflight_read() -> None:
    eight = parse_architecture(model_config_json("internvl2_5_8b"), "8b")
    big = parse_architecture(model_config_json("internvl2_5_26b"), "26b")
    assert (eight.text.num_heads, eight.text.num_kv_heads, eight.text.hidden_size) == (32, 8, 4096)
    assert (big.text.num_heads, big.text.num_kv_heads, big.text.hidden_size) == (48, 8, 6144)
    assert (eight.vision.num_heads, big.vision.num_heads) == (16, 25)
    # The model cards' sizes: 8.08B and 25.5B parameters.
    assert eight.total_params == pytest.approx(8.08e9, rel=0.005)
    assert big.total_params == pytest.approx(25.5e9, rel=0.005)
    # 12 tiles and a thumbnail of 256 tokens each
    assert max_image_tokens(eight.vision, None) == 13 * 256


def test_vllm_runs_the_26b_vision_tower_unsplit_when_its_heads_do_not_divide() -> None:
    big = parse_architecture(model_config_json("internvl2_5_26b"), "26b")
    # 25 InternViT heads under TP 2: vLLM keeps that attention whole (models/intern_vit.py)
    assert parallel_problems(big, VllmEngine("eval", 2, "tp"), 8, 8) == []
    # the language model's 8 KV heads still bind: TP 3 is refused
    assert any("KV heads" in p for p in parallel_problems(big, VllmEngine("eval", 3, "tp"), 8, 8))
