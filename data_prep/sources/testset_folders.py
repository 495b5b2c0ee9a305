"""A test set in folders whose names are the labels -> the evaluation manifest.

Two published layouts (data_prep/image_folders.py): AIGI-Holmes' ``TestSet/<generator>/{0_real,1_fake}``
(seed 000; 0 = real, 1 = fake, as its ImageFolder-style loader reads it), also with sub-folders
per generator that each hold ``0_real`` / ``1_fake`` (AIGI-Holmes concatenates those, seeds.md
§2.1); and GenImage's ``<generator>/<subset>/{train,val}/{ai,nature}`` (ai = fake, nature = real;
the ``split`` option picks val, GenImage's test images, or train). Each ``--input`` is a root whose
sub-folders are generators; an input that itself holds the class (or split) folders is one
generator named after the folder. The generator of every image is kept for per-generator accuracy.
A folder in none of these layouts fails the stage, naming it; files that are not images (by
extension) and the other split's folders are counted and printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from data_prep import image_folders
from data_prep.eval_manifest import DEFAULT_QUERY, eval_row
from data_prep.image_check import image_size
from data_prep.records import Converted, RawRecord
from data_prep.source_api import Prepared, require_inputs
from data_prep.sources import data_source
from data_prep.sources.common import resizable_frame
from data_prep.testset_prompt import check_testset_options, testset_prompt

__all__ = ["OUTPUTS", "Options", "prepare", "convert", "IMAGE_EXTENSIONS", "CLASS_FOLDERS"]

OUTPUTS = ("eval.jsonl",)
CLASS_FOLDERS = image_folders.CLASS_FOLDERS
IMAGE_EXTENSIONS = image_folders.IMAGE_EXTENSIONS


@dataclass(frozen=True)
class Options:
    query: str = DEFAULT_QUERY
    system: str | None = None
    verify_images: bool = True
    # Set both to also record the Qwen2.5-VL frame of each image in the manifest.
    min_pixels: int | None = None
    max_pixels: int | None = None
    # A chat-template file (e.g. conf/data_prep/fakexplain_templates.yaml): each image gets the prompt
    # FakeXplained's evaluation manifest would give it (data_prep/testset_prompt.py);
    # query and system are then unused. region_syntax fills the templates' region example.
    templates: str | None = None
    region_syntax: str = "json"
    seed: int = 0
    split: Literal["train", "val"] = "val"  # GenImage only: its val images are the test images


def _records(folders: list[image_folders.ClassFolder], skipped: dict[str, Any]) -> Iterator[RawRecord]:
    for ordinal, (path, folder) in enumerate(image_folders.images(folders, skipped)):
        payload = {"path": str(path), "label": folder.label, "generator": folder.generator,
                   "id": path.relative_to(folder.root.parent).as_posix()}  # fmt: skip
        yield RawRecord(location=str(path), payload=payload, base_dir=str(folder.root), ordinal=ordinal)


def check_options(options: Options) -> None:
    """data_prep/source_api.py: run by prepare and by the plan's validation."""
    check_testset_options(options, "testset_folders")


def prepare(inputs: list[Path], options: Options) -> Prepared:
    roots = require_inputs(inputs, "testset_folders", f"a test-set folder holding {image_folders.LAYOUTS}")
    check_options(options)  # a bad config fails the stage before any record is read
    folders, skipped = image_folders.scan(roots, options.split, "testset_folders")
    return Prepared(
        records=_records(folders, skipped),
        info={"skipped": skipped},
        unique_ids=True,
        expected=f"images in class folders: {image_folders.LAYOUTS}",
    )


@data_source("testset_folders")
def convert(record: RawRecord, options: Options) -> Converted:
    item = record.payload
    path = Path(item["path"])
    width, height = image_size(path, verify=options.verify_images)
    frame = None
    if options.min_pixels is not None:
        frame = resizable_frame(width, height, options.min_pixels, options.max_pixels, str(path))
    row = eval_row(
        record_id=item["id"],
        image=str(path.resolve()),
        label=item["label"],
        generator=item["generator"],
        family=None,
        messages=testset_prompt(
            item["id"], options.query, options.system, options.templates, options.seed, options.region_syntax
        ),
        frame=frame,
    )
    return Converted(record_id=item["id"], label=item["label"], rows={"eval.jsonl": [row]})
