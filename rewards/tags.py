"""FakeXplained's image-level tags (seed 002, appendix B "Definition of tags").

The appendix says "exactly five" but defines six; all six are accepted (seeds.md §5.6).

Annotators and models spell tags loosely (``Texture Error``, ``artistic style``,
``structure / attribute errors``): ``tag_key`` folds case, separators and singular/plural so these
meet the canonical name. Data preparation adds the synonyms of ``conf/data_prep/fakexplain.yaml``
on top of the same key.
"""

from __future__ import annotations

import re

__all__ = ["FAKEXPLAIN_TAGS", "canonical_tag", "tag_key"]

# 002 appendix B, in the order it lists them; these spellings are the canonical names.
FAKEXPLAIN_TAGS: tuple[str, ...] = (
    "Perspective errors",
    "Artistic styles",
    "Unknown objects",
    "Structure/attribute errors",
    "Texture errors",
    "Other anomalies",
)

_WORD_SPLIT = re.compile(r"[\s._\-/]+")


def _singular(word: str) -> str:
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"  # anomalies -> anomaly
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]  # errors -> error, styles -> style
    return word


def tag_key(text: str) -> str:
    """A spelling-insensitive key: case, spaces, dots, dashes, underscores, slashes and
    singular/plural do not matter (``Texture Error`` and ``texture-errors`` share a key)."""
    return "".join(_singular(word) for word in _WORD_SPLIT.split(text.strip().casefold()) if word)


# Exact (case-folded) spellings first: the reward's hot path does one dict look-up per tag.
_BY_NAME: dict[str, str] = {tag.casefold(): tag for tag in FAKEXPLAIN_TAGS}
_BY_KEY: dict[str, str] = {tag_key(tag): tag for tag in FAKEXPLAIN_TAGS}


def canonical_tag(text: str) -> str | None:
    """The canonical name of a tag written in any case, any spacing, singular or plural; or None."""
    found = _BY_NAME.get(text.strip().casefold())
    return found if found is not None else _BY_KEY.get(tag_key(text))
