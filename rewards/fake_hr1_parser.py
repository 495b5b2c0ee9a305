"""Parse a Fake-HR1 response: ``<think>\\n...\\n</think>\\n\\n`` then ``real`` or ``fake``.

Seed 001's system prompt allows two shapes: "no think steps" ``<think>\\n\\n</think>\\n\\nreal or
fake`` for easy images and ``<think>\\n[Your reasoning here]\\n</think>\\n\\nreal or fake``
otherwise. Whitespace amounts are not checked (tokenisation may merge newlines); the structure is:
only whitespace before ``<think>``, exactly one ``<think>`` and one ``</think>``, then only the
answer word (any case) and whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["HybridResponse", "parse_response"]


@dataclass(frozen=True, slots=True)
class HybridResponse:
    ok: bool
    error: str | None = None
    verdict: str | None = None  # "real" or "fake"
    thinking: bool = False  # a non-empty think block (the "hard image" mode)


_LAYOUT = re.compile(r"\s*<think>(.*)</think>\s*(\S*)\s*", re.DOTALL)
_ANSWERS = ("real", "fake")


def parse_response(text: str) -> HybridResponse:
    """Parse a response; never raises."""
    if not isinstance(text, str):
        return HybridResponse(ok=False, error="the response is not a string")
    if text.count("<think>") != 1 or text.count("</think>") != 1:
        return HybridResponse(ok=False, error="<think> and </think> must each appear exactly once")
    layout = _LAYOUT.fullmatch(text)
    if layout is None:
        return HybridResponse(ok=False, error="expected <think>...</think> then the answer and nothing else")
    think, answer = layout.groups()
    answer = answer.lower()
    if answer not in _ANSWERS:
        return HybridResponse(ok=False, error="the answer after </think> must be real or fake")
    return HybridResponse(ok=True, verdict=answer, thinking=bool(think.strip()))
