"""One invocation of the harness: compose its config, plan, validate, then print or run.

`harness.cli` (the command line) and `harness.sweep` (one invocation per swept value) both call
`load_config` and `execute`; neither imports the other.
"""

from __future__ import annotations

import dataclasses
import io
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, HarnessError, Problem, did_you_mean, print_problems
from common.gpu_env import gpu_available
from harness.config import Invocation, choice, compose
from harness.jobs import generated_run_name
from harness.plan import Plan, PlannedStage, build_plan
from harness.stage_store import SHARED_DIR

if TYPE_CHECKING:
    from harness.runner import Decision


def load_config(inv: Invocation, out: TextIO | None = None) -> DictConfig:
    """Compose the config; pick the smoke profile on a GPU-less local machine; as_published."""
    notice = io.StringIO()
    overrides = _auto_profile(list(inv.overrides), notice)
    cfg = compose(overrides)
    # Only once the config composed: an unknown paper's error comes first and alone, not after
    # a "No GPU found" line that repeats the typo in its suggested command.
    (out or sys.stderr).write(notice.getvalue())
    if cfg.get("as_published"):
        published = OmegaConf.select(cfg, "published.overrides")
        if published is None:
            raise ConfigError(
                Problem(
                    "as_published", f"paper '{cfg.paper.name}' publishes no commands to reproduce verbatim"
                )
            )
        # The seed's values first, the user's overrides after them so they still win.
        cfg = compose([*[str(o) for o in published], *overrides])
    return cfg


def _auto_profile(overrides: list[str], out: TextIO) -> list[str]:
    """`make reproduce` on a local machine without a GPU runs the smoke profile, and says so."""
    if choice(overrides, "profile") is not None:
        return overrides
    cluster = choice(overrides, "cluster") or "local"
    if cluster != "local" or gpu_available():
        return overrides
    paper = choice(overrides, "paper") or "<paper>"
    print(
        f"No GPU found: running the CPU smoke profile (tiny model, synthetic data). "
        f"For the full recipe: make reproduce PAPER={paper} PROFILE=full",
        file=out,
    )
    return [*overrides, "profile=smoke"]


def execute(
    cfg: DictConfig, inv: Invocation, out: TextIO | None = None, launch_plan: Plan | None = None
) -> int:
    """Plan and validate `cfg`; print the commands (dry run) or run them. Returns the exit code.

    `launch_plan`: `build_plan(cfg, launch=True)` when the caller has it already (a table plans
    every run to find what they share); a dry run prints its `as_printed()` twin.
    """
    out = out or sys.stdout
    dry_run = bool(cfg.get("dry_run"))
    preflight = bool(cfg.get("preflight"))
    # The cluster settings first: planning splits batches over cluster.nnodes, which means nothing
    # when cluster=local cannot give two nodes; the launcher itself would refuse them only later.
    from launch.config import parse_cluster

    parse_cluster(OmegaConf.to_container(cfg.cluster, resolve=True))
    # A dry run prints the commands with the user's reward file; a run copies it in first. The
    # launch plan holds both (a scheduler's dry run shows the jobs as the run would submit them).
    launch = not dry_run and not preflight
    if launch_plan is None:
        launch_plan = build_plan(
            cfg, run_name=str(cfg.get("run_name") or generated_run_name(cfg)), launch=True
        )
    plan = launch_plan if launch else launch_plan.as_printed()
    if inv.stage_subset is not None:
        _check_subset(plan, inv.stage_subset, "stages")
    if cfg.get("from_stage") is not None:
        _check_subset(plan, [str(cfg.from_stage)], "from_stage")
        _check_rerun(plan, str(cfg.from_stage))
    if preflight:
        from harness.preflight.command import run_preflight

        return run_preflight(plan, inv.stage_subset, out)
    from harness.validate import validate_plan

    # machine: the plan runs here, so this machine's RAM, disk and packages count too.
    problems = validate_plan(
        plan, check_paths=not dry_run, deep=not dry_run, subset=inv.stage_subset, machine=not dry_run
    )
    if dry_run:
        print_dry_run(launch_plan, out, inv.stage_subset, from_stage=cfg.get("from_stage"))
        if problems:  # the same exit status as the real run gives for the same problem
            print_problems(problems, sys.stderr)
            return 2
        return 0
    if problems:
        print_problems(problems, sys.stderr)
        return 2
    from harness.runner import run_plan

    return run_plan(plan, subset=inv.stage_subset, from_stage=cfg.get("from_stage"))


