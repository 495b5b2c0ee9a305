"""Benchmark the transformers evaluation backend with prefix soft scoring (``make bench-eval``).

Builds the tiny random-weight Qwen2.5-VL (data_prep.tiny_model) and synthetic images, then runs
``TransformersBackend.generate`` (generation plus the soft-scoring prefix pass, as an evaluation
stage does) at batch 1, 4 and 16, each in a fresh process so the peak memory is that batch's own.
``--compare`` also runs the prefix pass with the full logits (every prompt position x the
vocabulary), the behaviour before ``logits_to_keep=1``.

Prints images/s (the first batch, which includes warm-up, is left out of the time) and the peak
memory: on a GPU torch's peak allocation, on a CPU the process's peak resident set minus its size
after the model and the images were loaded.

    python scripts/bench_eval.py [--batches 1 4 16] [--images 32] [--max-new-tokens 8] [--compare]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _one(model: str, batch: int, images: int, max_new_tokens: int, full_logits: bool) -> dict:
    """One measurement, in this (fresh) process."""
    import time

    import numpy as np
    from PIL import Image

    from harness.evaluation.backends.base import GenerationRequest
    from harness.evaluation.backends.transformers_backend import TransformersBackend
    from harness.evaluation.config import parse_eval_config

    config = parse_eval_config(
        {
            "max_new_tokens": max_new_tokens,
            "batch_size": batch,
            "soft_scoring": {
                "position": "prefix",
                "prompt": "What is the authenticity of this image?",
                "assistant_prefix": "This image is",
                "fake_words": ["fake"],
                "real_words": ["real"],
            },
        }
    )
    backend = TransformersBackend(model, config)
    if full_logits:
        backend._keeps_logits = False  # the pass as it was: logits at every prompt position
    torch = backend.torch
    rng = np.random.default_rng(0)
    question = [{"role": "user", "content": "<image>Is this image real or fake?"}]
    requests = [
        GenerationRequest(
            str(k), list(question), Image.fromarray(rng.integers(0, 255, (224, 224, 3), np.uint8))
        )
        for k in range(images + batch)  # the first batch warms up
    ]
    cuda = backend.device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    base = _rss_mib()  # the loaded model and the images; the peak counts what the batches add
    backend.generate(requests[:batch])
    start = time.perf_counter()
    for k in range(batch, len(requests), batch):
        backend.generate(requests[k : k + batch])
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**20 if cuda else _rss_mib() - base
    return {"images_per_s": images / seconds, "peak_mib": peak, "where": "gpu" if cuda else "cpu"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--images", type=int, default=32, help="images timed per batch size")
    parser.add_argument("--max-new-tokens", type=int, default=8)
    parser.add_argument("--compare", action="store_true", help="also time the full-logits prefix pass")
    parser.add_argument("--model", help="a model folder (default: build the tiny Qwen2.5-VL)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: one measurement as JSON
    args = parser.parse_args()
    if args.one:
        batch, full = json.loads(args.one)
        print(json.dumps(_one(args.model, batch, args.images, args.max_new_tokens, full)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            from data_prep.tiny_model import build_tiny_qwen2_5_vl

            model = str(build_tiny_qwen2_5_vl(Path(tmp) / "tiny_qwen"))
        modes = [False, True] if args.compare else [False]
        print(f"{'prefix logits':<22}{'batch':>6}{'images/s':>10}{'peak MiB':>10}")
        for full in modes:
            for batch in args.batches:
                argv = [sys.executable, __file__, "--model", model, "--images", str(args.images)]
                argv += ["--max-new-tokens", str(args.max_new_tokens), "--one", json.dumps([batch, full])]
                proc = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
                if proc.returncode != 0:
                    print(proc.stderr, file=sys.stderr)
                    return proc.returncode
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                label = "all positions" if full else "last (logits_to_keep)"
                print(
                    f"{label:<22}{batch:>6}{row['images_per_s']:>10.1f}{row['peak_mib']:>10.0f}  ({row['where']})"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
