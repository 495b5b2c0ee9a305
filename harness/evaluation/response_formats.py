"""Response formats: how a model's answer is turned into a verdict (and boxes, region texts).

Registered names (``eval.response_format``):

- ``think_tag_verdict``: ``<think> ... {"bbox_2d": [...], "label": "..."} ... </think> <tag>...</tag>
  <verdict>real|fake|generated</verdict>``; the parser is the GRPO reward's own
  (``rewards.fakexplain.parse_response``), so evaluation and reward read answers the same way.
- ``think_answer``: ``<think>\\n...\\n</think>\\n\\nreal|fake`` (``rewards.fake_hr1.parse_response``);
  ``thinking`` says whether the think block is non-empty.
- ``free_text_verdict``: prose that states real or fake (``harness.evaluation.free_text``).

A parser never raises: an answer it cannot read has ``ok=False`` and an ``error``; such answers
count as wrong in accuracy and are counted separately.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from common.registry import Registry

__all__ = ["ParsedAnswer", "RESPONSE_FORMATS", "parse_answer"]

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ParsedAnswer:
    ok: bool
    error: str | None = None
    verdict: str | None = None  # "real" | "fake"
    boxes: tuple[Box, ...] = ()
    region_labels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    thinking: bool | None = None  # think_answer only: a non-empty think block


# A parser takes the full response text and the (width, height) frame the boxes live in.
ResponseParser = Callable[[str, "tuple[int, int] | None"], ParsedAnswer]
RESPONSE_FORMATS: Registry[ResponseParser] = Registry("response format")


@RESPONSE_FORMATS.register("think_tag_verdict")
def _think_tag_verdict(text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    from rewards.fakexplain import parse_response

    parsed = parse_response(text, frame)
    return ParsedAnswer(
        ok=parsed.ok,
        error=parsed.error,
        verdict=parsed.verdict,
        boxes=tuple(parsed.boxes),
        region_labels=tuple(parsed.region_labels),
        tags=tuple(parsed.tags),
    )


@RESPONSE_FORMATS.register("think_answer")
def _think_answer(text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    from rewards.fake_hr1 import parse_response

    parsed = parse_response(text)
    return ParsedAnswer(
        ok=parsed.ok,
        error=parsed.error,
        verdict=parsed.verdict,
        thinking=parsed.thinking if parsed.ok else None,
    )


@RESPONSE_FORMATS.register("free_text_verdict")
def _free_text_verdict(text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    from harness.evaluation.free_text import parse_free_text_verdict

    parsed = parse_free_text_verdict(text)
    return ParsedAnswer(ok=parsed.ok, error=parsed.error, verdict=parsed.verdict)


def parse_answer(format_name: str, text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    """Parse ``text`` with the registered format ``format_name``."""
    return RESPONSE_FORMATS.get(format_name)(text, frame)
