"""FakeXplained (seed 002) annotations -> ms-swift SFT/GRPO jsonl, verl GRPO parquet, evaluation manifest.

Where the data comes from: the authors publish ``FakeXplain.7z``
(https://public-debug.oss-cn-hangzhou.aliyuncs.com/FakeXplain.7z, announced in the
Gennadiyev/mllm-defake readme, May 2026). This project has not seen the archive's inner layout,
so the layout below is this project's documented contract, built from what is known (seeds.md
§2.4: mllm-defake's jsonl with ``objects.ref`` / ``objects.bbox`` in original-image pixels, image
tags, generator names). Rearrange the archive into it, or write an ``annotations.jsonl`` that
points at the extracted images; ``python -m data_prep check --source fakexplained --input DIR``
says what is missing.

Raw layout (``--input`` is the folder, or the jsonl file itself; several inputs are concatenated)::

    <root>/annotations.jsonl       one JSON object per image, fakes and reals
    <root>/<any>/<image files>     paths in the records are relative to <root> (or absolute;
                                   the ``image_root`` option overrides <root>)

One record (fields marked * are required)::

    {"id": "sd15_000123",                     # default: the image path
     "image"*: "images/fake/SD 1.5/000123.png",  # also accepted: "images": [path], "file_path"
     "label"*: "fake",                        # "fake" | "generated" | "real" (case-insensitive)
     "generator": "SD 1.5",                   # 002 Table 2 names or aliases (conf/data_prep/fakexplain.yaml)
     "objects": {"ref": ["a hand with six fingers", ...],   # region descriptions
                 "bbox": [[x1, y1, x2, y2], ...]},           # original-image pixels, same order
     "tags": ["Structure/attribute errors"],  # the six tags of 002 App. B; a list or "a, b"
     "width": 1024, "height": 768}            # optional; checked against the file if given

The authors' mllm-defake training rows (``messages`` or ShareGPT ``conversations``, ``images``,
``objects``; seeds.md §2.4: an assistant turn
``<think><ref-object><bbox>, ... <tag>...</tag></think><verdict>generated</verdict>``) are accepted as well: without a ``label`` the label is read from ``<verdict>generated|real</verdict>``,
and without a verdict from ``objects`` (regions: fake; none: real, as the authors' reward decides);
without ``tags`` the tags come from the ``<tag>...</tag>`` block.

Lenient where annotators were sloppy, strict where it matters:
- tags are matched through the synonyms table of ``conf/data_prep/fakexplain.yaml`` (any case,
  singular or plural, split on "," and ";"); an unknown tag is dropped from its record and counted
  in stats.json (``unknown_tag:<spelling>``), or rejects the record with ``strict``;
- a box up to ``box_clip_tolerance`` pixels (default 1) outside the image is clipped to it; further
  out, the record is rejected with the box named.

Options that shape the SFT rows:
- ``region_syntax``: ``json`` (default) writes regions as Qwen2.5-VL grounding JSON in the model
  frame; ``tokens`` writes the authors' ms-swift grounding rows: ``<ref-object><bbox>`` placeholders
  in the answer and ``objects: {"ref": [...], "bbox": [[x1, y1, x2, y2], ...]}`` in original-image
  pixels, which ms-swift's Qwen2.5-VL template renders as
  ``<|object_ref_start|>ref<|object_ref_end|><|box_start|>(x1,y1),(x2,y2)<|box_end|>`` rescaled to
  the model frame (``QWENVL_BBOX_FORMAT=legacy``, ms-swift's default). The ground truth of GRPO and
  evaluation is then computed with ms-swift's own rounding (``round(x / width * frame_width)``), so
  it equals the boxes ms-swift trains on; ``internvl`` writes InternVL's grounding
  ``<ref>description</ref><box>[[x1, y1, x2, y2]]</box>`` in 0-1000 units of the image (ms-swift's
  internvl2_5 template, norm1000 rounding), and the ground truth, the reward's frame
  (``extra_info`` width/height) and the evaluation frame are 1000 x 1000 in the same units; the
  pixel bounds are then unused (InternVL tiles the image, ms-swift's ``MAX_NUM``). A model group
  names its syntax (``model.region_syntax``). A ``<region-format>`` mark in a chat template becomes the
  syntax's example region, a ``<box-units>`` mark the units of its boxes (pixels of the image the
  model sees, or 0 to 1000 of each side).
- ``reasoning``: ``keep`` (default) keeps the assistant answer a record already has (the authors'
  ``<think>`` reasoning; its ``<tag>`` block is rewritten to the canonical tags) and generates one
  only for records without; ``generate`` always writes this project's sentences. A kept answer
  that does not fit (its placeholders do not pair with ``objects``, its verdict contradicts the
  label, or it breaks the reward's format) is replaced by a generated one and counted
  (``reasoning_generated:<why>``), or rejects the record with ``strict``.

Ablation switches (002 §5.3 Table 4, App. E.3 Table 7); they shape the training rows (sft, grpo)
and leave the evaluation manifest whole, and imply generated answers:
- ``drop``: a list of ``boxes`` (no regions: boxes and their captions, as 002's no-bbox),
  ``captions`` (boxes kept, each description replaced by the vocabulary's ``uncaptioned_region``),
  ``tags`` (an empty ``<tag></tag>`` block). Without boxes the GRPO ground truth says
  ``"grounding": false`` and the reward leaves R_G out (002 §5.3).
- ``label_only``: the SFT answer is ``<verdict>real|fake</verdict>`` alone; the GRPO ground truth has
  no boxes (``"grounding": false``) and says the answers are not the full format (``"format":
  false``), so the reward scores the label term alone, as 002 §5.3 excludes a missing component
  from the reward terms (the format term would score every verdict-only answer -format_neg).
- ``templates_real`` / ``templates_fake``: only the first N real / fake chat templates of the
  templates file (002 App. E.3: "1+1", "3+2").

Outputs (one set of rows per image; boxes are mapped into the frame Qwen2.5-VL sees, set by the
``min_pixels`` / ``max_pixels`` options, see data_prep/model_frame.py):

- ``sft.jsonl`` ms-swift SFT: ``{"messages": [system, user "<image>...", assistant], "images": [path]}``
  (plus ``objects`` with ``region_syntax: tokens``); the assistant turn is the kept answer or
  data_prep/fakexplain_format.py's ``<think>/<tag>/<verdict>`` response.
- ``grpo.jsonl`` ms-swift GRPO: ``messages`` without the assistant turn, ``images``, ``solution``
  (ground truth JSON), ``data_source``, ``extra_info``.
- ``grpo.parquet`` verl: ``data_source``, ``prompt``, ``images`` (``[{"image": path,
  "resized_height": H, "resized_width": W}]`` so verl's qwen_vl_utils resize lands exactly on the
  model frame, or ``{"bytes": ...}`` with ``parquet_images="bytes"``), ``ability``,
  ``reward_model`` = ``{"style": "rule", "ground_truth": <JSON>}``, ``extra_info``.
- ``eval.jsonl`` the evaluation manifest (data_prep/eval_manifest.py documents its row).

With ``fold`` set, sft/grpo rows come from the fold's train split and eval rows from its test
split (data_prep/cv_folds.py); without it every record goes to every file.
"""

