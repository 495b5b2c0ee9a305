"""Helpers shared by the source modules: labels, image paths, image tags, conversation shapes."""

from __future__ import annotations

from typing import Any

from data_prep.image_check import image_size
from data_prep.model_frame import model_frame
from data_prep.records import RecordRejected
from data_prep.source_api import resolve_image_path

__all__ = [
    "WORD_LABELS",
    "word_label",
    "checked_images",
    "count_image_tags",
    "ensure_image_tags",
    "sharegpt_to_messages",
    "nonempty_str",
    "resizable_frame",
]

# Words only: 0/1 mean opposite things in different datasets (seeds.md §5.8).
WORD_LABELS = {"real": "real", "fake": "fake", "generated": "fake", "ai-generated": "fake"}


def word_label(value: Any, location: str, mapping: dict[str, str] | None = None) -> str:
    """Normalise a label to real/fake; ``mapping`` (string keys) is consulted first."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise RecordRejected("missing_field", f"{location}: no label")
    key = str(value).strip().lower() if not isinstance(value, bool) else str(value).lower()
    if mapping:
        lowered = {str(k).strip().lower(): v for k, v in mapping.items()}
        if key in lowered:
            return lowered[key]
    if isinstance(value, str) and key in WORD_LABELS:
        return WORD_LABELS[key]
    allowed = sorted(set(WORD_LABELS) | set(str(k) for k in (mapping or {})))
    raise RecordRejected("unknown_label", f"{location}: label {value!r}; expected one of {allowed}")


def nonempty_str(obj: dict[str, Any], key: str, location: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecordRejected("missing_field", f"{location}: '{key}' is missing or empty")
    return value


def checked_images(
    values: Any, base_dir: str, image_root: str | None, verify: bool, location: str
) -> list[str]:
    """Absolute paths of a record's images, each checked to exist (and decode, with ``verify``)."""
    if isinstance(values, str):
        values = [values]
    if values is None:
        values = []
    if not isinstance(values, list):
        raise RecordRejected("bad_record", f"{location}: 'images' must be a list of paths")
    paths = []
    for value in values:
        if isinstance(value, dict):  # ms-swift also accepts {"path": ...}
            value = value.get("path") or value.get("image")
        if not isinstance(value, str) or not value.strip():
            raise RecordRejected("bad_record", f"{location}: image entry {value!r} is not a path")
        path = resolve_image_path(value.strip(), base_dir, image_root).resolve()
        image_size(path, verify=verify)
        paths.append(str(path))
    return paths


def count_image_tags(messages: list[dict[str, Any]]) -> int:
    return sum(str(m.get("content", "")).count("<image>") for m in messages)


def ensure_image_tags(messages: list[dict[str, Any]], images: int, prepend: bool, location: str) -> None:
    """Make the ``<image>`` tags match the images: prepend them to the first user turn when there
    are none (ms-swift 2.x did this for LLaVA), otherwise the counts must agree."""
    tags = count_image_tags(messages)
    if tags == images:
        return
    if tags == 0 and prepend:
        for message in messages:
            if message["role"] == "user":
                message["content"] = "<image>" * images + message["content"]
                return
    raise RecordRejected("media_mismatch", f"{location}: {tags} <image> tag(s) for {images} image(s)")


_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}


def sharegpt_to_messages(conversations: Any, location: str) -> list[dict[str, str]]:
    """LLaVA/ShareGPT ``[{"from": "human"|"gpt", "value": ...}]`` -> ms-swift messages."""
    if not isinstance(conversations, list) or not conversations:
        raise RecordRejected("bad_record", f"{location}: 'conversations' must be a non-empty list")
    messages = []
    for turn in conversations:
        if not isinstance(turn, dict):
            raise RecordRejected("bad_record", f"{location}: a conversation turn is not an object")
        role = _ROLES.get(str(turn.get("from", turn.get("role", ""))).lower())
        text = turn.get("value", turn.get("content"))
        if role is None or not isinstance(text, str):
            raise RecordRejected(
                "bad_record", f"{location}: turn {turn!r} needs from=human|gpt and a string value"
            )
        messages.append({"role": role, "content": text})
    return messages


def resizable_frame(width: int, height: int, min_pixels: int, max_pixels: int, where: str) -> tuple[int, int]:
    """model_frame, or the record rejected as image_not_resizable (`where` names the record and image)."""
    try:
        return model_frame(width, height, min_pixels, max_pixels)
    except ValueError as error:
        raise RecordRejected("image_not_resizable", f"{where}: {error}") from None
