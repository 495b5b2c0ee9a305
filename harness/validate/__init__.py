"""Validation of a rendered plan before anything runs; all problems are collected.

- ms-swift commands: the pinned ms-swift's argument parser (flags, types, choices) and the
  tables its free-string flags are checked against (model types, templates, DeepSpeed presets);
- verl commands: the pinned verl's Hydra config (keys, keys that compose but are never read,
  batch-size rules), and with deep=True verl's own validate_config in a subprocess;
- inputs the user provides (models, datasets) must exist unless this is a dry run;
- what a GPU node would find the hard way (harness/validate/gpu.py): vLLM's tensor-parallel
  rules, attention implementations, the pre-flight memory and disk verdicts, and whether this
  environment can run the stages at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from common.errors import Problem
from harness.pipeline import literal_inputs
from harness.plan import Plan


def validate_plan(
    plan: Plan,
    check_paths: bool,
    deep: bool = False,
    subset: Sequence[str] | None = None,
    machine: bool = False,
) -> list[Problem]:
    """`machine`: the plan is about to run here, so this machine's RAM, disk and installed
    packages are checked too (harness/validate/gpu.py)."""
    from harness.validate.swift_args import check_swift_argv
    from harness.validate.verl_overrides import check_verl_argv, check_verl_deep

    problems: list[Problem] = []
    selected = [s for s in plan.stages if subset is None or s.name in subset]
    for planned in selected:
        rendered = planned.rendered
        argv = list(rendered.argv)
        if argv[:1] == ["swift"]:
            problems += check_swift_argv(argv, rendered.keys)
        elif argv[:3] == ["python3", "-m", "verl.trainer.main_ppo"]:
            problems += check_verl_argv(argv, rendered.keys)
            # A stage skipped in this profile (verl on a CPU) has no GPUs to validate against.
            if deep and not problems and not planned.skip_reason:
                problems += check_verl_deep(argv, rendered.keys)
        if check_paths and not planned.skip_reason:
            problems += _missing_inputs(plan, planned.name, selected_names=[s.name for s in selected])
    from harness.validate.gpu import check_gpu_plan

    problems += check_gpu_plan(plan, selected, machine=machine)
    return problems


def _missing_inputs(plan: Plan, stage: str, selected_names: list[str]) -> list[Problem]:
    planned = plan.stage(stage)
    problems = []
    produced_earlier = _outputs_expected_before(plan, stage, selected_names)
    for key, path in literal_inputs(planned.spec):
        if os.path.exists(path) or any(
            path == p or path.startswith(p.rstrip("/") + "/") for p in produced_earlier
        ):
            continue
        problems.append(Problem(key, f"{path} does not exist; put the file there or point {key} at it"))
    return problems


def _outputs_expected_before(plan: Plan, stage: str, selected_names: list[str]) -> list[str]:
    """Paths that stages running earlier in this invocation will create (e.g. downloads)."""
    paths: list[str] = []
    for planned in plan.stages:
        if planned.name == stage:
            break
        if planned.name not in selected_names or planned.skip_reason:
            continue
        local_dir = planned.spec.get("local_dir")
        if local_dir:
            paths.append(str(local_dir))
    return paths
