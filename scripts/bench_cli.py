"""How long `python -m harness paper=<p> dry_run=true` takes, the way a user waits for it.

Prints the wall time of a fresh interpreter rendering and validating every paper's pipeline
(median of N runs) and the in-process time without interpreter start-up. Not a test: a number
to watch (the target is about a second).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{'paper':<14}{'fresh process (median s)':>26}{'in process (median s)':>24}")
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
        print(f"{paper:<14}{statistics.median(fresh):>26.2f}{statistics.median(warm):>24.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
