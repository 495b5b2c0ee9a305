"""The verdict of a prose answer ("This image is fake. The hands ...", "This is a real photograph").

Models trained on free-form explanations (AIGI-Holmes' Holmes-SFTSet, FakeScope's FakeInstruct) state
their judgement in words rather than in a tagged field. The rule, in order:

1. a statement about the image: ``this|it|the image|picture|photo(graph)`` + ``is|appears to be|
   seems to be|looks`` + optional article/hedge + optional ``not`` + a verdict word; the earliest
   such statement wins and ``not`` flips it ("This image is not real" -> fake);
2. otherwise the earliest verdict word anywhere ("Verdict: AI-generated").

Verdict words: fake class ``fake, ai-generated, generated, synthetic, synthesized, artificial``;
real class ``real, authentic, genuine``. No verdict word at all -> unparsable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["FreeTextVerdict", "parse_free_text_verdict"]

_FAKE_WORDS = ("ai-generated", "ai generated", "generated", "synthetic", "synthesized", "artificial", "fake")
_REAL_WORDS = ("real", "authentic", "genuine")
_WORD = "|".join(re.escape(w) for w in sorted(_FAKE_WORDS + _REAL_WORDS, key=len, reverse=True))
_STATEMENT = re.compile(
    r"\b(?:this(?:\s+(?:image|picture|photo(?:graph)?))?|it|the\s+(?:image|picture|photo(?:graph)?))\s+"
    r"(?:is|appears\s+to\s+be|seems\s+to\s+be|looks(?:\s+to\s+be)?)\s+"
    r"(?:(?:an?|very|most|highly|likely|probably|clearly|definitely|certainly)\s+)*"
    r"(not\s+)?(" + _WORD + r")\b",
    re.IGNORECASE,
)
_ANY_WORD = re.compile(r"(?<![\w-])(" + _WORD + r")(?![\w-])", re.IGNORECASE)


@dataclass(frozen=True)
class FreeTextVerdict:
    ok: bool
    error: str | None = None
    verdict: str | None = None


def _klass(word: str) -> str:
    return "fake" if word.lower() in _FAKE_WORDS else "real"


def _flip(verdict: str) -> str:
    return "real" if verdict == "fake" else "fake"


def parse_free_text_verdict(text: str) -> FreeTextVerdict:
    """The verdict a prose answer states; never raises."""
    if not isinstance(text, str):
        return FreeTextVerdict(ok=False, error="the response is not a string")
    statement = _STATEMENT.search(text)
    if statement is not None:
        verdict = _klass(statement.group(2))
        return FreeTextVerdict(ok=True, verdict=_flip(verdict) if statement.group(1) else verdict)
    word = _ANY_WORD.search(text)
    if word is not None:
        return FreeTextVerdict(ok=True, verdict=_klass(word.group(1)))
    return FreeTextVerdict(ok=False, error="no statement that the image is real or fake")
