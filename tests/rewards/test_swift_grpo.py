"""A real `swift rlhf --rlhf_type grpo` run on CPU scores with rewards/swift_adapter.py and the step.

Nothing is stood in for: ms-swift 4.6 trains a tiny random Qwen2.5-VL (data_prep/tiny_model.py)
for two GRPO steps with --external_plugins data_prep/cpu_compat.py (no torchvision on CPU) and
rewards/swift_adapter.py, which wraps rewards/fakexplain.py with the linear schedule of
conf/reward/fakexplain.yaml (total_steps left null: ms-swift's max_steps is used). The adapter's
AIGI_REWARD_LOG shows what each call received and returned.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from .conftest import REPO, load_reward_conf

pytestmark = pytest.mark.slow

STEPS = 2


def write_dataset(folder: Path) -> tuple[Path, list[dict]]:
    """Four GRPO rows in the columns data preparation writes for ms-swift."""
    rows = []
    for i in range(4):
        image = folder / f"image{i}.png"
        Image.new("RGB", (56, 56), (40 * i, 120, 200 - 30 * i)).save(image)
        label = "fake" if i % 2 == 0 else "real"
        rows.append(
            {
                "messages": [{"role": "user", "content": "<image>Is this image real or fake?"}],
                "images": [str(image)],
                "solution": json.dumps(
                    {"label": label, "boxes": [[4, 4, 30, 30 + i]] if label == "fake" else []}
                ),
                "data_source": "fakexplain",
                "extra_info": {"width": 56, "height": 56, "index": i},
            }
        )
    dataset = folder / "grpo.jsonl"
    dataset.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return dataset, rows


def test_swift_grpo_calls_the_adapter_with_the_training_step(tiny_qwen_dir, tmp_path):
    dataset, rows = write_dataset(tmp_path)
    kwargs = load_reward_conf("fakexplain")["schedules"]["linear"]
    assert kwargs["total_steps"] is None
    log = tmp_path / "reward_calls.jsonl"
    env = {
        k: v for k, v in os.environ.items() if k not in ("NPROC_PER_NODE", "NNODES", "CUDA_VISIBLE_DEVICES")
    }
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "MAX_PIXELS": "12544",
            "AIGI_REWARD": json.dumps(
                {"path": str(REPO / "rewards" / "fakexplain.py"), "name": "compute_score", "kwargs": kwargs}
            ),
            "AIGI_REWARD_LOG": str(log),
        }
    )
    command = [
        str(Path(sys.executable).parent / "swift"),
        "rlhf",
        "--rlhf_type",
        "grpo",
        "--model",
        str(tiny_qwen_dir),
        "--model_type",
        "qwen2_5_vl",
        "--template",
        "qwen2_5_vl",
        "--dataset",
        str(dataset),
        "--tuner_type",
        "lora",
        "--torch_dtype",
        "float32",
        "--use_vllm",
        "false",
        "--num_generations",
        "2",
        "--per_device_train_batch_size",
        "2",
        "--max_completion_length",
        "16",
        "--max_steps",
        str(STEPS),
        "--fp16",
        "false",
        "--bf16",
        "false",
        "--check_model",
        "false",
        "--report_to",
        "none",
        "--logging_steps",
        "1",
        "--save_strategy",
        "no",
        "--dataloader_num_workers",
        "0",
        "--output_dir",
        str(tmp_path / "out"),
        "--external_plugins",
        str(REPO / "data_prep" / "cpu_compat.py"),
        str(REPO / "rewards" / "swift_adapter.py"),
        "--reward_funcs",
        "aigi_reward",
    ]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]

    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [c["global_step"] for c in calls] == list(range(STEPS))  # 0 during the first step
    assert {c["max_steps"] for c in calls} == {STEPS}
    for call in calls:
        step = call["global_step"]
        assert len(call["completions"]) == 2 and all(isinstance(c, str) for c in call["completions"])
        # the linear schedule of 004 at t / T = step / max_steps
        assert [p["w_iou"] for p in call["parts"]] == pytest.approx([0.5 + 0.5 * step / STEPS] * 2)
        # both generations of one prompt, with that prompt's own columns
        row = rows[call["extra_infos"][0]["index"]]
        assert call["ground_truths"] == [row["solution"]] * 2
        assert call["data_sources"] == ["fakexplain", "fakexplain"]
        assert call["extra_infos"] == [{**row["extra_info"], "global_steps": step, "total_steps": STEPS}] * 2
        assert call["scores"] == [p["score"] for p in call["parts"]]
    assert calls[0]["parts"][0]["w_iou"] != calls[1]["parts"][0]["w_iou"]
    # ms-swift logged the adapter's scores as its reward metric
    means = [float(m) for m in re.findall(r"'rewards/AigiReward/mean': '([-0-9.e]+)'", output)]
    assert means[:STEPS] == pytest.approx([sum(c["scores"]) / 2 for c in calls])
