"""Writing the layouts' record files: atomically (common.atomic), UTF-8, deterministic."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from common.atomic import write_text

__all__ = ["write_json_array", "write_jsonl", "relative"]


def write_json_array(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    """A JSON array, one record per line (how FakeClue and ms-swift's json files look)."""
    body = ",\n".join(json.dumps(record, ensure_ascii=False) for record in records)
    return write_text(path, f"[\n{body}\n]\n" if body else "[]\n")


def write_jsonl(path: str | Path, records: Iterable[dict[str, Any]]) -> Path:
    return write_text(path, "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records))


def relative(path: Path, start: Path) -> str:
    """``path`` relative to the folder ``start``, with forward slashes (as the datasets write them)."""
    return path.resolve().relative_to(start.resolve()).as_posix()