from __future__ import annotations

import json
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from data_prep.chat_templates import (
    ChatTemplate,
    limit_templates,
    load_templates,
    pick_template,
)
from data_prep.cv_folds import plan_folds
from data_prep.eval_manifest import eval_row, prompt_messages
from data_prep.fakexplain_format import (
    INTERNVL_NORM,
    REGION_PLACEHOLDER,
    Vocabulary,
    ground_truth_json,
    norm1000_box,
    render_internvl_region,
    render_region,
    render_response,
    render_verdict,
    vocabulary,
)
from data_prep.image_check import image_size
from data_prep.model_frame import (
    QWEN_DEFAULT_MAX_PIXELS,
    QWEN_DEFAULT_MIN_PIXELS,
    map_box,
)
from data_prep.readers import iter_files, iter_jsonl, parse_json_object
from data_prep.records import Converted, RawRecord, RecordRejected
from data_prep.source_api import Prepared, SampleAnswer, require_inputs, resolve_image_path
from data_prep.sources import data_source
from data_prep.sources.common import resizable_frame
from rewards.fakexplain_parser import BOX_END, BOX_START, REF_END, REF_START, parse_response

__all__ = [
    "OUTPUTS", "Options", "prepare", "convert", "check_layout", "template_prompt", "ARCHIVE_URL", "ANNOTATIONS_FILE",
]  # fmt: skip

OUTPUTS = ("sft.jsonl", "grpo.jsonl", "grpo.parquet", "eval.jsonl")
TRAIN_OUTPUTS = ("sft.jsonl", "grpo.jsonl", "grpo.parquet")
EVAL_OUTPUTS = ("eval.jsonl",)
ANNOTATIONS_FILE = "annotations.jsonl"
# FakeXplained's data files in conf/data_prep/ (the recipe names them too: conf/paper/fakexplain.yaml).
TEMPLATES_FILE = "fakexplain_templates.yaml"  # 002 App. A.1: 3 real + 6 fake chat templates
VOCABULARY_FILE = "fakexplain.yaml"  # 002 App. B tags, Table 2 generators, the response wording
ARCHIVE_URL = "https://public-debug.oss-cn-hangzhou.aliyuncs.com/FakeXplain.7z"
_LABELS = {"fake": "fake", "generated": "fake", "ai-generated": "fake", "real": "real"}
# A chat template's stand-in for "how a region is written", filled per region_syntax.
REGION_FORMAT_MARK = "<region-format>"
_REGION_FORMAT = {
    "json": '{"bbox_2d": [x1, y1, x2, y2], "label": "<description>"}',
    "tokens": f"{REF_START}description{REF_END}{BOX_START}(x1,y1),(x2,y2){BOX_END}",
    "internvl": "<ref>description</ref><box>[[x1, y1, x2, y2]]</box>",
}
# A chat template's stand-in for the units of a box, filled per region_syntax: Qwen2.5-VL's boxes
# are pixels of its model frame, InternVL's are 0-1000 of each side (data_prep/fakexplain_format.py).
BOX_UNITS_MARK = "<box-units>"
BOX_UNITS = {
    "json": "pixels of the image you see",
    "tokens": "pixels of the image you see",
    "internvl": "units of 0 to 1000 of the image's width and height",
}
_PLACEHOLDER_PAIR = re.compile(r"<ref-object>(\s*)<bbox>")
_TAG_BLOCK = re.compile(r"<tag>.*?</tag>", re.S)


