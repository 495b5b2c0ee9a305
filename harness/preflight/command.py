"""`python -m harness paper=<p> preflight=true`: the full pre-flight report, exact counts included.

Besides the closed-form estimate every dry run prints, this builds each distinct model on the meta
device (harness.preflight.meta_count; imports torch and transformers, seconds) and states whether
the exact parameter counts agree. Exit status 1 when a stage does not fit or vLLM would refuse
its parallel sizes, else 0.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from harness.plan import Plan
from harness.preflight import PreflightReport, preflight_plan, preflight_problems, print_preflight


def run_preflight(plan: Plan, subset: Sequence[str] | None, out: TextIO) -> int:
    from harness.validate.attention import check_attention
    from harness.validate.vllm_parallel import check_vllm_parallel

    report = preflight_plan(plan, subset)
    print(f"# paper: {plan.paper}  profile: {plan.profile}  run: {plan.run_dir}", file=out)
    print_preflight(report, out, details=True)
    _print_exact_counts(report, out)
    selected = [s for s in plan.stages if subset is None or s.name in subset]
    problems = (
        check_vllm_parallel(plan, selected)
        + check_attention(plan, selected)
        + preflight_problems(report, allow_oom_risk=False, machine=True)
    )
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 1 if problems else 0


def _print_exact_counts(report: PreflightReport, out: TextIO) -> None:
    from harness.preflight.meta_count import meta_counts

    done: set[str] = set()
    for stage in report.stages:
        arch = stage.arch
        if arch is None or arch.source in done:
            continue
        done.add(arch.source)
        try:
            counted = int(meta_counts(arch.raw)["total"])
        except Exception as exc:  # transformers missing, or a config it cannot build
            print(f"# exact count ({arch.source}): not available ({type(exc).__name__}: {exc})", file=out)
            continue
        agrees = "agrees with" if counted == arch.total_params else "DIFFERS from"
        print(
            f"# exact count on the meta device ({arch.source}): {counted:,} parameters; "
            f"{agrees} the closed form ({arch.total_params:,})",
            file=out,
        )
