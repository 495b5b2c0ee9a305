"""Markdown rendering of the report's parts (pure functions: data in, text out)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.report.run_dir import RunInfo
from harness.report.tables import (
    NOT_PUBLISHED,
    NOT_RUN,
    Cell,
    FilledTable,
    aggregate,
)

__all__ = [
    "format_number",
    "markdown_table",
    "render_all_metrics",
    "render_paper_table",
    "render_runs",
    "render_stages",
    "render_eval_settings",
    "render_reward_steps",
    "render_skipped_rows",
]

DASH = "—"


def format_number(value: float | None, percent: bool = False, signed: bool = False) -> str:
    if value is None:
        return DASH
    digits = 2 if percent else 3
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _escape(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = [
        "| " + " | ".join(_escape(h) for h in header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    lines += ["| " + " | ".join(_escape(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _run_text(cell: Cell, percent: bool) -> str:
    if cell.mean is None:
        # NOT_RUN, NOT_APPLICABLE, OTHER_MODEL or a model group's "not runnable with ..."
        text = cell.status if cell.status and cell.status != "undefined" else DASH
        if cell.table_run and text == NOT_RUN:
            return f"{text} (run {cell.table_run})"
        if cell.table_run and cell.filled_by:  # a model group's reason, from these runs
            return f"{text} (run {cell.table_run}: {', '.join(cell.filled_by)})"
        return text
    text = format_number(cell.mean, percent)
    if cell.table_run is not None:  # which of the table's runs filled it
        text += f" (run {cell.table_run}: {', '.join(cell.filled_by)})"
    if cell.n > 1:
        text += f" ± {format_number(cell.std, percent)} (n={cell.n})"
    missing = len(cell.run_values) - cell.n
    if missing and len(cell.run_values) > 1:
        text += f" [{missing} run(s) without it]"
    return text


def render_paper_table(table: FilledTable) -> str:
    spec = table.spec
    compared = table.compared
    header = [""]
    for column in spec.columns:
        header += [f"{column.name} paper", f"{column.name} run"]
        if compared:
            header.append(f"{column.name} Δ")
        if compared and spec.tolerance is not None:
            header.append(f"{column.name} within ±{spec.tolerance:g}")
    rows = []
    for row, cells in table.rows:
        line: list[str] = [row.name + (f" ({row.source})" if row.source else "")]
        for column in spec.columns:
            cell = cells[column.name]
            line += [
                format_number(cell.paper, spec.percent) if cell.paper is not None else NOT_PUBLISHED,
                _run_text(cell, spec.percent),
            ]
            if compared:
                line.append(format_number(cell.delta, spec.percent, signed=True))
            if compared and spec.tolerance is not None:
                line.append(
                    DASH if cell.within_tolerance is None else ("yes" if cell.within_tolerance else "no")
                )
        rows.append(line)
    parts = [f"### {spec.title}", "", f"Paper values: {spec.source}."]
    if spec.note:
        parts.append(f"{spec.note}")
    if table.outside_pipeline:
        names = ", ".join(f"`{s}`" for s in table.outside_pipeline)
        parts.append(f'Not in this run\'s pipeline (shown as "{NOT_RUN}"): {names}.')
    metrics = sorted({(c.stage, c.metric) for _, cells in table.rows for c in cells.values() if c.stage})
    stages = sorted({s for s, _ in metrics})
    parts.append(
        f"Run values: eval stage(s) {', '.join(f'`{s}`' for s in stages)}"
        + (" (percent)" if spec.percent else "")
        + ("; Δ = run − paper." if compared else "; not comparable with the paper's (see the top).")
    )
    parts += ["", markdown_table(header, rows), ""]
    return "\n".join(parts)


def render_runs(runs: Sequence[RunInfo]) -> str:
    rows = []
    for run in runs:
        git = run.manifest.get("git") or {}
        commit = (git.get("commit") or "")[:10] + (" (dirty)" if git.get("dirty") else "")
        completed = sum(1 for s in run.stages if s.status == "completed")
        rows.append(
            [
                run.run_name,
                f"`{run.path}`",
                run.manifest.get("profile", DASH),
                commit or DASH,
                f"{completed}/{len(run.stages)} completed",
            ]
        )
    return markdown_table(["run", "directory", "profile", "git commit", "stages"], rows)


def render_stages(runs: Sequence[RunInfo]) -> str:
    names: list[str] = []
    for run in runs:
        names += [s.name for s in run.stages if s.name not in names]
    header = ["stage", "kind"] + [run.run_name for run in runs]
    rows = []
    for name in names:
        kind = next((s.kind for run in runs for s in run.stages if s.name == name), "")
        cells = []
        for run in runs:
            stage = run.stage(name)
            if stage is None:
                cells.append(DASH)
            else:
                seconds = f" ({stage.seconds:.0f} s)" if stage.seconds is not None else ""
                # The report stage is still running while it writes this very table.
                status = (
                    "writing this report"
                    if stage.stage_kind is not None
                    and stage.stage_kind.writes_report
                    and stage.status == "running"
                    else stage.status
                )
                cells.append(status + seconds)
        rows.append([name, kind, *cells])
    return markdown_table(header, rows)


def render_eval_settings(run: RunInfo) -> str:
    rows = []
    for stage in run.eval_stages():
        metrics = run.metrics(stage.name)
        if metrics is None:
            rows.append([stage.name, stage.status] + [DASH] * 7)
            continue
        config = metrics.get("config") or {}
        sampling = config.get("sampling") or {}
        soft = config.get("soft_scoring") or {}
        counts = metrics.get("counts") or {}
        decoding = (
            "greedy"
            if not sampling.get("temperature")
            else f"T={sampling.get('temperature')}, top_p={sampling.get('top_p')}"
        )
        rows.append(
            [
                stage.name,
                config.get("backend", DASH),
                config.get("response_format", DASH),
                decoding,
                config.get("max_new_tokens", DASH),
                config.get("robustness") or "none",
                soft.get("position", "off") if soft and soft.get("enabled", True) else "off",
                f"{metrics.get('n_predictions')}/{metrics.get('n_images')}",
                counts.get("unparsable", DASH),
            ]
        )
    return markdown_table(
        [
            "eval stage",
            "backend",
            "response format",
            "decoding",
            "max new tokens",
            "robustness",
            "soft scoring",
            "predictions",
            "unparsable",
        ],
        rows,
    )


def render_skipped_rows(skipped: Sequence[tuple[RunInfo, str, dict[str, Any]]]) -> str:
    """The training rows each stage's trainer left out as too long, from (run, stage, summary)
    triples ('' when none)."""
    rows = []
    for run, stage, summary in skipped:
        total = summary.get("training_rows")
        left = f"{summary.get('rows')}" + (f" of {total}" if total is not None else "")
        validation = summary.get("validation")
        if validation:
            of = f" of {validation['of']}" if validation.get("of") is not None else ""
            left += f" (validation: {validation['rows']}{of})"
        trainer = summary.get("trainer", "ms-swift")
        limit = "data.max_prompt_length" if trainer == "verl" else "max_length"
        rows.append(
            [
                run.run_name,
                stage,
                trainer,
                left,
                f"{limit}={summary.get('max_length')}",
                summary.get("longest"),
            ]
        )
    if not rows:
        return ""
    table = markdown_table(
        ["run", "stage", "trainer", "rows left out", "limit", "longest row (tokens)"], rows
    )
    return (
        "A trainer leaves out a row longer than its limit without a word: ms-swift drops it or trains "
        "another row in its place (truncation_strategy delete), verl drops the prompt "
        "(data.filter_overlong_prompts). Each stage's `skipped_records.json` lists them; raise the "
        "limit to train on them.\n\n" + table
    )


def render_all_metrics(runs: Sequence[RunInfo], stage: str) -> str:
    keys: list[str] = []
    per_run = []
    for run in runs:
        values = (run.metrics(stage) or {}).get("values") or {}
        per_run.append(values)
        keys += [k for k in values if k not in keys]
    rows = []
    for key in keys:
        present = [float(v[key]) for v in per_run if v.get(key) is not None]
        mean, std = aggregate(present)
        text = format_number(mean)
        if len(present) > 1:
            text += f" ± {format_number(std)} (n={len(present)})"
        rows.append([f"`{key}`", text])
    return markdown_table(["metric", "value"], rows)


def render_reward_steps(stage_curves: Sequence[tuple[str, dict[str, dict[float, float]]]]) -> str:
    """Per GRPO stage, one row per step: the mean reward and the mean of each of its parts.

    ``stage_curves``: (stage name, its curves) with ``reward_parts/<part>`` keys
    (harness/report/training_logs.py); stages without them are left out ("" when none has them).
    """
    blocks = []
    for name, curves in stage_curves:
        parts = sorted(key for key in curves if key.startswith("reward_parts/"))
        if not parts:
            continue
        # the score first, then the parts in name order
        parts.sort(key=lambda key: (key != "reward_parts/score", key))
        steps = sorted({step for key in parts for step in curves[key]})
        header = ["step"] + ["reward" if k == "reward_parts/score" else k.split("/", 1)[1] for k in parts]
        rows = [[f"{step:g}", *(format_number(curves[k].get(step)) for k in parts)] for step in steps]
        blocks.append(f"`{name}` (mean over the step's completions)\n\n" + markdown_table(header, rows))
    return "\n\n".join(blocks)
