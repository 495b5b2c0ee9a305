"""Response formats: how a model's answer is turned into a verdict (and boxes, region texts).

A format is declared by the module that owns the answer contract, which for a GRPO paper is its
reward module: the evaluation then reads answers with the reward's own parser. For example::

    from common.response_formats import ParsedAnswer, response_format

    @response_format("think_answer", corpus=("<think>", "</think>", "real", "fake"))
    def parse_answer(text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer: ...

``eval.response_format`` names one. The project's own formats are declared in ``rewards/`` and
``harness/evaluation/`` (found without importing them, see :mod:`common.registry`); a plugin's
(:mod:`common.plugins`) register when it is imported. ``corpus`` lists the strings the format's
answers are made of; the tiny smoke-test model's tokenizer learns them (data_prep/tiny_model.py).

A parser never raises: an answer it cannot read has ``ok=False`` and an ``error``; such answers
count as wrong in accuracy and are counted separately.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from common.registry import Registry

__all__ = ["ParsedAnswer", "RESPONSE_FORMATS", "ResponseFormat", "parse_answer", "response_format"]

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class ParsedAnswer:
    ok: bool
    error: str | None = None
    verdict: str | None = None  # "real" | "fake"
    boxes: tuple[Box, ...] = ()
    region_labels: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    thinking: bool | None = None  # formats with an optional think block: a non-empty one


# A parser takes the full response text and the (width, height) frame the boxes live in.
ResponseParser = Callable[[str, "tuple[int, int] | None"], ParsedAnswer]


@dataclass(frozen=True)
class ResponseFormat:
    name: str
    parse: ResponseParser
    corpus: tuple[str, ...] = ()

    def __call__(self, text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
        return self.parse(text, frame)


RESPONSE_FORMATS: Registry[ResponseFormat] = Registry(
    "response format", packages=("rewards", "harness.evaluation"), declarator="response_format"
)


def response_format(name: str, *, corpus: Iterable[str] = ()) -> Callable[[ResponseParser], ResponseParser]:
    """Declare the decorated parser as the response format ``name``."""

    def declare(parser: ResponseParser) -> ResponseParser:
        entry = ResponseFormat(name=name, parse=parser, corpus=tuple(corpus))
        RESPONSE_FORMATS.add(name, entry, declared_in=parser.__module__)
        return parser

    return declare


def parse_answer(format_name: str, text: str, frame: tuple[int, int] | None = None) -> ParsedAnswer:
    """Parse ``text`` with the registered format ``format_name``."""
    return RESPONSE_FORMATS.get(format_name)(text, frame)
