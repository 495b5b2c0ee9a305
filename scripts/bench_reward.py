#!/usr/bin/env python3
"""Benchmark the GRPO rewards on one CPU core (``make bench-reward``).

Prints responses scored per second for realistic FakeXplain responses (5 predicted boxes with
labels, tags, a verdict; 5 annotated boxes, every response and ground truth distinct so no cache
helps) for the full ``compute_score`` in both IoU modes and both region syntaxes (Qwen2.5-VL's
grounding JSON in this project's layout; ms-swift's grounding tokens in the authors' layout, with
the tag block inside think and the verdict "generated"; and the same tokens decoded away, as verl
hands them over), broken answers (the lenient reading), the parser alone, the exact union IoU
alone, and a naive rasterised-mask IoU on the same boxes in the same run; then Fake-HR1's reward.
The project's target is at least 20,000 FakeXplain responses per second per core in each syntax.
On a loaded machine, ``scripts/bench_reward_micro.py --baseline DIR`` times the hot spots per call
against another checkout in one process (the ratio under the same load).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from rewards import fake_hr1, fakexplain  # noqa: E402
from rewards.fakexplain_parser import parse_response  # noqa: E402
from rewards.geometry import union_iou  # noqa: E402
from rewards.ground_truth import _from_json  # noqa: E402
from rewards.tags import FAKEXPLAIN_TAGS  # noqa: E402

TARGET = 20_000
parse_ground_truth_cache_clear = _from_json.cache_clear
WIDTH, HEIGHT = 1008, 756  # a Qwen2.5-VL frame: multiples of 28 (seeds.md §2.5)
WORDS = (
    "the",
    "texture",
    "of",
    "fur",
    "looks",
    "metallic",
    "and",
    "edges",
    "blur",
    "into",
    "background",
    "lighting",
    "is",
    "inconsistent",
    "with",
    "shadow",
    "direction",
    "fingers",
    "merge",
    "text",
    "garbled",
)
LABELS = (
    "hand with six fingers",
    "fur with a metallic sheen",
    "garbled letters on the sign",
    "shadow pointing the wrong way",
    "wheel merging into the road",
    "eye with two pupils",
)


def _box(rng: random.Random) -> list[int]:
    w, h = rng.randint(30, 320), rng.randint(30, 260)
    x, y = rng.randint(0, WIDTH - w), rng.randint(0, HEIGHT - h)
    return [x, y, x + w, y + h]


def _near(rng: random.Random, box: list[int]) -> list[int]:
    # A prediction near an annotated box: shifted and resized by up to a third of its size.
    w, h = box[2] - box[0], box[3] - box[1]
    x1 = min(max(0, box[0] + rng.randint(-w // 3, w // 3)), WIDTH - 10)
    y1 = min(max(0, box[1] + rng.randint(-h // 3, h // 3)), HEIGHT - 10)
    return [
        x1,
        y1,
        min(WIDTH, max(x1 + 10, x1 + w + rng.randint(-w // 3, w // 3))),
        min(HEIGHT, max(y1 + 10, y1 + h + rng.randint(-h // 3, h // 3))),
    ]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n)).capitalize() + "."


def _json_region(box: list[int], label: str) -> str:
    return json.dumps({"bbox_2d": box, "label": label})


def _token_region(box: list[int], label: str) -> str:
    # ms-swift's Qwen2.5-VL template, QWENVL_BBOX_FORMAT=legacy (what the authors trained on)
    x1, y1, x2, y2 = box
    return f"<|object_ref_start|>{label}<|object_ref_end|><|box_start|>({x1},{y1}),({x2},{y2})<|box_end|>"


def _bare_region(box: list[int], label: str) -> str:
    # the token form decoded with skip_special_tokens=True (verl's reward managers)
    x1, y1, x2, y2 = box
    return f"{label}({x1},{y1}),({x2},{y2})"


def make_cases(n: int, seed: int = 0, syntax: str = "json") -> list[tuple[str, str, list, list]]:
    """(response, ground-truth JSON, predicted boxes, annotated boxes), all distinct.

    ``syntax`` json: this project's layout with grounding JSON; tokens / bare: the authors'
    layout (regions first, the tag block inside think) with ms-swift's tokens, or with them
    decoded away."""
    rng = random.Random(seed)
    render = {"json": _json_region, "tokens": _token_region, "bare": _bare_region}[syntax]
    cases = []
    for _ in range(n):
        gt = [_box(rng) for _ in range(5)]
        pred = [_near(rng, box) if rng.random() < 0.8 else _box(rng) for box in gt]
        tags = ", ".join(rng.sample(FAKEXPLAIN_TAGS, 2))
        if syntax == "json":
            parts = [_sentence(rng, 12)]
            for box in pred:
                parts.append(f"{_sentence(rng, 8)} {render(box, rng.choice(LABELS))} {_sentence(rng, 10)}")
            response = f"<think>{' '.join(parts)}</think>\n<tag>{tags}</tag>\n<verdict>generated</verdict>"
        else:
            regions = ", ".join(render(box, rng.choice(LABELS)) for box in pred)
            reasoning = " ".join(_sentence(rng, 10) for _ in range(5))
            response = f"<think>{regions}. {reasoning}<tag>{tags}</tag></think>\n<verdict>generated</verdict>"
        cases.append((response, json.dumps({"label": "fake", "boxes": gt}), pred, gt))
    return cases


def raster_iou(pred: list, gt: list) -> float:
    """The naive way: paint both regions into full-frame masks and count pixels."""
    a = np.zeros((HEIGHT, WIDTH), dtype=bool)
    b = np.zeros((HEIGHT, WIDTH), dtype=bool)
    for x1, y1, x2, y2 in pred:
        a[y1:y2, x1:x2] = True
    for x1, y1, x2, y2 in gt:
        b[y1:y2, x1:x2] = True
    union = np.count_nonzero(a | b)
    return float(np.count_nonzero(a & b)) / union if union else 1.0


def rate(fn: Callable[[], object], count: int, min_seconds: float) -> float:
    """Items per CPU second of this process: the best of repeated runs of ``fn`` (``count`` items).

    CPU time, not wall time: on a machine shared with other jobs, a core's throughput is what
    the process gets done per second it actually runs (the process is single-threaded and pinned).

    The ground-truth parse cache is emptied before each run: every response meets its ground truth
    for the first time, as in verl, whose reward workers each see a random share of a group.
    """
    fn()  # warm-up: first-call costs and allocator growth are not per-response costs
    best = float("inf")
    spent = 0.0
    runs = 0
    while spent < min_seconds or runs < 3:
        parse_ground_truth_cache_clear()
        start = time.process_time()
        fn()
        elapsed = time.process_time() - start
        best = min(best, elapsed)
        spent += elapsed
        runs += 1
    return count / best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=4000)
    parser.add_argument("--seconds", type=float, default=2.0, help="minimum timing per measurement")
    parser.add_argument("--core", type=int, default=None, help="pin to this CPU (default: the first allowed)")
    parser.add_argument(
        "--min-rate",
        type=float,
        default=0.0,
        help="exit 1 when compute_score (union, JSON or token syntax) scores fewer responses per second",
    )
    args = parser.parse_args(argv)

    if hasattr(os, "sched_setaffinity"):
        core = args.core if args.core is not None else min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {core})
        print(f"pinned to CPU {core}")
    cases = make_cases(args.responses)
    token_cases = make_cases(args.responses, seed=1, syntax="tokens")
    bare_cases = make_cases(args.responses, seed=2, syntax="bare")
    # a stray sentence after </verdict>: the format term fails, the others are read leniently
    broken_cases = [(r + " I hope this helps.", g, p, t) for r, g, p, t in cases]
    raster_cases = cases[: max(50, args.responses // 40)]
    # The benchmark's own data is long-lived, as a trainer's is: keep it out of the collector's
    # scans so they measure what scoring allocates, not the size of this script's test set.
    gc.collect()
    gc.freeze()

    exact = [union_iou(p, g) for _, _, p, g in raster_cases]
    naive = [raster_iou(p, g) for _, _, p, g in raster_cases]
    worst = max(abs(x - y) for x, y in zip(exact, naive))
    print(f"check: exact union IoU vs pixel-mask IoU on integer boxes, max difference {worst:.2e}")

    frame = {"width": WIDTH, "height": HEIGHT}
    # GRPO scores G responses per prompt (004: G = 4); ms-swift passes a whole group to one call
    grouped = [(r, cases[i - i % 4][1]) for i, (r, _, _, _) in enumerate(cases)]
    hr1_cases = [(f"<think>\n{r[7:200]}\n</think>\n\nfake", "fake") for r, _, _, _ in cases]
    rows = [
        (
            "FakeXplain compute_score, iou_mode=union",
            lambda: [fakexplain.compute_score("fakexplain", r, g, frame) for r, g, _, _ in cases],
            len(cases),
        ),
        (
            "FakeXplain compute_score, iou_mode=matched",
            lambda: [
                fakexplain.compute_score("fakexplain", r, g, frame, iou_mode="matched")
                for r, g, _, _ in cases
            ],
            len(cases),
        ),
        (
            "FakeXplain compute_score, token syntax (ms-swift), union",
            lambda: [fakexplain.compute_score("fakexplain", r, g, frame) for r, g, _, _ in token_cases],
            len(token_cases),
        ),
        (
            "FakeXplain compute_score, token syntax, matched",
            lambda: [
                fakexplain.compute_score("fakexplain", r, g, frame, iou_mode="matched")
                for r, g, _, _ in token_cases
            ],
            len(token_cases),
        ),
        (
            "FakeXplain compute_score, tokens decoded away (verl), union",
            lambda: [fakexplain.compute_score("fakexplain", r, g, frame) for r, g, _, _ in bare_cases],
            len(bare_cases),
        ),
        (
            "FakeXplain compute_score, broken answers (lenient reading)",
            lambda: [fakexplain.compute_score("fakexplain", r, g, frame) for r, g, _, _ in broken_cases],
            len(broken_cases),
        ),
        (
            "FakeXplain compute_score, groups of 4 sharing a ground truth",
            lambda: [fakexplain.compute_score("fakexplain", r, g, frame) for r, g in grouped],
            len(grouped),
        ),
        ("FakeXplain parse_response alone", lambda: [parse_response(r) for r, _, _, _ in cases], len(cases)),
        (
            "exact union IoU alone (5 vs 5 boxes)",
            lambda: [union_iou(p, g) for _, _, p, g in cases],
            len(cases),
        ),
        (
            f"naive rasterised-mask IoU ({WIDTH}x{HEIGHT} masks)",
            lambda: [raster_iou(p, g) for _, _, p, g in raster_cases],
            len(raster_cases),
        ),
        (
            "Fake-HR1 compute_score",
            lambda: [fake_hr1.compute_score("fake_hr1", r, g) for r, g in hr1_cases],
            len(hr1_cases),
        ),
    ]
    print(f"{'what':58s} {'per CPU s':>12s}")
    results = {}
    for name, fn, count in rows:
        results[name] = rate(fn, count, args.seconds)
        print(f"{name:58s} {results[name]:12,.0f}")
    raster = results[f"naive rasterised-mask IoU ({WIDTH}x{HEIGHT} masks)"]
    worst = 0.0
    for syntax, name in (
        ("JSON syntax", rows[0][0]),
        ("token syntax", "FakeXplain compute_score, token syntax (ms-swift), union"),
    ):
        rate_ = results[name]
        worst = min(worst, rate_) if worst else rate_
        verdict = "meets" if rate_ >= TARGET else "MISSES"
        print(
            f"FakeXplain compute_score, {syntax}, 5 vs 5 boxes: {verdict} the target of {TARGET:,} "
            f"responses/second/core ({rate_ / raster:,.0f}x the rasterised IoU alone)"
        )
    return 1 if worst < args.min_rate else 0


if __name__ == "__main__":
    sys.exit(main())