def _check_rerun(plan: Plan, from_stage: str) -> None:
    """`from_stage` reruns stages of a run that exists. On a run that never ran (a mistyped
    run_name, or none given) it started the whole pipeline in a new folder: hours of training
    nobody asked for."""
    from harness.manifest import MANIFEST

    first = plan.stages[0].name
    if from_stage == first or (plan.run_dir / MANIFEST).exists():
        return
    paper_dir = plan.run_dir.parent
    known = sorted(
        (p for p in paper_dir.glob(f"*/{MANIFEST}") if p.parent.name != SHARED_DIR),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    names = [p.parent.name for p in known]
    listed = f"; runs of this paper, newest first: {', '.join(names[:8])}" if names else ""
    raise ConfigError(
        Problem(
            "from_stage",
            f"from_stage={from_stage} reruns stages of an existing run, and run {plan.run_name} has never "
            f"run ({plan.run_dir} has no {MANIFEST}): give the run_name of the run to rerun"
            f"{did_you_mean(plan.run_name, names)}, or leave from_stage out to start this run from "
            f"{first}{listed}",
        )
    )


def _check_subset(plan: Plan, subset: list[str], key: str) -> None:
    names = [s.name for s in plan.stages]
    unknown = [n for n in subset if n not in names]
    if unknown:
        raise ConfigError(
            [
                Problem(
                    key,
                    f"no stage '{n}' in this pipeline{did_you_mean(n, names)}; stages: {', '.join(names)}",
                )
                for n in unknown
            ]
        )


def print_dry_run(
    launched: Plan, out: TextIO, subset: Sequence[str] | None = None, from_stage: str | None = None
) -> None:
    """Each stage's `# stage:` line, then what its launcher would run: the command line
    (cluster=local), every node's launch line (torchrun) or the sbatch script (slurm).

    `launched`: the launch plan (`build_plan(launch=True)`); its `as_printed()` twin is what a
    pasted command reads."""
    plan = launched.as_printed()
    from harness.jobs import launcher_for, make_job

    cfg = plan.cfg
    launcher = launcher_for(plan)
    # A scheduler gets the job the run would hand it, byte for byte: the run's copy of the
    # reward file and each attempt's argv (resume, requeue). cluster=local prints the user's
    # own reward file, which is what the command reads when pasted.
    scheduled = str(cfg.cluster.launcher) != "local"
    shown = launched if scheduled else plan
    decisions, outlook = _outlook(launched, subset, from_stage)
    variant = cfg.get("variant")
    header = f"# paper: {plan.paper}"
    if variant:
        header += f"  variant: {variant}"
    header += f"  profile: {plan.profile}  cluster: {cfg.cluster.launcher}  run: {plan.run_dir}"
    print(header, file=out)
    for planned in shown.stages:
        if subset is not None and planned.name not in subset:
            continue
        print(f"# stage: {planned.name}", file=out)
        if planned.name in outlook:
            print(f"# in {plan.run_dir.name}: {outlook[planned.name]}", file=out)
        if planned.spec.note:
            print(f"# note: {planned.spec.note}", file=out)
        for warning in planned.warnings:
            print(f"# warning: {warning}", file=out)
        if planned.skip_reason:
            print(f"# skipped in profile {plan.profile}: {planned.skip_reason}", file=out)
        if scheduled:
            planned = _as_attempt(planned, decisions.get(planned.name), launcher.requeues)
        out.write(launcher.dry_run_text(make_job(shown, planned)))
    from harness.preflight import preflight_plan, print_preflight

    print_preflight(preflight_plan(plan), out)


def _as_attempt(planned: PlannedStage, decision: Decision | None, requeueable: bool) -> PlannedStage:
    """The stage with the argv its next attempt launches (the runner's `prepare`, minus cleaning)."""
    argv = planned.stage_kind.rerun.attempt_argv(
        planned.rendered.argv,
        Path(planned.ctx.stage_dir),
        resume=decision is not None and decision.action == "resume",
        requeueable=requeueable,
        verbatim=planned.ctx.verbatim,
    )
    if argv == tuple(planned.rendered.argv):
        return planned
    return dataclasses.replace(planned, rendered=dataclasses.replace(planned.rendered, argv=argv))


def _outlook(
    plan: Plan, subset: Sequence[str] | None, from_stage: str | None
) -> tuple[dict[str, Decision], dict[str, str]]:
    """For a run that exists: what the real run would do with each stage, and why (`plan`: the
    launch plan, stages scoring with the run's reward copy)."""
    from harness.manifest import RunManifest
    from harness.runner import decide

    try:
        manifest = RunManifest.load(plan.run_dir)
    except HarnessError as exc:
        return {}, {plan.stages[0].name: f"cannot tell: {exc}"}
    if manifest is None:
        return {}, {}
    # Decided on the plan the real run would make (stages score with the run's reward copy).
    decisions, problems = decide(plan, manifest, subset, from_stage)
    words = {"run": "runs", "resume": "resumes", "skip_completed": "already completed, skipped"}
    outlook = {
        name: f"{words[d.action]}" + (f" ({d.reason})" if d.reason else "")
        for name, d in decisions.items()
        if d.action in words
    }
    for problem in problems:
        outlook.setdefault(
            problem.key.split(".")[1] if "." in problem.key else "", f"refused: {problem.message}"
        )
    return decisions, outlook