@dataclass(frozen=True)
class Options:
    seed: int = 0
    fold: int | None = None
    num_folds: int = 4  # 002 §5.2: four-fold cross-validation
    # Qwen2.5-VL's pixel bounds (json, tokens); null for internvl, whose frame is 0-1000.
    min_pixels: int | None = QWEN_DEFAULT_MIN_PIXELS
    max_pixels: int | None = QWEN_DEFAULT_MAX_PIXELS
    templates: str = TEMPLATES_FILE
    vocabulary: str = VOCABULARY_FILE
    # 002 App. A.1 draws SFT templates by label; GRPO/eval prompts always draw from all templates.
    sft_template_pool: Literal["by_label", "all"] = "by_label"
    image_root: str | None = None
    # False = metadata-only: no pixel decoding; a record with width/height is not even opened.
    verify_images: bool = True
    parquet_images: Literal["path", "bytes"] = "path"
    data_source: str = "fakexplained"
    ability: str = "aigi_grounding"
    # Boxes poking out of the image by at most this many pixels are clipped instead of rejected
    # (annotation tools round edges outwards). Not in the paper.
    box_clip_tolerance: float = 1.0
    # json: regions as Qwen2.5-VL grounding JSON; tokens: ms-swift objects + <ref-object><bbox>
    # placeholders, the authors' rows (mllm-defake trainers/grpo/jsonl_dataset.py); internvl:
    # InternVL's <ref>..</ref><box>[[..]]</box> in 0-1000 units.
    region_syntax: Literal["json", "tokens", "internvl"] = "json"
    # keep: a record's own assistant answer (the authors' reasoning) when it has one; generate: ours.
    reasoning: Literal["keep", "generate"] = "keep"
    # True: an unknown tag or an unusable kept answer rejects the record instead of being dropped
    # or replaced (and counted).
    strict: bool = False
    # The partial-data ablations of 002 §5.3 (Table 4), applied to the training rows (sft, grpo):
    # boxes: no regions at all (002: "bounding box annotations and the corresponding captions are
    # removed"); captions: boxes kept, each description replaced by the vocabulary's
    # uncaptioned_region; tags: an empty <tag></tag> block. The evaluation manifest keeps every
    # annotation (the test set is the same for every column). Without boxes the
    # GRPO ground truth says "grounding": false and the reward leaves R_G out by itself (002 §5.3:
    # "when bounding boxes are unavailable, R_G is disabled").
    drop: tuple[Literal["boxes", "captions", "tags"], ...] = ()
    # 002 §5.3 label-only: the SFT answer is the verdict block alone, GRPO ground truth without boxes
    # ("grounding": false) nor format ("format": false): the reward scores the label term alone.
    label_only: bool = False
    # 002 App. E.3 "1+1" / "3+2": only the first N real / fake templates of the templates file
    # (null: all of them, 3 + 6).
    templates_real: int | None = None
    templates_fake: int | None = None

    @property
    def ablated(self) -> bool:
        """True when the training rows leave out part of the annotations."""
        return self.label_only or bool(self.drop)


def _templates(options: Options) -> tuple[ChatTemplate, ...]:
    return limit_templates(
        load_templates(options.templates),
        real=options.templates_real,
        fake=options.templates_fake,
        where="fakexplained options",
    )


def _annotation_files(inputs: list[Path]) -> list[Path]:
    files = []
    for path in inputs:
        if path.is_dir():
            candidate = path / ANNOTATIONS_FILE
            if not candidate.is_file():
                raise FileNotFoundError(
                    f"fakexplained: {path} has no {ANNOTATIONS_FILE}; the converter's docstring "
                    f"(data_prep/sources/fakexplained.py) documents the layout, get the archive from {ARCHIVE_URL}"
                )
            files.append(candidate)
        else:
            files.append(path)
    return files


def _pick_image_field(obj: dict[str, Any]) -> str | None:
    for key in ("image", "file_path"):
        value = obj.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()
    images = obj.get("images")
    if isinstance(images, list) and images and isinstance(images[0], str) and images[0].strip():
        return images[0].strip()
    return None


def _conversation(obj: dict[str, Any]) -> list | None:
    """The turns of an ms-swift ``messages`` row or a ShareGPT-style ``conversations`` row."""
    for key in ("messages", "conversations"):
        turns = obj.get(key)
        if isinstance(turns, list):
            return turns
    return None


def _assistant_text(obj: dict[str, Any]) -> str:
    """The last assistant turn (``role: assistant`` or ``from: gpt``), or ""."""
    for turn in reversed(_conversation(obj) or []):
        if isinstance(turn, dict) and (turn.get("role") or turn.get("from")) in ("assistant", "gpt"):
            content = turn.get("content", turn.get("value"))
            return content if isinstance(content, str) else ""
    return ""


def _has_regions(obj: dict[str, Any]) -> bool:
    objects = obj.get("objects")
    return isinstance(objects, dict) and bool(objects.get("bbox"))


