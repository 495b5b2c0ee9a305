"""A test set in AIGI-Holmes' folder layout (seed 000), as data_prep/sources/testset_folders.py reads it.

    DIR/TestSet/<generator>/0_real/*.png
    DIR/TestSet/<generator>/1_fake/*.png

``num_fake`` + ``num_real`` images per generator; ``generators`` names the folders (name them as
the paper's result rows, conf/results/<paper>.yaml, so the report fills those rows). Convert with
``convert --source testset_folders --input DIR/TestSet``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from data_prep.synth_layouts import synth_layout
from data_prep.synth_layouts.images import draw, image_sizes, labels

__all__ = ["generate", "TESTSET_DIR", "DEFAULT_GENERATORS"]

TESTSET_DIR = "TestSet"
DEFAULT_GENERATORS = ("FLUX", "SD35-L")  # two of AIGI-Holmes' TestSet folders (seeds.md 2.1)
_STREAM = 401


@synth_layout("testset_folders", source="testset_folders")
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
    """Write TestSet/<generator>/{0_real,1_fake}; return [the TestSet folder]."""
    names = list(generators or DEFAULT_GENERATORS)
    if len(set(names)) != len(names) or any(not n or "/" in n or n in (".", "..") for n in names):
        raise ValueError(f"generators must be distinct folder names, got {names}")
    root = Path(out_dir).resolve() / TESTSET_DIR
    order = labels(num_fake, num_real)
    folders = {"real": "0_real", "fake": "1_fake"}
    for number, generator in enumerate(names):
        stream = _STREAM * 1000 + number
        sizes = image_sizes(len(order), seed, stream, size, vary_size)
        for index, (label, wh) in enumerate(zip(order, sizes)):
            draw(root / generator / folders[label] / f"{index:06d}.png", label, seed, stream, index, wh)
    root.mkdir(parents=True, exist_ok=True)
    return [root]
