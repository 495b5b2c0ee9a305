"""The conversation each backend sends: the manifest's messages, with the image placed where
``<image>`` stands, in the shape the backend wants.

The manifest stores ms-swift-style messages (``{"role": "user", "content": "<image>Is it fake?"}``).
Chat templates of Hugging Face processors want structured content (``[{"type": "image"}, {"type":
"text", ...}]``) and OpenAI-compatible servers want ``image_url`` parts. The same messages feed every
backend, so CPU and GPU evaluations ask the same question.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from typing import Any

from PIL import Image

__all__ = ["IMAGE_PLACEHOLDER", "openai_messages", "structured_messages", "with_system_prompt"]

IMAGE_PLACEHOLDER = "<image>"


def with_system_prompt(messages: Sequence[dict[str, Any]], system_prompt: str | None) -> list[dict[str, Any]]:
    """The messages with their system message replaced by ``system_prompt`` (unchanged when None)."""
    out = [dict(m) for m in messages]
    if system_prompt is None:
        return out
    out = [m for m in out if m.get("role") != "system"]
    return [{"role": "system", "content": system_prompt}, *out]


def _parts(content: Any) -> list[tuple[str, str]]:
    """('image', '') / ('text', s) pieces of a message content, in order."""
    if isinstance(content, list):  # already structured
        pieces = []
        for part in content:
            kind = part.get("type")
            if kind in ("image", "image_url"):
                pieces.append(("image", ""))
            elif kind == "text":
                pieces.append(("text", str(part.get("text", ""))))
        return pieces
    text = str(content)
    pieces = []
    for index, chunk in enumerate(text.split(IMAGE_PLACEHOLDER)):
        if index:
            pieces.append(("image", ""))
        if chunk:
            pieces.append(("text", chunk))
    return pieces


def structured_messages(messages: Sequence[dict[str, Any]]) -> tuple[list[dict[str, Any]], int]:
    """Messages for a Hugging Face chat template, and how many images they reference."""
    out: list[dict[str, Any]] = []
    images = 0
    for message in messages:
        content = []
        for kind, text in _parts(message.get("content", "")):
            if kind == "image":
                content.append({"type": "image"})
                images += 1
            else:
                content.append({"type": "text", "text": text})
        out.append({"role": message["role"], "content": content})
    return out, images


def _data_url(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # lossless: a JPEG round trip would perturb the test image
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def openai_messages(
    messages: Sequence[dict[str, Any]], images: Sequence[Image.Image]
) -> list[dict[str, Any]]:
    """Messages for an OpenAI-compatible chat endpoint; images inline as PNG data URLs."""
    out: list[dict[str, Any]] = []
    remaining = list(images)
    for message in messages:
        content: list[dict[str, Any]] = []
        for kind, text in _parts(message.get("content", "")):
            if kind == "image":
                if not remaining:
                    raise ValueError("the messages reference more images than were given")
                content.append({"type": "image_url", "image_url": {"url": _data_url(remaining.pop(0))}})
            else:
                content.append({"type": "text", "text": text})
        if message.get("role") == "system" and all(c["type"] == "text" for c in content):
            out.append({"role": "system", "content": "".join(c["text"] for c in content)})
        else:
            out.append({"role": message["role"], "content": content})
    return out