def _raw_label(obj: dict[str, Any]) -> Any:
    if "label" in obj:
        return obj["label"]
    match = re.search(r"<verdict>\s*(.*?)\s*</verdict>", _assistant_text(obj), re.S)
    if match:
        return match.group(1)
    if _conversation(obj) is not None:
        # The authors' rows without a verdict: regions make a fake, none a real (mllm-defake
        # rewards/utils.py check_label: "if this_objects is empty, ground truth is `real`").
        return "fake" if _has_regions(obj) else "real"
    return None


def _record_id(obj: dict[str, Any], image: str) -> str:
    value = obj.get("id")
    return str(value) if value not in (None, "") else image


def _index_entry(record: RawRecord) -> tuple[str, str] | None:
    """(id, label) of a record for the fold plan, or None if it will be rejected anyway."""
    try:
        obj = parse_json_object(record)
    except RecordRejected:
        return None
    image = _pick_image_field(obj)
    label = _LABELS.get(str(_raw_label(obj)).strip().lower()) if _raw_label(obj) is not None else None
    if image is None or label is None:
        return None
    return _record_id(obj, image), label


def check_options(options: Options) -> None:
    """Options that cannot work, found from the config files alone (the templates, the vocabulary),
    before any record is read: the plan's validation calls it too (data_prep/source_api.py)."""
    _templates(options)
    vocab = vocabulary(options.vocabulary)
    if "captions" in options.drop and not str(vocab.wording.get("uncaptioned_region", "")).strip():
        raise ValueError(
            f"fakexplained options.drop: captions needs response.uncaptioned_region in {options.vocabulary}"
        )
    if options.box_clip_tolerance < 0:
        raise ValueError(
            f"fakexplained options.box_clip_tolerance: must be 0 or more (pixels), got {options.box_clip_tolerance}"
        )
    if options.region_syntax == "internvl":
        return
    if options.min_pixels is None or options.max_pixels is None:
        raise ValueError(
            f"fakexplained options: region_syntax {options.region_syntax} writes boxes in Qwen2.5-VL's "
            "pixel frame and needs min_pixels and max_pixels (the model group's), got null"
        )
    if not 0 < options.min_pixels <= options.max_pixels:
        raise ValueError(
            f"fakexplained options: need 0 < min_pixels <= max_pixels, got {options.min_pixels}, {options.max_pixels}"
        )


def prepare(inputs: list[Path], options: Options) -> Prepared:
    files = _annotation_files(require_inputs(inputs, "fakexplained", f"a folder with {ANNOTATIONS_FILE}"))
    check_options(options)  # a bad config fails before any record is read
    info: dict[str, Any]
    if options.region_syntax == "internvl":
        info = {"frame": {"normalized": INTERNVL_NORM}}
    else:
        info = {"frame": {"min_pixels": options.min_pixels, "max_pixels": options.max_pixels}}
    schemas = {"grpo.parquet": parquet_schema(options.parquet_images)}
    if options.fold is None:
        return Prepared(
            records=iter_files(files, iter_jsonl),
            route=_mark_split("all"),
            parquet_schemas=schemas,
            info=info,
            unique_ids=True,
        )

    fakes, reals = [], []
    for record in iter_files(files, iter_jsonl):
        entry = _index_entry(record)
        if entry is not None:
            (fakes if entry[1] == "fake" else reals).append(entry[0])
    plan = plan_folds(fakes, reals, fold=options.fold, num_folds=options.num_folds, seed=options.seed)
    info["fold"] = {"fold": plan.fold, "num_folds": plan.num_folds, "seed": plan.seed, "counts": plan.counts}

    def route(converted: Converted) -> tuple[str, ...]:
        split = plan.split_of(converted.record_id)
        converted.split = split  # for the stats; workers do not know the fold plan
        return TRAIN_OUTPUTS if split == "train" else EVAL_OUTPUTS if split == "test" else ()

    return Prepared(
        records=iter_files(files, iter_jsonl),
        route=route,
        parquet_schemas=schemas,
        info=info,
        unique_ids=True,
    )


def _mark_split(split: str):
    def route(converted: Converted) -> None:
        converted.split = split  # for the stats
        return None

    return route


def parquet_schema(images: str) -> Any:
    """The verl parquet schema (fixed, so every row group and every file agree)."""
    import pyarrow as pa

    message = pa.struct([("role", pa.string()), ("content", pa.string())])
    if images == "bytes":
        image = pa.struct(
            [("bytes", pa.binary()), ("resized_height", pa.int64()), ("resized_width", pa.int64())]
        )
    else:
        image = pa.struct(
            [("image", pa.string()), ("resized_height", pa.int64()), ("resized_width", pa.int64())]
        )
    extra = pa.struct(
        [
            ("index", pa.int64()),
            ("id", pa.string()),
            ("label", pa.string()),
            ("generator", pa.string()),
            ("family", pa.string()),
            ("width", pa.int64()),
            ("height", pa.int64()),
            ("orig_width", pa.int64()),
            ("orig_height", pa.int64()),
            ("template", pa.string()),
            ("tags", pa.list_(pa.string())),
            ("image", pa.string()),
        ]
    )
    return pa.schema(
        [
            ("data_source", pa.string()),
            ("prompt", pa.list_(message)),
            ("images", pa.list_(image)),
            ("ability", pa.string()),
            ("reward_model", pa.struct([("style", pa.string()), ("ground_truth", pa.string())])),
            ("extra_info", extra),
        ]
    )


