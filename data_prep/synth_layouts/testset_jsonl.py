"""A test set as Fake-HR1's evaluation jsonl (seed 001), as data_prep/sources/testset_jsonl.py reads it.

    DIR/testset.jsonl   {"file_path": "images/<label>/<n>.png", "label": "fake"|"real"} per line
                        (001 README); with ``generators`` also "generator" (cycling)
    DIR/images/{fake,real}/   the images (paths relative to DIR)

``num_fake`` + ``num_real`` images. Convert with ``convert --source testset_jsonl --input DIR/testset.jsonl``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from data_prep.synth_layouts import synth_layout
from data_prep.synth_layouts.images import draw, image_sizes, labels
from data_prep.synth_layouts.output import relative, write_jsonl

__all__ = ["generate", "TESTSET_FILE"]

TESTSET_FILE = "testset.jsonl"
_STREAM = 501


@synth_layout("testset_jsonl", source="testset_jsonl")
def generate(
    out_dir: str | Path,
    *,
    num_fake: int = 4,
    num_real: int = 4,
    generators: Sequence[str] | None = None,
    seed: int = 0,
    size: tuple[int, int] = (256, 192),
    vary_size: bool = True,
) -> list[Path]:
    """Write testset.jsonl and its images; return [the jsonl]."""
    root = Path(out_dir).resolve()
    names = list(generators or [])
    order = labels(num_fake, num_real)
    sizes = image_sizes(len(order), seed, _STREAM, size, vary_size)
    records = []
    for index, (label, wh) in enumerate(zip(order, sizes)):
        image = draw(root / "images" / label / f"{index:06d}.png", label, seed, _STREAM, index, wh)
        record: dict[str, Any] = {"file_path": relative(image.path, root), "label": label}
        if names:
            record["generator"] = names[index % len(names)]
        records.append(record)
    return [write_jsonl(root / TESTSET_FILE, records)]
