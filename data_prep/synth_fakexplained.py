"""A small synthetic dataset in the raw FakeXplained layout (data_prep/sources/fakexplained.py).

"Fake" images get artefacts drawn into boxes (a repetitive texture, smeared noise, too many limbs,
warped stripes, an unidentifiable blob, illegible scribbles); each drawn artefact is one region
(box in original pixels + description) and contributes an image-level tag. Some fakes are
posterized as a whole ("Artistic styles") with no region. "Real" images are smooth scenes with
soft shapes and sensor-like noise, no artefacts. Generator names cycle through 002 Table 2, so
every family appears. Everything is a function of the seed.

The output goes through the same converter as the real data:
``python -m data_prep convert --source fakexplained --input <out_dir> ...``.
"""

from __future__ import annotations

import json
import multiprocessing
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from data_prep.fakexplain_format import vocabulary
from data_prep.sources.fakexplained import ANNOTATIONS_FILE, VOCABULARY_FILE

__all__ = ["generate_fakexplained", "ARTEFACTS", "draw_artefacts"]


@dataclass(frozen=True)
class _Artefact:
    name: str
    description: str
    tag: str
    draw: Callable[[np.ndarray, tuple[int, int, int, int], np.random.Generator], None]


def _checker(pixels: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    yy, xx = np.mgrid[y1:y2, x1:x2]
    cell = int(rng.integers(2, 5))
    mask = ((yy // cell + xx // cell) % 2).astype(bool)
    pixels[y1:y2, x1:x2][mask] = rng.integers(180, 255, 3)
    pixels[y1:y2, x1:x2][~mask] = rng.integers(0, 60, 3)


def _noise(pixels: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    pixels[y1:y2, x1:x2] = rng.integers(0, 256, (y2 - y1, x2 - x1, 3))


def _limbs(pixels: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    pixels[y1:y2, x1:x2] = (pixels[y1:y2, x1:x2] * 0.3 + np.array([240, 220, 200]) * 0.7).astype(np.uint8)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    yy, xx = np.mgrid[y1:y2, x1:x2]
    angle = np.arctan2(yy - cy, xx - cx)
    spokes = int(rng.integers(6, 9))
    on_spoke = np.abs(np.sin(angle * spokes / 2)) < 0.25
    pixels[y1:y2, x1:x2][on_spoke] = [90, 40, 30]


def _warp(pixels: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    yy, xx = np.mgrid[y1:y2, x1:x2]
    phase = np.sin((xx - x1) / max(2, (x2 - x1)) * np.pi * float(rng.uniform(2, 4))) * 4
    stripes = (((yy + phase) // 3) % 2).astype(bool)
    pixels[y1:y2, x1:x2][stripes] = [30, 30, 160]
    pixels[y1:y2, x1:x2][~stripes] = [230, 230, 90]


def _blob(pixels: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    pixels[y1:y2, x1:x2] = [255, 0, 200]
    shade = rng.integers(0, 40)
    pixels[y1 + (y2 - y1) // 3 : y2, x1:x2] = [215 - shade, 0, 160]


def _scribble(pixels: np.ndarray, box: tuple[int, int, int, int], rng: np.random.Generator) -> None:
    x1, y1, x2, y2 = box
    pixels[y1:y2, x1:x2] = [245, 245, 240]
    rows = max(1, (y2 - y1) // 6)
    for row in range(rows):
        y = y1 + 2 + row * 6
        if y + 2 > y2:
            break
        for x in range(x1 + 2, x2 - 2, 3):
            if rng.random() < 0.7:
                pixels[y : y + 2, x : x + 2] = [20, 20, 20]


ARTEFACTS: tuple[_Artefact, ...] = (
    _Artefact("checker", "a patch with a repetitive checkerboard texture", "Texture errors", _checker),
    _Artefact("noise", "a region of smeared, noisy pixels", "Texture errors", _noise),
    _Artefact(
        "limbs",
        "an object with too many limbs radiating from its centre",
        "Structure/attribute errors",
        _limbs,
    ),
    _Artefact("warp", "stripes that bend in an impossible way", "Perspective errors", _warp),
    _Artefact("blob", "a glossy magenta object that does not exist", "Unknown objects", _blob),
    _Artefact("scribble", "illegible text-like scribbles", "Other anomalies", _scribble),
)


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
    image += rng.normal(0, 4, image.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


def _random_box(width: int, height: int, taken: list[tuple[int, int, int, int]], rng: np.random.Generator):
    for _ in range(50):
        w = int(rng.integers(max(8, width // 8), max(9, width // 3)))
        h = int(rng.integers(max(8, height // 8), max(9, height // 3)))
        x1, y1 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        box = (x1, y1, x1 + w, y1 + h)
        if all(box[2] <= t[0] or t[2] <= box[0] or box[3] <= t[1] or t[3] <= box[1] for t in taken):
            return box
    return None


def draw_artefacts(
    pixels: np.ndarray, rng: np.random.Generator
) -> list[tuple[tuple[int, int, int, int], _Artefact]]:
    """Draw 1 to 3 random artefacts into non-overlapping boxes of `pixels`; return (box, artefact) pairs."""
    height, width = pixels.shape[:2]
    drawn: list[tuple[tuple[int, int, int, int], _Artefact]] = []
    for _ in range(int(rng.integers(1, 4))):
        box = _random_box(width, height, [b for b, _ in drawn], rng)
        if box is None:
            break
        artefact = ARTEFACTS[int(rng.integers(0, len(ARTEFACTS)))]
        artefact.draw(pixels, box, rng)
        drawn.append((box, artefact))
    return drawn


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
        if rng.random() < 0.125:
            levels = 4
            pixels = (pixels // (256 // levels)) * (256 // levels)
            tags.add("Artistic styles")
        else:
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
    partial = annotations.with_name(annotations.name + ".partial")
    with open(partial, "w", encoding="utf-8") as handle:
        if workers > 1:
            with multiprocessing.get_context("forkserver").Pool(workers) as pool:
                records = pool.imap(_make_one, jobs, chunksize=16)
                for record in records:
                    handle.write(json.dumps(record) + "\n")
        else:
            for job in jobs:
                handle.write(json.dumps(_make_one(job)) + "\n")
    partial.replace(annotations)
    return annotations
