#!/usr/bin/env python3
"""Per-call microbenchmarks of the FakeXplain reward's hot spots, optionally against another checkout.

Microseconds of CPU time per call (best of many runs) for the union IoU of 5 predicted vs 5
annotated boxes, the strict and lenient parsers in each region syntax, and the whole
``compute_score``, on ``scripts/bench_reward.py``'s cases. ``--baseline DIR`` also loads the
``rewards`` package of another checkout (say, main in a scratch worktree) into the same process
and times both versions interleaved, run for run: on a loaded machine the before/after ratio is
then measured under the same load, which separate runs of ``make bench-reward`` cannot promise.

    python scripts/bench_reward_micro.py --baseline /tmp/main-checkout
"""

from __future__ import annotations

import argparse
import gc
import importlib
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load(root: Path) -> dict:
    """The timed functions of the ``rewards`` package in ``root`` (a fresh import)."""
    for name in [m for m in sys.modules if m.split(".")[0] in ("rewards", "common")]:
        del sys.modules[name]
    sys.path.insert(0, str(root))
    try:
        fakexplain = importlib.import_module("rewards.fakexplain")
        parser = importlib.import_module("rewards.fakexplain_parser")
        geometry = importlib.import_module("rewards.geometry")
        ground_truth = importlib.import_module("rewards.ground_truth")
    finally:
        sys.path.remove(str(root))
    where = Path(fakexplain.__file__).resolve().parent
    if where != (root / "rewards").resolve():
        raise SystemExit(f"rewards imported from {where}, not from {root}")
    return {
        "union": geometry.union_iou_fast,
        "strict": parser.parse_response_fields,
        "lenient": parser.read_response_fields,
        "score": fakexplain.compute_score,
        "gt_cache_clear": ground_truth._from_json.cache_clear,
    }


def _rows(cases: dict, pairs: list, frame: dict) -> list:
    def union(f):
        fn = f["union"]
        for p, g in pairs:
            fn(p, g)

    def parse(reading, items):
        def run(f):
            fn = f[reading]
            for r in items:
                fn(r)

        return run

    def score(items):
        def run(f):
            fn, clear = f["score"], f["gt_cache_clear"]
            for r, g in items:
                clear()  # every ground truth parsed, as in make bench-reward
                fn("fakexplain", r, g, frame)

        return run

    responses = {s: [r for r, _, _, _ in c] for s, c in cases.items()}
    rows = [("union_iou_fast, 5 vs 5 boxes", union, len(pairs))]
    for syntax in cases:
        rows.append(
            (f"parse_response_fields, {syntax} syntax", parse("strict", responses[syntax]), len(pairs))
        )
    trailing = [r + " I hope this helps." for r in responses["tokens"]]
    rows.append(("read_response_fields, tokens + trailing text", parse("lenient", trailing), len(pairs)))
    for syntax in ("json", "tokens"):
        items = [(r, g) for r, g, _, _ in cases[syntax]]
        rows.append((f"compute_score, {syntax} syntax, union", score(items), len(pairs)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--baseline", type=Path, default=None, help="another checkout to time alongside")
    parser.add_argument("--responses", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=15, help="timed runs per function and version")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_reward  # noqa: PLC0415  (the cases)

    versions = {}
    if args.baseline is not None:
        versions["before"] = _load(args.baseline.resolve())
    versions["this"] = _load(ROOT)
    n = args.responses
    cases = {
        s: bench_reward.make_cases(n, seed=i, syntax=s) for i, s in enumerate(("json", "tokens", "bare"))
    }
    pairs = [(tuple(map(tuple, map(map, [float] * 5, p))), tuple(map(tuple, map(map, [float] * 5, g))))
             for _, _, p, g in cases["json"]]  # fmt: skip
    frame = {"width": bench_reward.WIDTH, "height": bench_reward.HEIGHT}
    gc.collect()
    gc.freeze()
    print(
        f"{'us per call (CPU time, best of ' + str(args.runs) + ')':48s}"
        + "".join(f"{v:>10s}" for v in versions)
    )
    for name, fn, count in _rows(cases, pairs, frame):
        best = dict.fromkeys(versions, float("inf"))
        for f in versions.values():
            fn(f)  # warm-up
        for _ in range(args.runs):
            for version, f in versions.items():  # interleaved: both versions see the same load
                start = time.process_time()
                fn(f)
                best[version] = min(best[version], time.process_time() - start)
        line = f"{name:48s}" + "".join(f"{best[v] / count * 1e6:10.2f}" for v in versions)
        if "before" in best:
            line += f"   x{best['before'] / best['this']:.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
