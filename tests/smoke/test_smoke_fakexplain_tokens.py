"""The FakeXplain smoke reproduction with the authors' region syntax (data.region_syntax=tokens):
ms-swift grounding rows with <ref-object><bbox> placeholders and objects go through the same
pipeline (real `swift sft` steps, merge, ms-swift GRPO scored by the project's reward, evaluation,
report). test_smoke_fakexplain.py runs the default (json) syntax."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.config import REPO_ROOT

from .quick import QUICK_SFT


@pytest.mark.slow
def test_smoke_reproduction_in_token_syntax(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "paper=fakexplain",
            "profile=smoke",
            f"paths.runs={tmp_path}",
            "run_name=tokens",
            "data.region_syntax=tokens",
            *QUICK_SFT,
            # A few held-out answers are enough here (the json-syntax smoke evaluates all of them).
            "eval.limit=8",
            "eval.max_new_tokens=64",
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    run_dir = tmp_path / "fakexplain" / "tokens"
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stages = {s["name"]: s for s in manifest["stages"]}
    assert all(s["status"] in ("completed", "skipped") for s in stages.values()), stages
    assert stages["sft"]["status"] == stages["grpo_cpu"]["status"] == stages["eval"]["status"] == "completed"

    # The SFT rows are the authors' shape: placeholders in the answer, objects in original pixels.
    stats = json.loads((run_dir / "prepare_data" / "stats.json").read_text())
    assert stats["options"]["region_syntax"] == "tokens" and stats["rejected_total"] == 0
    rows = [json.loads(line) for line in (run_dir / "prepare_data" / "sft.jsonl").read_text().splitlines()]
    with_regions = [r for r in rows if "objects" in r]
    assert with_regions
    for row in with_regions:
        answer = row["messages"][-1]["content"]
        assert answer.count("<ref-object><bbox>") == len(row["objects"]["ref"]) == len(row["objects"]["bbox"])
        assert "bbox_2d" not in answer
    # ms-swift's log prints its first encoded training sample: a placeholder never reaches the model
    # (tests/data_prep/test_fakexplain_authors_rows.py checks the rendered box tokens themselves).
    sft_log = Path(stages["sft"]["log"]).read_text()
    assert "[LABELS]" in sft_log and "<ref-object>" not in sft_log and "<bbox>" not in sft_log
    # The reward scored the GRPO rollouts; evaluation read every answer.
    grpo_log = Path(stages["grpo_cpu"]["log"]).read_text()
    assert "AigiReward" in grpo_log
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["complete"] and metrics["n_predictions"] == metrics["n_images"] > 0
    assert (run_dir / "report.md").exists()
