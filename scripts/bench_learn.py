"""Does the CPU smoke run learn, and where does its time go? (`make bench-learn`)

Runs `python -m harness paper=<p> profile=smoke` end to end into a temporary runs folder (real
ms-swift training on the tiny model and the synthetic data, the unchanged evaluation stage) and
prints, from the run directory:

- the wall time of every stage and of the whole run;
- each eval stage's figures on the held-out images: parsable answers, accuracy (chance is 0.5),
  IoU on fakes where the answer has boxes, AUC of p(fake);
- the SFT loss at its first and last step, and the GRPO reward and its parts per step.

Not a test (tests/smoke asserts the thresholds on a fixed seed): numbers to watch. The issue's
targets for FakeXplain: parsable >= 0.90, accuracy >= 0.85, IoU on fakes >= 0.3, under 10 minutes.
Heavy: run it alone (`flock /tmp/aigi-heavy.lock make bench-learn` on a shared machine).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.report.run_dir import load_run, read_stage_curves

REPO = Path(__file__).resolve().parents[1]
PAPERS = ("fakexplain", "fake_hr1", "aigi_holmes", "fakescope")


def _number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _run(paper: str, runs: Path, overrides: list[str]) -> tuple[Path, float, int]:
    run_name = "bench-learn"
    argv = [sys.executable, "-m", "harness", f"paper={paper}", "profile=smoke", f"paths.runs={runs}",
            f"run_name={run_name}", *overrides]  # fmt: skip
    log = runs / f"{paper}.log"
    print(f"$ {' '.join(argv[1:])}   (log: {log})", flush=True)
    start = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.run(argv, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT).returncode
    return runs / paper / run_name, time.perf_counter() - start, code


def _report(run_dir: Path, seconds: float) -> None:
    run = load_run(run_dir)
    print(f"\n{run.paper}: {seconds / 60:.1f} min wall time ({seconds:.0f} s)")
    print(f"  {'stage':<18}{'kind':<14}{'status':<11}{'seconds':>8}")
    for stage in run.stages:
        print(f"  {stage.name:<18}{stage.kind:<14}{stage.status:<11}{_number(stage.seconds, 0):>8}")
    evals = [s for s in run.eval_stages() if run.metrics(s.name)]
    if evals:
        print(f"\n  {'eval stage':<14}{'images':>7}{'parsable':>10}{'accuracy':>10}{'acc real':>10}"
              f"{'acc fake':>10}{'IoU fakes':>11}{'AUC':>7}")  # fmt: skip
        for stage in evals:
            metrics = run.metrics(stage.name) or {}
            values = metrics.get("values", {})
            unparsable = values.get("unparsable_rate")
            parsable = None if unparsable is None else 1.0 - unparsable
            print(f"  {stage.name:<14}{metrics.get('n_predictions', 0):>7}{_number(parsable):>10}"
                  f"{_number(values.get('accuracy')):>10}{_number(values.get('accuracy/real')):>10}"
                  f"{_number(values.get('accuracy/fake')):>10}{_number(values.get('iou')):>11}"
                  f"{_number(values.get('auc')):>7}")  # fmt: skip
    for stage in run.training_stages():
        curves = read_stage_curves(stage)
        loss = curves.get("loss") or {}
        if stage.kind == "swift_sft" and loss:
            steps = sorted(loss)
            print(f"\n  {stage.name}: loss {loss[steps[0]]:.3f} at step {steps[0]:g} -> "
                  f"{loss[steps[-1]]:.3f} at step {steps[-1]:g}")  # fmt: skip
        parts = sorted(
            (k for k in curves if k.startswith("reward_parts/")), key=lambda k: (k != "reward_parts/score", k)
        )
        if parts:
            names = ["reward" if k == "reward_parts/score" else k.split("/", 1)[1] for k in parts]
            print(f"\n  {stage.name}: reward per step (mean over the step's completions)")
            print("  " + f"{'step':>5}" + "".join(f"{name:>11}" for name in names))
            for step in sorted({s for k in parts for s in curves[k]}):
                print("  " + f"{step:>5g}" + "".join(f"{_number(curves[k].get(step)):>11}" for k in parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paper", action="append", choices=PAPERS, help="repeatable; default fakexplain")
    parser.add_argument("--all", action="store_true", help="every paper's smoke run")
    parser.add_argument("--keep", type=Path, default=None, help="write the runs here and keep them")
    parser.add_argument("overrides", nargs="*", help="hydra overrides for every run, e.g. variant=staged")
    args = parser.parse_args()
    papers = list(PAPERS) if args.all else args.paper or ["fakexplain"]
    runs = args.keep or Path(tempfile.mkdtemp(prefix="bench-learn-"))
    runs.mkdir(parents=True, exist_ok=True)
    failed = 0
    try:
        for paper in papers:
            run_dir, seconds, code = _run(paper, runs, args.overrides)
            if code != 0:
                failed += 1
                print(f"{paper}: the run failed (exit {code}); see {runs / f'{paper}.log'}")
            if (run_dir / "manifest.json").is_file():
                _report(run_dir, seconds)
            print(flush=True)
    finally:
        if args.keep is None and not failed:
            shutil.rmtree(runs, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
