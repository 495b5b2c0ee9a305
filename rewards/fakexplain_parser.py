"""Parse a FakeXplain response: think (with grounded regions), tags, verdict.

The contract (shared with data preparation and evaluation), in either of two layouts:

    <think> reasoning with regions </think> <tag> tags </tag> <verdict> v </verdict>     this project's
    <think> reasoning with regions <tag> tags </tag> ... </think> <verdict> v </verdict>  the authors'

- each block exactly once, only whitespace outside them; the tag block may be left out when the
  verdict is real (the authors' format check asks tags of fake answers only: mllm-defake
  ``rewards/utils.py`` ``check_format``);
- regions sit in the think block, spelled in any of four ways:

  ``json``    Qwen2.5-VL's grounding JSON, ``{"bbox_2d": [x1, y1, x2, y2], "label": "<why>"}``:
              finite numbers, x1 < x2, y1 < y2, a non-empty label; every ``{...}`` mentioning
              ``bbox_2d`` must be such an object;
  ``tokens``  ms-swift's Qwen2.5-VL grounding (``QWENVL_BBOX_FORMAT=legacy``, what the authors
              trained on): ``<|object_ref_start|>label<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>``,
              the box also accepted as ``[x1, y1, x2, y2]`` (the authors' own GRPO data loader writes
              ``str(bbox)``); every one of the four tokens must belong to such a region;
  ``bare``    the token form after a decoder dropped the special tokens (``skip_special_tokens=True``:
              verl's reward managers, this project's evaluation backends): ``label(x1,y1),(x2,y2)``.
              The label is then the text since the previous region or the last ``.``, ``:``, ``;``
              or line break, the best that can be recovered;

  ``internvl`` InternVL's grounding, ``<ref>label</ref><box>[[x1, y1, x2, y2]]</box>`` (ms-swift 4.6
              ``swift/template/templates/internvl.py`` ``replace_ref`` / ``replace_bbox`` writing
              ``f'<box>[{bbox}]</box>'``; several boxes of one label as ``[[...], [...]]``), in
              0-1000 units of the image (the template's ``norm_bbox = 'norm1000'``): each box
              well-formed, coordinates in [0, 1000], x1 < x2 and y1 < y2; after a decoder
              dropped the four markup tokens (special tokens of InternVL's tokenizer), the bare
              ``label[[x1, y1, x2, y2]]``, its label recovered as for ``bare``;

  coordinates are pixels of the image as the model sees it for the first three, 0-1000 units for
  ``internvl`` (data preparation writes the ground truth and the frame in the same units, so the
  IoU needs no conversion: scaling both axes keeps it);
- tags: a comma- or semicolon-separated list or a JSON list of the six tags of 002 appendix B,
  spelled loosely (``rewards.tags.canonical_tag``: case, spacing, singular/plural); empty is allowed;
- the verdict ``real``, ``fake`` or ``generated`` (the authors' word), any case; normalised to
  ``real`` / ``fake``.

Two readings:
- strict (``parse_response``, ``parse_response_fields``): the whole contract, or an error; what
  evaluation reports and what the reward's format term judges;
- lenient (``read_response_fields``): the reward's label and grounding terms, scored even when the
  structure is broken: the verdict of the last ``<verdict>...</verdict>`` block and every region
  that parses anywhere in the response (seeds 002 §4.3-4.4 score the terms separately).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from rewards.geometry import Box, clip_boxes
from rewards.tags import canonical_tag

__all__ = [
    "ParsedResponse",
    "parse_response",
    "parse_response_fields",
    "parse_verdict_only",
    "read_response_fields",
]


@dataclass(frozen=True, slots=True)
class ParsedResponse:
    """What a response says. ``ok`` is False when it breaks the contract; ``error`` says how."""

    ok: bool
    error: str | None = None
    verdict: str | None = None  # "real" or "fake"
    boxes: tuple[Box, ...] = ()
    region_labels: tuple[str, ...] = ()  # same order as boxes
    tags: tuple[str, ...] = ()  # canonical names (rewards.tags.FAKEXPLAIN_TAGS)


_THINK_MARKERS = ("<think>", "</think>", "<verdict>", "</verdict>")
_TAG_MARKERS = ("<tag>", "</tag>")
# Splitting on every marker: outside, marker, inside, marker, ... (13 pieces with a tag block, 9 without).
_SPLIT = re.compile(r"(</?(?:think|tag|verdict)>)")
_OURS = ["<think>", "</think>", "<tag>", "</tag>", "<verdict>", "</verdict>"]
_AUTHORS = ["<think>", "<tag>", "</tag>", "</think>", "<verdict>", "</verdict>"]
_NO_TAG = ["<think>", "</think>", "<verdict>", "</verdict>"]
_VERDICTS = {"real": "real", "fake": "fake", "generated": "fake"}
_INF = float("inf")
_JSON = json.JSONDecoder()
_NUMBER_TYPES = (int, float)
_OUTSIDE_ERROR = "only whitespace may surround the <think>, <tag> and <verdict> blocks"
_NEEDS_TAGS = "a fake verdict needs a <tag> block (inside or after <think>)"

# ms-swift's Qwen2.5-VL grounding tokens (swift/template/templates/qwen.py replace_ref/replace_bbox).
REF_START, REF_END = "<|object_ref_start|>", "<|object_ref_end|>"
BOX_START, BOX_END = "<|box_start|>", "<|box_end|>"
_TOKEN_ERROR = "every region needs <|object_ref_start|>description<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>"
_NUM = r"([-+]?\d+(?:\.\d+)?)"
_PAIRS = rf"\(\s*{_NUM}\s*,\s*{_NUM}\s*\)\s*,\s*\(\s*{_NUM}\s*,\s*{_NUM}\s*\)"
_TOKEN_BOX = re.compile(rf"\s*(?:{_PAIRS}|\[\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*\])\s*")
# ms-swift's exact spelling "(x1,y1),(x2,y2)" with integers: the common case, matched first.
_SWIFT_BOX = re.compile(r"\((\d+),(\d+)\),\((\d+),(\d+)\)")
_BARE_BOX = re.compile(_PAIRS)
_LABEL_CUT = ".:;\n"

# InternVL's grounding markup (ms-swift swift/template/templates/internvl.py Internvl2Template).
IVL_REF_START, IVL_REF_END, IVL_BOX_START, IVL_BOX_END = "<ref>", "</ref>", "<box>", "</box>"
IVL_NORM = 1000  # InternVL boxes are 0-1000 of the image (ms-swift norm_bbox 'norm1000')
_IVL_ERROR = "every InternVL region needs <ref>description</ref><box>[[x1, y1, x2, y2]]</box>"
_IVL_BOX = rf"\[\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*,\s*{_NUM}\s*\]"
_IVL_BOXES = re.compile(rf"\s*\[\s*{_IVL_BOX}(?:\s*,\s*{_IVL_BOX})*\s*\]\s*")
_IVL_ONE = re.compile(_IVL_BOX)
# The same boxes after a decoder dropped InternVL's markup: <ref>, </ref>, <box>, </box> are added
# special tokens of InternVL's tokenizer (vocab 92544 + 9 = llm_config.vocab_size 92553), and
# skip_special_tokens=True (verl's reward managers, this project's evaluation backends) removes them.
_IVL_BARE = re.compile(rf"\[\s*{_IVL_BOX}(?:\s*,\s*{_IVL_BOX})*\s*\]")


def _layout_error(text: str) -> str:
    for marker in _THINK_MARKERS:
        if text.count(marker) != 1:
            return f"{marker} must appear exactly once"
    if text.count("<tag>") > 1 or text.count("</tag>") > 1:
        return "<tag> must appear at most once"
    return (
        "expected <think>...</think> <tag>...</tag> <verdict>...</verdict> (or the <tag> block inside "
        "<think>) in this order"
    )


def _blocks(text: str) -> tuple[tuple[str, ...], str | None, str] | str:
    """(think parts, tag block or None, verdict block), or why the layout is wrong."""
    pieces = _SPLIT.split(text)
    count = len(pieces)
    if count == 13:
        markers = pieces[1::2]
        if markers == _OURS:
            if pieces[0].strip() or pieces[4].strip() or pieces[8].strip() or pieces[12].strip():
                return _OUTSIDE_ERROR
            return (pieces[2],), pieces[6], pieces[10]
        if markers == _AUTHORS:
            if pieces[0].strip() or pieces[8].strip() or pieces[12].strip():
                return _OUTSIDE_ERROR
            return (pieces[2], pieces[6]), pieces[4], pieces[10]
    elif count == 9 and pieces[1::2] == _NO_TAG:
        if pieces[0].strip() or pieces[4].strip() or pieces[8].strip():
            return _OUTSIDE_ERROR
        return (pieces[2],), None, pieces[6]
    return _layout_error(text)


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


def _json_box(coords: object) -> Box | None:
    """A valid box from a decoded ``bbox_2d`` value, or None (the inlined checks of the hot loop)."""
    if type(coords) is not list or len(coords) != 4:
        return None
    x1, y1, x2, y2 = coords
    numbers = _NUMBER_TYPES
    if not (type(x1) in numbers and type(y1) in numbers and type(x2) in numbers and type(y2) in numbers):
        return None
    try:
        x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
    except OverflowError:
        return None
    if x1 < x2 and y1 < y2 and -_INF < x1 and x2 < _INF and -_INF < y1 and y2 < _INF:
        return (x1, y1, x2, y2)
    return None


# A whole region object exactly as Qwen2.5-VL and json.dumps write it (integers without sign, at
# most 15 digits so none overflows a float; a label without quotes, backslashes or control
# characters, so its JSON text is its value): the reward's hot path reads all of them with one
# regex scan. Anything else goes through json's decoder.
_INT = r"(0|[1-9][0-9]{0,14})"
_DUMPS_REGION = re.compile(
    rf'\{{"bbox_2d": \[{_INT}, {_INT}, {_INT}, {_INT}\], "label": "([^"\\\x00-\x1f]*)"\}}'
)


def _dumps_regions(think: str) -> tuple[list[Box], list[str]] | None:
    """Every region of ``think`` when all are in json.dumps' exact spelling and valid, else None.

    The same regions as the general reading: when every "{" and every "bbox_2d" of ``think`` lies
    in a matched object (one of each per match), the decoder would start at exactly these objects
    and decode each to the same box and label.
    """
    found = _DUMPS_REGION.findall(think)
    count = len(found)
    if count != think.count("{") or count != think.count("bbox_2d"):
        return None
    boxes = []
    labels = []
    for x1, y1, x2, y2, label in found:
        x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
        if not (x1 < x2 and y1 < y2 and label.strip()):
            return None  # the general reading says why
        boxes.append((x1, y1, x2, y2))
        labels.append(label)
    return boxes, labels


def _json_regions(think: str, boxes: list[Box], labels: list[str]) -> str | None:
    """Append every region object of ``think``; None, or why the part is invalid.

    Each "{" is tried as the start of a JSON value (json's own decoder: exact JSON semantics, and
    faster here than a regex); values that do not mention bbox_2d are skipped, and every mention of
    bbox_2d must lie inside a valid region. The checks of a valid region are inlined (this is the
    reward's hot loop); _region_error explains a failed one.
    """
    fast = _dumps_regions(think)
    if fast is not None:
        boxes += fast[0]
        labels += fast[1]
        return None
    mentions = think.count("bbox_2d")
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
    return None


def _numbers_box(groups: tuple) -> Box | str:
    values = [g for g in groups if g is not None]
    x1, y1, x2, y2 = float(values[0]), float(values[1]), float(values[2]), float(values[3])
    if not (-_INF < x1 < _INF and -_INF < y1 < _INF and -_INF < x2 < _INF and -_INF < y2 < _INF):
        return "box coordinates must be finite"
    if not (x1 < x2 and y1 < y2):
        return "a box needs x1 < x2 and y1 < y2"
    return (x1, y1, x2, y2)


def _token_box(content: str) -> Box | str:
    match = _SWIFT_BOX.fullmatch(content)
    if match is not None:
        x1, y1, x2, y2 = match.groups()
        x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
        if x1 < x2 and y1 < y2 and x2 < _INF and y2 < _INF:
            return (x1, y1, x2, y2)
    match = _TOKEN_BOX.fullmatch(content)
    if match is None:
        return "a <|box_start|>...<|box_end|> box must be (x1,y1),(x2,y2) or [x1, y1, x2, y2]"
    return _numbers_box(match.groups())


def _has_tokens(text: str) -> bool:
    return "<|" in text and (REF_START in text or BOX_START in text or REF_END in text or BOX_END in text)


# A whole region exactly as ms-swift writes it (integers, no sign, no spaces inside the box; a
# label without "<"): the reward's hot path reads all of them with one regex scan. At most 15
# digits, so no coordinate overflows a float; anything else goes the general way.
_SWIFT_REGION = re.compile(
    r"<\|object_ref_start\|>([^<]*)<\|object_ref_end\|>\s*<\|box_start\|>"
    r"\(([0-9]{1,15}),([0-9]{1,15})\),\(([0-9]{1,15}),([0-9]{1,15})\)<\|box_end\|>"
)


def _swift_regions(think: str) -> tuple[list[Box], list[str]] | None:
    """Every region of ``think`` when all are in ms-swift's exact spelling and valid, else None.

    The same regions as the general reading: each match holds one of each of the four tokens
    ("<|" four times), so when "<|" appears nowhere else, every token belongs to a matched region.
    """
    found = _SWIFT_REGION.findall(think)
    if len(found) * 4 != think.count("<|"):
        return None
    boxes = []
    labels = []
    for label, x1, y1, x2, y2 in found:
        label = label.strip()
        x1, y1, x2, y2 = float(x1), float(y1), float(x2), float(y2)
        if not (label and x1 < x2 and y1 < y2):
            return None  # the general reading says why
        boxes.append((x1, y1, x2, y2))
        labels.append(label)
    return boxes, labels


def _token_regions(think: str, boxes: list[Box], labels: list[str]) -> str | None:
    """Append every ``<|object_ref_start|>..<|box_end|>`` region of ``think``; None, or why not."""
    fast = _swift_regions(think)
    if fast is not None:
        boxes += fast[0]
        labels += fast[1]
        return None
    count = think.count(REF_START)
    if count != think.count(REF_END) or count != think.count(BOX_START) or count != think.count(BOX_END):
        return _TOKEN_ERROR
    find = think.find
    pos = 0
    for _ in range(count):
        a = find(REF_START, pos)
        b = find(REF_END, a) if a >= 0 else -1
        c = find(BOX_START, b) if b >= 0 else -1
        d = find(BOX_END, c) if c >= 0 else -1
        if d < 0:
            return _TOKEN_ERROR
        label = think[a + len(REF_START) : b]
        if "<|" in label or think[b + len(REF_END) : c].strip():
            return _TOKEN_ERROR
        label = label.strip()
        if not label:
            return "a region's description must not be empty"
        box = _token_box(think[c + len(BOX_START) : d])
        if type(box) is str:
            return box
        boxes.append(box)
        labels.append(label)
        pos = d + len(BOX_END)
    return None


def _has_internvl(text: str) -> bool:
    return IVL_BOX_START in text or IVL_REF_START in text or IVL_BOX_END in text or IVL_REF_END in text


def _internvl_boxes(content: str) -> list[Box] | str:
    """The boxes of one ``<box>...</box>``: ``[[x1, y1, x2, y2], ...]`` in 0-1000, or why not."""
    if _IVL_BOXES.fullmatch(content) is None:
        return f"an InternVL <box> must hold [[x1, y1, x2, y2]] (a list of boxes), got {content.strip()!r}"
    boxes = []
    for match in _IVL_ONE.finditer(content):
        box = _ivl_checked(match.groups())
        if type(box) is str:
            return box
        boxes.append(box)
    return boxes


def _internvl_regions(think: str, boxes: list[Box], labels: list[str]) -> str | None:
    """Append every ``<ref>..</ref><box>[[..]]</box>`` region of ``think``; None, or why not."""
    count = think.count(IVL_REF_START)
    if not (count == think.count(IVL_REF_END) == think.count(IVL_BOX_START) == think.count(IVL_BOX_END)):
        return _IVL_ERROR
    find = think.find
    pos = 0
    for _ in range(count):
        a = find(IVL_REF_START, pos)
        b = find(IVL_REF_END, a) if a >= 0 else -1
        c = find(IVL_BOX_START, b) if b >= 0 else -1
        d = find(IVL_BOX_END, c) if c >= 0 else -1
        if d < 0 or think[b + len(IVL_REF_END) : c].strip():
            return _IVL_ERROR
        label = think[a + len(IVL_REF_START) : b]
        if "<" in label:
            return _IVL_ERROR
        label = label.strip()
        if not label:
            return "a region's description must not be empty"
        found = _internvl_boxes(think[c + len(IVL_BOX_START) : d])
        if type(found) is str:
            return found
        boxes += found
        labels += [label] * len(found)
        pos = d + len(IVL_BOX_END)
    return None


def _lenient_internvl_boxes(text: str, boxes: list[Box]) -> None:
    """Every well-formed box in any ``<box>...</box>``, coordinates clipped to 0-1000 later."""
    find = text.find
    start = find(IVL_BOX_START)
    while start != -1:
        end = find(IVL_BOX_END, start)
        if end == -1:
            return
        content = text[start + len(IVL_BOX_START) : end]
        if _IVL_BOXES.fullmatch(content) is not None:
            for match in _IVL_ONE.finditer(content):
                box = _numbers_box(match.groups())
                if type(box) is not str:
                    boxes.append(box)
        start = find(IVL_BOX_START, end)


def _bare_label(text: str) -> str:
    cut = max(text.rfind(mark) for mark in _LABEL_CUT)
    return text[cut + 1 :].strip().lstrip(",").strip()


def _bare_regions(think: str, boxes: list[Box], labels: list[str]) -> str | None:
    """Append every ``label(x1,y1),(x2,y2)`` region of ``think``; None, or why not."""
    previous = 0
    for match in _BARE_BOX.finditer(think):
        box = _numbers_box(match.groups())
        if type(box) is str:
            return box
        label = _bare_label(think[previous : match.start()])
        if not label:
            return "a region's description must not be empty"
        boxes.append(box)
        labels.append(label)
        previous = match.end()
    return None


def _ivl_checked(groups: tuple) -> Box | str:
    box = _numbers_box(groups)
    if type(box) is not str and (box[0] < 0 or box[1] < 0 or box[2] > IVL_NORM or box[3] > IVL_NORM):
        return f"InternVL box coordinates must lie in 0..{IVL_NORM}, got {list(box)}"
    return box


def _bare_internvl_regions(think: str, boxes: list[Box], labels: list[str]) -> str | None:
    """Append every ``label[[x1, y1, x2, y2], ...]`` region of ``think``; None, or why not."""
    previous = 0
    for match in _IVL_BARE.finditer(think):
        label = _bare_label(think[previous : match.start()])
        if not label:
            return "a region's description must not be empty"
        for one in _IVL_ONE.finditer(match.group(0)):
            box = _ivl_checked(one.groups())
            if type(box) is str:
                return box
            boxes.append(box)
            labels.append(label)
        previous = match.end()
    return None


def _regions(parts: tuple[str, ...]) -> tuple[list[Box], list[str]] | str:
    boxes: list[Box] = []
    labels: list[str] = []
    for part in parts:
        tokens = _has_tokens(part)
        json_form = "bbox_2d" in part
        internvl = _has_internvl(part)
        error = None
        if json_form:
            error = _json_regions(part, boxes, labels)
        if error is None and tokens:
            error = _token_regions(part, boxes, labels)
        if error is None and internvl:
            error = _internvl_regions(part, boxes, labels)
        if error is None and not json_form and not tokens and not internvl and "(" in part:
            error = _bare_regions(part, boxes, labels)
        if error is None and not json_form and not tokens and not internvl and "[[" in part:
            error = _bare_internvl_regions(part, boxes, labels)
        if error is not None:
            return error
    return boxes, labels


# Tag blocks repeat endlessly (six tags, a model's habits): each distinct short block is read once.
_TAG_BLOCKS: dict[str, tuple[str, ...] | str] = {}
_TAG_BLOCKS_MAX = 4096  # entries of at most _TAG_BLOCK_CACHED characters: well under 2 MB
_TAG_BLOCK_CACHED = 256


def _parse_tags(text: str) -> tuple[str, ...] | str:
    tags = _TAG_BLOCKS.get(text)
    if tags is None:
        tags = _read_tags(text)
        if len(text) <= _TAG_BLOCK_CACHED:
            if len(_TAG_BLOCKS) >= _TAG_BLOCKS_MAX:
                _TAG_BLOCKS.clear()
            _TAG_BLOCKS[text] = tags
    return tags


def _read_tags(text: str) -> tuple[str, ...] | str:
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
        items = content.replace(";", ",").split(",")
    tags = []
    for item in items:
        if not item.strip():
            continue  # "a, b," or "a;; b": a stray separator is not a tag
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
    blocks = _blocks(text)
    if type(blocks) is str:
        return (blocks, None, (), (), ())
    think_parts, tag_block, verdict_block = blocks
    verdict = _VERDICTS.get(verdict_block.strip().lower())
    if verdict is None:
        return ("the verdict must be real, fake or generated", None, (), (), ())
    if tag_block is None and verdict != "real":
        return (_NEEDS_TAGS, None, (), (), ())
    regions = _regions(think_parts)
    if type(regions) is str:
        return (regions, None, (), (), ())
    tags = _parse_tags(tag_block) if tag_block is not None else ()
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


def parse_verdict_only(text: str) -> tuple[str | None, str | None]:
    """(error, verdict) of an answer that is one ``<verdict>real|fake</verdict>`` block and nothing
    else: the answers of data preparation's ``label_only`` targets (002 §5.3's label-only ablation)."""
    stripped = text.strip()
    if (
        not (stripped.startswith("<verdict>") and stripped.endswith("</verdict>"))
        or stripped.count("<verdict>") != 1
    ):
        return "expected <verdict>real|fake</verdict> alone", None
    verdict = _last_verdict(stripped)
    if verdict is None:
        return "the <verdict> block says neither real nor fake", None
    return None, verdict


def _last_verdict(text: str) -> str | None:
    """The word of the last ``<verdict>`` that is closed, up to the first ``</verdict>`` after it."""
    last_close = text.rfind("</verdict>")
    if last_close < 0:
        return None
    start = text.rfind("<verdict>", 0, last_close)
    if start < 0:
        return None
    start += len("<verdict>")
    return _VERDICTS.get(text[start : text.find("</verdict>", start)].strip().lower())


def _lenient_json_boxes(text: str, boxes: list[Box]) -> None:
    decode = _JSON.raw_decode
    find = text.find
    pos = find("{")
    while pos != -1:
        try:
            obj, end = decode(text, pos)
        except (ValueError, RecursionError):
            pos = find("{", pos + 1)
            continue
        box = _json_box(obj.get("bbox_2d")) if type(obj) is dict else None
        if box is not None:
            boxes.append(box)
            pos = find("{", end)
        else:  # a wrapper such as {"regions": [{...}]}: look inside it
            pos = find("{", pos + 1)


def _lenient_token_boxes(text: str, boxes: list[Box]) -> None:
    find = text.find
    start = find(BOX_START)
    while start != -1:
        end = find(BOX_END, start)
        if end == -1:
            return
        box = _token_box(text[start + len(BOX_START) : end])
        if type(box) is not str:
            boxes.append(box)
        start = find(BOX_START, end)


def _lenient_boxes(text: str) -> list[Box]:
    boxes: list[Box] = []
    tokens = _has_tokens(text)
    json_form = "bbox_2d" in text
    internvl = _has_internvl(text)
    if json_form:
        _lenient_json_boxes(text, boxes)
    if tokens:
        _lenient_token_boxes(text, boxes)
    if internvl:
        _lenient_internvl_boxes(text, boxes)
    if not json_form and not tokens and not internvl and "(" in text:
        for match in _BARE_BOX.finditer(text):
            box = _numbers_box(match.groups())
            if type(box) is not str:
                boxes.append(box)
    if not json_form and not tokens and not internvl and "[[" in text:
        for match in _IVL_BARE.finditer(text):
            for one in _IVL_ONE.finditer(match.group(0)):
                box = _numbers_box(one.groups())
                if type(box) is not str:
                    boxes.append(box)
    return boxes


def read_response_fields(text: str, frame: tuple[float, float] | None = None) -> tuple:
    """The reward's reading ``(error, verdict, boxes)``: ``error`` is the strict reading's (None
    when the whole contract holds); ``verdict`` and ``boxes`` are read leniently when it does not:
    the last ``<verdict>...</verdict>`` block (None when there is none or its word is unknown) and
    every region that parses anywhere in the response. Never raises."""
    strict = parse_response_fields(text, frame)
    if strict[0] is None or not isinstance(text, str):
        return strict[0], strict[1], strict[2]
    boxes = _lenient_boxes(text)
    if frame is not None and boxes:
        boxes = clip_boxes(boxes, frame[0], frame[1])
    return strict[0], _last_verdict(text), tuple(boxes)
