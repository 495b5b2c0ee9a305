"""A small synthetic dataset in the raw FakeXplained layout (data_prep/sources/fakexplained.py).

The data is made to be learnable by a tiny model in a few hundred CPU training steps, so the smoke
run can prove that training and evaluation agree (prompt, chat template, image frame, answer
format): a "real" image is a smooth scene with soft shapes in muted colours and sensor-like noise;
a "fake" one is the same kind of scene with one unmistakable artefact, a saturated two-shade
checkerboard (a texture and colours no real scene here has), filling a 2 x 2 block of cells of a
4 x 3 grid over the image at one of its corners (POSITIONS). Each position has its own colour
pair: a tiny random model has no sense of where an image token sits (Qwen2.5-VL's vision tower has
no absolute position embedding), so the colours tell it which box to write. The artefact is one
region (box in original pixels + description) and gives the image its tag. At the smoke profile's
size (224 x 168, model frame 112 x 84) a grid cell is exactly one merged 28 x 28 image token, the
artefact four of the twelve. Generator names cycle through 002 Table 2, so every family appears.
Everything is a function of the seed.

The output goes through the same converter as the real data:
``python -m data_prep convert --source fakexplained --input <out_dir> ...``.
"""

from __future__ import annotations

import json
import multiprocessing
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from common.atomic import atomic_open
from data_prep.fakexplain_format import vocabulary
from data_prep.sources.fakexplained import ANNOTATIONS_FILE, VOCABULARY_FILE

__all__ = [
    "generate_fakexplained",
    "ARTEFACT",
    "GRID",
    "POSITIONS",
    "Position",
    "artefact_box",
    "draw_artefacts",
]

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class _Artefact:
    name: str
    description: str
    tag: str


@dataclass(frozen=True)
class Position:
    column: int
    row: int
    colours: tuple[tuple[int, int, int], tuple[int, int, int]]  # the checkerboard's two colours here


# The wording is in the tiny models' tokenizer corpus (data_prep/tiny_model.py), so answers stay short.
ARTEFACT = _Artefact("checker", "distorted texture on the surface", "Texture errors")
GRID = (4, 3)  # columns, rows
# A saturated hue and its darker shade: a zero channel no scene here has, and their mean is still
# that hue when a model's resize blurs the squares (complementary pairs would average to grey).
# The artefact covers SPAN cells (columns, rows) from its position: 4 of the 12 image tokens at the
# smoke size. One cell (1 token in 12) was not enough: the tiny model's attention, spread over a
# prompt of about 90 tokens, learned the prompt and never which images had the artefact.
SPAN = (2, 2)
POSITIONS: tuple[Position, ...] = (  # the corners
    Position(0, 0, ((255, 0, 255), (128, 0, 128))),  # magenta
    Position(GRID[0] - SPAN[0], 0, ((0, 255, 255), (0, 128, 128))),  # cyan
    Position(0, GRID[1] - SPAN[1], ((255, 255, 0), (128, 128, 0))),  # yellow
    Position(GRID[0] - SPAN[0], GRID[1] - SPAN[1], ((0, 255, 0), (0, 128, 0))),  # green
)


def artefact_box(width: int, height: int, position: Position) -> Box:
    """The SPAN grid cells from ``position`` in a ``width`` x ``height`` image, in pixels (x1, y1, x2, y2)."""
    columns, rows = GRID
    return (
        round(position.column * width / columns),
        round(position.row * height / rows),
        round((position.column + SPAN[0]) * width / columns),
        round((position.row + SPAN[1]) * height / rows),
    )


