"""How long `python -m harness paper=<p> dry_run=true` takes, the way a user waits for it.

Prints the wall time of a fresh interpreter rendering and validating every paper's pipeline
(median of N runs) and the in-process time without interpreter start-up, both with verl's config
tree read from the user's cache (harness.validate.verl_overrides.verl_defaults), and one fresh
run with an empty cache (what the first dry run after installing or upgrading verl costs). Not a
test: a number to watch (the target is under a second for every paper).
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(
        f"{'paper':<14}{'fresh process (median s)':>26}{'in process (median s)':>24}{'empty cache (s)':>18}"
    )
    from harness.cli import main as harness_main
    from harness.config import available

    for paper in available("paper"):
        argv = [f"paper={paper}", "dry_run=true", "profile=full"]
        fresh, warm = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, check=True)
            fresh.append(time.perf_counter() - start)
            start = time.perf_counter()
            with contextlib.redirect_stdout(io.StringIO()):
                harness_main(argv)
            warm.append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as empty:
            start = time.perf_counter()
            env = {**os.environ, "XDG_CACHE_HOME": empty}
            subprocess.run([sys.executable, "-m", "harness", *argv], capture_output=True, check=True, env=env)
            cold = time.perf_counter() - start
        print(f"{paper:<14}{statistics.median(fresh):>26.2f}{statistics.median(warm):>24.2f}{cold:>18.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
