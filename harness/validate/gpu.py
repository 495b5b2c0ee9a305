"""The checks a GPU node would otherwise find the hard way, in one call for `validate_plan`.

vLLM's tensor-parallel rules (vllm_parallel.py), attention implementations and what they need
(attention.py), the pre-flight memory and disk verdicts (harness/preflight) and, for a run on
this machine, whether this environment can run each stage at all (environment.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from common.errors import Problem
from harness.plan import Plan, PlannedStage


def check_gpu_plan(plan: Plan, selected: Sequence[PlannedStage], machine: bool) -> list[Problem]:
    """`machine`: the plan is about to run here (not a dry run), so this machine's RAM, disk and
    installed packages count too."""
    from harness.preflight import allow_oom_risk, preflight_plan, preflight_problems
    from harness.validate.attention import check_attention
    from harness.validate.environment import check_environment, check_tracker_login
    from harness.validate.vllm_parallel import check_vllm_parallel

    problems = check_vllm_parallel(plan, selected) + check_attention(plan, selected)
    report = preflight_plan(plan, subset=[s.name for s in selected])
    problems += preflight_problems(report, allow_oom_risk(plan.cfg), machine=machine)
    if machine:
        import os
        from pathlib import Path

        problems += check_environment(plan, selected)
        problems += check_tracker_login(plan, selected, os.environ, Path.home())
    return problems
