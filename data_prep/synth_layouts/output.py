"""Writing the layouts' record files: atomically (a ``.partial`` file renamed), UTF-8, deterministic."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["write_json_array", "write_jsonl", "relative"]


def _replace(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(text, encoding="utf-8")
    partial.replace(path)
    return path


def write_json_array(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """A JSON array, one record per line (how FakeClue and ms-swift's json files look)."""
    body = ",\n".join(json.dumps(record, ensure_ascii=False) for record in records)
    return _replace(Path(path), f"[\n{body}\n]\n" if body else "[]\n")


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    return _replace(Path(path), "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def relative(path: Path, start: Path) -> str:
    """``path`` relative to the folder ``start``, with forward slashes (as the datasets write them)."""
    return path.resolve().relative_to(start.resolve()).as_posix()
