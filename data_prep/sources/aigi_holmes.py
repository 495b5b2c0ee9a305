"""AIGI-Holmes (seed 000) SFT and DPO jsonl -> the pinned ms-swift 4.6 ``sft.jsonl`` / ``dpo.jsonl``.

What is published (Hugging Face dataset ``zzy0123/AIGI-Holmes-Dataset``): ``SFTDATA.jsonl`` at the
dataset's root, ``dataset_huggingface.zip`` (the images, unpacked by the download stage into
``dataset/``) and ``TestSet.zip``. Rows are ms-swift 2.x rows
``{"query": "...", "response": "...", "images": ["./dataset/1_fake/<name>.png"]}``: the image paths
are relative to the dataset's root and the label lives only in the ``0_real`` / ``1_fake`` folder
of the path. The authors trained with ms-swift 2.6.1 (seeds.md §1.1), which also took
``system`` and ``history`` ([[query, response], ...]) and, for DPO, ``rejected_response`` (seeds.md
§2.1); ms-swift 4.6 reads ``messages`` plus ``rejected_response``
(swift/dataset/preprocessor/core.py). Rows in any other shape ms-swift accepts (``messages``,
``conversations``) are read too (sources/common.py ``swift_messages``).

Images: relative paths resolve against ``image_root`` when set (the recipe sets the download
folder), else against the dataset root: the jsonl's folder, or its parent when the jsonl sits in
the dataset's own ``dataset/`` folder (the README's recommended layout, ``dataset/*.jsonl``).
A query without ``<image>`` gets one tag per image prepended, as ms-swift 2.x did for LLaVA.
The label is the record's ``label`` when it has one, else its image path's ``0_real`` / ``1_fake``.

Each record goes to ``dpo.jsonl`` when it has a rejected response, else to ``sft.jsonl``.
Holmes-DPOSet is not published: ``expect="dpo"`` (the recipe's prepare_dpo stage) says so when its
input is missing and rejects rows without ``rejected_response``; a user's own DPO file holds the
SFT rows above plus ``"rejected_response"`` (the dispreferred answer).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from data_prep.readers import iter_files, parse_json_object
from data_prep.records import Converted, RawRecord, RecordRejected
from data_prep.source_api import Prepared, require_files
from data_prep.sources import data_source
from data_prep.sources.common import (
    canonical_image_tags,
    checked_images,
    ensure_image_tags,
    image_entries,
    image_search_dirs,
    label_from_path,
    record_images,
    swift_messages,
    word_label,
)

__all__ = ["OUTPUTS", "Options", "prepare", "convert", "DPO_FORMAT"]

OUTPUTS = ("sft.jsonl", "dpo.jsonl")
PUBLISHED_FILES = "SFTDATA.jsonl, dataset_huggingface.zip and TestSet.zip"
DPO_FORMAT = (
    'a jsonl of {"query": "<image>...", "response": "<preferred answer>", "rejected_response": '
    '"<dispreferred answer>", "images": ["./dataset/1_fake/<name>.png"]} rows (ms-swift 2.x DPO rows, '
    "paths relative to the dataset root)"
)


@dataclass(frozen=True)
class Options:
    image_root: str | None = None
    verify_images: bool = True
    prepend_image_tag: bool = True
    system: str | None = None  # replaces the records' system prompt when set
    # sft: every row is an SFT row; dpo: every row needs rejected_response; any: route by row.
    expect: Literal["any", "sft", "dpo"] = "any"


def prepare(inputs: list[Path], options: Options) -> Prepared:
    if options.expect == "dpo":
        what = (
            "your own DPO file, since AIGI-Holmes' DPO set (Holmes-DPOSet) is not published "
            f"(zzy0123/AIGI-Holmes-Dataset holds {PUBLISHED_FILES}): {DPO_FORMAT}"
        )
    else:
        what = f"AIGI-Holmes jsonl files (SFTDATA.jsonl of zzy0123/AIGI-Holmes-Dataset: {PUBLISHED_FILES})"
    files = require_files(inputs, "aigi_holmes", what)
    return Prepared(records=iter_files(files), expected=what)


def _answer(messages: list[dict[str, str]], location: str) -> str:
    last = messages[-1]
    if last["role"] != "assistant":
        raise RecordRejected(
            "empty_response", f"{location}: the record has no answer ('response' or a last assistant turn)"
        )
    if not last["content"].strip():
        raise RecordRejected("empty_response", f"{location}: the answer ('response') is empty")
    for position, message in enumerate(messages[:-1]):
        if message["role"] != "system" and not message["content"].strip():
            raise RecordRejected("missing_field", f"{location}: turn {position} ({message['role']}) is empty")
    return last["content"]


def _label(obj: dict[str, Any], written: list[str], location: str) -> str | None:
    if obj.get("label") is not None:
        return word_label(obj["label"], location)
    labels = {label_from_path(path) for path in written}
    return labels.pop() if len(labels) == 1 else None


@data_source("aigi_holmes")
def convert(record: RawRecord, options: Options) -> Converted:
    obj = parse_json_object(record)
    location = record.location
    messages = swift_messages(obj, location)
    answer = _answer(messages, location)
    for message in messages:
        message["content"] = canonical_image_tags(message["content"])
    if options.system is not None:
        messages = [m for m in messages if m["role"] != "system"]
        if options.system:
            messages.insert(0, {"role": "system", "content": options.system})
    written = image_entries(record_images(obj), location)
    search = image_search_dirs(options.image_root, record.base_dir, parents=1)
    images = checked_images(written, search, options.verify_images, location)
    ensure_image_tags(messages, len(images), options.prepend_image_tag, location)
    label = _label(obj, written, location)
    row: dict[str, Any] = {"messages": messages, "images": images}
    rejected = obj.get("rejected_response")
    record_id = str(obj.get("id", record.ordinal))
    if rejected is None:
        if options.expect == "dpo":
            raise RecordRejected(
                "missing_field", f"{location}: a DPO row needs 'rejected_response' (the dispreferred answer)"
            )
        return Converted(record_id=record_id, label=label, rows={"sft.jsonl": [row]})
    if options.expect == "sft":
        raise RecordRejected("bad_record", f"{location}: an SFT row has 'rejected_response' (a DPO row?)")
    if not isinstance(rejected, str) or not rejected.strip():
        raise RecordRejected("empty_response", f"{location}: 'rejected_response' is empty")
    if rejected.strip() == answer.strip():
        raise RecordRejected("dpo_pair_identical", f"{location}: rejected_response equals the response")
    row["rejected_response"] = rejected
    return Converted(record_id=record_id, label=label, rows={"dpo.jsonl": [row]})
