"""Benchmark the visual expert's training throughput on this machine (``make bench-expert``).

Writes synthetic photos (PNG, 512x384 by default) in the AIGI-Holmes ``0_real``/``1_fake`` layout,
converts them with ``data_prep`` (the stage's real input), builds a random-weight CLIP vision model
and runs ``python -m expert train`` (the stage's program: PEFT LoRA, torch DataLoader, the
authors' augmentation, resize 384 / random crop 336, Adam) for a few steps with 1 and with 2
dataloader workers, each in a fresh process. Prints training images per second (the first step,
which includes start-up, is left out).

``--arch tiny336`` (default): a 2-layer, width-32 CLIP at 336 px: the time is mostly the input
pipeline, which the workers parallelise. ``--arch vit-l-14-336``: OpenAI CLIP ViT-L/14-336's shape
(24 layers, width 1024; about 300 M parameters, random weights): what one CPU step costs the real
model.

    python scripts/bench_expert.py [--arch tiny336|vit-l-14-336] [--steps N] [--batch B] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

ARCHS = {
    "tiny336": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 2,
                "projection_dim": 32},
    "vit-l-14-336": {"hidden_size": 1024, "intermediate_size": 4096, "num_hidden_layers": 24,
                     "num_attention_heads": 16, "projection_dim": 768},
}  # fmt: skip


def _images(root: Path, count: int, size: tuple[int, int]) -> None:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for index in range(count):
        label = ("0_real", "1_fake")[index % 2]
        folder = root / "dataset" / label
        folder.mkdir(parents=True, exist_ok=True)
        # smooth gradients plus noise: compresses and blurs like a photo, not like white noise
        y, x = np.mgrid[0 : size[1], 0 : size[0]]
        base = np.stack([(x * (c + 1) + y * (3 - c)) % 256 for c in range(3)], axis=-1).astype(np.float32)
        array = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        Image.fromarray(array).save(folder / f"{index:05d}.png")


def _model(path: Path, arch: str) -> None:
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(0)
    config = CLIPVisionConfig(image_size=336, patch_size=14, **ARCHS[arch])
    CLIPVisionModelWithProjection(config).save_pretrained(path)


def _run(work: Path, workers: int, steps: int, batch: int) -> dict[str, float]:
    out = work / f"train_w{workers}"
    config = {"batch_size": batch, "epochs": 1000, "max_steps": steps, "num_workers": workers, "select": "last",
              "log_every_steps": 1, "save_every_steps": None, "device": "cpu"}  # fmt: skip
    proc = subprocess.run(
        [sys.executable, "-m", "expert", "train", "--train-manifest", str(work / "prep" / "eval.jsonl"),
         "--model", str(work / "clip"), "--output-dir", str(out), "--config-json", json.dumps(config)],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"expert train failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    records = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()][1:]
    seconds = sum(batch / r["images_per_s"] for r in records)
    return {"workers": workers, "steps": len(records), "images_per_s": len(records) * batch / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--arch", choices=sorted(ARCHS), default="tiny336")
    parser.add_argument(
        "--steps", type=int, default=12, help="training steps per run (the first is not timed)"
    )
    parser.add_argument("--batch", type=int, default=16, help="the recipe's global batch")
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--size", default="512x384", help="WxH of the synthetic images")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    with tempfile.TemporaryDirectory(prefix="bench-expert-") as tmp:
        work = Path(tmp)
        _images(work / "data", args.images, (width, height))
        subprocess.run([sys.executable, "-m", "data_prep", "convert", "--source", "testset_folders", "--input",
                        str(work / "data" / "dataset"), "--output-dir", str(work / "prep")],
                       cwd=REPO, check=True, capture_output=True)  # fmt: skip
        _model(work / "clip", args.arch)
        print(f"expert training on the CPU ({os.cpu_count()} cores): CLIP {args.arch}, batch {args.batch}, "
              f"{args.size} PNGs, authors' augmentation, resize 384, random crop 336")  # fmt: skip
        for workers in args.workers:
            result = _run(work, workers, args.steps, args.batch)
            print(f"  dataloader workers {workers}: {result['images_per_s']:.1f} images/s "
                  f"({result['steps']} timed steps)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
