"""The report's options: which paper tables to fill, from which eval stage and metric, and the paper's
numbers (``conf/results/<paper>.yaml``, Hydra group ``results``).

A table is rows x columns. Each cell compares the paper's number with a metric of the run:

- the metric: the row's ``metrics[<column>]``, else the column's ``metric``, else the row's
  ``metric``; ``{key}`` in it is replaced by the row's ``key`` (default: its ``name``), so one
  column template serves every generator row (``accuracy/generator/{key}``);
- the eval stage whose ``metrics.json`` fills it: the column's ``stage``, else the row's, else the
  table's (default ``eval``); a stage the run does not have shows "not run" (e.g. the per-stage
  columns of FakeXplain Table 4 in a run without the staged variant);
- the paper's number: the row's ``paper[<column>]``; null = "not published";
- ``metrics: {<column>: null}`` on a row: the cell has no run value ("n/a", e.g. IoU of real images);
- ``model`` on a row: the paper's number belongs to that backbone (``model.name`` in the run's
  config.yaml); runs with another backbone do not fill the row ("other model").

- ``runs`` on a table: its named runs (harness/table.py; ``python -m harness table=<id>``), each
  ``{overrides: [Hydra overrides of the recipe], note}``; ``run`` on a column: the run that fills it
  (only run directories whose config has ``table_run: <run>`` do), the cell naming it.

``percent: true`` means the paper prints percentages: run values (fractions) are shown x100.
``tolerance`` (absolute, in the paper's units) adds a pass/fail column per cell.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.errors import ConfigError, Problem, did_you_mean
from common.parse import from_mapping

__all__ = [
    "ColumnSpec",
    "PanelSpec",
    "ReportConfig",
    "RowSpec",
    "TableRunSpec",
    "TableSpec",
    "parse_report_config",
]


@dataclass(frozen=True)
class ColumnSpec:
    name: str
    metric: str | None = None
    stage: str | None = None
    run: str | None = None  # the table run that fills this column (TableSpec.runs)


@dataclass(frozen=True)
class TableRunSpec:
    """One run of a table: the paper's recipe changed by Hydra overrides."""

    overrides: tuple[str, ...] = ()
    note: str | None = None


@dataclass(frozen=True)
class RowSpec:
    name: str
    key: str | None = None
    metric: str | None = None
    metrics: Mapping[str, str] = field(default_factory=dict)
    stage: str | None = None
    paper: Mapping[str, Any] = field(default_factory=dict)
    source: str | None = None
    model: str | None = None  # the backbone the paper's number belongs to (config model.name)


@dataclass(frozen=True)
class TableSpec:
    id: str
    title: str
    source: str
    columns: tuple[ColumnSpec, ...] = ()
    rows: tuple[RowSpec, ...] = ()
    stage: str = "eval"
    note: str | None = None
    percent: bool = False
    tolerance: float | None = None
    runs: Mapping[str, TableRunSpec] = field(default_factory=dict)


@dataclass(frozen=True)
class PanelSpec:
    """One panel of a training stage's row of curves: exact metric keys and/or regular expressions.

    ``changing``: draw a key only when its value changes over the stage's steps (the grounding
    weight: a linear schedule moves it; a constant weight is a config value, not a curve).
    """

    title: str
    keys: tuple[str, ...] = ()
    patterns: tuple[str, ...] = ()
    changing: bool = False


