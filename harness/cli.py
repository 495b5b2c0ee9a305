"""`python -m harness paper=<name> [hydra overrides]`: render, validate and run a paper.

Harness keys on the command line (all Hydra overrides):
  dry_run=true          print every stage's command (one shell line each; cluster=slurm: its sbatch
                        script as it would be written; cluster=torchrun: every node's line) and exit
  as_published=true     render the seed's own commands (its trainer dialects and values)
  profile=full|smoke    force the full recipe or the CPU smoke profile
  run_name=<name>       runs/<paper>/<name>; the same name again resumes the run
  stages=[a,b]          run only these stages (stages=a: one); from_stage=<name> reruns a run from a stage on
  cluster=local|torchrun|slurm, submit=true (slurm)
  table=<id>|all        run every run of a paper table (conf/results/<paper>.yaml, runs:) and one report
                        (table=[a,b]: the runs of these tables, each run once, and one report of both)
  table_runs=[a,b]      with table=: only these of its runs
  preflight=true        print each stage's memory and disk needs (fits / tight / does not fit) and exit
                        (add profile=full on a GPU-less machine, or the smoke profile is checked)
  allow_oom_risk=true   run stages the pre-flight says do not fit
Any other override changes the recipe, e.g. stages.sft.learning_rate=2e-5 model=qwen2_5_vl_7b.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from common.errors import ConfigError, HarnessError, Problem
from harness.config import parse_invocation
from harness.invoke import execute, load_config, print_problems
from harness.sweep import run_sweep


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help") for a in argv):
        print(__doc__)
        return 0
    try:
        inv = parse_invocation(argv)
        if inv.multirun:
            return run_sweep(inv)
        cfg = load_config(inv)
        if cfg.get("table") is not None:
            from harness.table import run_table

            return run_table(inv, cfg)
        if cfg.get("table_runs") is not None:
            raise ConfigError(Problem("table_runs", "selects runs of a table: add table=<id> (or table=all)"))
        return execute(cfg, inv)
    except ConfigError as exc:
        print_problems(exc.problems, sys.stderr)
        return 2
    except HarnessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `... dry_run=true | head`: the reader left, nothing is wrong
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
