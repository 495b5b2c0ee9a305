"""A paper table on the CPU, end to end, and where its time goes (`make bench-table`).

Runs `python -m harness paper=<paper> profile=smoke table=<table>` into a temporary runs folder
(every run of the table with real ms-swift training on the tiny model and the synthetic data,
shared stages once) and prints:

- the wall time of the whole table and of every run;
- per run, the stages it ran and those it reused from the shared store;
- the table's cells as the report filled them (value and the run that filled it, or why not).

Not a test (tests/smoke/test_smoke_table.py runs part of FakeXplain's Table 4 and asserts the
cells): numbers to watch. Extra arguments are Hydra overrides for every run (e.g.
`table_runs=[no_bbox,sft]`, `stages.sft.max_steps=20`). Heavy: run it alone.

    make bench-table ARGS='--paper fakexplain --table table4'
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.report.run_dir import load_run

REPO = Path(__file__).resolve().parents[1]
RUN_NAME = "bench-table"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--paper", default="fakexplain")
    parser.add_argument("--table", default="table4")
    parser.add_argument("--keep", action="store_true", help="keep the runs folder (its path is printed)")
    args, overrides = parser.parse_known_args()
    runs = Path(tempfile.mkdtemp(prefix="bench-table-"))
    argv = [sys.executable, "-m", "harness", f"paper={args.paper}", "profile=smoke", f"table={args.table}",
            f"paths.runs={runs}", f"run_name={RUN_NAME}", *overrides]  # fmt: skip
    log = runs / "table.log"
    print(f"$ {' '.join(argv[1:])}   (log: {log})", flush=True)
    start = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.run(argv, cwd=REPO, stdout=handle, stderr=subprocess.STDOUT).returncode
    seconds = time.perf_counter() - start
    print(f"\ntable {args.table}: exit {code}, {seconds / 60:.1f} min wall time ({seconds:.0f} s)")
    print_table(runs / args.paper, args.table, log)
    if args.keep:
        print(f"\nkept {runs}")
    else:
        shutil.rmtree(runs, ignore_errors=True)
    return code


def print_table(paper_dir: Path, table: str, log: Path) -> None:
    """Each run's stages (ran, with seconds, or reused from the shared store) and the table's cells."""
    for run_dir in sorted(p for p in paper_dir.glob(f"{RUN_NAME}__*") if (p / "manifest.json").is_file()):
        stages = load_run(run_dir).manifest.get("stages") or []
        reused = [s["name"] for s in stages if str(s.get("skip_reason") or "").startswith("reused")]
        ran = [s for s in stages if s.get("status") == "completed" and s["name"] not in reused]
        took = sum(s.get("seconds") or 0 for s in ran)
        timed = [f"{s['name']} ({s.get('seconds') or 0:.0f} s)" for s in ran]
        print(f"\n  {run_dir.name}: ran {len(ran)} stages in {took:.0f} s; reused {len(reused)}")
        print(f"    ran:    {', '.join(timed) or '-'}")
        print(f"    reused: {', '.join(reused) or '-'}")
        failed = [s["name"] for s in stages if s.get("status") == "failed"]
        if failed:
            print(f"    FAILED: {', '.join(failed)} (logs under {run_dir / 'logs'})")
    report = paper_dir / f"{RUN_NAME}__{table}" / "report.json"
    if not report.is_file():
        print(f"\n  no table report ({report}); see {log}")
        return
    for filled in json.loads(report.read_text())["tables"]:
        print(f"\n  {filled['id']}:")
        for row in filled["rows"]:
            for column, cell in row["cells"].items():
                value = "—" if cell.get("mean") is None else f"{cell['mean']:.3f}"
                why = ", ".join(cell.get("filled_by") or []) or cell.get("status") or ""
                print(f"    {row['name']:<10} {column:<22} {value:>7}  {why}")


if __name__ == "__main__":
    raise SystemExit(main())
