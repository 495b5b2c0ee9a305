"""Validation of a rendered plan before anything runs; all problems are collected.

Each stage is checked by its kind's validator (harness.kinds), which knows its trainer:
- ms-swift commands (`swift_args`): the pinned ms-swift's argument parser (flags, types,
  choices) and the tables its free-string flags are checked against (model types, templates,
  DeepSpeed presets);
- verl commands (`verl_overrides`): the pinned verl's Hydra config (keys, keys that compose but
  are never read, batch-size rules), and with deep=True verl's own validate_config in a subprocess;
- the model group (`model_support`): stage kinds its pinned trainer cannot run with the model
  (``model.unsupported_kinds``);
- the project's own commands (`registered`): the data sources, layouts, response formats, backends
  and metrics they name exist in the registries, plugins' included.
Besides: the run's reward file must import and take verl's call, and inputs the user provides
(models, datasets) must exist, unless this is a dry run; each evaluation's response format reads
the answers its model was trained to write (`answer_format`). Across stages, what a GPU node would
find the hard way (harness/validate/gpu.py): vLLM's tensor-parallel rules, attention
implementations, the pre-flight memory and disk verdicts, and whether this environment can run
the stages at all.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from common.errors import Problem

if TYPE_CHECKING:  # the trainers' validators live in this package and harness.kinds imports them
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
    problems: list[Problem] = []
    # A dry run's plan copies no reward file (its stages name the user's own): the same checks,
    # where the file is on this machine (a dry run may render another machine's paths).
    from harness.reward_file import planned_reward

    configs = [(s.name, s.spec.config) for s in plan.stages]
    reward = plan.reward or planned_reward(plan.cfg, plan.run_dir, [c for _, c in configs])
    if reward is not None and (check_paths or reward.source.is_file()):
        problems += reward.problems(configs)
    selected = [s for s in plan.stages if subset is None or s.name in subset]
    from harness.validate.model_support import unsupported_problems

    # Before the trainers' own checks: a stage the model group cannot run at all (even one this
    # profile skips) is the one thing to fix.
    problems += unsupported_problems(plan, selected)
    for planned in selected:
        # A stage skipped in this profile (verl on a CPU) has no GPUs to validate against; after
        # a problem anywhere the slow checks are not worth their time.
        slow = deep and not problems and not planned.skip_reason
        problems += planned.stage_kind.check(planned.rendered, deep=slow)
        if check_paths and not planned.skip_reason:
            problems += _missing_inputs(plan, planned.name, selected_names=[s.name for s in selected])
    from harness.validate.answer_format import answer_format_problems

    problems += answer_format_problems(plan, selected, report_unsampled=check_paths)
    from harness.validate.gpu import check_gpu_plan

    problems += check_gpu_plan(plan, selected, machine=machine)
    return problems


def missing_inputs(plan: Plan, subset: Sequence[str] | None = None) -> list[Problem]:
    """Only the inputs the user provides that do not exist (what validate_plan's check_paths adds):
    cheap, so a table checks every run's before the first run starts (harness/table.py)."""
    names = [s.name for s in plan.stages if subset is None or s.name in subset]
    problems: list[Problem] = []
    for planned in plan.stages:
        if planned.name in names and not planned.skip_reason:
            problems += _missing_inputs(plan, planned.name, selected_names=names)
    return problems


def _missing_inputs(plan: Plan, stage: str, selected_names: list[str]) -> list[Problem]:
    planned = plan.stage(stage)
    problems = []
    produced_earlier = _outputs_expected_before(plan, stage, selected_names)
    for key, path in planned.spec.literal_inputs():
        if os.path.exists(path) or any(
            path == p or path.startswith(p.rstrip("/") + "/") for p in produced_earlier
        ):
            continue
        message = f"{path} does not exist; put the file there or point {key} at it"
        # The recipe's note says what the file is (a set that is not published: its format).
        if planned.spec.note:
            message += f" (stage {stage}: {planned.spec.note})"
        problems.append(Problem(key, message))
    return problems


def _outputs_expected_before(plan: Plan, stage: str, selected_names: list[str]) -> list[str]:
    """Primary outputs of the stages running earlier in this invocation (a download's local_dir)."""
    paths: list[str] = []
    for planned in plan.stages:
        if planned.name == stage:
            break
        if planned.name not in selected_names or planned.skip_reason:
            continue
        paths.append(str(planned.output))
    return paths
