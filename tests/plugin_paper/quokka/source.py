"""Quokka's data: a CSV ``image,label`` (image paths relative to the CSV) -> ms-swift SFT and GRPO rows,
or the evaluation manifest (option ``role``: train | test)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from data_prep.eval_manifest import eval_row, prompt_messages
from data_prep.image_check import image_size
from data_prep.records import Converted, RawRecord, RecordRejected
from data_prep.source_api import Prepared, require_files, resolve_image_path
from data_prep.sources import data_source
from data_prep.sources.common import word_label
from quokka.answer import ANSWERS

OUTPUTS = ("sft.jsonl", "grpo.jsonl", "eval.jsonl")
QUESTION = "Real or fake? Answer [[real]] or [[fake]]."


@dataclass(frozen=True)
class Options:
    role: Literal["train", "test"] = "train"
    system: str | None = None


def _rows(path: Path) -> Iterator[RawRecord]:
    with open(path, newline="", encoding="utf-8") as handle:
        for ordinal, row in enumerate(csv.DictReader(handle)):
            yield RawRecord(
                location=f"{path}:{ordinal + 2}", payload=row, base_dir=str(path.parent), ordinal=ordinal
            )


def prepare(inputs: list[Path], options: Options) -> Prepared:
    files = require_files(inputs, "quokka", "a CSV of image,label")
    outputs = ("sft.jsonl", "grpo.jsonl") if options.role == "train" else ("eval.jsonl",)
    records = (record for file in files for record in _rows(file))
    return Prepared(records=records, outputs=outputs, unique_ids=True)


@data_source("quokka")
def convert(record: RawRecord, options: Options) -> Converted:
    row = record.payload
    if not row.get("image"):
        raise RecordRejected("missing_field", f"{record.location}: no image")
    label = word_label(row.get("label"), record.location)
    path = resolve_image_path(row["image"], record.base_dir, None).resolve()
    if not path.is_file():
        raise RecordRejected("image_missing", f"{record.location}: {path}")
    image_size(path, verify=True)
    prompt = prompt_messages(QUESTION, options.system)
    if options.role == "test":
        manifest_row = eval_row(
            record_id=row["image"], image=str(path), label=label, generator=None, family=None, messages=prompt
        )
        return Converted(record_id=row["image"], label=label, rows={"eval.jsonl": [manifest_row]})
    answer = {"role": "assistant", "content": ANSWERS[label]}
    rows = {
        "sft.jsonl": [{"messages": [*prompt, answer], "images": [str(path)]}],
        "grpo.jsonl": [
            {"messages": prompt, "images": [str(path)], "solution": label, "data_source": "quokka"}
        ],
    }
    return Converted(record_id=row["image"], label=label, rows=rows)
