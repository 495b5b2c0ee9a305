"""A test-set folder tree ``TestSet/<generator>/{0_real,1_fake}`` (seed 000) -> the evaluation manifest.

Layout (000 README "Dataset Preparation"; AIGI-Holmes' loader reads it like torchvision's
ImageFolder, so 0 = real, 1 = fake): each ``--input`` is a TestSet root whose sub-folders are
generators. A generator folder holds ``0_real/`` and ``1_fake/`` directly, or sub-folders that
each do (AIGI-Holmes concatenates those, seeds.md §2.1); images anywhere below are taken.
An input that itself holds ``0_real`` / ``1_fake`` is one generator named after the folder.
Files that are not images (by extension) are ignored and counted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from data_prep.eval_manifest import DEFAULT_QUERY, eval_row, prompt_messages
from data_prep.image_check import image_size
from data_prep.records import Converted, RawRecord
from data_prep.source_api import Prepared, require_inputs
from data_prep.sources.common import resizable_frame

__all__ = ["OUTPUTS", "Options", "prepare", "convert", "IMAGE_EXTENSIONS", "CLASS_FOLDERS"]

OUTPUTS = ("eval.jsonl",)
CLASS_FOLDERS = {"0_real": "real", "1_fake": "fake"}
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")


@dataclass(frozen=True)
class Options:
    query: str = DEFAULT_QUERY
    system: str | None = None
    verify_images: bool = True
    # Set both to also record the Qwen2.5-VL frame of each image in the manifest.
    min_pixels: int | None = None
    max_pixels: int | None = None


def _class_roots(generator_dir: Path) -> list[tuple[Path, str]]:
    direct = [
        (generator_dir / name, label)
        for name, label in CLASS_FOLDERS.items()
        if (generator_dir / name).is_dir()
    ]
    if direct:
        return direct
    nested = []
    for child in sorted(p for p in generator_dir.iterdir() if p.is_dir()):
        nested += [(child / name, label) for name, label in CLASS_FOLDERS.items() if (child / name).is_dir()]
    return nested


def _walk_images(folder: Path) -> Iterator[Path]:
    for current, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            yield Path(current) / name


def _records(roots: list[Path], skipped: dict[str, Any]) -> Iterator[RawRecord]:
    ordinal = 0
    for root in roots:
        if any((root / name).is_dir() for name in CLASS_FOLDERS):
            generators = [(root.name, root)]
        else:
            generators = [(p.name, p) for p in sorted(root.iterdir()) if p.is_dir()]
        for generator, folder in generators:
            class_roots = _class_roots(folder)
            if not class_roots:
                skipped.setdefault("folders_without_0_real_or_1_fake", []).append(str(folder))
                continue
            for class_root, label in class_roots:
                for path in _walk_images(class_root):
                    if path.suffix.lower() not in IMAGE_EXTENSIONS:
                        skipped["non_image_files"] = skipped.get("non_image_files", 0) + 1
                        continue
                    payload = {"path": str(path), "label": label, "generator": generator,
                               "id": path.relative_to(root.parent).as_posix()}  # fmt: skip
                    yield RawRecord(location=str(path), payload=payload, base_dir=str(root), ordinal=ordinal)
                    ordinal += 1


def prepare(inputs: list[Path], options: Options) -> Prepared:
    roots = require_inputs(inputs, "testset_folders", "a TestSet folder with <generator>/{0_real,1_fake}")
    for root in roots:
        if not root.is_dir():
            raise ValueError(
                f"testset_folders: {root} is not a folder; expected TestSet/<generator>/{{0_real,1_fake}}"
            )
    if (options.min_pixels is None) != (options.max_pixels is None):
        raise ValueError("testset_folders options: give both min_pixels and max_pixels, or neither")
    skipped: dict[str, Any] = {}
    return Prepared(records=_records(roots, skipped), info={"skipped": skipped}, unique_ids=True)


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
        messages=prompt_messages(options.query, options.system),
        frame=frame,
    )
    return Converted(record_id=item["id"], label=item["label"], rows={"eval.jsonl": [row]})
