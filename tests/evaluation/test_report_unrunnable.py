"""A run of a model group whose trainer cannot run some stages says so in the report's cells.

FakeXplain with model=internvl2_5_8b (002 Table 7): SFT runs with ms-swift, verl 0.9.1 cannot run
the GRPO stages (conf/model/internvl2_5_8b.yaml unsupported_kinds). An SFT-only run's table cells
for the GRPO columns, and for the evaluations that read the GRPO weights, say "not runnable with
verl 0.9.1" instead of the silent "not run" (an evaluation with no GRPO upstream says its own
kind's reason); the Qwen2.5-VL run's missing stages stay "not run". The run's eval_sft metrics
here stand for an evaluation made elsewhere (this harness cannot load InternVL yet).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from harness.config import compose
from harness.report.builder import build_report
from harness.validate.model_support import unrunnable_summary
from tests.evaluation.run_factory import make_run

SFT_ONLY = [
    ("prepare_data", "data_prep", "completed"),
    ("sft", "swift_sft", "completed"),
    ("merge_sft", "swift_export", "completed"),
    ("eval_sft", "eval", "completed"),
]
UNRUNNABLE = "not runnable with verl 0.9.1"


def _run(tmp_path: Path, overrides: list[str]) -> Path:
    run = make_run(tmp_path, "r", "fakexplain", SFT_ONLY, metrics={"eval_sft": {"accuracy": 0.75}})
    config = OmegaConf.to_container(compose(["paper=fakexplain", "profile=full", *overrides]), resolve=True)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
    build_report([run], None, None, log=lambda m: None)
    return run


def _cells(run: Path, table: str, row: str) -> dict[str, Any]:
    document = json.loads((run / "report.json").read_text())
    spec = next(t for t in document["tables"] if t["id"] == table)
    return next(r for r in spec["rows"] if r["name"] == row)["cells"]


@pytest.mark.parametrize("variant", ["linear", "staged"])
def test_internvl_cells_after_grpo_say_why_they_are_empty(tmp_path: Path, variant: str) -> None:
    run = _run(tmp_path, ["model=internvl2_5_8b", f"variant={variant}"])
    cells = _cells(run, "table4_training_stages", "Acc")
    assert cells["SFT"]["mean"] == pytest.approx(0.75)
    # eval reads merge_grpo / merge_gamma <- verl GRPO: the trainer's reason comes first
    assert cells["Best"]["status"] == UNRUNNABLE
    # eval_base needs no GRPO: the evaluation's own reason
    assert cells["No-FT"]["status"] == "not runnable with this harness's evaluation backends"
    if variant == "staged":
        assert cells["GRPO^alpha"]["status"] == UNRUNNABLE
    markdown = (run / "report.md").read_text()
    assert f"| {UNRUNNABLE} |" in markdown


def test_qwen_cells_stay_not_run(tmp_path: Path) -> None:
    cells = _cells(_run(tmp_path, []), "table4_training_stages", "Acc")
    assert cells["Best"]["status"] == "not run"


def test_the_walk_follows_extends_and_stage_inputs() -> None:
    config = {
        "model": {"unsupported_kinds": {"verl_grpo": {"summary": "nope", "reason": "because"}}},
        "stages": {
            "grpo": {"kind": "verl_grpo", "inputs": {"model": "stage:merge_sft"}},
            "merge": {"kind": "verl_merge", "inputs": {"checkpoint": "stage:grpo"}},
            "eval": {"kind": "eval", "inputs": {"model": "stage:merge", "manifest": "stage:prep/eval.jsonl"}},
            "eval_jpeg": {"extends": "eval", "options": {"robustness": "jpeg30"}},
            "merge_sft": {"kind": "swift_export", "inputs": {"adapters": "stage:sft"}},
            "sft": {"kind": "swift_sft", "inputs": {"dataset": "stage:prep/sft.jsonl"}},
            "prep": {"kind": "data_prep"},
        },
    }
    assert [unrunnable_summary(config, s) for s in ("grpo", "merge", "eval", "eval_jpeg")] == ["nope"] * 4
    assert [unrunnable_summary(config, s) for s in ("sft", "merge_sft", "prep")] == [None] * 3
    # the most upstream cause wins: an evaluation the group cannot run either, of GRPO weights
    config["model"]["unsupported_kinds"]["eval"] = {"summary": "no eval", "reason": "r"}
    assert unrunnable_summary(config, "eval_jpeg") == "nope"
    config["stages"]["solo"] = {"kind": "eval", "inputs": {"model": "stage:merge_sft"}}
    assert unrunnable_summary(config, "solo") == "no eval"
