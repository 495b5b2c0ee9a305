"""Filling the paper tables: each cell is the paper's number, the run's (mean and spread over runs)
and their difference (none for a smoke run, whose numbers are not comparable with the paper's).

Several run directories are the folds of one cross-validated experiment (FakeXplain 002 §5.2:
four-fold cross-validation): a cell's run value is the mean over the runs that have it, with the
sample standard deviation (n - 1) and the per-run values kept in ``report.json``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.report.config import ReportConfig, RowSpec, TableSpec
from harness.report.run_dir import RunInfo

__all__ = ["Cell", "FilledTable", "aggregate", "fill_tables", "metric_value", "table_as_dict"]

NOT_RUN = "not run"
NOT_PUBLISHED = "not published"
NOT_APPLICABLE = "n/a"
OTHER_MODEL = "other model"


@dataclass
class Cell:
    metric: str
    stage: str
    paper: float | None
    run_values: list[float | None]  # one per run, in the paper's units; None = the run has no such value
    # "", NOT_RUN, NOT_APPLICABLE, OTHER_MODEL, "undefined" (metric absent/undefined), or the model
    # group's summary of why the stage cannot run (model.unsupported_kinds)
    status: str = ""
    mean: float | None = None
    std: float | None = None
    n: int = 0
    delta: float | None = None
    within_tolerance: bool | None = None
    table_run: str | None = None  # the table run the column reads (config table_run of the run dirs)
    filled_by: list[str] = field(default_factory=list)  # the run directories whose values it holds


@dataclass
class FilledTable:
    spec: TableSpec
    rows: list[tuple[RowSpec, dict[str, Cell]]] = field(default_factory=list)
    compared: bool = True  # the run's values are set against the paper's (Δ); False for a smoke run
    outside_pipeline: list[str] = field(default_factory=list)  # stages read that no run's pipeline has


def aggregate(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None for fewer than two values)."""
    if not values:
        return None, None
    mean = math.fsum(values) / len(values)
    if len(values) < 2:
        return mean, None
    variance = math.fsum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance)


def metric_value(run: RunInfo, stage: str, metric: str) -> tuple[float | None, str]:
    """(value, status): status "" when found, NOT_RUN when the stage has no metrics (or, when the
    run's model group cannot run the stage or one it reads, the group's summary, e.g. "not runnable
    with verl 0.9.1"), else "undefined"."""
    metrics = run.metrics(stage)
    if metrics is None:
        from harness.validate.model_support import unrunnable_summary

        return None, unrunnable_summary(run.config, stage) or NOT_RUN
    value = (metrics.get("values") or {}).get(metric)
    if value is None:
        return None, "undefined"
    return float(value), ""


def _cell(
    table: TableSpec,
    row: RowSpec,
    column_name: str,
    column_metric: str | None,
    column_stage: str | None,
    runs: Sequence[RunInfo],
    compare: bool = True,
    column_run: str | None = None,
) -> Cell:
    if column_name in row.metrics and not row.metrics[column_name]:
        # explicitly no metric (e.g. IoU of real images): only the paper's entry is shown
        paper = row.paper.get(column_name)
        return Cell(
            metric="",
            stage="",
            paper=float(paper) if paper is not None else None,
            run_values=[],
            status=NOT_APPLICABLE,
        )
    template = row.metrics.get(column_name) or column_metric or row.metric or ""
    metric = template.replace("{key}", row.key if row.key is not None else row.name)
    stage = column_stage or row.stage or table.stage
    paper = row.paper.get(column_name)
    if column_run is not None:  # the column belongs to one run of the table (harness/table.py)
        runs = [run for run in runs if run.table_run == column_run]
    if row.model is not None:
        runs = [run for run in runs if run.model_name in (None, row.model)]
        if not runs:
            return Cell(
                metric=metric,
                stage=stage,
                paper=float(paper) if paper is not None else None,
                run_values=[],
                status=OTHER_MODEL,
            )
    found = [metric_value(run, stage, metric) for run in runs]
    scale = 100.0 if table.percent else 1.0  # run metrics are fractions; such a paper prints percent
    values = [v * scale if v is not None else None for v, _ in found]
    present = [v for v in values if v is not None]
    cell = Cell(
        metric=metric,
        stage=stage,
        paper=float(paper) if paper is not None else None,
        run_values=values,
        table_run=column_run,
        filled_by=[run.run_name for run, v in zip(runs, values) if v is not None],
    )
    if present:
        mean, std = aggregate(present)
        cell.mean, cell.std, cell.n = mean, std, len(present)
        if compare and cell.paper is not None and mean is not None:
            cell.delta = mean - cell.paper
            if table.tolerance is not None:
                cell.within_tolerance = abs(cell.delta) <= table.tolerance
    else:
        statuses = [s for _, s in found]
        # a model group's reason (not runnable) says more than "not run"; a missing metric of a
        # run that ran the stage is "undefined"
        reasons = [s for s in statuses if s not in (NOT_RUN, "undefined")]
        cell.status = (
            reasons[0] if reasons else NOT_RUN if all(s == NOT_RUN for s in statuses) else "undefined"
        )
        if reasons:  # the runs that say so, as a filled cell names the runs that filled it
            cell.filled_by = [run.run_name for run, (_, s) in zip(runs, found) if s == reasons[0]]
        if column_run is not None and not runs:
            cell.status = NOT_RUN  # no run directory of that table run
    return cell


def fill_tables(config: ReportConfig, runs: Sequence[RunInfo], compare: bool = True) -> list[FilledTable]:
    """The tables with the runs' values; `compare=False` (a smoke run) computes no differences."""
    pipelines = {name for run in runs for name in run.pipeline}
    filled = []
    for table in config.tables:
        result = FilledTable(spec=table, compared=compare)
        for row in table.rows:
            cells = {
                c.name: _cell(table, row, c.name, c.metric, c.stage, runs, compare, c.run)
                for c in table.columns
            }
            result.rows.append((row, cells))
        read = [c.stage for _, cells in result.rows for c in cells.values() if c.stage]
        result.outside_pipeline = [s for s in dict.fromkeys(read) if s not in pipelines]
        filled.append(result)
    return filled


def table_as_dict(table: FilledTable) -> dict[str, Any]:
    spec = table.spec
    return {
        "id": spec.id,
        "title": spec.title,
        "source": spec.source,
        "note": spec.note,
        "percent": spec.percent,
        "compared_with_paper": table.compared,
        "stages_outside_pipeline": table.outside_pipeline,
        "columns": [c.name for c in spec.columns],
        "rows": [
            {
                "name": row.name,
                "source": row.source,
                "cells": {name: cell.__dict__ for name, cell in cells.items()},
            }
            for row, cells in table.rows
        ],
    }
