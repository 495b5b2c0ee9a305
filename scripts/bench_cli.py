"""How long `python -m harness paper=<p> dry_run=true` takes, the way a user waits for it.

Prints the wall time of a fresh interpreter rendering and validating every paper's pipeline
(median of N runs) and the in-process time without interpreter start-up, both with the user's
caches warm (the composed config: harness/compose_cache.py; verl's config tree:
harness.validate.verl_overrides.verl_defaults; the harness's compiled bytecode, __pycache__), and
one fresh run with an empty config cache (the first dry run of a command line, or after installing
or upgrading verl). The interpreters run with bytecode writing on even where PYTHONDONTWRITEBYTECODE
is set (this workplace sets it): without __pycache__ every run compiles the project's ~110 modules
again (about 0.25 s here), which no user's install does after its first run. Each paper's fresh-process
median passes when under TARGET_S. Not a test: timings depend on the machine and its load, which
is printed (on a busy machine the numbers say little).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time

TARGET_S = 1.0  # issue 17: every paper's dry run under a second


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    print(
        f"load average (1 min) {load:.2f} on {os.cpu_count()} cores"
        + ("  BUSY: timings unreliable" if load > 1.5 else "")
    )
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("PYTHONDONTWRITEBYTECODE is set: unset for the measured interpreters (see the docstring)")
    print(
        f"{'paper':<14}{'fresh process (median s)':>26}{'in process (median s)':>24}{'empty cache (s)':>18}"
        f"  < {TARGET_S:g} s"
    )
    user_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    failed = []
    from harness.cli import main as harness_main
    from harness.config import available

    for paper in available("paper"):
        argv = [f"paper={paper}", "dry_run=true", "profile=full"]
        fresh, warm = [], []
        subprocess.run(
            [sys.executable, "-m", "harness", *argv], capture_output=True, check=True, env=user_env
        )  # warms the caches
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "harness", *argv], capture_output=True, check=True, env=user_env
            )
            fresh.append(time.perf_counter() - start)
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                harness_main(argv)
            warm.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as empty:
            start = time.perf_counter()
            env = {**user_env, "XDG_CACHE_HOME": empty}
            subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, check=True, env=env)
            cold = time.perf_counter() - start
        median = statistics.median(fresh)
        verdict = "pass" if median < TARGET_S else "FAIL"
        if median >= TARGET_S:
            failed.append(paper)
        print(f"{paper:<14}{median:>26.2f}{statistics.median(warm):>24.2f}{cold:>18.2f}  {verdict}")
    print(
        f"{'all papers under' if not failed else 'over'} {TARGET_S:g} s"
        + (f": {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
