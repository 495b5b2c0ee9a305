"""The report: trainer-log parsing, table cells (paper, run, difference, spread over folds), PNGs, and
the shipped conf/results tables against the metric keys the evaluation really produces."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from PIL import Image

from common.errors import ConfigError
from harness.evaluation.config import parse_eval_config
from harness.evaluation.metrics import compute_metrics
from harness.evaluation.predictions import PredictionRow
from harness.report.builder import build_report
from harness.report.config import parse_report_config
from harness.report.markdown import render_reward_steps
from harness.report.run_dir import StageInfo, read_stage_curves
from harness.report.training_logs import (
    read_reward_parts,
    read_swift_log,
    read_verl_console_log,
    read_verl_file_log,
)
from tests.conftest import PAPERS
from tests.evaluation.run_factory import DATA, make_run, verl_console_log, verl_file_log

REPO = Path(__file__).resolve().parents[2]


# --- trainer logs -------------------------------------------------------------------------------


def test_real_swift_sft_log() -> None:
    curves = read_swift_log(DATA / "swift_sft_logging.jsonl")
    assert sorted(curves["loss"]) == [1.0, 2.0, 3.0, 4.0]
    assert curves["loss"][1.0] == pytest.approx(11.78431988)
    assert curves["token_acc"][4.0] == pytest.approx(0.16666667)
    assert (
        "elapsed_time" not in curves and "log_history" not in curves
    )  # strings and the summary line skipped
    assert curves["train_loss"] == {4.0: pytest.approx(11.77151513)}


def test_real_swift_grpo_log_has_reward_parts() -> None:
    curves = read_swift_log(DATA / "swift_grpo_logging.jsonl")
    assert sorted(curves["rewards/Format/mean"]) == [1.0, 2.0, 3.0]
    assert set(curves["completions/mean_length"].values()) == {8.0}


def test_a_resumed_swift_log_keeps_the_latest_line_per_step(tmp_path: Path) -> None:
    log = tmp_path / "logging.jsonl"
    lines = (DATA / "swift_sft_logging.jsonl").read_text().splitlines()[:2]
    resumed = json.loads(lines[1]) | {"loss": 1.5}
    log.write_text("\n".join(lines + [json.dumps(resumed)]) + "\n")
    assert read_swift_log(log)["loss"][2.0] == 1.5


def test_verl_file_and_console_logs(tmp_path: Path) -> None:
    verl_file_log(tmp_path / "file.jsonl", steps=4)
    curves = read_verl_file_log(tmp_path / "file.jsonl")
    assert curves["critic/score/mean"] == pytest.approx({1.0: -0.7, 2.0: -0.4, 3.0: -0.1, 4.0: 0.2})
    verl_console_log(tmp_path / "console.log", steps=3)
    curves = read_verl_console_log(tmp_path / "console.log")
    assert curves["critic/score/mean"] == pytest.approx(
        {1.0: 0.1, 2.0: 0.2, 3.0: 0.3}
    )  # np.float64(...) read
    assert curves["acc"][3.0] == pytest.approx(0.6) and curves["timing_s/gen"][1.0] == 1.5


def test_verl_stage_prefers_its_file_log_and_falls_back_to_the_console(tmp_path: Path) -> None:
    stage_dir = tmp_path / "grpo"
    verl_console_log(tmp_path / "grpo.log")
    stage = StageInfo(
        name="grpo", kind="verl_grpo", status="completed", stage_dir=stage_dir, log=tmp_path / "grpo.log"
    )
    assert read_stage_curves(stage)["acc"][2.0] == pytest.approx(0.4)
    verl_file_log(stage_dir / "logs" / "exp.jsonl", steps=2)
    assert "acc" not in read_stage_curves(stage) and len(read_stage_curves(stage)["actor/pg_loss"]) == 2


def test_reward_parts_per_step_from_the_swift_adapters_file(tmp_path: Path) -> None:
    """rewards/swift_adapter.py's AIGI_REWARD_PARTS lines: one per reward call, weighted by completions;
    a resumed process's lines replace the steps it rewrote."""
    lines = [
        {"pid": 1, "step": 1, "n": 2, "mean": {"score": 1.0, "format": 1.0, "iou": 0.5}},
        {"pid": 1, "step": 1, "n": 6, "mean": {"score": 3.0, "format": -1.0, "iou": 0.1}},
        {"pid": 1, "step": 2, "n": 2, "mean": {"score": 9.0, "format": 9.0}},
        {"pid": 2, "step": 2, "n": 2, "mean": {"score": 2.0, "format": 1.0}},
        {"pid": 2, "step": 3, "n": 2, "mean": {"score": 2.5, "format": 1.0, "w_iou": "x"}},
        {"pid": 2, "step": None, "n": 2, "mean": {"score": 7.0}},
    ]
    stage_dir = tmp_path / "grpo_cpu"
    stage_dir.mkdir()
    (stage_dir / "reward_parts.jsonl").write_text(
        "".join(json.dumps(line) + "\n" for line in lines) + "oops\n"
    )
    curves = read_reward_parts(stage_dir / "reward_parts.jsonl")
    assert curves["reward_parts/score"] == pytest.approx({1.0: 2.5, 2.0: 2.0, 3.0: 2.5})
    assert curves["reward_parts/format"] == pytest.approx({1.0: -0.5, 2.0: 1.0, 3.0: 1.0})
    assert curves["reward_parts/iou"] == pytest.approx({1.0: 0.2}) and "reward_parts/w_iou" not in curves
    stage = StageInfo(name="grpo_cpu", kind="swift_rlhf", status="completed", stage_dir=stage_dir)
    table = render_reward_steps([("sft", {"loss": {1.0: 2.0}}), ("grpo_cpu", read_stage_curves(stage))])
    assert table.splitlines()[0].startswith("`grpo_cpu`")
    assert "| step | reward | format | iou |" in table
    assert "| 1 | 2.500 | -0.500 | 0.200 |" in table and "| 3 | 2.500 | 1.000 | — |" in table
    assert render_reward_steps([("sft", {"loss": {1.0: 2.0}})]) == ""


