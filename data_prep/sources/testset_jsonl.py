"""A jsonl of ``{"file_path": ..., "label": "fake or real"}`` (seed 001 evaluation) -> the evaluation manifest.

001 README: "organize your dataset in the following format (jsonl): {"file_path": "image_0.jpg",
"label": "fake or real"}". Relative paths resolve against ``image_root`` or the jsonl's folder.
Optional per-record ``generator`` (else the ``generator`` option, e.g. the test set's name) and
``id`` (else the path). Labels are the words real/fake/generated; numbers are rejected unless
``label_values`` maps them (their polarity differs between datasets, seeds.md §5.8).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from data_prep.eval_manifest import DEFAULT_QUERY, eval_row
from data_prep.image_check import image_size
from data_prep.readers import iter_files, parse_json_object
from data_prep.records import Converted, RawRecord
from data_prep.source_api import Prepared, require_files, resolve_image_path
from data_prep.sources import data_source
from data_prep.sources.common import nonempty_str, resizable_frame, word_label
from data_prep.testset_prompt import check_testset_options, testset_prompt

__all__ = ["OUTPUTS", "Options", "prepare", "convert"]

OUTPUTS = ("eval.jsonl",)


@dataclass(frozen=True)
class Options:
    image_root: str | None = None
    query: str = DEFAULT_QUERY
    system: str | None = None
    generator: str | None = None
    label_values: dict = field(default_factory=dict)
    verify_images: bool = True
    min_pixels: int | None = None
    max_pixels: int | None = None
    # A chat-template file (e.g. conf/data_prep/fakexplain_templates.yaml): each image gets the prompt
    # FakeXplained's evaluation manifest would give it (data_prep/testset_prompt.py);
    # query and system are then unused. region_syntax fills the templates' region example.
    templates: str | None = None
    region_syntax: str = "json"
    seed: int = 0


def check_options(options: Options) -> None:
    """data_prep/source_api.py: run by prepare and by the plan's validation."""
    check_testset_options(options, "testset_jsonl")


def prepare(inputs: list[Path], options: Options) -> Prepared:
    what = 'a jsonl of {"file_path": ..., "label": "fake or real"} lines (001 README)'
    files = require_files(inputs, "testset_jsonl", what)
    check_options(options)  # a bad config fails the stage before any record is read
    return Prepared(records=iter_files(files), unique_ids=True, expected=what)


@data_source("testset_jsonl")
def convert(record: RawRecord, options: Options) -> Converted:
    obj = parse_json_object(record)
    location = record.location
    file_path = nonempty_str(obj, "file_path", location)
    label = word_label(obj.get("label"), location, options.label_values)
    path = resolve_image_path(file_path.strip(), record.base_dir, options.image_root).resolve()
    width, height = image_size(path, verify=options.verify_images)
    frame = None
    if options.min_pixels is not None:
        frame = resizable_frame(width, height, options.min_pixels, options.max_pixels, f"{location}: {path}")
    generator = obj.get("generator") or options.generator
    record_id = str(obj.get("id") or file_path)
    row = eval_row(
        record_id=record_id,
        image=str(path),
        label=label,
        generator=str(generator) if generator else None,
        family=None,
        messages=testset_prompt(
            record_id, options.query, options.system, options.templates, options.seed, options.region_syntax
        ),
        frame=frame,
    )
    return Converted(record_id=record_id, label=label, rows={"eval.jsonl": [row]})