def _label(obj: dict[str, Any], location: str) -> str:
    raw = _raw_label(obj)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise RecordRejected("missing_field", f"{location}: no 'label' (expected 'fake' or 'real')")
    if not isinstance(raw, str):
        # 0/1 polarity differs between datasets (seeds.md §5.8); only words are accepted here.
        raise RecordRejected(
            "unknown_label", f"{location}: label {raw!r} is not a word; use 'fake' or 'real'"
        )
    label = _LABELS.get(raw.strip().lower())
    if label is None:
        raise RecordRejected("unknown_label", f"{location}: label {raw!r}; use one of {sorted(_LABELS)}")
    return label


def _tags(obj: dict[str, Any], vocab: Vocabulary, location: str, strict: bool) -> tuple[list[str], list[str]]:
    """(canonical tags in 002 App. B order, unknown spellings dropped)."""
    raw = obj.get("tags")
    if raw is None:
        match = re.search(r"<tag>(.*?)</tag>", _assistant_text(obj), re.S)
        raw = match.group(1) if match else []
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list):
        raise RecordRejected(
            "bad_record", f"{location}: 'tags' must be a list of strings or a comma-separated string"
        )
    found = set()
    dropped: list[str] = []
    for item in raw:
        if not isinstance(item, str):
            raise RecordRejected("bad_record", f"{location}: tag {item!r} is not a string")
        for tag in item.replace(";", ",").split(","):
            if not tag.strip():
                continue
            canonical = vocab.canonical_tag(tag)
            if canonical is None:
                if strict:
                    raise RecordRejected(
                        "unknown_tag",
                        f"{location}: tag {tag.strip()!r}; known tags: {', '.join(vocab.tags)} "
                        "(synonyms: conf/data_prep/fakexplain.yaml)",
                    )
                dropped.append(" ".join(tag.split()))
                continue
            found.add(canonical)
    return [tag for tag in vocab.tags if tag in found], dropped  # canonical order: deterministic


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value) if math.isfinite(value) else None


def _regions(
    obj: dict[str, Any], size: tuple[int, int], tolerance: float, location: str
) -> list[tuple[list[float], str]]:
    objects = obj.get("objects")
    if objects in (None, {}, []):
        return []
    if not isinstance(objects, dict):
        raise RecordRejected("bad_record", f"{location}: 'objects' must be {{'ref': [...], 'bbox': [...]}}")
    refs = objects.get("ref") or []
    boxes = objects.get("bbox") or []
    if not isinstance(refs, list) or not isinstance(boxes, list):
        raise RecordRejected("bad_record", f"{location}: objects.ref and objects.bbox must be lists")
    if len(refs) != len(boxes):
        raise RecordRejected(
            "objects_mismatch",
            f"{location}: {len(refs)} descriptions (objects.ref) but {len(boxes)} boxes (objects.bbox)",
        )
    width, height = size
    regions = []
    for position, (ref, box) in enumerate(zip(refs, boxes)):
        where = f"{location}: objects.bbox[{position}]"
        if not isinstance(ref, str) or not ref.strip():
            raise RecordRejected("empty_description", f"{location}: objects.ref[{position}] is empty")
        values = [_number(v) for v in box] if isinstance(box, list) else []
        if len(values) != 4 or any(v is None for v in values):
            raise RecordRejected("box_invalid", f"{where} = {box!r}; expected four finite numbers")
        x1, y1, x2, y2 = values
        if x2 <= x1 or y2 <= y1:
            raise RecordRejected("box_degenerate", f"{where} = {box!r} has zero or negative area")
        if x1 < -tolerance or y1 < -tolerance or x2 > width + tolerance or y2 > height + tolerance:
            raise RecordRejected("box_outside_image", f"{where} = {box!r} exceeds the {width}x{height} image")
        x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, float(width)), min(y2, float(height))
        if x2 <= x1 or y2 <= y1:
            raise RecordRejected(
                "box_outside_image", f"{where} = {box!r} lies outside the {width}x{height} image"
            )
        regions.append(([x1, y1, x2, y2], " ".join(ref.split())))
    return regions


def template_prompt(templates: str, record_id: str, seed: int, region_syntax: str) -> list[dict[str, str]]:
    """The prompt this source's evaluation manifest gives a record (one of all the templates, by a
    seeded hash of its id), for other test sets evaluated like FakeXplained (testset_* sources)."""
    if region_syntax not in _REGION_FORMAT:
        raise ValueError(f"region_syntax must be one of {sorted(_REGION_FORMAT)}, got {region_syntax!r}")
    template = pick_template(
        load_templates(templates), record_id, seed, label=None, pool="all", purpose="prompt"
    )
    return _prompt_messages(template, region_syntax)


def _fill_marks(text: str, region_syntax: str) -> str:
    return text.replace(REGION_FORMAT_MARK, _REGION_FORMAT[region_syntax]).replace(
        BOX_UNITS_MARK, BOX_UNITS[region_syntax]
    )


