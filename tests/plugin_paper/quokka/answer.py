"""Quokka's answer contract: the whole answer is ``[[real]]`` or ``[[fake]]``."""

from __future__ import annotations

import re

VERDICT = re.compile(r"\s*\[\[(real|fake)\]\]\s*")
ANSWERS = {"real": "[[real]]", "fake": "[[fake]]"}


def verdict(text: str) -> str | None:
    """``real`` / ``fake``, or None when ``text`` breaks the contract."""
    match = VERDICT.fullmatch(text) if isinstance(text, str) else None
    return match.group(1) if match else None
