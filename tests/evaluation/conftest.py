"""Fixtures of the evaluation and report tests: real components built on the spot (no hub access).

- ``word_tokenizer``: a real Hugging Face fast tokenizer (tokenizers' WordLevel model) over a small
  vocabulary, for soft scoring and the OpenAI client;
- ``tiny_qwen``: data_prep's tiny random-weight Qwen2.5-VL (slow tests only);
- ``make_manifest``: synthetic images and an eval.jsonl in the data-prep row contract.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable

WORDS = [
    "[UNK]",
    "[PAD]",
    "This",
    "image",
    "is",
    "fake",
    "Fake",
    "real",
    "Real",
    "generated",
    "<verdict>",
    "</verdict>",
    "<think>",
    "</think>",
    "the",
    "a",
    "hand",
    "has",
    "six",
    "fingers",
]


@pytest.fixture(scope="session")
def word_tokenizer_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(WORDS)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]")
    out = tmp_path_factory.mktemp("word_tokenizer")
    fast.save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def word_tokenizer(word_tokenizer_dir: Path) -> Any:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(word_tokenizer_dir)


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from data_prep.tiny_model import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny_qwen") / "model")


def write_image(path: Path, seed: int, size: tuple[int, int] = (100, 80)) -> Path:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3)
    noise = rng.integers(0, 60, (size[1], size[0], 3))
    Image.fromarray(((base + noise) % 256).astype(np.uint8)).save(path)
    return path


def manifest_row(
    item_id: str,
    image: Path,
    label: str,
    generator: str | None = None,
    family: str | None = None,
    boxes: list[list[float]] | None = None,
    region_labels: list[str] | None = None,
    frame: tuple[int, int] | None = (112, 84),
    question: str = "Is this image real or fake?",
) -> dict:
    boxes = boxes or []
    labels = region_labels or ["region looks generated"] * len(boxes)
    return {
        "id": item_id,
        "image": str(image),
        "label": label,
        "generator": generator,
        "family": family,
        "messages": [
            {"role": "system", "content": "You detect AI-generated images."},
            {"role": "user", "content": "<image>" + question},
        ],
        "boxes": boxes,
        "regions": [{"bbox_2d": b, "label": t} for b, t in zip(boxes, labels)],
        "tags": [],
        "frame": {"width": frame[0], "height": frame[1]} if frame else None,
        "orig_width": 100,
        "orig_height": 80,
    }


@pytest.fixture
def make_manifest(tmp_path: Path) -> Callable[..., Path]:
    """make_manifest(n) -> eval.jsonl with n images alternating real/fake over two generators."""

    def make(n: int = 6, directory: Path | None = None) -> Path:
        root = directory or tmp_path / "data"
        root.mkdir(parents=True, exist_ok=True)
        rows = []
        for index in range(n):
            label = "fake" if index % 2 else "real"
            image = write_image(root / f"img{index}.png", seed=index)
            generator = ["SD 1.5", "BigGAN"][index // 2 % 2]
            family = {"SD 1.5": "Diffusion", "BigGAN": "GAN"}[generator]
            boxes = [[10.0, 10.0, 50.0, 40.0]] if label == "fake" else []
            rows.append(
                manifest_row(
                    f"img{index}",
                    image,
                    label,
                    generator,
                    family,
                    boxes,
                    ["hand has six fingers"] * len(boxes),
                )
            )
        path = root / "eval.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
        return path

    return make


def run_module(module: str, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m <module> ...`` from the checkout, as the pipeline renders it."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [PYTHON, "-m", module, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
