"""FakeXplain 002 App. E Table 7 and 004 Table 4 as tables of runs (issue 18): each run changes what
its column names (full fine-tuning, fewer chat templates, another backbone, the backbone itself,
fixed grounding weights), the runs share what is the same, and the InternVL-2.5 columns, trained
through ms-swift (verl has no InternVL) and not evaluable by this harness's backends, say why in their
cells instead of a number."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from omegaconf import OmegaConf

from harness.plan import Plan
from harness.report.builder import build_report
from harness.table import table_runs
from harness.validate import validate_plan
from tests.evaluation.run_factory import make_run

from .conftest import compose_paper, table_run_plan

TABLE7_RUNS = [
    "t7_best", "t7_no_lora", "t7_templates_1_1", "t7_templates_3_2",
    "t7_qwen3b_no_ft", "t7_qwen3b", "t7_qwen7b_no_ft", "t7_qwen7b",
    "t7_internvl8b_no_ft", "t7_internvl8b", "t7_internvl26b_no_ft", "t7_internvl26b",
]  # fmt: skip


def _member(table: str, run: str, *extra: str) -> tuple[Plan, dict[str, Any]]:
    plan, cfg = table_run_plan("fakexplain", table, run, *extra)
    return plan, OmegaConf.to_container(cfg, resolve=True)  # type: ignore[return-value]


def test_table7_has_one_run_per_column_of_002() -> None:
    assert [r.name for r in table_runs(compose_paper("fakexplain"), "table7")] == TABLE7_RUNS


def test_each_table7_run_changes_what_its_column_names() -> None:
    best, _ = _member("table7", "t7_best")
    names = [s.name for s in best.stages]
    assert names[-5:] == [
        "prepare_ood_gpt4o",
        "eval_ood_gpt4o",
        "prepare_ood_ffpp",
        "eval_ood_ffpp",
        "report",
    ]
    assert "grpo_gamma" in names and "eval_base" not in names

    no_lora, cfg = _member("table7", "t7_no_lora")
    assert cfg["stages"]["sft"]["tuner_type"] == "full"
    assert "merge_sft" not in [s.name for s in no_lora.stages]  # nothing to merge: GRPO reads the SFT itself
    assert no_lora.stage("grpo_alpha").ctx.inputs["model"] == str(no_lora.stage("sft").output)

    for run, real, fake in (("t7_templates_1_1", 1, 1), ("t7_templates_3_2", 3, 2)):
        _, cfg = _member("table7", run)
        options = cfg["stages"]["prepare_data"]["options"]
        assert (options["templates_real"], options["templates_fake"]) == (real, fake)
        assert "templates_real" not in best.cfg.stages.prepare_data.options

    # No-FT: the final evaluation and both OoD evaluations read the backbone's own weights
    for size, hub in (("3b", "Qwen/Qwen2.5-VL-3B-Instruct"), ("7b", "Qwen/Qwen2.5-VL-7B-Instruct")):
        plan, cfg = _member("table7", f"t7_qwen{size}_no_ft")
        assert cfg["model"]["hub_id"] == hub
        assert [s.name for s in plan.stages] == [
            "prepare_data", "download_model", "eval", "prepare_ood_gpt4o", "eval_ood_gpt4o",
            "prepare_ood_ffpp", "eval_ood_ffpp", "report",
        ]  # fmt: skip
        for stage in ("eval", "eval_ood_gpt4o", "eval_ood_ffpp"):
            assert plan.stage(stage).ctx.inputs["model"] == cfg["model"]["path"]
        trained, trained_cfg = _member("table7", f"t7_qwen{size}")
        assert trained_cfg["model"]["hub_id"] == hub
        assert trained.stage("eval").ctx.inputs["model"] == str(trained.stage("merge_gamma").output)

    # InternVL-2.5: data preparation in its grounding syntax, the SFT and the three GRPO stages
    # through ms-swift (verl has no InternVL), nothing the trainers refuse
    for size in ("8b", "26b"):
        plan, cfg = _member("table7", f"t7_internvl{size}")
        assert [s.name for s in plan.stages] == [
            "prepare_data", "download_model", "sft", "merge_sft",
            "grpo_swift_alpha", "merge_swift_alpha", "grpo_swift_beta", "merge_swift_beta",
            "grpo_swift_gamma", "merge_swift_gamma", "report",
        ]  # fmt: skip
        assert {s.kind for s in plan.stages if s.name.startswith("grpo")} == {"swift_rlhf"}
        assert plan.stage("grpo_swift_beta").ctx.inputs["model"] == str(
            plan.stage("merge_swift_alpha").output
        )
        assert cfg["stages"]["prepare_data"]["options"]["region_syntax"] == "internvl"
        assert cfg["model"]["swift_model_type"] == "internvl_chat"
        assert validate_plan(plan, check_paths=False) == []


def test_004_table4_fixes_the_grounding_weight_for_the_whole_run() -> None:
    for run, weight in (("iclr_fixed_wg_1", 1.0), ("iclr_fixed_wg_05", 0.5)):
        plan, _ = _member("iclr_table4", run)
        argv = plan.stage("grpo").rendered.argv
        assert f"+reward.custom_reward_function.reward_kwargs.w_iou_start={weight}" in argv
        assert f"+reward.custom_reward_function.reward_kwargs.w_iou_end={weight}" in argv
    final, _ = _member("iclr_table4", "iclr_final")
    assert "+reward.custom_reward_function.reward_kwargs.w_iou_start=0.5" in final.stage("grpo").rendered.argv
    assert "+reward.custom_reward_function.reward_kwargs.w_iou_end=1.0" in final.stage("grpo").rendered.argv
    # No-FT and SFT only are table4's own runs: one name, one set of overrides, run once by table=all
    cfg = compose_paper("fakexplain")
    all_runs = {r.name: r for r in table_runs(cfg, "all")}
    assert all_runs["no_ft"].tables == ("table4", "iclr_table4")
    assert all_runs["sft"].tables == ("table4", "iclr_table4")


def test_the_internvl_cells_say_why_they_have_no_number(tmp_path: Path) -> None:
    results = OmegaConf.to_container(compose_paper("fakexplain").results, resolve=True)
    table7 = {"tables": [t for t in results["tables"] if t["id"] == "table7"], "paper": "fakexplain"}
    dirs = []
    best = make_run(
        tmp_path, "t7__t7_best", "fakexplain",
        [(s, "eval", "completed") for s in ("eval", "eval_ood_gpt4o", "eval_ood_ffpp")],
        metrics={"eval": {"accuracy": 0.9, "iou": 0.3}, "eval_ood_gpt4o": {"accuracy": 0.7},
                 "eval_ood_ffpp": {"accuracy": 0.8}},
    )  # fmt: skip
    (best / "config.yaml").write_text(
        yaml.safe_dump({"table_run": "t7_best", "paper": {"name": "fakexplain"}})
    )
    dirs.append(best)
    for run in ("t7_internvl8b", "t7_internvl8b_no_ft"):
        _, cfg = _member("table7", run)
        path = make_run(tmp_path, f"t7__{run}", "fakexplain", [("prepare_data", "data_prep", "completed")])
        (path / "config.yaml").write_text(yaml.safe_dump({**cfg, "table_run": run}))
        dirs.append(path)
    build_report(dirs, tmp_path / "report", table7, log=lambda s: None)
    rows = json.loads((tmp_path / "report" / "report.json").read_text())["tables"][0]["rows"]
    by_row = {row["name"]: row["cells"] for row in rows}
    assert by_row["FakeXplained (Acc)"]["Best"]["mean"] == 0.9
    assert by_row["4o (Acc)"]["Best"]["mean"] == 0.7
    for row in by_row.values():
        # the fine-tuned model's GRPO runs on ms-swift: its evaluation is what cannot run, as the backbone's
        assert row["InternVL 8B"]["mean"] is None
        assert row["InternVL 8B"]["status"] == "not runnable with this harness's evaluation backends"
        assert row["InternVL 8B (No-FT)"]["status"] == "not runnable with this harness's evaluation backends"
        assert row["InternVL 26B"]["status"] == "not run"  # no run directory of that column
    text = (tmp_path / "report" / "report.md").read_text()
    assert (
        "not runnable with this harness's evaluation backends (run t7_internvl8b: t7__t7_internvl8b)" in text
    )
    assert "verl" not in json.dumps(by_row)
    assert "not run (run t7_internvl26b)" in text