# The trainers' own key names: ms-swift 4.6 logging.jsonl (loss, token_acc; GRPO reward,
# rewards/<RewardClass>/mean; DPO rewards/accuracies), verl 0.9.1's metrics (actor/pg_loss,
# critic/score/mean, ...) and the project reward's parts (reward_parts/<part>, read from the
# ms-swift adapter's file: harness/report/training_logs.py). Every stage gets its own row and step
# axis, so an SFT loss and a GRPO loss never share an axis.
DEFAULT_PANELS = (
    PanelSpec("Loss", keys=("loss", "actor/pg_loss", "actor/kl_loss")),
    PanelSpec(
        "Reward",
        keys=("reward", "critic/score/mean", "critic/rewards/mean"),
        patterns=(r"rewards/[^/]+/mean",),
    ),
    PanelSpec("Reward parts", patterns=(r"reward_parts/(?!(?:score|acc|w_iou)$).+",)),
    PanelSpec("Grounding weight", keys=("reward_parts/w_iou",), changing=True),
    PanelSpec("Accuracy", keys=("reward_parts/acc",), patterns=(r"(?!.*/std$)(?!reward_parts/).*acc.*",)),
)


@dataclass(frozen=True)
class ReportConfig:
    paper: str = ""
    title: str = ""
    note: str | None = None
    tables: tuple[TableSpec, ...] = ()
    curves: tuple[PanelSpec, ...] = DEFAULT_PANELS
    roc: bool = True
    roc_max_groups: int = 8  # per-generator ROC curves drawn besides the overall one


def parse_report_config(data: Mapping[str, Any] | None) -> ReportConfig:
    """Build a ReportConfig; unknown keys, unknown paper columns and non-numbers are all reported."""
    problems: list[Problem] = []
    config = from_mapping(ReportConfig, data or {}, "results", problems)
    if not problems:
        problems += _check_tables(config)
    if problems:
        raise ConfigError(problems)
    return config


def _check_tables(config: ReportConfig) -> list[Problem]:
    problems: list[Problem] = []
    seen: set[str] = set()
    for t_index, table in enumerate(config.tables):
        where = f"results.tables[{t_index}]({table.id})"
        if table.id in seen:
            problems.append(Problem(where, f"duplicate table id {table.id!r}"))
        seen.add(table.id)
        names = [c.name for c in table.columns]
        if not names:
            problems.append(Problem(where, "a table needs columns"))
        problems += _check_runs(table, where)
        for r_index, row in enumerate(table.rows):
            row_where = f"{where}.rows[{r_index}]({row.name})"
            for column, value in row.paper.items():
                if column not in names:
                    problems.append(Problem(f"{row_where}.paper.{column}", _no_column(column, names)))
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
                    problems.append(
                        Problem(f"{row_where}.paper.{column}", f"must be a number or null, got {value!r}")
                    )
            for column in row.metrics:
                if column not in names:
                    problems.append(Problem(f"{row_where}.metrics.{column}", _no_column(column, names)))
            for column in table.columns:
                if column.name in row.metrics and not row.metrics[column.name]:
                    continue  # explicitly without a run value
                if not (row.metrics.get(column.name) or column.metric or row.metric):
                    problems.append(
                        Problem(
                            row_where,
                            f"no metric for column {column.name!r}: set the column's "
                            f"metric, the row's metric or the row's metrics.{column.name}",
                        )
                    )
    return problems


def _check_runs(table: TableSpec, where: str) -> list[Problem]:
    """Each run is a TableRunSpec; each column's `run` names one of them."""
    problems: list[Problem] = []
    runs: dict[str, TableRunSpec] = {}
    for name, value in table.runs.items():
        run = from_mapping(TableRunSpec, value, f"{where}.runs.{name}", problems)
        if run is not None:
            runs[str(name)] = run
    for c_index, column in enumerate(table.columns):
        if column.run is not None and column.run not in table.runs:
            known = ", ".join(table.runs) or "none (the table has no runs:)"
            problems.append(
                Problem(
                    f"{where}.columns[{c_index}]({column.name}).run",
                    f"no run {column.run!r}{did_you_mean(column.run, list(table.runs))}; runs: {known}",
                )
            )
    if not problems:
        object.__setattr__(table, "runs", runs)  # typed once checked (frozen dataclass)
    return problems


def _no_column(column: str, names: list[str]) -> str:
    return f"no such column{did_you_mean(column, names)}; columns: {', '.join(names)}"
