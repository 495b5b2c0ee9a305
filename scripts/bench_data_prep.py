"""Benchmark the FakeXplained conversion stage (``make bench-data``).

Generates a synthetic FakeXplained set (10,000 images by default), then converts it with
1 and 2 workers, metadata-only (no pixel decoding; records carry width/height) and with full image
decoding and verification, each in a fresh process. Prints records per second and the peak
resident memory of the stage's main process; running with fewer images (``--images 2000``) and
comparing that column shows it does not grow with the record count.

    python scripts/bench_data_prep.py [--images N] [--size WxH] [--workers 1 2] [--data-dir DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_CHILD = """
import json, resource, sys
from data_prep.conversion import run_conversion
stats = run_conversion("fakexplained", [sys.argv[1]], sys.argv[2], options=json.loads(sys.argv[3]),
                       workers=int(sys.argv[4]), echo=lambda s: None)
print(json.dumps({
    "read": stats["read"], "rejected": stats["rejected_total"], "seconds": stats["seconds"],
    "records_per_second": stats["records_per_second"],
    "rss_main_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
"""


def _ensure_data(data_dir: Path, images: int, size: tuple[int, int], workers: int) -> float:
    annotations = data_dir / "annotations.jsonl"
    if annotations.is_file() and sum(1 for _ in annotations.open()) == images:
        return 0.0
    shutil.rmtree(data_dir, ignore_errors=True)
    sys.path.insert(0, str(REPO))
    from data_prep.synth_fakexplained import generate_fakexplained

    started = time.perf_counter()
    generate_fakexplained(data_dir, num_fake=images // 2, num_real=images - images // 2, seed=0, size=size,
                          workers=workers)  # fmt: skip
    return time.perf_counter() - started


def _run(data_dir: Path, out_dir: Path, verify: bool, workers: int) -> dict:
    options = json.dumps({"verify_images": verify, "fold": 0})
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-c", _CHILD, str(data_dir), str(out_dir), options, str(workers)],
        capture_output=True, text=True, env=env, cwd=REPO,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(
            f"conversion failed ({'verify' if verify else 'metadata'}, {workers} workers):\n{result.stderr}"
        )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--size", default="128x96", help="WxH of the generated images")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data-dir", type=Path, default=None, help="reuse/keep the generated set here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.lower().split("x"))

    scratch = Path(tempfile.mkdtemp(prefix="bench_data_prep_"))
    data_dir = args.data_dir or scratch / "raw"
    try:
        generated = _ensure_data(data_dir, args.images, (width, height), max(args.workers))
        if generated:
            print(f"generated {args.images} synthetic FakeXplained images ({args.size}) in {generated:.1f} s")
        print(f"machine: {os.cpu_count()} CPU(s); data: {data_dir}")
        header = (
            f"{'mode':<28}{'workers':>8}{'records':>9}{'seconds':>9}{'records/s':>11}{'peak RSS MiB':>14}"
        )
        print(header)
        print("-" * len(header))
        for verify in (False, True):
            mode = "decode + verify images" if verify else "metadata only"
            for workers in args.workers:
                out = scratch / f"out_{int(verify)}_{workers}"
                row = _run(data_dir, out, verify, workers)
                print(f"{mode:<28}{workers:>8}{row['read']:>9}{row['seconds']:>9.2f}{row['records_per_second']:>11.0f}"
                      f"{row['rss_main_mib']:>14.0f}")  # fmt: skip
                shutil.rmtree(out, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