def _prompt_messages(template: ChatTemplate, region_syntax: str) -> list[dict[str, str]]:
    system = _fill_marks(template.system, region_syntax)
    return prompt_messages(_fill_marks(template.user, region_syntax), system or None)


def _plain_number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _swift_box(box: list[float], size: tuple[int, int], frame: tuple[int, int], where: str) -> list[int]:
    """The box as ms-swift's template writes it into a Qwen2.5-VL answer: each coordinate
    ``int(round(v / original_side * frame_side))`` (swift/template/base.py ``normalize_bbox`` with
    the qwen2_5_vl template's ``norm_bbox = 'none'``), the same arithmetic in the same order."""
    (width, height), (frame_w, frame_h) = size, frame
    x1, y1, x2, y2 = (_plain_number(v) for v in box)
    mapped = [
        int(round(x1 / width * frame_w)),
        int(round(y1 / height * frame_h)),
        int(round(x2 / width * frame_w)),
        int(round(y2 / height * frame_h)),
    ]
    if mapped[2] <= mapped[0] or mapped[3] <= mapped[1]:
        raise RecordRejected(
            "box_degenerate",
            f"{where} = {box!r} collapses to {mapped} in the {frame_w}x{frame_h} model frame: ms-swift "
            "would train on an empty box (use region_syntax json, which keeps one pixel, or a larger "
            "max_pixels)",
        )
    return mapped


def _token_region(box: list[int], text: str) -> str:
    """One region as ms-swift's Qwen2.5-VL template renders ``<ref-object><bbox>`` (legacy format)."""
    return f"{REF_START}{text}{REF_END}{BOX_START}({box[0]},{box[1]}),({box[2]},{box[3]}){BOX_END}"


def _kept_response(
    text: str,
    label: str,
    tags: list[str],
    mapped: list[tuple[list[int], str]],
    region_syntax: str,
    frame: tuple[int, int],
) -> tuple[str, str | None]:
    """(the record's own answer made ready for SFT, None) or ("", why it cannot be kept).

    Its <tag> block is rewritten to the canonical tags, a missing verdict is appended (the authors'
    word for the label). With region_syntax json the placeholder pairs become grounding JSON in the
    model frame; with tokens they stay for ms-swift. Either way the answer is checked as ms-swift
    will render it, with the reward's own parser.
    """
    pairs = len(_PLACEHOLDER_PAIR.findall(text))
    if not (pairs == text.count("<ref-object>") == text.count("<bbox>") == len(mapped)):
        return "", (
            f"placeholders_unpaired ({text.count('<ref-object>')} <ref-object>, {text.count('<bbox>')} "
            f"<bbox>, {len(mapped)} regions in objects; each region needs <ref-object><bbox>)"
        )
    if "bbox_2d" in text or REF_START in text or BOX_START in text or "<box>" in text:
        return "", "inline_boxes (boxes must come from objects through <ref-object><bbox>)"
    text = _TAG_BLOCK.sub(lambda m: f"<tag>{', '.join(tags)}</tag>", text, count=1)
    if "<verdict>" not in text and "</verdict>" not in text:
        # A row without a verdict (its label came from objects): complete it in the authors' words.
        text = f"{text.rstrip()}<verdict>{'generated' if label == 'fake' else 'real'}</verdict>"

    def fill(render) -> str:
        regions = iter(mapped)
        return _PLACEHOLDER_PAIR.sub(lambda m: render(*next(regions)), text)

    if region_syntax == "tokens":  # ms-swift fills the placeholders from objects: keep them
        rendered, kept = fill(_token_region), text
    else:  # internvl: inline, the same text ms-swift's internvl2_5 template renders from objects
        rendered = fill(render_internvl_region if region_syntax == "internvl" else render_region)
        kept = rendered
    parsed = parse_response(rendered, frame)
    if not parsed.ok:
        return "", f"format ({parsed.error})"
    if parsed.verdict != label:
        return "", f"verdict (the answer says {parsed.verdict}, the label is {label})"
    if [list(b) for b in parsed.boxes] != [[float(v) for v in box] for box, _ in mapped]:
        return "", "boxes (the answer's regions differ from objects)"
    return kept, None


def _internvl_box(box: list[float], size: tuple[int, int], where: str) -> list[int]:
    try:
        return norm1000_box(box, size)
    except ValueError as error:
        raise RecordRejected("box_degenerate", f"{where}: {error}") from None


def _parquet_image(path: Path, frame: tuple[int, int] | None, mode: str) -> dict[str, Any]:
    # frame None (internvl): the image as it is; InternVL tiles it itself.
    entry: dict[str, Any] = {} if frame is None else {"resized_height": frame[1], "resized_width": frame[0]}
    if mode == "bytes":
        entry["bytes"] = path.read_bytes()
    else:
        entry["image"] = str(path)
    return entry


