"""A folder of built tiny models, reused by (architecture, seed) instead of building again.

Building a tiny model imports transformers and its model code (about 18 s on a 2-core machine),
which every smoke pipeline pays in its `tiny_model` stage although the result is the same files
for the same architecture and seed (tests/data_prep/test_tiny_model.py checks the build is
deterministic). With ``AIGI_TINY_MODEL_CACHE=<dir>`` set, `python -m data_prep tiny-model` copies
a model built earlier from ``<dir>/<arch>-seed<seed>-<digest>/`` and otherwise builds it and keeps
a copy there. The digest covers everything else a build reads: the builder's code and settings and
the tokenizer corpus, which grows with every registered response format (a plugin's included), so
a model built for other formats is never reused. The copy is written under a temporary name and
renamed, so a concurrent run sees a complete model or none.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable
from pathlib import Path

from common.atomic import copy_tree_once
from data_prep.conf_data import CONF_DATA_DIR

CACHE_ENV = "AIGI_TINY_MODEL_CACHE"

__all__ = ["CACHE_ENV", "build_or_copy"]


def build_inputs_digest() -> str:
    """What a build depends on besides (arch, seed): the builder's code and settings, and the
    tokenizer corpus, which includes every registered response format (a plugin's too)."""
    from data_prep.tiny_corpus import tokenizer_corpus

    digest = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for source in (
        here / "tiny_model.py",
        here / "tiny_corpus.py",
        *sorted(CONF_DATA_DIR.glob("tiny_*.yaml")),
    ):
        digest.update(source.read_bytes())
    for text in tokenizer_corpus():
        digest.update(text.encode() + b"\n")
    return digest.hexdigest()[:16]


def build_or_copy(kind: str, seed: int, output_dir: Path, build: Callable[[], Path]) -> tuple[Path, bool]:
    """(the model folder, whether it came from the cache); without the variable, ``build()``."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        return build(), False
    entry = Path(root) / f"{kind}-seed{seed}-{build_inputs_digest()}"
    if entry.is_dir():
        shutil.copytree(entry, output_dir, dirs_exist_ok=True)
        return output_dir, True
    built = build()
    copy_tree_once(built, entry)  # another run's copy kept first is the same files
    return built, False
