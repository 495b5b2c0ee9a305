"""`python -m harness paper=<name> [hydra overrides]`: render, validate and run a paper.

Harness keys on the command line (all Hydra overrides):
  dry_run=true          print every stage's command (one shell line each) and exit
  as_published=true     render the seed's own commands (its trainer dialects and values)
  profile=full|smoke    force the full recipe or the CPU smoke profile
  run_name=<name>       runs/<paper>/<name>; the same name again resumes the run
  stages=[a,b]          run only these stages; from_stage=<name> reruns from a stage on
  cluster=local|torchrun|slurm, submit=true (slurm)
  preflight=true        print each stage's memory and disk needs (fits / tight / does not fit) and exit
  allow_oom_risk=true   run stages the pre-flight says do not fit
Any other override changes the recipe, e.g. stages.sft.learning_rate=2e-5 model=qwen2_5_vl_7b.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Sequence
from typing import TextIO

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, HarnessError, Problem
from common.gpu_env import gpu_available
from harness.config import Invocation, choice, compose, parse_invocation
from harness.plan import Plan, build_plan, default_run_name, run_directory


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        inv = parse_invocation(argv)
        if inv.multirun:
            from harness.sweep import run_sweep

            return run_sweep(inv)
        cfg = load_config(inv)
        return execute(cfg, inv)
    except ConfigError as exc:
        print_problems(exc.problems, sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... dry_run=true | head`: the reader left, nothing is wrong
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def load_config(inv: Invocation, out: TextIO | None = None) -> DictConfig:
    """Compose the config; pick the smoke profile on a GPU-less local machine; as_published."""
    overrides = list(inv.overrides)
    overrides = _auto_profile(overrides, out or sys.stderr)
    cfg = compose(overrides)
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


def execute(cfg: DictConfig, inv: Invocation, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    dry_run = bool(cfg.get("dry_run"))
    run_name = str(cfg.get("run_name") or default_run_name())
    extra: dict[str, str] = {}
    if not dry_run and not cfg.get("preflight"):
        from harness.pipeline import stage_names
        from harness.reward_file import check_and_copy_reward, uses_reward

        if uses_reward(cfg, stage_names(cfg)):
            extra["reward_sha256"] = check_and_copy_reward(cfg, run_directory(cfg, run_name))
    plan = build_plan(cfg, run_name=run_name)
    plan.notes.update(extra)
    if inv.stage_subset is not None:
        _check_subset(plan, inv.stage_subset)
    if cfg.get("preflight"):
        from harness.preflight.command import run_preflight

        return run_preflight(plan, inv.stage_subset, out)
    from harness.validate import validate_plan

    problems = validate_plan(
        plan, check_paths=not dry_run, deep=not dry_run, subset=inv.stage_subset, machine=not dry_run
    )
    if dry_run:
        print_dry_run(plan, out)
        if problems:
            print_problems(problems, sys.stderr)
            return 1
        return 0
    if problems:
        print_problems(problems, sys.stderr)
        return 2
    from harness.runner import run_plan

    return run_plan(plan, subset=inv.stage_subset, from_stage=cfg.get("from_stage"))


def _check_subset(plan: Plan, subset: list[str]) -> None:
    names = [s.name for s in plan.stages]
    unknown = [n for n in subset if n not in names]
    if unknown:
        from common.errors import did_you_mean

        raise ConfigError(
            [
                Problem(
                    "stages",
                    f"no stage '{n}' in this pipeline{did_you_mean(n, names)}; stages: {', '.join(names)}",
                )
                for n in unknown
            ]
        )


def print_dry_run(plan: Plan, out: TextIO) -> None:
    from harness.jobs import launcher_for, make_job

    cfg = plan.cfg
    launcher = launcher_for(plan)
    variant = cfg.get("variant")
    header = f"# paper: {plan.paper}"
    if variant:
        header += f"  variant: {variant}"
    header += f"  profile: {plan.profile}  cluster: {cfg.cluster.launcher}  run: {plan.run_dir}"
    print(header, file=out)
    for planned in plan.stages:
        print(f"# stage: {planned.name}", file=out)
        for warning in planned.warnings:
            print(f"# warning: {warning}", file=out)
        if planned.skip_reason:
            print(f"# skipped in profile {plan.profile}: {planned.skip_reason}", file=out)
        # The copy-pasteable line the cluster's launcher runs on the first node.
        print(launcher.command_line(make_job(plan, planned)), file=out)
    from harness.preflight import preflight_plan, print_preflight

    print_preflight(preflight_plan(plan), out)


def print_problems(problems: Sequence[Problem], stream: TextIO) -> None:
    for problem in problems:
        print(f"error: {problem}", file=stream)


def shell_line(env: dict[str, str], argv: Sequence[str]) -> str:
    parts = [f"{k}={shlex.quote(v)}" for k, v in env.items()] + [shlex.quote(a) for a in argv]
    return " ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
