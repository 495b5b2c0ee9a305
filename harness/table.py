"""`python -m harness paper=<name> table=<id>`: every run of a paper table, then one report.

A table of a paper's results config (conf/results/<paper>.yaml) may name its runs: each is the
paper's recipe changed by Hydra overrides (data preparation options, reward options, the variant,
`run_edit` to run only the stages a column needs), and each column says which run fills it. The
runs go to `runs/<paper>/<base>__<run>`; the report across them to `runs/<paper>/<base>__<table>/`,
each cell naming the run that filled it. The runs share every stage whose fingerprint is the same
(`shared_stages`, harness/stage_store.py): the first run that needs it runs it, the others link
to it.

`table=all` runs every table that has runs, `table=[table4,table6]` those tables (a run name
two tables share is run once; the report is `<base>__table4-table6`). The dry run lists the runs,
the stages each runs and those it reuses (from which run of the table, or published by an earlier
invocation), then every run's own dry run; each run's delta composes and validates before any run
starts, and a real run first checks every run's inputs (a missing dataset or out-of-distribution
set stops the table before its first stage).

On Slurm (cluster=slurm submit=true) a table is one submission: every run's chain is queued at
once, without waiting for the one before; a shared stage is submitted by the first run that needs
it and the others' chains wait for that job (afterok; the job publishes the entry, see
harness/stage_store.py); the report across the runs is queued last, after every chain. With
wait=true the table waits for that report job, which starts only when every chain succeeded.
With submit=false the scripts of that submission are written and nothing is queued: a shared
stage's script is in the first run that needs it, and the others say whose it is.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, Problem, did_you_mean
from harness.config import Invocation, override_key
from harness.invoke import execute, load_config
from harness.jobs import generated_run_name
from harness.plan import Plan, build_plan, run_directory
from harness.report.config import TableSpec, parse_report_config
from harness.sweep import report_across
from launch.config import SCHEDULERS

__all__ = ["TableRun", "asked_tables", "run_table", "table_runs"]

ALL = "all"
# Keys the table sets on each run's command line: the user's table, table_runs and run_name are
# read by the table itself; a user's table_run or run_edit is an error (_selected_runs).
_OWN_KEYS = ("table", "table_run", "run_name", "run_edit", "table_runs")


@dataclass(frozen=True)
class TableRun:
    name: str  # the run's name in its table(s): what a column's `run` names
    tables: tuple[str, ...]
    overrides: tuple[str, ...]  # the run's delta of the recipe
    note: str | None = None


def tables_with_runs(cfg: DictConfig) -> list[TableSpec]:
    results = cfg.get("results")
    if results is None:
        return []
    config = parse_report_config(OmegaConf.to_container(results, resolve=True))  # type: ignore[arg-type]
    return [t for t in config.tables if t.runs]


def asked_tables(value: Any) -> list[str]:
    """The ids `table=` asks for: one id, `all`, or a list of ids (`table=[table4,table6]`), each once."""
    if OmegaConf.is_list(value) or isinstance(value, list | tuple):
        return list(dict.fromkeys(str(v) for v in value))
    return [str(value)]


def table_label(value: Any) -> str:
    """How the tables asked for are named in messages and in the report's folder (`table4-table6`)."""
    return "-".join(asked_tables(value))


def table_runs(cfg: DictConfig, table: str | Sequence[str]) -> list[TableRun]:
    """The runs of `table` (one id, `all` for every table, or a list of ids); an unknown table
    lists the known ones."""
    tables = tables_with_runs(cfg)
    ids = [t.id for t in tables]
    asked = asked_tables(table)
    paper = OmegaConf.select(cfg, "paper.name", default="?")
    known = ", ".join(ids) if ids else "none: no table of its results config has runs"
    if asked == [ALL]:
        selected = tables
    elif not asked or (ALL in asked and len(asked) > 1):
        what = "names no table" if not asked else f"{ALL} is every table: give {ALL} alone or a list of ids"
        raise ConfigError(Problem("table", f"{what}; tables of paper {paper}: {known}"))
    else:
        selected = [t for a in asked for t in tables if t.id == a]  # in the order asked
    unknown = [a for a in asked if a != ALL and a not in ids]
    if not selected or unknown:
        raise ConfigError(
            [
                Problem(
                    "table",
                    f"paper {paper} has no table {a!r} with runs{did_you_mean(a, ids)}; tables: {known}",
                )
                for a in unknown or asked
            ]
        )
    runs: dict[str, TableRun] = {}
    for spec in selected:
        for name, run in spec.runs.items():
            overrides = tuple(run.overrides)  # type: ignore[attr-defined]
            _check_delta(spec.id, name, overrides)
            seen = runs.get(name)
            if seen is not None and seen.overrides != overrides:
                raise ConfigError(
                    Problem(
                        f"results.tables({spec.id}).runs.{name}",
                        f"table {seen.tables[0]} has a run {name!r} with other overrides; rename one",
                    )
                )
            tables_of = (*seen.tables, spec.id) if seen else (spec.id,)
            runs[name] = TableRun(name, tables_of, overrides, run.note)  # type: ignore[attr-defined]
    return list(runs.values())


