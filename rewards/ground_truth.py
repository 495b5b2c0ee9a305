"""The ground truth a grounded reward compares against.

Data preparation writes it as a dict, or that dict's JSON string (verl ``reward_model.ground_truth``,
the ms-swift ``solution`` column): ``{"label": "real"|"fake", "boxes": [[x1, y1, x2, y2], ...]}``
in the pixel frame of the image as the model sees it, and ``"grounding": false`` when the data has
no boxes at all (002 §5.3 no-bbox / label-only: "when bounding boxes are unavailable, the R_G reward
is disabled"; an empty ``boxes`` alone means "annotated, no region"), and ``"format": false`` when the
data's answers are the verdict alone (label-only: the format term is left out too). Parquet round
trips turn the lists into numpy arrays, which are accepted too.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from rewards.geometry import Box

__all__ = ["GroundTruth", "normalise_label", "parse_ground_truth"]

_LABELS = {"real": "real", "fake": "fake", "generated": "fake"}
_INF = float("inf")
_JSON = json.JSONDecoder()
_JSON_SPACE = " \t\n\r"


@dataclass(frozen=True, slots=True)
class GroundTruth:
    label: str  # "real" or "fake"
    boxes: tuple[Box, ...] = ()
    grounded: bool = True  # False: the run's data has no boxes, so no grounding term (002 §5.3)
    formatted: bool = True  # False: the run's answers are the verdict alone, so no format term


def normalise_label(value: Any) -> str:
    """``real`` / ``fake`` from real, fake or generated in any case; ValueError otherwise."""
    label = _LABELS.get(value.strip().lower()) if isinstance(value, str) else None
    if label is None:
        raise ValueError(f"ground-truth label must be 'real' or 'fake' (or 'generated'), got {value!r}")
    return label


def _boxes(values: Any) -> tuple[Box, ...]:
    """Annotated boxes as float tuples: four finite numbers each, x1 < x2 and y1 < y2."""
    if values is None:
        return ()
    try:  # a number, a bool or a numpy scalar (a parquet round trip of a bad record) is no list
        items = iter(values) if not isinstance(values, (str, bytes, Mapping)) else None
    except TypeError:
        items = None
    if items is None:
        raise ValueError(f"ground-truth 'boxes' must be a list of [x1, y1, x2, y2], got {values!r}")
    boxes = []
    for box in items:
        try:
            x1, y1, x2, y2 = box
            x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
        except (TypeError, ValueError, OverflowError):
            raise ValueError(
                f"ground-truth box {len(boxes)} must be 4 numbers (x1, y1, x2, y2), got {box!r}"
            ) from None
        if not (x1 < x2 and y1 < y2 and -_INF < x1 and x2 < _INF and -_INF < y1 and y2 < _INF):
            raise ValueError(f"ground-truth box {len(boxes)} needs finite x1 < x2 and y1 < y2, got {box!r}")
        boxes.append((x1, y1, x2, y2))
    return tuple(boxes)


def _from_mapping(data: Mapping) -> GroundTruth:
    label = data.get("label")
    label = _LABELS.get(label.strip().lower()) if type(label) is str else None
    if label is None:
        if "label" not in data:
            raise ValueError(f"ground truth needs a 'label' key, got keys {sorted(map(str, data))}")
        normalise_label(data["label"])  # raises with the message
    return GroundTruth(
        label=label,
        boxes=_boxes(data.get("boxes")),
        grounded=_switch(data, "grounding"),
        formatted=_switch(data, "format"),
    )


def _switch(data: Mapping, key: str) -> bool:
    """A term switch of the ground truth: true unless the data says false (a non-bool is an error)."""
    value = data.get(key, True)
    if type(value) is not bool:
        raise ValueError(f"ground-truth '{key}' must be true or false, got {value!r}")
    return value


@lru_cache(maxsize=64)
def _from_json(text: str) -> GroundTruth:
    # A GRPO group scores several responses against one ground-truth string: parse it once. Small:
    # ms-swift scores a group in one call, verl spreads a group over its reward workers, and a big
    # cache only keeps objects alive.
    try:
        data, end = _JSON.raw_decode(text, len(text) - len(text.lstrip(_JSON_SPACE)))
    except (ValueError, RecursionError) as exc:
        raise ValueError(f"ground truth is not valid JSON: {exc}") from None
    if end != len(text) and text[end:].strip(_JSON_SPACE):
        raise ValueError(f"ground truth has text after its JSON value: {text[end : end + 40]!r}")
    if not isinstance(data, dict):
        raise ValueError(f"ground-truth JSON must be an object, got {type(data).__name__}")
    return _from_mapping(data)


def parse_ground_truth(value: Any) -> GroundTruth:
    """A GroundTruth from a dict or its JSON string; ValueError saying what is wrong otherwise."""
    if isinstance(value, GroundTruth):
        return value
    if isinstance(value, str):
        return _from_json(value)
    if isinstance(value, Mapping):
        return _from_mapping(value)
    raise ValueError(f"ground truth must be a dict or a JSON string, got {type(value).__name__}")
