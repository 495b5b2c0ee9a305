"""A folder of built tiny models, reused by (architecture, seed) instead of building again.

Building a tiny model imports transformers and its model code (about 18 s on a 2-core machine),
which every smoke pipeline pays in its `tiny_model` stage although the result is the same files
for the same architecture and seed (tests/data_prep/test_tiny_model.py checks the build is
deterministic). With ``AIGI_TINY_MODEL_CACHE=<dir>`` set, `python -m data_prep tiny-model` copies
a model built earlier from ``<dir>/<arch>-seed<seed>/`` and otherwise builds it and keeps a copy
there. The copy is written under a temporary name and renamed, so a concurrent run sees a complete
model or none. The cache knows nothing about code changes: point it at a fresh folder per test
session (tests/smoke/conftest.py does) or clear it after changing data_prep/tiny_model.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

CACHE_ENV = "AIGI_TINY_MODEL_CACHE"

__all__ = ["CACHE_ENV", "build_or_copy"]


def build_or_copy(kind: str, seed: int, output_dir: Path, build: Callable[[], Path]) -> tuple[Path, bool]:
    """(the model folder, whether it came from the cache); without the variable, ``build()``."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        return build(), False
    entry = Path(root) / f"{kind}-seed{seed}"
    if entry.is_dir():
        shutil.copytree(entry, output_dir, dirs_exist_ok=True)
        return output_dir, True
    built = build()
    staging = entry.with_name(f".{entry.name}.{os.getpid()}")
    shutil.copytree(built, staging)
    try:
        os.rename(staging, entry)
    except OSError:  # another run kept its copy first: the same files
        shutil.rmtree(staging, ignore_errors=True)
    return built, False
