"""FakeXplained's image-level tags (seed 002, appendix B "Definition of tags").

The appendix says "exactly five" but defines six; all six are accepted (seeds.md §5.6).
"""

from __future__ import annotations

# 002 appendix B, in the order it lists them; these spellings are the canonical names.
FAKEXPLAIN_TAGS: tuple[str, ...] = (
    "Perspective errors",
    "Artistic styles",
    "Unknown objects",
    "Structure/attribute errors",
    "Texture errors",
    "Other anomalies",
)

_BY_KEY: dict[str, str] = {tag.casefold(): tag for tag in FAKEXPLAIN_TAGS}
# 002 appendix B also writes "Artistic Style" once (as does conf/data_prep/fakexplain.yaml's alias).
_BY_KEY["artistic style"] = "Artistic styles"


def canonical_tag(text: str) -> str | None:
    """The canonical name of a tag written in any case with any surrounding whitespace, or None."""
    return _BY_KEY.get(text.strip().casefold())
