"""Build ``report.md`` (+ ``report.json`` and PNGs) from one run directory or the folds of a multirun."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from common.atomic import write_json, write_text
from harness.evaluation.metrics.base import group_rows
from harness.evaluation.metrics.ranking import roc_points
from harness.evaluation.predictions import read_predictions
from harness.report.config import ReportConfig, parse_report_config
from harness.report.markdown import (
    render_all_metrics,
    render_eval_settings,
    render_paper_table,
    render_reward_steps,
    render_runs,
    render_skipped_rows,
    render_stages,
)
from harness.report.plots import plot_roc, plot_training_curves
from harness.report.run_dir import RunInfo, load_run, read_stage_curves, results_config_of
from harness.report.tables import fill_tables, table_as_dict
from harness.report.tracking import render_tracking, tracker_runs

__all__ = ["build_report"]


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "run"


def _training_figures(runs: Sequence[RunInfo], config: ReportConfig, out: Path) -> list[tuple[str, str]]:
    """One figure per run, one row of panels per training stage; the caption names each row."""
    figures = []
    for run in runs:
        stages = [(stage.name, read_stage_curves(stage)) for stage in run.training_stages()]
        name = "training_curves.png" if len(runs) == 1 else f"training_curves_{_slug(run.run_name)}.png"
        drawn = plot_training_curves(stages, config.curves, out / name, title=f"{run.paper} / {run.run_name}")
        rows: dict[str, list[str]] = {}
        for panel in drawn:
            rows.setdefault(panel.stage, []).append(panel.title.lower())
        if rows:
            described = "; ".join(f"{stage}: {', '.join(titles)}" for stage, titles in rows.items())
            figures.append(
                (
                    f"Training curves of {run.run_name}, one row per stage on its own step axis ({described})",
                    name,
                )
            )
    return figures


def _roc_figures(runs: Sequence[RunInfo], config: ReportConfig, out: Path) -> list[tuple[str, str]]:
    figures: list[tuple[str, str]] = []
    if not config.roc:
        return figures
    for run in runs:
        for stage in run.eval_stages():
            path = stage.stage_dir / "predictions.jsonl"
            if stage.status != "completed" or not path.is_file():
                continue
            rows = read_predictions(path)
            overall = roc_points(rows)
            if overall is None:
                continue
            curves = [("all images", *overall)]
            for generator, subset in group_rows(rows, lambda r: r.generator).items():
                if len(curves) > config.roc_max_groups:
                    break
                points = roc_points(subset)
                if points is not None:
                    curves.append((generator, *points))
            name = (
                f"roc_{_slug(stage.name)}.png"
                if len(runs) == 1
                else f"roc_{_slug(run.run_name)}_{_slug(stage.name)}.png"
            )
            plot_roc(curves, out / name, f"ROC of p(fake), {run.run_name} / {stage.name}")
            figures.append((f"ROC curves of `{stage.name}` ({run.run_name})", name))
    return figures


def build_report(
    run_dirs: Sequence[str | Path],
    output_dir: str | Path | None = None,
    config_data: Mapping[str, Any] | None = None,
    log: Callable[[str], None] = print,
) -> Path:
    """Write report.md, report.json and the figures; returns the report.md path."""
    runs = [load_run(d) for d in run_dirs]
    out = Path(output_dir) if output_dir is not None else runs[0].path
    out.mkdir(parents=True, exist_ok=True)
    if config_data is None:
        config_data = results_config_of(runs[0])
    config = parse_report_config(config_data) if config_data else ReportConfig(paper=runs[0].paper)
    comparable = all(run.comparable_with_paper for run in runs)
    filled = fill_tables(config, runs, compare=comparable)
    training = _training_figures(runs, config, out)
    rocs = _roc_figures(runs, config, out)

    title = config.title or runs[0].paper
    parts = [f"# {title}: reproduction report", ""]
    if not comparable:
        profiles = sorted(
            {str(r.manifest.get("profile") or "?") for r in runs if not r.comparable_with_paper}
        )
        parts += [
            f"**Not comparable with the paper.** Profile {', '.join(profiles)}: these numbers come from a "
            "tiny model trained on synthetic data. They show that every stage ran and the pipeline is "
            "wired right, not how well the paper's recipe reproduces; the tables list the paper's "
            "values for reference only, without differences.",
            "",
        ]
    if len(runs) > 1:
        parts += [
            f"{len(runs)} runs (e.g. the folds of a cross-validation multirun): run values are the mean "
            f"± sample standard deviation over the runs that have them.",
            "",
        ]
    if config.note:
        parts += [config.note, ""]
    parts += ["## Runs", "", render_runs(runs), "", "## Stages", "", render_stages(runs), ""]
    tracking = render_tracking(list(runs))
    if tracking:
        parts += ["## Experiment tracking", "", tracking, ""]
    skipped = [(run, stage, summary) for run in runs for stage, summary in run.skipped_rows()]
    if skipped:
        parts += ["## Training rows left out", "", render_skipped_rows(skipped), ""]
    parts += ["## Evaluation settings", "", render_eval_settings(runs[0]), ""]
    for run in runs:
        rewards = render_reward_steps([(s.name, read_stage_curves(s)) for s in run.training_stages()])
        if rewards:
            title = "## GRPO reward per step" + (f" ({run.run_name})" if len(runs) > 1 else "")
            parts += [title, "", rewards, ""]
    if filled:
        parts += ["## Paper tables", ""]
        parts += [render_paper_table(table) for table in filled]
    else:
        parts += [
            "No paper tables are configured (results config missing): only the run's metrics follow.",
            "",
        ]
    eval_names: list[str] = []
    for run in runs:
        eval_names += [s.name for s in run.eval_stages() if s.name not in eval_names]
    parts += ["## All metrics", ""]
    for name in eval_names:
        parts += [f"### `{name}`", "", render_all_metrics(runs, name), ""]
    parts += ["## Figures", ""]
    figures = training + rocs
    if not training:
        parts += [
            "No training curves: no training stage left a log this report can read "
            "(ms-swift logging.jsonl; verl file-logger jsonl or console lines).",
            "",
        ]
    if config.roc and not rocs:
        parts += ["No ROC curves: no eval stage has a probability of fake for both real and fake images.", ""]
    for caption, name in figures:
        parts += [f"![{caption}]({name})", ""]
    report_path = out / "report.md"
    write_text(report_path, "\n".join(parts))
    document = {
        "paper": config.paper or runs[0].paper,
        "comparable_with_paper": comparable,
        "runs": [str(r.path) for r in runs],
        "tables": [table_as_dict(t) for t in filled],
        "figures": [name for _, name in figures],
        "tracking": [dataclasses.asdict(e) | {"run_dir": str(r.path)} for r in runs for e in tracker_runs(r)],
        "skipped_rows": [
            {"run_dir": str(run.path), "stage": stage, **{k: v for k, v in summary.items() if k != "records"}}
            for run, stage, summary in skipped
        ],
    }
    write_json(out / "report.json", document, allow_nan=False)
    log(f"report: {report_path} ({len(filled)} paper tables, {len(figures)} figures)")
    return report_path