def _check_delta(table: str, run: str, overrides: tuple[str, ...]) -> None:
    for override in overrides:
        key = override_key(override)
        if key in _OWN_KEYS[:3]:
            raise ConfigError(
                Problem(f"results.tables({table}).runs.{run}.overrides", f"{key} is set by the table itself")
            )


def _selected_runs(inv: Invocation, cfg: DictConfig, table: str, names: list[str]) -> list[str]:
    """The runs `table_runs` names (all when unset); what the table sets itself is the user's error,
    not silently replaced."""
    problems = [
        Problem(
            key,
            f"the table sets {key} for each of its runs (results.tables of conf/results/"
            f"{OmegaConf.select(cfg, 'paper.name', default='<paper>')}.yaml); drop it"
            + (
                "; to run some of the table's runs, set table_runs=[<run>, ...]" if key == "table_run" else ""
            ),
        )
        for key in dict.fromkeys(override_key(o) for o in inv.overrides)
        if key in ("table_run", "run_edit")
    ]
    only = cfg.get("table_runs")
    if only is None:
        given = names
    else:
        # `table_runs=best` (no brackets) is one run, not the letters of its name
        given = [str(n) for n in only] if OmegaConf.is_list(only) else [str(only)]
        if not given:
            problems.append(
                Problem(
                    "table_runs",
                    f"names no run; runs of table {table}: {', '.join(names)} (unset it for all)",
                )
            )
        problems += [
            Problem(
                "table_runs",
                f"table {table} has no run {n!r}{did_you_mean(n, names)}; runs: {', '.join(names)}",
            )
            for n in given
            if n not in names
        ]
    if problems:
        raise ConfigError(problems)
    return given


def run_table(inv: Invocation, cfg: DictConfig) -> int:
    """Compose and validate every run, then run them (or print their dry runs), then the report."""
    if inv.multirun:
        raise ConfigError(Problem("table", "a table is its own set of runs: use it without -m"))
    table = table_label(cfg.table)
    runs = table_runs(cfg, asked_tables(cfg.table))
    selected = _selected_runs(inv, cfg, table, [r.name for r in runs])
    runs = [r for r in runs if r.name in selected]
    base = str(cfg.get("run_name") or generated_run_name(cfg))
    user = [o for o in inv.overrides if override_key(o) not in _OWN_KEYS]
    # On a scheduler every run's chain is queued without waiting: the table waits (wait=true) for
    # the report, queued after all of them.
    scheduled = str(cfg.cluster.launcher) in SCHEDULERS
    queue_only = ["wait=false"] if scheduled else []
    members: list[tuple[TableRun, str, list[str], DictConfig, Plan]] = []
    for run in runs:
        name = f"{base}__{run.name}"
        overrides = [
            "shared_stages=true", *user, *run.overrides, *queue_only, f"run_name={name}", f"table_run={run.name}"
        ]  # fmt: skip
        try:
            # Composed without its run_name, set afterwards: a composition is cached by its command
            # line, and a generated base name (a timestamp) made every run's key new on every call
            # (table=all composed 42 configs with Hydra, ~0.8 s each, in each dry run).
            composed = [o for o in overrides if override_key(o) != "run_name"]
            member_cfg = load_config(Invocation(overrides=composed), out=_Quiet())
            member_cfg.run_name = name
            # planned as it will be launched (its fingerprints are the shared entries' names); a
            # bad run_edit or stage fails here, with the run named
            plan = build_plan(member_cfg, name, launch=True)
        except ConfigError as exc:
            where = f"table {table}, run {run.name} ({' '.join(run.overrides)})"
            raise ConfigError([Problem(p.key, f"{p.message} [{where}]") for p in exc.problems]) from None
        members.append((run, name, overrides, member_cfg, plan))
    _check_stage_names(members, table, inv.stage_subset)
    if not cfg.get("dry_run"):
        _check_before_the_first_run(members, table, inv.stage_subset)
    out = sys.stdout
    print(
        f"# table {table}: {len(members)} run{'s' if len(members) != 1 else ''} of paper {cfg.paper.name} "
        f"(run names {base}__<run>)"
        + (f"; only stages {', '.join(inv.stage_subset)}" if inv.stage_subset else ""),
        file=out,
    )
    if scheduled and cfg.get("submit"):
        print(
            "# cluster=slurm: one submission: every run's chain is queued at once, a shared stage by "
            "the first run that needs it (the others' chains wait for its job), the report after all",
            file=out,
        )
    elif scheduled:
        print(
            "# cluster=slurm submit=false: every run's scripts are written and none is submitted, a "
            "shared stage's by the first run that needs it, as submit=true would submit them",
            file=out,
        )
    producers: dict[Path, str] = {}  # shared entry -> the run of this table that makes it
    for run, _, _, member_cfg, plan in members:
        print(
            f"# run {run.name} ({', '.join(run.tables)}): {' '.join(run.overrides) or '(the recipe)'}",
            file=out,
        )
        runs_here, reused = _sharing(member_cfg, plan, run.name, producers, inv.stage_subset)
        print(f"#   stages: {', '.join(runs_here) or 'none'}", file=out)
        if reused:
            print(f"#   reuses: {', '.join(reused)}", file=out)
    code = 0
    run_dirs: list[Path] = []
    for _run, name, overrides, member_cfg, plan in members:
        print(f"=== {name} ===", flush=True)
        # A run plans again when it starts: the runs before it made files its planning may read.
        member_code = execute(
            member_cfg,
            Invocation(overrides=overrides, stage_subset=inv.stage_subset),
            launch_plan=plan if cfg.get("dry_run") else None,
        )
        run_dirs.append(run_directory(member_cfg, name))
        code = code or member_code
        if member_code != 0 and not cfg.get("dry_run"):
            print(f"{name} failed (exit {member_code}); the remaining runs are skipped", file=sys.stderr)
            return member_code
    if cfg.get("dry_run") or code != 0:
        return code
    # The report fills the table(s) run here only: another table's columns would mix the runs.
    chosen = {t for r in runs for t in r.tables}
    results = OmegaConf.to_container(cfg.results, resolve=True)
    assert isinstance(results, dict)
    results["tables"] = [t for t in results.get("tables") or [] if t.get("id") in chosen]
    wait = scheduled and bool(cfg.get("wait"))
    return report_across(cfg, run_dirs[0].parent / f"{base}__{table}", run_dirs, results, wait=wait)