def _training_view(
    regions: list[tuple[list[float], str]],
    mapped: list[tuple[list[int], str]],
    tags: list[str],
    vocab: Vocabulary,
    options: Options,
) -> tuple[list[tuple[list[float], str]], list[tuple[list[int], str]] | None, list[str]]:
    """What the training rows may show of an image's regions (original pixels, mapped) and tags
    (002 §5.3 ablations; the evaluation rows keep everything). Mapped None: no region annotations."""
    train_regions = regions
    train_mapped: list[tuple[list[int], str]] | None = mapped
    train_tags = tags
    if options.label_only or "boxes" in options.drop:
        train_regions, train_mapped = [], None
    elif "captions" in options.drop:
        blank = " ".join(str(vocab.wording["uncaptioned_region"]).split())
        train_regions = [(box, blank) for box, _ in regions]
        train_mapped = [(box, blank) for box, _ in mapped]
    if options.label_only or "tags" in options.drop:
        train_tags = []
    return train_regions, train_mapped, train_tags


def _generated_answer(
    label: str,
    mapped: list[tuple[list[int], str]] | None,
    tags: list[str],
    vocab: Vocabulary,
    options: Options,
) -> str:
    """The assistant turn this project writes (every ablation writes its own)."""
    if options.label_only:
        return render_verdict(label)
    return render_response(label, mapped, tags, vocab.wording, options.region_syntax)


