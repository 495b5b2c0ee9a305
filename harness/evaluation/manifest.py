"""The evaluation manifest (``eval.jsonl`` written by data preparation): one test image per line.

Row contract (data_prep writes it; ``boxes`` are pixels of the frame the model sees)::

    {"id": str, "image": abs path, "label": "real"|"fake", "generator": str|null, "family": str|null,
     "messages": [system?, {"role": "user", "content": "<image>..."}],
     "boxes": [[x1, y1, x2, y2], ...], "regions": [{"bbox_2d": [...], "label": "..."}], "tags": [...],
     "frame": {"width": W, "height": H} | null}

Extra keys (``orig_width``, ``orig_height``, ...) are kept but not required.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import HarnessError

__all__ = ["EvalItem", "ManifestError", "read_manifest"]

Box = tuple[float, float, float, float]
_LABELS = ("real", "fake")


class ManifestError(HarnessError):
    """The manifest breaks the row contract; the message names the line."""


@dataclass(frozen=True)
class EvalItem:
    id: str
    image: str
    label: str
    generator: str | None
    family: str | None
    messages: tuple[dict[str, Any], ...]
    boxes: tuple[Box, ...] = ()
    region_labels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    frame: tuple[int, int] | None = None  # (width, height) of the model's view of the image
    original_size: tuple[int, int] | None = None  # (width, height) of the image file
    extra: dict[str, Any] = field(default_factory=dict)


def read_manifest(path: str | Path, limit: int | None = None) -> list[EvalItem]:
    """All rows of ``path`` (the first ``limit`` when set); ids must be unique."""
    items: list[EvalItem] = []
    seen: set[str] = set()
    for line_no, row in _rows(Path(path)):
        if limit is not None and len(items) >= limit:
            break
        item = _item(row, f"{path}:{line_no}")
        if item.id in seen:
            raise ManifestError(
                f"{path}:{line_no}: duplicate id {item.id!r}; ids must be unique (resume keys on them)"
            )
        seen.add(item.id)
        items.append(item)
    return items


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise ManifestError(f"no evaluation manifest at {path}")
    with path.open(encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"{path}:{line_no}: not valid JSON ({exc})") from None
            if not isinstance(row, dict):
                raise ManifestError(f"{path}:{line_no}: a row must be a JSON object")
            yield line_no, row


def _item(row: dict[str, Any], where: str) -> EvalItem:
    missing = [k for k in ("id", "image", "label", "messages") if row.get(k) in (None, "")]
    if missing:
        raise ManifestError(f"{where}: missing {', '.join(missing)}")
    label = str(row["label"]).lower()
    if label not in _LABELS:
        raise ManifestError(f"{where}: label must be real or fake, got {row['label']!r}")
    messages = row["messages"]
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        raise ManifestError(f"{where}: messages must be a non-empty list of {{role, content}} objects")
    boxes = tuple(_box(b, where) for b in row.get("boxes") or ())
    regions = row.get("regions") or ()
    region_labels = tuple(str(r.get("label", "")) for r in regions if isinstance(r, dict))
    frame = row.get("frame")
    frame_size = (int(frame["width"]), int(frame["height"])) if isinstance(frame, dict) else None
    original = None
    if row.get("orig_width") and row.get("orig_height"):
        original = (int(row["orig_width"]), int(row["orig_height"]))
    known = {
        "id",
        "image",
        "label",
        "generator",
        "family",
        "messages",
        "boxes",
        "regions",
        "tags",
        "frame",
        "orig_width",
        "orig_height",
    }
    return EvalItem(
        id=str(row["id"]),
        image=str(row["image"]),
        label=label,
        generator=_optional_str(row.get("generator")),
        family=_optional_str(row.get("family")),
        messages=tuple(messages),
        boxes=boxes,
        region_labels=region_labels,
        tags=tuple(str(t) for t in row.get("tags") or ()),
        frame=frame_size,
        original_size=original,
        extra={k: v for k, v in row.items() if k not in known},
    )


def _box(value: Any, where: str) -> Box:
    try:
        x1, y1, x2, y2 = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ManifestError(f"{where}: a box must be [x1, y1, x2, y2], got {value!r}") from None
    return (x1, y1, x2, y2)


def _optional_str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