# --- tables -------------------------------------------------------------------------------------

TABLE_CONFIG: dict[str, Any] = {
    "paper": "fakexplain",
    "title": "Test paper",
    "tables": [
        {
            "id": "per_gen",
            "title": "Per generator",
            "source": "seed 002 Table 2",
            "columns": [
                {"name": "Acc", "metric": "accuracy/generator/{key}"},
                {"name": "IoU", "metric": "iou/generator/{key}"},
            ],
            "rows": [
                {"name": "SD 1.5", "paper": {"Acc": 0.975, "IoU": 0.347}},
                {"name": "Missing gen", "paper": {"Acc": 0.9, "IoU": None}},
                {
                    "name": "Real Images",
                    "metrics": {"Acc": "accuracy/real", "IoU": None},
                    "paper": {"Acc": 0.985},
                },
                {
                    "name": "Overall",
                    "metrics": {"Acc": "accuracy", "IoU": "iou"},
                    "paper": {"Acc": 0.981, "IoU": 0.352},
                },
            ],
        },
        {
            "id": "stages",
            "title": "Stages",
            "source": "seed 002 Table 4",
            "columns": [
                {"name": "SFT", "stage": "eval_sft"},
                {"name": "GRPO^alpha", "stage": "eval_alpha"},
                {"name": "Best", "stage": "eval"},
            ],
            "rows": [
                {
                    "name": "Acc",
                    "metric": "accuracy",
                    "paper": {"SFT": 0.893, "GRPO^alpha": 0.954, "Best": 0.981},
                }
            ],
        },
        {
            "id": "pct",
            "title": "Percent",
            "source": "seed 003",
            "percent": True,
            "tolerance": 5.0,
            "columns": [{"name": "AP", "metric": "ap"}],
            "rows": [{"name": "All", "paper": {"AP": 95.0}}],
        },
    ],
}

STAGES = [
    ("prepare_data", "data_prep", "completed"),
    ("sft", "swift_sft", "completed"),
    ("eval_sft", "eval", "completed"),
    ("grpo", "swift_rlhf", "completed"),
    ("eval", "eval", "completed"),
    ("report", "report", "running"),
]


def eval_values(acc: float) -> dict[str, float | None]:
    return {
        "accuracy": acc,
        "accuracy/real": 0.9,
        "accuracy/generator/SD 1.5": 0.8,
        "iou/generator/SD 1.5": 0.3,
        "iou": 0.25,
        "ap": 0.93,
        "auc": 0.9,
    }


def predictions() -> list[PredictionRow]:
    rows = []
    for index, (label, p) in enumerate(
        [("fake", 0.9), ("real", 0.2), ("fake", 0.4), ("real", 0.6), ("fake", 0.8)]
    ):
        rows.append(
            PredictionRow(
                id=str(index),
                image="/x",
                label=label,
                generator="SD 1.5" if index < 4 else "GALIP",
                family=None,
                response="",
                parse_ok=True,
                parse_error=None,
                verdict=label,
                p_fake=p,
            )
        )
    return rows


