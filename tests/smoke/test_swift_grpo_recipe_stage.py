"""The recipe's own ms-swift GRPO stage (stage grpo_swift: variant=linear_swift, and the three stages
of staged_swift that 002 Table 7's InternVL-2.5 columns train) runs real `swift rlhf` steps on the
CPU when only what needs a GPU is switched off: vLLM rollouts, ZeRO-3, bf16, the batch sizes. Every
other argument is the recipe's, as rendered (truncation_strategy, temperature, beta, learning rate,
LoRA rank, the reward plugin and the linear schedule), so a flag or value ms-swift refuses at start-up
fails here, not on a cluster. The tiny Qwen2.5-VL stands in for the backbone (no InternVL weights or
remote code can be downloaded here); the stage reads it directly instead of an SFT model.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

# What the CPU cannot do, and the sizes that keep it to two short steps; nothing else changes.
CPU_ONLY = [
    "stages.grpo_swift.use_vllm=false",
    "stages.grpo_swift.vllm_mode=null",  # ms-swift refuses a rollout mode without vLLM
    "stages.grpo_swift.sleep_level=0",
    "stages.grpo_swift.deepspeed=null",
    "stages.grpo_swift.torch_dtype=float32",
    "+stages.grpo_swift.fp16=false",  # float32 switches fp16 on in ms-swift 4.6 (libs.md 1)
    "+stages.grpo_swift.bf16=false",
    "stages.grpo_swift.gradient_checkpointing=false",
    "+stages.grpo_swift.check_model=false",  # no ModelScope look-up
    "stages.grpo_swift.dataloader_num_workers=0",
    "stages.grpo_swift.env=${smoke.env}",
    "stages.grpo_swift.external_plugins=[${smoke.cpu_plugin},${paths.repo}/rewards/swift_adapter.py]",
    "stages.grpo_swift.num_generations=2",
    "stages.grpo_swift.per_device_train_batch_size=2",
    "stages.grpo_swift.global_batch_size=2",
    "stages.grpo_swift.max_completion_length=32",
    "+stages.grpo_swift.max_steps=2",
    "stages.grpo_swift.save_steps=2",
]


@pytest.mark.slow
def test_the_recipes_ms_swift_grpo_stage_trains_on_the_cpu(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable, "-m", "harness", "paper=fakexplain", "profile=smoke", "variant=linear_swift",
            f"paths.runs={tmp_path}", "run_name=swift_grpo", "run_edit={keep:[grpo_swift]}",
            "stages.grpo_swift.inputs.model=stage:tiny_model", "~stages.grpo_swift.profile_skip",
            *CPU_ONLY,
        ],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "fakexplain" / "swift_grpo"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stages = {s["name"]: s for s in manifest["stages"]}
    assert list(stages) == ["tiny_model", "synth_data", "prepare_data", "grpo_swift", "report"]
    grpo = stages["grpo_swift"]
    assert grpo["status"] == "completed"
    argv = grpo["argv"]
    assert argv[:2] == ["swift", "rlhf"]
    flags = " ".join(argv)
    for recipe in ("--truncation_strategy delete", "--temperature 1.0", "--beta 0.04", "--learning_rate 1e-05",
                   "--lora_rank 16", "--lora_alpha 32", "--reward_funcs aigi_reward"):  # fmt: skip
        assert recipe in flags, recipe
    # the adapter of the recipe's rank, and the reward ran at both steps with the linear schedule
    # (004: w_G = 0.5 + 0.5 t/T over the run's 2 steps)
    adapter = json.loads((run_dir / "grpo_swift" / "final" / "adapter_config.json").read_text())
    assert adapter["r"] == 16
    parts = [
        json.loads(line) for line in (run_dir / "grpo_swift" / "reward_parts.jsonl").read_text().splitlines()
    ]
    assert [p["step"] for p in parts] == [1, 2]
    assert [p["mean"]["w_iou"] for p in parts] == [0.5, 0.75]
    assert all(p["n"] == 2 for p in parts)
