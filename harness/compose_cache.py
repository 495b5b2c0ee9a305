"""The composed config of one command line, kept in the user's cache: Hydra needs 0.4-0.7 s to
compose `conf/` (YAML parsing and deep copies in its defaults tree), the largest part of a dry run.

The key hashes everything composing reads: the bytes of every YAML file in the config folders (`conf/`
and any `hydra.searchpath` folder), the source of the structured schemas' modules
(harness/config_schemas.py and the dataclasses it registers), the hydra-core, omegaconf and Python
versions, and the overrides in order. An edited file, schema or override is another key; only
successful compositions are stored (an error is raised by Hydra on every call, as before). The
composed config is kept unresolved (interpolations, struct flag and all) as Hydra returned it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import sys
import typing
from collections.abc import Callable, Sequence
from pathlib import Path

from omegaconf import DictConfig

from common.atomic import atomic_open
from common.user_cache import user_cache_dir

__all__ = ["cache_path", "cached_compose"]

# Compositions kept (about 170 KB each); the least recently used beyond it are removed when one is
# written. Every table of every paper in both profiles is about 115 (fakexplain table=all: 43): at 64
# one such table evicted the other's, and each of its dry runs composed all 42 runs again.
KEEP = 256


def cached_compose(
    folders: Sequence[Path], overrides: Sequence[str], compose: Callable[[], DictConfig]
) -> DictConfig:
    """``compose()``'s result for these folders and overrides, from the cache when it has it."""
    path = cache_path(folders, overrides)
    try:
        with path.open("rb") as handle:
            cached = pickle.load(handle)
        if isinstance(cached, DictConfig):
            path.touch()  # recently used: pruning removes the least recently used first
            return cached
    except Exception:  # absent, truncated or written by another omegaconf: compose again
        pass
    cfg = compose()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(path, "wb", encoding=None) as handle:
            pickle.dump(cfg, handle)
        _prune(path.parent)
    except (OSError, pickle.PicklingError):  # a read-only home: composing still works, only slower
        pass
    return cfg


def cache_path(folders: Sequence[Path], overrides: Sequence[str]) -> Path:
    digest = hashlib.sha256()
    digest.update(_library_stamp().encode())
    digest.update(f"python {sys.version}\n".encode())
    for file in _schema_files():
        digest.update(f"schema {file}\n".encode())
        digest.update(file.read_bytes())
    for folder in folders:
        digest.update(f"folder {folder}\n".encode())
        if folder.is_dir():
            for file in sorted(p for p in folder.rglob("*.y*ml") if p.suffix in (".yaml", ".yml")):
                digest.update(f"{file.relative_to(folder)}\n".encode())
                digest.update(file.read_bytes())
    for override in overrides:
        digest.update(f"override {override}\0".encode())
    return user_cache_dir("compose") / f"config-{digest.hexdigest()[:24]}.pickle"


def _library_stamp() -> str:
    """omegaconf's version and hydra's __init__ (it holds __version__; hydra is not imported on a
    cache hit), without importlib.metadata (~0.05 s to import)."""
    import importlib.util

    from omegaconf import version

    spec = importlib.util.find_spec("hydra")
    hydra_init = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else "none"
    return f"omegaconf=={version.__version__}\nhydra {hashlib.sha256(hydra_init.encode()).hexdigest()}\n"


def _schema_files() -> list[Path]:
    """The source files of the registered schemas: config_schemas.py and every module defining
    one of the dataclasses it registers or nests."""
    from harness import config_schemas

    files = {Path(config_schemas.__file__)}
    seen: set[type] = set()
    pending = list(config_schemas._schemas().values())
    while pending:
        cls = pending.pop()
        if cls in seen:
            continue
        seen.add(cls)
        files.add(Path(sys.modules[cls.__module__].__file__ or ""))
        for hint in typing.get_type_hints(cls).values():
            pending += [t for t in _types_in(hint) if dataclasses.is_dataclass(t)]
    return sorted(files)


def _types_in(hint: object) -> list[type]:
    found = [hint] if isinstance(hint, type) else []
    for arg in typing.get_args(hint):
        found += _types_in(arg)
    return found


def _prune(folder: Path) -> None:
    files = sorted(folder.glob("config-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in files[KEEP:]:
        old.unlink(missing_ok=True)