def report_json(out: Path) -> dict[str, Any]:
    return json.loads((out / "report.json").read_text())


def cell(document: dict[str, Any], table: str, row: str, column: str) -> dict[str, Any]:
    spec = next(t for t in document["tables"] if t["id"] == table)
    return next(r for r in spec["rows"] if r["name"] == row)["cells"][column]


def test_one_run_fills_paper_run_and_difference(tmp_path: Path) -> None:
    run = make_run(
        tmp_path,
        "r1",
        "fakexplain",
        STAGES,
        metrics={"eval": eval_values(0.95), "eval_sft": {"accuracy": 0.5}},
        predictions={"eval": predictions()},
        swift_logs={"sft": "swift_sft_logging.jsonl", "grpo": "swift_grpo_logging.jsonl"},
    )
    build_report([run], None, TABLE_CONFIG, log=lambda m: None)
    document = report_json(run)
    overall = cell(document, "per_gen", "Overall", "Acc")
    assert overall["mean"] == pytest.approx(0.95) and overall["paper"] == 0.981
    assert overall["delta"] == pytest.approx(0.95 - 0.981)
    assert cell(document, "per_gen", "SD 1.5", "IoU")["delta"] == pytest.approx(0.3 - 0.347)
    missing = cell(document, "per_gen", "Missing gen", "Acc")
    assert missing["mean"] is None and missing["status"] == "undefined"
    assert cell(document, "per_gen", "Real Images", "IoU")["status"] == "n/a"
    assert cell(document, "stages", "Acc", "SFT")["mean"] == pytest.approx(0.5)
    assert cell(document, "stages", "Acc", "GRPO^alpha")["status"] == "not run"
    percent = cell(document, "pct", "All", "AP")
    assert percent["mean"] == pytest.approx(93.0) and percent["delta"] == pytest.approx(-2.0)
    assert percent["within_tolerance"] is True

    markdown = (run / "report.md").read_text()
    assert "| Overall | 0.981 | 0.950 | -0.031 | 0.352 | 0.250 | -0.102 |" in markdown
    assert "| Missing gen | 0.900 | — | — | not published | — | — |" in markdown
    assert "| Real Images | 0.985 | 0.900 | -0.085 | not published | n/a | — |" in markdown
    assert "| Acc | 0.893 | 0.500 | -0.393 | 0.954 | not run | — | 0.981 | 0.950 | -0.031 |" in markdown
    assert "| All | 95.00 | 93.00 | -2.00 | yes |" in markdown
    assert "Paper values: seed 002 Table 2." in markdown
    for name in ("training_curves.png", "roc_eval.png"):
        assert f"]({name})" in markdown
        with Image.open(run / name) as image:
            assert image.format == "PNG" and image.size[0] > 100
    assert set(document["figures"]) == {"training_curves.png", "roc_eval.png"}


def test_folds_give_mean_and_spread(tmp_path: Path) -> None:
    runs = [
        make_run(tmp_path, f"cv__data.fold-{k}", "fakexplain", STAGES, metrics={"eval": eval_values(acc)})
        for k, acc in enumerate([0.7, 0.8, 0.9])
    ]
    runs.append(
        make_run(
            tmp_path, "cv__data.fold-3", "fakexplain", STAGES[:3], metrics={"eval_sft": {"accuracy": 0.4}}
        )
    )
    out = tmp_path / "cv__sweep"
    build_report(runs, out, TABLE_CONFIG, log=lambda m: None)
    overall = cell(report_json(out), "per_gen", "Overall", "Acc")
    assert (
        overall["n"] == 3 and overall["mean"] == pytest.approx(0.8) and overall["std"] == pytest.approx(0.1)
    )
    assert overall["run_values"] == [0.7, 0.8, 0.9, None]
    markdown = (out / "report.md").read_text()
    assert "0.800 ± 0.100 (n=3) [1 run(s) without it]" in markdown
    assert "4 runs" in markdown
    assert not (runs[0] / "report.md").exists(), "the multirun report goes to --output-dir"
    for k in range(4):
        assert f"cv__data.fold-{k}" in markdown


