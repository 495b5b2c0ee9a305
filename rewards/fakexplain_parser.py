"""Parse a FakeXplain response: think (with grounded regions), tags, verdict.

The contract (shared with data preparation and evaluation):

    <think> reasoning with regions </think> <tag> tags </tag> <verdict> real|fake|generated </verdict>

- each of the three blocks exactly once, in this order, with only whitespace around them;
- a region is Qwen2.5-VL's own grounding JSON object embedded in the reasoning:
  ``{"bbox_2d": [x1, y1, x2, y2], "label": "<why this region looks generated>"}`` with finite
  numbers, x1 < x2, y1 < y2 and a non-empty label; every ``{...}`` of the think block that
  mentions ``bbox_2d`` must be such an object, or the response is unparsable;
- tags: a comma-separated list or a JSON list of the six tags of 002 appendix B (any case,
  surrounding whitespace ignored); empty is allowed;
- the verdict ``real``, ``fake`` or ``generated`` (the authors' code's word), any case; it is
  normalised to ``real`` / ``fake``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from rewards.geometry import Box, clip_boxes
from rewards.tags import canonical_tag

__all__ = ["ParsedResponse", "parse_response", "parse_response_fields"]


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """What a response says. ``ok`` is False when it breaks the contract; ``error`` says how."""

    ok: bool
    error: str | None = None
    verdict: str | None = None  # "real" or "fake"
    boxes: tuple[Box, ...] = ()
    region_labels: tuple[str, ...] = ()  # same order as boxes
    tags: tuple[str, ...] = ()  # canonical names (rewards.tags.FAKEXPLAIN_TAGS)


_MARKERS = ["<think>", "</think>", "<tag>", "</tag>", "<verdict>", "</verdict>"]
# Splitting on every marker gives 13 pieces in a valid response: outside, marker, inside, ...
_SPLIT = re.compile(r"(</?(?:think|tag|verdict)>)")
_VERDICTS = {"real": "real", "fake": "fake", "generated": "fake"}
_INF = float("inf")
_JSON = json.JSONDecoder()
_NUMBER_TYPES = (int, float)


def _layout_error(text: str) -> str:
    for marker in _MARKERS:
        if text.count(marker) != 1:
            return f"{marker} must appear exactly once"
    return "expected <think>...</think> <tag>...</tag> <verdict>...</verdict> in this order"


_KEYS_ERROR = 'a {...} mentioning bbox_2d must have exactly the keys "bbox_2d" and "label"'
_NUMBERS_ERROR = "bbox_2d must be a list of 4 numbers"


def _region_error(obj: object) -> str:
    """Why a decoded ``{...}`` mentioning bbox_2d is not a valid region (it is known not to be)."""
    if type(obj) is not dict or len(obj) != 2 or "bbox_2d" not in obj or "label" not in obj:
        return _KEYS_ERROR
    coords, label = obj["bbox_2d"], obj["label"]
    if type(coords) is not list or len(coords) != 4 or any(type(v) not in _NUMBER_TYPES for v in coords):
        return _NUMBERS_ERROR
    try:
        x1, y1, x2, y2 = (float(v) for v in coords)
    except OverflowError:  # a JSON integer beyond float range
        return "bbox_2d coordinates must be finite"
    if not (x1 < x2 and y1 < y2):  # also false for NaN
        return "bbox_2d needs x1 < x2 and y1 < y2"
    if not (-_INF < x1 and x2 < _INF and -_INF < y1 and y2 < _INF):
        return "bbox_2d coordinates must be finite"
    if type(label) is not str:
        return "a region's label must be a string"
    return "a region's label must not be empty"


def _parse_regions(think: str) -> tuple[list[Box], list[str]] | str:
    """Every region object of the think block, in order, or why the block is invalid.

    Each "{" is tried as the start of a JSON value (json's own decoder: exact JSON semantics, and
    faster here than a regex for the canonical form); values that do not mention bbox_2d are
    skipped, and every mention of bbox_2d must lie inside a valid region. The checks of a valid
    region are inlined (this is the reward's hot loop); _region_error explains a failed one.
    """
    mentions = think.count("bbox_2d")
    boxes: list[Box] = []
    labels: list[str] = []
    if not mentions:
        return boxes, labels
    in_regions = 0
    decode = _JSON.raw_decode
    find = think.find
    numbers = _NUMBER_TYPES
    pos = find("{")
    while pos != -1:
        try:
            obj, end = decode(think, pos)
        except (ValueError, RecursionError):
            pos = find("{", pos + 1)
            continue
        in_value = think.count("bbox_2d", pos, end)
        if in_value:
            box = None
            if type(obj) is dict and len(obj) == 2:
                coords = obj.get("bbox_2d")
                label = obj.get("label")
                if type(coords) is list and len(coords) == 4 and type(label) is str and label.strip():
                    x1, y1, x2, y2 = coords
                    if (
                        type(x1) in numbers
                        and type(y1) in numbers
                        and type(x2) in numbers
                        and type(y2) in numbers
                    ):
                        try:
                            x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
                        except OverflowError:
                            pass
                        else:
                            if x1 < x2 and y1 < y2 and -_INF < x1 and x2 < _INF and -_INF < y1 and y2 < _INF:
                                box = (x1, y1, x2, y2)
            if box is None:
                return _region_error(obj)
            boxes.append(box)
            labels.append(label)
            in_regions += in_value
        pos = find("{", end)
    if mentions != in_regions:
        return "bbox_2d appears outside a valid region object"
    return boxes, labels


def _parse_tags(text: str) -> tuple[str, ...] | str:
    content = text.strip()
    if not content:
        return ()
    if content[0] == "[":
        try:
            items = json.loads(content)
        except (ValueError, RecursionError):
            return "tags starting with [ must be a JSON list"
        if type(items) is not list or any(type(item) is not str for item in items):
            return "a JSON tag list must hold strings only"
    else:
        items = content.split(",")
    tags = []
    for item in items:
        tag = canonical_tag(item)
        if tag is None:
            return f"unknown tag {item.strip()!r}"
        tags.append(tag)
    return tuple(tags)


def parse_response_fields(text: str, frame: tuple[float, float] | None = None) -> tuple:
    """``parse_response`` as a plain tuple ``(error, verdict, boxes, region_labels, tags)``, with
    ``error`` None when the response parses: the reward's hot path, without building an object."""
    if not isinstance(text, str):
        return ("the response is not a string", None, (), (), ())
    pieces = _SPLIT.split(text)
    if len(pieces) != 13 or pieces[1::2] != _MARKERS:
        return (_layout_error(text), None, (), (), ())
    if pieces[0].strip() or pieces[4].strip() or pieces[8].strip() or pieces[12].strip():
        return ("only whitespace may surround the <think>, <tag> and <verdict> blocks", None, (), (), ())
    verdict = _VERDICTS.get(pieces[10].strip().lower())
    if verdict is None:
        return ("the verdict must be real, fake or generated", None, (), (), ())
    regions = _parse_regions(pieces[2])
    if type(regions) is str:
        return (regions, None, (), (), ())
    tags = _parse_tags(pieces[6])
    if type(tags) is str:
        return (tags, None, (), (), ())
    boxes, labels = regions
    if frame is not None and boxes:
        boxes = clip_boxes(boxes, frame[0], frame[1])
    return (None, verdict, tuple(boxes), tuple(labels), tags)


def parse_response(text: str, frame: tuple[float, float] | None = None) -> ParsedResponse:
    """Parse a response by the contract above; never raises.

    ``frame`` = (width, height) of the image as the model sees it: when given, boxes are clipped
    to it (a box wholly outside becomes empty but keeps its place next to its label).
    """
    error, verdict, boxes, labels, tags = parse_response_fields(text, frame)
    return ParsedResponse(
        ok=error is None, error=error, verdict=verdict, boxes=boxes, region_labels=labels, tags=tags
    )
