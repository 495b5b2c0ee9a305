"""The training corpus of the tiny smoke-test models' tokenizers (data_prep/tiny_model.py).

Not a list kept per paper: what every registered response format declares as its answers' strings
(common/response_formats.py: FakeXplain's markup and tags, Fake-HR1's think block, free-text
verdicts, a plugin's own) and the texts every registered synthetic layout's records contain
(data_prep/synth_layouts/: the FakeXplained chat templates and vocabulary), plus the words any
detection prompt shares and the digits of boxes. Twenty repetitions keep the markup's merges; the
order does not matter to the BPE trainer, only the multiset of words.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["tokenizer_corpus"]

# Words of AI-generated-image detection that any paper's prompts and answers share; what each
# paper adds is registered with its response format and its synthetic layout (_registered_texts).
_GENERIC_LINES = (
    "real",
    "fake",
    "Is this image real or AI-generated?",
    "Inspect the image and decide if it is real or fake.",
    "You are an expert in detecting AI-generated images.",
)


def _registered_texts() -> Iterator[str]:
    """The corpus of every registered response format (once each) and the texts of every synthetic
    layout: the markup, tags and wording of the project's papers and of any plugin's."""
    from common.response_formats import RESPONSE_FORMATS
    from data_prep.synth_layouts import LAYOUTS

    seen = set(_GENERIC_LINES)
    for response_format in RESPONSE_FORMATS.load_all().values():
        for text in response_format.corpus:
            if text not in seen:
                seen.add(text)
                yield text
    for layout in LAYOUTS.load_all().values():
        if layout.texts is not None:
            yield from layout.texts()


def tokenizer_corpus(extra_texts: Iterable[str] = ()) -> Iterator[str]:
    """The deterministic training corpus of the tiny tokenizer (the markup, numbers, words)."""
    registered = list(_registered_texts())
    for _ in range(20):
        yield from _GENERIC_LINES
        yield from registered
    for number in range(0, 1001):
        yield f'{{"bbox_2d": [{number}, {number % 97}, {number + 7}, {number % 89 + 9}], "label": "x"}}'
    yield from extra_texts