def _check_stage_names(
    members: list[tuple[TableRun, str, list[str], DictConfig, Plan]], table: str, subset: list[str] | None
) -> None:
    """Every run has every stage `stages=[...]` and `from_stage` name: else the runs before the
    one without it would run, and then the table would stop."""
    lacking: dict[tuple[str, str], list[str]] = {}
    known: list[str] = []
    for run, _, _, member_cfg, plan in members:
        names = [s.name for s in plan.stages]
        known += [n for n in names if n not in known]
        asked = [("stages", str(n)) for n in subset or []]
        if member_cfg.get("from_stage") is not None:
            asked.append(("from_stage", str(member_cfg.from_stage)))
        for key, name in asked:
            if name not in names:
                lacking.setdefault((key, name), []).append(run.name)
    if lacking:
        raise ConfigError(
            [
                Problem(
                    key,
                    f"no stage {name!r} in the pipeline of run{'s' if len(runs) > 1 else ''} {', '.join(runs)} "
                    f"of table {table}{did_you_mean(name, known) if name not in known else ''}; choose runs "
                    f"that have it with table_runs=[...], or leave it out of {key}",
                )
                for (key, name), runs in lacking.items()
            ]
        )


def _check_before_the_first_run(
    members: list[tuple[TableRun, str, list[str], DictConfig, Plan]], table: str, subset: list[str] | None
) -> None:
    """Every run's missing inputs (an out-of-distribution set, the dataset) and evaluations that
    cannot read what their model learns to write, before the first run starts: a table's last run
    must not fail its own validation after the others trained. The same problem in several runs is
    one line naming them."""
    from harness.validate import missing_inputs
    from harness.validate.answer_format import answer_format_problems

    found: dict[tuple[str, str], list[str]] = {}
    for run, _, _, _, plan in members:
        # the launch plan names the run's copy of a reward file, not there yet: the plan as printed
        checked = plan.as_printed()
        selected = [s for s in checked.stages if subset is None or s.name in subset]
        for problem in missing_inputs(checked, subset) + answer_format_problems(checked, selected):
            found.setdefault((problem.key, problem.message), []).append(run.name)
    if found:
        raise ConfigError(
            [
                Problem(key, f"{message} [table {table}, runs: {', '.join(runs)}]")
                for (key, message), runs in found.items()
            ]
        )


def _sharing(
    cfg: DictConfig,
    plan: Plan,
    table_run: str,
    producers: dict[Path, str],
    subset: list[str] | None = None,
) -> tuple[list[str], list[str]]:
    """(the stages the run runs, those it reuses and from where) with shared stages
    (harness.stage_store): an entry already published, or one an earlier run of the table makes.
    With a stage subset (`stages=[...]`) only those stages run, so only they are listed."""
    from harness.runner import stage_fingerprint
    from harness.stage_store import entry_for, shareable, sharing_enabled

    shared = sharing_enabled(cfg)
    runs_here: list[str] = []
    reused: list[str] = []
    for planned in plan.stages:
        if subset is not None and planned.name not in subset:
            continue
        if planned.skip_reason:
            runs_here.append(f"{planned.name} (rendered only: profile {plan.profile})")
            continue
        if not shared or not shareable(planned.stage_kind):
            runs_here.append(planned.name)
            continue
        entry = entry_for(plan.run_dir, planned.name, stage_fingerprint(plan, planned, portable=True))
        if entry.published is not None:
            reused.append(f"{planned.name} (published {entry.path.name})")
        elif entry.path in producers:
            reused.append(f"{planned.name} (run {producers[entry.path]})")
        else:
            producers[entry.path] = table_run
            runs_here.append(planned.name)
    return runs_here, reused


class _Quiet:
    """Swallows load_config's notices (the table prints the profile once, in its own header)."""

    def write(self, text: str) -> int:
        return len(text)
