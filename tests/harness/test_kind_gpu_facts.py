"""The GPU checks before launch ask the stage's kind (`StageKind.gpu`), not its name.

A kind registered outside the repository that names the same hooks as verl_grpo gets the same
vLLM, environment, attention and pre-flight checks; the same kind without GPU facts gets none.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.config import REPO_ROOT
from harness.kinds import GpuFacts, get_kind, kind_names

HOOKS = ("packages", "attention", "attention_problems", "vllm_engines", "estimate")


def test_every_gpu_hook_of_every_kind_resolves_to_a_function() -> None:
    with_facts = []
    for name in kind_names():
        facts = get_kind(name).gpu
        for hook in HOOKS:
            if getattr(facts, hook):
                assert callable(facts.hook(hook)), (name, hook)
                with_facts.append(name)
            else:
                assert facts.hook(hook) is None
    assert {"swift_sft", "swift_rlhf", "verl_grpo", "eval", "swift_export", "verl_merge"} <= set(with_facts)


def test_a_hook_that_is_not_module_colon_function_is_refused() -> None:
    with pytest.raises(ValueError, match="package.module:function"):
        GpuFacts(estimate="harness.preflight.verl_estimate").hook("estimate")


PLUGIN = """
import dataclasses

from harness.kinds import GpuFacts, get_kind, register_kind

# verl's trainer under another name, once with its GPU facts and once without.
register_kind(dataclasses.replace(get_kind("verl_grpo"), name="other_rollout_trainer"))
register_kind(dataclasses.replace(get_kind("verl_grpo"), name="bare_rollout_trainer", gpu=GpuFacts()))
"""

DRIVER = """
import json, sys

import gpu_kinds  # noqa: F401  (registers the kinds)
from omegaconf import OmegaConf

from harness.config import compose
from harness.plan import build_plan
from harness.preflight import preflight_plan
from harness.validate.attention import stage_attention
from harness.validate.environment import stage_requirements
from harness.validate.vllm_parallel import check_vllm_parallel

runs = sys.argv[1]
result = {}
for kind in ("verl_grpo", "other_rollout_trainer", "bare_rollout_trainer"):
    cfg = compose(
        ["paper=fake_hr1", f"paths.runs={runs}", "run_name=k",
         "stages.grpo.actor_rollout_ref.rollout.tensor_model_parallel_size=8"]
    )
    OmegaConf.set_struct(cfg, False)
    cfg.stages.grpo.kind = kind
    plan = build_plan(cfg)
    grpo = plan.stage("grpo")
    result[kind] = {
        "vllm": [str(p) for p in check_vllm_parallel(plan, [grpo])],
        "needs": [n.module for n in stage_requirements(grpo)],
        "attention": list(stage_attention(grpo)),
        "preflight": [s.name for s in preflight_plan(plan, ["grpo"]).stages],
    }
print(json.dumps(result))
"""


def test_a_kind_registered_elsewhere_gets_the_gpu_checks_its_facts_name(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "gpu_kinds.py").write_text(textwrap.dedent(PLUGIN))
    (plugins / "driver.py").write_text(textwrap.dedent(DRIVER))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, str(plugins / "driver.py"), str(tmp_path / "runs")],
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(plugins)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    builtin = result["verl_grpo"]
    assert any("must be divisible by tensor parallel size (8)" in p for p in builtin["vllm"])
    assert builtin["needs"] == ["torch.cuda", "vllm", "tensorboard"]  # the tracker: `tracked`
    assert builtin["attention"][1].endswith("override_config.attn_implementation")
    assert builtin["preflight"] == ["grpo"]
    assert result["other_rollout_trainer"] == builtin
    bare = {"vllm": [], "needs": ["tensorboard"], "attention": [None, ""], "preflight": []}
    assert result["bare_rollout_trainer"] == bare