def _draw_checker(pixels: np.ndarray, box: Box, position: Position) -> None:
    x1, y1, x2, y2 = box
    # 4-pixel squares at 224 x 168: 2 pixels after the resize into the tiny model's frame.
    cell = max(2, min(pixels.shape[:2]) // 42)
    yy, xx = np.mgrid[0 : y2 - y1, 0 : x2 - x1]
    first = ((yy // cell + xx // cell) % 2 == 0)[..., None]
    one, two = (np.array(c, dtype=np.uint8) for c in position.colours)
    pixels[y1:y2, x1:x2] = np.where(first, one, two)


def draw_artefacts(pixels: np.ndarray, rng: np.random.Generator) -> list[tuple[Box, _Artefact]]:
    """Draw the artefact into one of POSITIONS of ``pixels`` (chosen by ``rng``); return [(box, artefact)]."""
    height, width = pixels.shape[:2]
    position = POSITIONS[int(rng.integers(0, len(POSITIONS)))]
    box = artefact_box(width, height, position)
    _draw_checker(pixels, box, position)
    return [(box, ARTEFACT)]


_SCENE_SATURATION = 0.25  # of the drawn colours' distance from grey


def _scene(width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A smooth 'photo-like' scene: sky-to-ground gradient, a few soft ellipses, sensor noise."""
    top, bottom = rng.integers(60, 200, 3), rng.integers(40, 180, 3)
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    image = (top * (1 - t) + bottom * t) * np.ones((1, width, 1))
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(int(rng.integers(2, 5))):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        rx, ry = rng.uniform(width * 0.08, width * 0.3), rng.uniform(height * 0.08, height * 0.3)
        inside = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2
        weight = np.clip(1.2 - inside, 0, 1)[..., None]
        image = image * (1 - weight) + rng.integers(30, 230, 3) * weight
    # Muted colours: a scene's shapes differ in brightness, barely in hue, so the artefact's
    # saturated colours are found in no real image (a tiny model confuses a saturated blob with it).
    grey = image.mean(axis=2, keepdims=True)
    image = grey + (image - grey) * _SCENE_SATURATION
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "_", name).strip("_")


def _make_one(job: tuple[int, str, str | None, int, int, int, str]) -> dict[str, Any]:
    from PIL import Image

    index, label, generator, seed, width, height, out_dir = job
    rng = np.random.default_rng([seed, index])
    pixels = _scene(width, height, rng)
    refs: list[str] = []
    boxes: list[list[int]] = []
    tags: set[str] = set()
    if label == "fake":
        for box, artefact in draw_artefacts(pixels, rng):
            refs.append(artefact.description)
            boxes.append(list(box))
            tags.add(artefact.tag)
    folder = f"images/fake/{_slug(generator or 'unknown')}" if label == "fake" else "images/real"
    record_id = f"{label}_{index:06d}"
    relative = f"{folder}/{record_id}.png"
    target = Path(out_dir) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(target, compress_level=1)
    record: dict[str, Any] = {
        "id": record_id,
        "image": relative,
        "label": label,
        "width": width,
        "height": height,
    }
    if label == "fake":
        record["generator"] = generator
        record["objects"] = {"ref": refs, "bbox": boxes}
        record["tags"] = sorted(tags)
    else:
        record["generator"] = None
        record["tags"] = []
    return record


def generate_fakexplained(
    out_dir: str | Path,
    *,
    num_fake: int = 40,
    num_real: int = 40,
    seed: int = 0,
    size: tuple[int, int] = (256, 192),
    vary_size: bool = True,
    workers: int = 1,
) -> Path:
    """Write ``annotations.jsonl`` and ``images/`` under ``out_dir``; return the annotations path.

    ``size`` is (width, height); with ``vary_size`` each image's sides vary by up to +-25% so
    the model-frame mapping sees many aspect ratios.
    """
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    vocab = vocabulary(VOCABULARY_FILE)
    generators = sorted({name for name, _ in vocab.generator_lookup.values()})
    rng = np.random.default_rng(seed)
    jobs = []
    for index in range(num_fake + num_real):
        label = "fake" if index < num_fake else "real"
        width, height = size
        if vary_size:
            width = max(32, int(width * rng.uniform(0.75, 1.25)))
            height = max(32, int(height * rng.uniform(0.75, 1.25)))
        generator = generators[index % len(generators)] if label == "fake" else None
        jobs.append((index, label, generator, seed, width, height, str(out)))
    annotations = out / ANNOTATIONS_FILE
    with atomic_open(annotations) as handle:
        if workers > 1:
            with multiprocessing.get_context("forkserver").Pool(workers) as pool:
                records = pool.imap(_make_one, jobs, chunksize=16)
                for record in records:
                    handle.write(json.dumps(record) + "\n")
        else:
            for job in jobs:
                handle.write(json.dumps(_make_one(job)) + "\n")
    return annotations
