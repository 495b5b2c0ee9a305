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

The authors' mllm-defake training rows (``messages`` + ``images`` + ``objects``, seeds.md §2.4)
are accepted as well: the label is read from ``<verdict>generated|real</verdict>`` and the tags
from ``<tag>...</tag>`` of the assistant turn when the record has no ``label`` / ``tags``.

Outputs (one set of rows per image; boxes are mapped into the frame Qwen2.5-VL sees, set by the
``min_pixels`` / ``max_pixels`` options, see data_prep/model_frame.py):

- ``sft.jsonl`` ms-swift SFT: ``{"messages": [system, user "<image>...", assistant], "images": [path]}``;
  the assistant turn is data_prep/fakexplain_format.py's ``<think>/<tag>/<verdict>`` response.
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
    load_templates,
    pick_template,
)
from data_prep.cv_folds import plan_folds
from data_prep.eval_manifest import eval_row, prompt_messages
from data_prep.fakexplain_format import (
    Vocabulary,
    ground_truth_json,
    render_region,
    render_response,
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
from data_prep.source_api import Prepared, require_inputs, resolve_image_path
from data_prep.sources import data_source
from data_prep.sources.common import resizable_frame

__all__ = ["OUTPUTS", "Options", "prepare", "convert", "check_layout", "ARCHIVE_URL", "ANNOTATIONS_FILE"]

OUTPUTS = ("sft.jsonl", "grpo.jsonl", "grpo.parquet", "eval.jsonl")
TRAIN_OUTPUTS = ("sft.jsonl", "grpo.jsonl", "grpo.parquet")
EVAL_OUTPUTS = ("eval.jsonl",)
ANNOTATIONS_FILE = "annotations.jsonl"
# FakeXplained's data files in conf/data_prep/ (the recipe names them too: conf/paper/fakexplain.yaml).
TEMPLATES_FILE = "fakexplain_templates.yaml"  # 002 App. A.1: 3 real + 6 fake chat templates
VOCABULARY_FILE = "fakexplain.yaml"  # 002 App. B tags, Table 2 generators, the response wording
ARCHIVE_URL = "https://public-debug.oss-cn-hangzhou.aliyuncs.com/FakeXplain.7z"
_LABELS = {"fake": "fake", "generated": "fake", "ai-generated": "fake", "real": "real"}


@dataclass(frozen=True)
class Options:
    seed: int = 0
    fold: int | None = None
    num_folds: int = 4  # 002 §5.2: four-fold cross-validation
    min_pixels: int = QWEN_DEFAULT_MIN_PIXELS
    max_pixels: int = QWEN_DEFAULT_MAX_PIXELS
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
    # Boxes poking out of the image by at most this many pixels are clipped instead of rejected.
    box_clip_tolerance: float = 0.0


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


def _assistant_text(obj: dict[str, Any]) -> str:
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return ""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "assistant":
            content = message.get("content")
            return content if isinstance(content, str) else ""
    return ""


def _raw_label(obj: dict[str, Any]) -> Any:
    if "label" in obj:
        return obj["label"]
    match = re.search(r"<verdict>\s*(.*?)\s*</verdict>", _assistant_text(obj), re.S)
    return match.group(1) if match else None


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


def prepare(inputs: list[Path], options: Options) -> Prepared:
    files = _annotation_files(require_inputs(inputs, "fakexplained", f"a folder with {ANNOTATIONS_FILE}"))
    # Fail on a bad config before reading any record.
    load_templates(options.templates)
    vocabulary(options.vocabulary)
    if not 0 < options.min_pixels <= options.max_pixels:
        raise ValueError(
            f"fakexplained options: need 0 < min_pixels <= max_pixels, got {options.min_pixels}, {options.max_pixels}"
        )
    info: dict[str, Any] = {"frame": {"min_pixels": options.min_pixels, "max_pixels": options.max_pixels}}
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


def _tags(obj: dict[str, Any], vocab: Vocabulary, location: str) -> list[str]:
    raw = obj.get("tags")
    if raw is None:
        match = re.search(r"<tag>(.*?)</tag>", _assistant_text(obj), re.S)
        raw = match.group(1) if match else []
    if isinstance(raw, str):
        raw = [part for part in raw.split(",")]
    if not isinstance(raw, list):
        raise RecordRejected(
            "bad_record", f"{location}: 'tags' must be a list of strings or a comma-separated string"
        )
    found = set()
    for tag in raw:
        if not isinstance(tag, str):
            raise RecordRejected("bad_record", f"{location}: tag {tag!r} is not a string")
        if not tag.strip():
            continue
        canonical = vocab.canonical_tag(tag)
        if canonical is None:
            raise RecordRejected(
                "unknown_tag", f"{location}: tag {tag!r}; known tags: {', '.join(vocab.tags)}"
            )
        found.add(canonical)
    return [tag for tag in vocab.tags if tag in found]  # canonical order: the response is deterministic


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


def _prompt_messages(template: ChatTemplate) -> list[dict[str, str]]:
    return prompt_messages(template.user, template.system or None)


def _parquet_image(path: Path, frame: tuple[int, int], mode: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"resized_height": frame[1], "resized_width": frame[0]}
    if mode == "bytes":
        entry["bytes"] = path.read_bytes()
    else:
        entry["image"] = str(path)
    return entry


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
    tags = _tags(obj, vocab, location)
    regions = _regions(obj, size, options.box_clip_tolerance, location)
    if label == "real" and regions:
        raise RecordRejected(
            "real_with_regions", f"{location}: labelled real but has {len(regions)} region(s)"
        )
    frame = resizable_frame(size[0], size[1], options.min_pixels, options.max_pixels, f"{location}: {path}")
    mapped = [(map_box(box, size, frame), text) for box, text in regions]
    generator, family = vocab.generator(obj.get("generator"))
    warnings = []
    if label == "fake" and generator is not None and family is None:
        warnings.append(f"generator_without_family:{generator}")
    if label == "real":
        family = None

    templates = load_templates(options.templates)
    sft_template = pick_template(
        templates, record_id, options.seed, label=label, pool=options.sft_template_pool, purpose="sft"
    )
    prompt_template = pick_template(
        templates, record_id, options.seed, label=None, pool="all", purpose="prompt"
    )
    response = render_response(label, mapped, tags, vocab.wording)
    boxes = [box for box, _ in mapped]
    truth = ground_truth_json(label, boxes)
    prompt = _prompt_messages(prompt_template)
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
        "tags": tags,
        "image": image,
    }
    sft_row = {
        "messages": [*_prompt_messages(sft_template), {"role": "assistant", "content": response}],
        "images": [image],
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
        "images": [_parquet_image(path, frame, options.parquet_images)],
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
    inputs: list[Path], *, verify_images: bool = False, image_root: str | None = None
) -> list[str]:
    """Problems with what the user put in place (empty list = ready); each says what to do."""
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
