"""`-m` multiruns: one full pipeline per combination of swept values, then one report.

FakeXplain's numbers are four-fold cross-validation means, so
`python -m harness paper=fakexplain -m data.fold=0,1,2,3` runs four pipelines (run names
`<base>__data.fold-<k>`) and writes one report with the mean and spread across them to
`runs/<paper>/<base>__sweep/`. On Slurm (submit=true) each member is an independent job chain
and the combined report is one more job that waits for the last stage of every chain.
"""

from __future__ import annotations

import itertools
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, Problem
from harness.config import VALUE_RULES, Invocation
from harness.invoke import execute, load_config
from harness.jobs import generated_run_name
from harness.override_grammar import grammar_problems
from harness.render.values import hydra_value

if TYPE_CHECKING:  # launch/ is imported when a report is queued, not to compose a sweep
    from launch.slurm import SlurmLauncher


def expand_sweep(overrides: Sequence[str]) -> list[list[str]]:
    """Hydra sweep syntax (`k=a,b`, `k=range(0,4)`, `k=choice(a,b)`) -> one override list each."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    try:
        parsed = parser.parse_overrides(list(overrides))
    except Exception as exc:  # Hydra's grammar errors
        problems = grammar_problems(overrides, sweeps_allowed=True, value_rules=VALUE_RULES)
        raise ConfigError(problems or Problem("", f"cannot parse the overrides: {exc}")) from None
    axes: list[list[str]] = []
    for original, override in zip(overrides, parsed):
        if override.is_sweep_override():
            key = override.get_key_element()
            axes.append([f"{key}={value}" for value in override.sweep_string_iterator()])
        else:
            axes.append([original])
    return [list(combo) for combo in itertools.product(*axes)]


def member_name(base: str, combo: Sequence[str], swept_keys: Sequence[str]) -> str:
    parts = []
    for item in combo:
        key, _, value = item.partition("=")
        if key in swept_keys:
            parts.append(f"{key.lstrip('+~')}-{value}")
    suffix = "__".join(re.sub(r"[^A-Za-z0-9_.-]", "_", p) for p in parts)
    return f"{base}__{suffix}" if suffix else base


def run_sweep(inv: Invocation) -> int:
    combos = expand_sweep(inv.overrides)
    if len(combos) < 2:
        raise ConfigError(Problem("-m", "a multirun needs a swept value, e.g. -m data.fold=0,1,2,3"))
    swept = [c.partition("=")[0] for c in inv.overrides if _is_sweep(c)]
    base_cfg = load_config(Invocation(overrides=combos[0]))
    if base_cfg.get("table") is not None or base_cfg.get("table_runs") is not None:
        # each member would have run the paper's recipe, the table left out without a word
        example = next((c for c in combos[0] if c.partition("=")[0] in swept), "data.fold=0")
        raise ConfigError(
            Problem(
                "-m",
                "a sweep runs the recipe once per value and does not run tables; run the table once per "
                f"value instead (table={_typed_table(base_cfg.get('table'))} {example}, ...)",
            )
        )
    base = str(base_cfg.get("run_name") or generated_run_name(base_cfg))
    names = [member_name(base, combo, swept) for combo in combos]
    _check_distinct(names, combos, swept)
    run_dirs: list[Path] = []
    code = 0
    for combo, name in zip(combos, names):
        overrides = [o for o in combo if not o.startswith("run_name=")] + [f"run_name={name}"]
        print(f"=== {name} ===", flush=True)
        cfg = load_config(Invocation(overrides=overrides))
        member_code = execute(cfg, Invocation(overrides=overrides, stage_subset=inv.stage_subset))
        run_dirs.append(Path(str(cfg.paths.runs)) / str(cfg.paper.name) / name)
        code = code or member_code
        if member_code != 0:
            print(f"{name} failed (exit {member_code}); the remaining runs are skipped", file=sys.stderr)
            return member_code
    if base_cfg.get("dry_run") or code != 0:
        return code
    return report_across(base_cfg, run_dirs[0].parent / f"{base}__sweep", run_dirs)


def _typed_table(value: Any) -> str:
    """`table` as typed on the command line (`[table4,table6]`, not a Python list)."""
    return hydra_value(OmegaConf.to_container(value)) if OmegaConf.is_list(value) else str(value)


def _check_distinct(names: Sequence[str], combos: Sequence[Sequence[str]], swept: Sequence[str]) -> None:
    """Two members with one run name are one run directory: the second found the first's stages
    completed and the report across counted that run twice (`-m data.fold=0,0`: a mean over two
    copies of fold 0)."""
    first: dict[str, Sequence[str]] = {}
    problems = []
    for name, combo in zip(names, combos):
        if name in first:
            shown = [" ".join(o for o in c if o.partition("=")[0] in swept) for c in (first[name], combo)]
            problems.append(
                Problem("-m", f"{shown[0]} and {shown[1]} are the same run {name}; sweep each value once")
            )
        first.setdefault(name, combo)
    if problems:
        raise ConfigError(problems)


def report_across(
    cfg: DictConfig,
    report_dir: Path,
    run_dirs: list[Path],
    config: dict[str, Any] | None = None,
    wait: bool = False,
) -> int:
    """One more job: the report across the runs, after the last queued job of every member.

    `config`: the results config to fill (default: the first run's). The cluster's launcher runs
    it like a stage: here and now when the members ran here, or queued on Slurm after each
    member's chain, waited for only with `wait` (a table's wait=true: harness/table.py).
    """
    from launch import Job, make_launcher
    from launch.slurm import SlurmLauncher

    argv = ["python3", "-m", "harness.report", "--output-dir", str(report_dir)]
    for run_dir in run_dirs:
        argv += ["--run-dir", str(run_dir)]
    if config is not None:  # else the results config of the first run
        argv += ["--config-json", json.dumps(config)]
    after = [job_id for job_id in map(_last_queued_job, run_dirs) if job_id is not None]
    job = Job(
        name="sweep_report",
        argv=tuple(argv),
        mode="single",
        workdir=str(cfg.paths.repo),
        log_dir=str(report_dir / "logs"),
    )
    launcher = make_launcher(
        OmegaConf.to_container(cfg.cluster, resolve=True), hold=not cfg.get("submit"), detach=not wait
    )
    report_dir.mkdir(parents=True, exist_ok=True)
    print(f"=== report across {len(run_dirs)} runs: {report_dir / 'report.md'} ===", flush=True)
    ids = launcher.submit([job], report_dir / "slurm", after=after)
    if not ids:
        # the script written above holds the command (its --config-json is the whole report config)
        print("not submitted (submit=false); submit with submit=true")
        return 0
    if wait and isinstance(launcher, SlurmLauncher):
        return _watch_all(launcher, run_dirs, (job.name, ids[0], job.log_file(0)))
    state = launcher.wait(ids).stages[0]
    if not state.terminal:
        waits = f" (after {', '.join(after)})" if after else ""
        print(f"submitted the report across {len(run_dirs)} runs: job {ids[0]}{waits}")
        return 0
    if state.ok:
        return 0
    print(state.describe(), file=sys.stderr)
    return 1


def _watch_all(launcher: SlurmLauncher, run_dirs: list[Path], report: tuple[str, str, str]) -> int:
    """Wait for every job the runs queued and the report after them; on a failure, name the
    stage that failed (its run, job and log), not only the report that never started."""
    jobs = [job for run_dir in run_dirs for job in _queued_jobs(run_dir)]
    result = launcher.watch([*jobs, report])
    if result.ok:
        return 0
    failed = result.failed
    lines = [failed.describe() if failed is not None else result.describe()]
    never = [s.stage for s in result.not_run]
    if never:
        lines.append(f"never started ({len(never)}): {', '.join(never)}")
    lines.append("the same command again reruns what failed or never ran, reusing what completed")
    print("\n".join(lines), file=sys.stderr)
    return 1


def _queued_jobs(run_dir: Path) -> list[tuple[str, str, str]]:
    """(<run>/<stage>, job id, log) of the jobs a run queued in its last submission."""
    manifest = run_dir / "manifest.json"
    if not manifest.is_file():
        return []
    data = json.loads(manifest.read_text())
    submission = data.get("submission") or {}
    logs = {str(s.get("name")): str(s.get("log") or "") for s in data.get("stages") or []}
    names, ids = submission.get("stages") or [], submission.get("job_ids") or []
    return [(f"{run_dir.name}/{name}", str(job_id), logs.get(name, "")) for name, job_id in zip(names, ids)]


def _last_queued_job(run_dir: Path) -> str | None:
    """The last job a member left queued with a scheduler (its runner's `submission` record)."""
    jobs = _queued_jobs(run_dir)
    return jobs[-1][1] if jobs else None


def _is_sweep(override: str) -> bool:
    from hydra.core.override_parser.overrides_parser import OverridesParser

    return OverridesParser.create().parse_override(override).is_sweep_override()