def test_report_reads_the_results_section_of_the_run_config(tmp_path: Path) -> None:
    run = make_run(
        tmp_path, "r1", "fakexplain", STAGES, metrics={"eval": eval_values(0.95)}, results=TABLE_CONFIG
    )
    build_report([run], None, None, log=lambda m: None)
    assert cell(report_json(run), "per_gen", "Overall", "Acc")["mean"] == pytest.approx(0.95)
    bare = make_run(tmp_path, "r2", "fakexplain", STAGES, metrics={"eval": eval_values(0.95)})
    build_report([bare], None, None, log=lambda m: None)
    text = (bare / "report.md").read_text()
    assert "No paper tables are configured" in text and "| `accuracy` | 0.950 |" in text
    assert "No training curves" in text and "No ROC curves" in text


def test_report_config_errors_are_collected() -> None:
    broken = json.loads(json.dumps(TABLE_CONFIG))
    broken["tables"][0]["rows"][0]["paper"]["Acx"] = 0.5
    broken["tables"][1]["rows"][0]["paper"]["Best"] = "high"
    broken["tables"][2]["colums"] = []
    with pytest.raises(ConfigError) as caught:
        parse_report_config(broken)
    text = str(caught.value)
    assert "results.tables[2].colums: unknown key (did you mean: columns?)" in text


def test_report_config_semantic_errors() -> None:
    broken = json.loads(json.dumps(TABLE_CONFIG))
    broken["tables"][0]["rows"][0]["paper"]["Acx"] = 0.5
    broken["tables"][1]["rows"][0]["paper"]["Best"] = "high"
    with pytest.raises(ConfigError) as caught:
        parse_report_config(broken)
    text = str(caught.value)
    assert "paper.Acx: no such column (did you mean: Acc?)" in text
    assert "paper.Best: must be a number or null, got 'high'" in text


# --- the shipped results configs reference metric keys the evaluation produces --------------------


def synthetic_predictions(generators: list[str], families: list[str]) -> list[PredictionRow]:
    rows = []
    for g_index, generator in enumerate(generators):
        family = families[g_index % len(families)] if families else None
        for label, p in (("fake", 0.8), ("real", 0.3), ("fake", 0.4)):
            rows.append(
                PredictionRow(
                    id=f"{generator}-{len(rows)}",
                    image="/x",
                    label=label,
                    generator=generator,
                    family=family if label == "fake" else None,
                    response="",
                    parse_ok=True,
                    parse_error=None,
                    verdict="fake",
                    boxes=[[0, 0, 4, 4]],
                    region_labels=["odd hand"],
                    thinking=label == "fake",
                    p_fake=p,
                    p_fake_logsumexp=p,
                    gt_boxes=[[0, 0, 4, 8]] if label == "fake" else [],
                    gt_region_labels=["odd hand"] if label == "fake" else [],
                    num_generated_tokens=10,
                )
            )
    return rows


@pytest.mark.parametrize("paper", PAPERS)
def test_every_table_cell_names_a_metric_the_evaluation_computes(paper: str) -> None:
    results = parse_report_config(yaml.safe_load((REPO / "conf" / "results" / f"{paper}.yaml").read_text()))
    from omegaconf import OmegaConf

    from harness.config import compose

    eval_data = OmegaConf.to_container(compose([f"paper={paper}", "profile=full"]).eval, resolve=True)
    metrics = parse_eval_config(eval_data).metrics
    generators, families = set(), set()
    for table in results.tables:
        for row in table.rows:
            for column in table.columns:
                template = (
                    row.metrics.get(column.name, column.metric or row.metric)
                    if column.name in row.metrics
                    else (column.metric or row.metric)
                )
                if template and "{key}" in template:
                    key = row.key or row.name
                    (families if "/family/" in template else generators).add(key)
    generators = generators or {"any generator"}
    values = compute_metrics(synthetic_predictions(sorted(generators), sorted(families)), metrics)["values"]
    for table in results.tables:
        for row in table.rows:
            for column in table.columns:
                if column.name in row.metrics and not row.metrics[column.name]:
                    continue
                template = row.metrics.get(column.name) or column.metric or row.metric
                assert template, f"{paper}/{table.id}/{row.name}/{column.name}: no metric"
                key = template.replace("{key}", row.key or row.name)
                assert key in values, (
                    f"{paper}/{table.id}/{row.name}/{column.name}: '{key}' is not computed by "
                    f"the metrics {list(metrics)}"
                )
                assert values[key] is not None and math.isfinite(values[key])