def sample_answers(options: Options) -> list[SampleAnswer]:
    """What the SFT rows teach the model to answer for a real image and a fake one with a region
    and a tag under these options, written by the converter's own code (the placeholders of
    region_syntax tokens as ms-swift renders them). The plan's validation parses them with the
    evaluation's response format (harness/validate/answer_format.py): a format that cannot read
    them would count every answer of the trained model as unparsable."""
    vocab = vocabulary(options.vocabulary)
    if options.region_syntax == "internvl":
        frame = (INTERNVL_NORM, INTERNVL_NORM)
    else:
        frame = resizable_frame(1024, 768, options.min_pixels, options.max_pixels, "sample image")
    box = [frame[0] // 4, frame[1] // 4, frame[0] // 2, frame[1] // 2]
    samples = []
    for label in ("real", "fake"):
        fake = label == "fake"
        regions = [([float(v) for v in box], "sample region")] if fake else []
        mapped = [(box, "sample region")] if fake else []
        tags = list(vocab.tags[:1]) if fake else []
        _, train_mapped, train_tags = _training_view(regions, mapped, tags, vocab, options)
        text = _generated_answer(label, train_mapped, train_tags, vocab, options)
        if options.region_syntax == "tokens":
            for _, description in train_mapped or ():
                text = text.replace(REGION_PLACEHOLDER, _token_region(box, description), 1)
        samples.append(SampleAnswer(label=label, text=text, frame=frame))
    return samples


@data_source("fakexplained")
def convert(record: RawRecord, options: Options) -> Converted:
    obj = parse_json_object(record)
    location = record.location
    vocab = vocabulary(options.vocabulary)
    image_field = _pick_image_field(obj)
    if image_field is None:
        raise RecordRejected("missing_field", f"{location}: no 'image' (path of the image file)")
    if isinstance(obj.get("images"), list) and len(obj["images"]) > 1:
        raise RecordRejected(
            "media_mismatch", f"{location}: {len(obj['images'])} images; FakeXplained has one per record"
        )
    label = _label(obj, location)
    record_id = _record_id(obj, image_field)
    path = Path(os.path.abspath(resolve_image_path(image_field, record.base_dir, options.image_root)))
    recorded = (obj.get("width"), obj.get("height"))
    if not options.verify_images and all(type(v) is int and v > 0 for v in recorded):
        # Metadata-only mode trusts the recorded size and does not open the image.
        if not path.is_file():
            raise RecordRejected("image_missing", f"{path} does not exist")
        size = (recorded[0], recorded[1])
    else:
        size = image_size(path, verify=options.verify_images)
        for key, value, actual in (("width", recorded[0], size[0]), ("height", recorded[1], size[1])):
            if value is not None and value != actual:
                raise RecordRejected("size_mismatch", f"{location}: {key} {value!r} but {path} has {actual}")
    tags, dropped_tags = _tags(obj, vocab, location, options.strict)
    regions = _regions(obj, size, options.box_clip_tolerance, location)
    if label == "real" and regions:
        raise RecordRejected(
            "real_with_regions", f"{location}: labelled real but has {len(regions)} region(s)"
        )
    resized: tuple[int, int] | None = None  # the pixels the model sees, where it resizes to a frame
    if options.region_syntax == "internvl":
        # InternVL's boxes are 0-1000 of the image whatever its size: that is the frame.
        frame = (INTERNVL_NORM, INTERNVL_NORM)
        mapped = [
            (_internvl_box(box, size, f"{location}: objects.bbox[{i}]"), text)
            for i, (box, text) in enumerate(regions)
        ]
    else:
        resized = frame = resizable_frame(
            size[0], size[1], options.min_pixels, options.max_pixels, f"{location}: {path}"
        )
        if options.region_syntax == "tokens":
            mapped = [
                (_swift_box(box, size, frame, f"{location}: objects.bbox[{i}]"), text)
                for i, (box, text) in enumerate(regions)
            ]
        else:
            mapped = [(map_box(box, size, frame), text) for box, text in regions]
    generator, family = vocab.generator(obj.get("generator"))
    warnings = [f"unknown_tag:{tag}" for tag in dropped_tags]
    if label == "fake" and generator is not None and family is None:
        warnings.append(f"generator_without_family:{generator}")
    if label == "real":
        family = None

    templates = _templates(options)
    sft_template = pick_template(
        templates, record_id, options.seed, label=label, pool=options.sft_template_pool, purpose="sft"
    )
    prompt_template = pick_template(
        templates, record_id, options.seed, label=None, pool="all", purpose="prompt"
    )
    response = None
    own_answer = _assistant_text(obj)
    # An ablation writes its own answers: a kept answer's prose and placeholders carry the
    # annotations the run leaves out.
    if options.reasoning == "keep" and own_answer.strip() and not options.ablated:
        response, why = _kept_response(own_answer, label, tags, mapped, options.region_syntax, frame)
        if why is not None:
            if options.strict:
                raise RecordRejected("bad_record", f"{location}: the assistant answer cannot be kept: {why}")
            warnings.append(f"reasoning_generated:{why.split(' ', 1)[0]}")
            response = None
    train_regions, train_mapped, train_tags = _training_view(regions, mapped, tags, vocab, options)
    if options.label_only or response is None:
        response = _generated_answer(label, train_mapped, train_tags, vocab, options)
    boxes = [box for box, _ in mapped]
    truth = ground_truth_json(
        label,
        None if train_mapped is None else [box for box, _ in train_mapped],
        formatted=not options.label_only,
    )
    prompt = _prompt_messages(prompt_template, options.region_syntax)
    image = str(path)
    extra_info = {
        "index": record.ordinal,
        "id": record_id,
        "label": label,
        "generator": generator,
        "family": family,
        "width": frame[0],
        "height": frame[1],
        "orig_width": size[0],
        "orig_height": size[1],
        "template": prompt_template.name,
        "tags": train_tags,
        "image": image,
    }
    sft_row: dict[str, Any] = {
        "messages": [
            *_prompt_messages(sft_template, options.region_syntax),
            {"role": "assistant", "content": response},
        ],
        "images": [image],
    }
    if options.region_syntax == "tokens" and train_regions:
        # Original-image pixels, in placeholder order: ms-swift rescales them to the frame it resizes to.
        sft_row["objects"] = {
            "ref": [text for _, text in train_regions],
            "bbox": [[_plain_number(v) for v in box] for box, _ in train_regions],
        }
    grpo_row = {
        "messages": prompt,
        "images": [image],
        "solution": truth,
        "data_source": options.data_source,
        "extra_info": extra_info,
    }
    parquet_row = {
        "data_source": options.data_source,
        "prompt": prompt,
        "images": [_parquet_image(path, resized, options.parquet_images)],
        "ability": options.ability,
        "reward_model": {"style": "rule", "ground_truth": truth},
        "extra_info": extra_info,
    }
    manifest_row = eval_row(
        record_id=record_id,
        image=image,
        label=label,
        generator=generator,
        family=family,
        messages=prompt,
        boxes=boxes,
        regions=[json.loads(render_region(box, text)) for box, text in mapped],
        tags=tags,
        frame=frame,
        orig_width=size[0],
        orig_height=size[1],
    )
    return Converted(
        record_id=record_id,
        label=label,
        rows={
            "sft.jsonl": [sft_row],
            "grpo.jsonl": [grpo_row],
            "grpo.parquet": [parquet_row],
            "eval.jsonl": [manifest_row],
        },
        warnings=warnings,
    )


def check_layout(
    inputs: list[Path], *, verify_images: bool = True, image_root: str | None = None
) -> list[str]:
    """Problems with what the user put in place (empty list = ready); each says what to do.

    ``verify_images`` (default) decodes every image, so what ``convert`` would reject as corrupt
    is found here too; False reads sizes from the headers only (fast, misses truncated files)."""
    problems: list[str] = []
    hint = f"get FakeXplain.7z from {ARCHIVE_URL} and arrange it as documented in data_prep/sources/fakexplained.py"
    if not inputs:
        return [f"no --input given; {hint}"]
    files = []
    for path in inputs:
        path = Path(path).expanduser()
        if not path.exists():
            problems.append(f"{path} does not exist; {hint}")
        elif path.is_dir() and not (path / ANNOTATIONS_FILE).is_file():
            problems.append(f"{path} has no {ANNOTATIONS_FILE} (one JSON object per image); {hint}")
        else:
            files.append(path / ANNOTATIONS_FILE if path.is_dir() else path)
    options = Options(verify_images=verify_images, image_root=image_root)
    counts = {"fake": 0, "real": 0}
    shown = 0
    for record in iter_files(files, iter_jsonl):
        try:
            converted = convert(record, options)
            counts[converted.label or "real"] += 1
        except RecordRejected as rejected:
            if shown < 20:
                problems.append(f"{rejected.reason}: {rejected.detail}")
            shown += 1
    if shown > 20:
        problems.append(f"... and {shown - 20} more record problem(s)")
    if files and counts["fake"] == 0:
        problems.append(f"no usable fake image records in {', '.join(map(str, files))}")
    if files and counts["real"] == 0:
        problems.append(
            "no usable real image records: 002 §5.2 pairs every fake with a real image (ImageNet); "
            "add real images to annotations.jsonl with label 'real'"
        )
    return problems
