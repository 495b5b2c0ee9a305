"""A synthetic Quokka dataset: train.csv and test.csv with their images (drawn by the harness's helpers)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from data_prep.synth_layouts import synth_layout
from data_prep.synth_layouts.images import draw, image_sizes, labels
from quokka.source import QUESTION

_STREAM = 9001


def texts() -> Iterator[str]:
    yield QUESTION


def _write(
    root: Path, name: str, num_fake: int, num_real: int, seed: int, stream: int, size, vary_size
) -> Path:
    order = labels(num_fake, num_real)
    rows = []
    for index, (label, wh) in enumerate(zip(order, image_sizes(len(order), seed, stream, size, vary_size))):
        image = draw(root / name / f"{index:04d}.png", label, seed, stream, index, wh)
        rows.append({"image": image.path.relative_to(root).as_posix(), "label": label})
    path = root / f"{name}.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=["image", "label"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@synth_layout("quokka", source="quokka", texts=texts)
def generate(
    out_dir: str | Path,
    *,
    num_fake: int = 4,
    num_real: int = 4,
    seed: int = 0,
    size: tuple[int, int] = (96, 72),
    vary_size: bool = True,
) -> list[Path]:
    """Write train.csv (num_fake + num_real images) and test.csv (half as many); return both."""
    root = Path(out_dir).resolve()
    root.mkdir(parents=True, exist_ok=True)
    train = _write(root, "train", num_fake, num_real, seed, _STREAM, size, vary_size)
    test = _write(
        root, "test", max(1, num_fake // 2), max(1, num_real // 2), seed, _STREAM + 1, size, vary_size
    )
    return [train, test]