@pytest.mark.parametrize("paper", PAPERS)
def test_every_shipped_table_renders(paper: str, tmp_path: Path) -> None:
    results = yaml.safe_load((REPO / "conf" / "results" / f"{paper}.yaml").read_text())
    run = make_run(
        tmp_path, "r", paper, STAGES, metrics={"eval": {"accuracy": 0.5}, "eval_sft": {"accuracy": 0.25}}
    )
    build_report([run], None, results, log=lambda m: None)
    markdown = (run / "report.md").read_text()
    for table in results["tables"]:
        assert f"### {table['title']}" in markdown
        for row in table["rows"]:
            assert re.search(r"^\| " + re.escape(row["name"].replace("|", "\\|")), markdown, re.MULTILINE), (
                row["name"]
            )
    if paper == "fake_hr1":
        assert "| Accuracy (all images) | not published | 0.500 | — |" in markdown


# --- the report tells the truth -----------------------------------------------------------------


def _with_run_config(run: Path, overrides: list[str]) -> Path:
    """The run's config.yaml as the runner writes it (the composed, resolved config)."""
    from omegaconf import OmegaConf

    from harness.config import compose

    config = OmegaConf.to_container(compose(overrides), resolve=True)
    (run / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(config)))
    return run


def _section(markdown: str, title: str) -> str:
    return markdown.split(f"### {title}", 1)[1].split("\n### ", 1)[0]


@pytest.mark.parametrize(
    "variant,outside",
    [("linear", "`eval_alpha`, `eval_beta`, `eval_gamma_fixed`"), ("staged", "`eval_gamma_fixed`")],
)
def test_fakexplain_notes_follow_the_pipeline(tmp_path: Path, variant: str, outside: str) -> None:
    """The full pipeline has eval_base (No-FT) and the robustness stages: the report must not call
    them missing; what it names as missing is computed from the run's pipeline."""
    run = make_run(tmp_path, "r1", "fakexplain", STAGES, metrics={"eval": eval_values(0.95)})
    _with_run_config(run, ["paper=fakexplain", "profile=full", f"variant={variant}"])
    build_report([run], None, None, log=lambda m: None)
    markdown = (run / "report.md").read_text()
    assert "have no stage in the pipelines" not in markdown and "add such stages" not in markdown
    stages = _section(markdown, "Accuracy and IoU by training stage")
    assert f'Not in this run\'s pipeline (shown as "not run"): {outside}.' in stages
    assert "eval_base`" not in stages.split("Not in this run's pipeline", 1)[1].split("\n", 1)[0]
    assert "Not in this run's pipeline" not in _section(markdown, "Robustness to perturbations")
    table = next(t for t in report_json(run)["tables"] if t["id"] == "table4_training_stages")
    assert table["stages_outside_pipeline"] == [s.strip("`") for s in outside.split(", ")]


def test_a_smoke_report_says_it_is_not_comparable(tmp_path: Path) -> None:
    run = make_run(tmp_path, "r1", "fakexplain", STAGES, metrics={"eval": eval_values(0.95)})
    _with_run_config(run, ["paper=fakexplain", "profile=smoke"])
    build_report([run], None, None, log=lambda m: None)
    markdown = (run / "report.md").read_text()
    top = markdown.split("## Runs", 1)[0]
    assert "**Not comparable with the paper.** Profile smoke" in top
    assert "tiny model trained on synthetic data" in top
    tables = markdown.split("## Paper tables", 1)[1].split("## All metrics", 1)[0]
    assert "Δ" not in tables and "within ±" not in tables
    overall = _section(markdown, "Accuracy and IoU per generator (002 Table 2")
    assert "|  | Acc paper | Acc run | IoU paper | IoU run |" in overall
    assert (
        "| Overall | 0.352 | 0.950 |" not in overall
        and "| Overall | 0.981 | 0.950 | 0.352 | 0.250 |" in overall
    )
    document = report_json(run)
    assert document["comparable_with_paper"] is False
    assert cell(document, "table2_per_generator", "Overall", "Acc")["delta"] is None
    assert cell(document, "table2_per_generator", "Overall", "Acc")["mean"] == pytest.approx(0.95)


def test_a_full_report_keeps_the_differences(tmp_path: Path) -> None:
    run = make_run(tmp_path, "r1", "fakexplain", STAGES, metrics={"eval": eval_values(0.95)})
    _with_run_config(run, ["paper=fakexplain", "profile=full"])
    build_report([run], None, None, log=lambda m: None)
    markdown = (run / "report.md").read_text()
    assert "Not comparable" not in markdown
    assert "| Overall | 0.981 | 0.950 | -0.031 | 0.352 | 0.250 | -0.102 |" in markdown
    assert report_json(run)["comparable_with_paper"] is True
