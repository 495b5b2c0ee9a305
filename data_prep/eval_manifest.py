"""The evaluation manifest (``eval.jsonl``): one row per image, the same shape for every source.

    {"id": str, "image": absolute path, "label": "real" | "fake",
     "generator": str | null, "family": str | null,
     "messages": [system?, {"role": "user", "content": "<image>..."}],
     "boxes": [[x1, y1, x2, y2], ...],       # model frame; empty for real images or no annotation
     "regions": [{"bbox_2d": [...], "label": "..."}],
     "tags": [...],
     "frame": {"width": W, "height": H} | null}   # the Qwen2.5-VL frame, when known

Ids are unique within a manifest (the stage rejects a repeated id as ``duplicate_id``; the
evaluation resumes by id). Sources may add keys (FakeXplained adds ``orig_width`` /
``orig_height``, the original image size).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["EVAL_FILE", "eval_row", "prompt_messages", "DEFAULT_QUERY"]

EVAL_FILE = "eval.jsonl"
# not in the papers: written for this project (a neutral question; recipes override it).
DEFAULT_QUERY = "Is this image real or AI-generated?"


def prompt_messages(query: str, system: str | None) -> list[dict[str, str]]:
    """[system?, user]; the user turn starts with the one image tag."""
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": "<image>" + query})
    return messages


def eval_row(
    *,
    record_id: str,
    image: str,
    label: str,
    generator: str | None,
    family: str | None,
    messages: list[dict[str, str]],
    boxes: Sequence[Sequence[int]] = (),
    regions: Sequence[dict[str, Any]] = (),
    tags: Sequence[str] = (),
    frame: tuple[int, int] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    if label not in ("real", "fake"):
        raise ValueError(f"eval label must be 'real' or 'fake', got {label!r}")
    return {
        "id": record_id,
        "image": image,
        "label": label,
        "generator": generator,
        "family": family,
        "messages": messages,
        "boxes": [list(box) for box in boxes],
        "regions": list(regions),
        "tags": list(tags),
        "frame": {"width": frame[0], "height": frame[1]} if frame else None,
        **extra,
    }
