"""Image folder trees whose folder names carry the labels: AIGI-Holmes' TestSet and GenImage.

Accepted under each input root (a root whose own sub-folders are generators):

- AIGI-Holmes' TestSet (000 README "Dataset Preparation"; its loader reads it like torchvision's
  ImageFolder, 0 = real, 1 = fake): ``<generator>/{0_real,1_fake}/`` or
  ``<generator>/<subset>/{0_real,1_fake}/`` (AIGI-Holmes concatenates the subsets, seeds.md §2.1);
- GenImage: ``<generator>/<subset>/{train,val}/{ai,nature}/`` with ``ai`` = fake and ``nature`` =
  real; only the chosen split (``train`` or ``val``) is taken.

A root that itself holds the class folders (or the split folders) is one generator named after
it. Images anywhere below a class folder are taken; other files there are counted as skipped
(``non_image_files``), and so are the files in the folders above them (``files_outside_class_folders``:
GenImage's own ``.zip`` parts, a ``README.txt``), the folders of the split not chosen and hidden
folders (``.cache`` of a Hugging Face download).
A folder that fits none of these layouts is an error naming it: nothing is skipped silently.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CLASS_FOLDERS", "SPLIT_FOLDERS", "IMAGE_EXTENSIONS", "LAYOUTS", "ClassFolder", "scan", "images"]

CLASS_FOLDERS = {"0_real": "real", "1_fake": "fake", "nature": "real", "ai": "fake"}
SPLIT_FOLDERS = ("train", "val")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".gif")
LAYOUTS = (
    "<generator>/{0_real,1_fake}/ or <generator>/<subset>/{0_real,1_fake}/ (AIGI-Holmes TestSet), "
    "<generator>/<subset>/{train,val}/{ai,nature}/ (GenImage)"
)


@dataclass(frozen=True)
class ClassFolder:
    root: Path  # the input root it was found under
    generator: str
    path: Path
    label: str  # real | fake


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir())


def _classes(folder: Path) -> list[tuple[Path, str]]:
    return [(folder / name, label) for name, label in CLASS_FOLDERS.items() if (folder / name).is_dir()]


def _count(skipped: dict[str, Any], key: str, value: Path) -> None:
    skipped.setdefault(key, []).append(str(value))


def _count_files(folder: Path, skipped: dict[str, Any]) -> None:
    """Files lying in a folder above the class folders (GenImage's own .zip parts, a README.txt)."""
    for path in sorted(folder.iterdir()):
        if not path.is_dir():
            _count(skipped, "files_outside_class_folders", path)


def _split_classes(
    folder: Path, split: str, skipped: dict[str, Any], problems: list[str]
) -> list[tuple[Path, str]]:
    """The class folders of ``folder``/<split>/ for a folder holding train/ and val/."""
    found = []
    for child in _subdirs(folder):
        if child.name.startswith("."):
            _count(skipped, "hidden_folders", child)
        elif child.name not in SPLIT_FOLDERS:
            problems.append(f"{child} (next to {'/'.join(SPLIT_FOLDERS)} folders)")
        elif child.name != split:
            _count(skipped, f"{child.name}_split_folders", child)
        else:
            classes = _classes(child)
            found += classes
            _count_files(child, skipped)
            if not classes:
                problems.append(f"{child} (no ai/nature or 0_real/1_fake folder in it)")
    if not (folder / split).is_dir():
        problems.append(f"{folder} (no {split}/ folder: the split asked for)")
    return found


def _generator_classes(
    folder: Path, split: str, skipped: dict[str, Any], problems: list[str]
) -> list[tuple[Path, str]]:
    _count_files(folder, skipped)
    direct = _classes(folder)
    if direct:
        return direct
    children = []
    for child in _subdirs(folder):
        if child.name.startswith("."):
            _count(skipped, "hidden_folders", child)
        else:
            children.append(child)
    if any(c.name in SPLIT_FOLDERS for c in children):
        return _split_classes(folder, split, skipped, problems)
    found: list[tuple[Path, str]] = []
    for child in children:
        _count_files(child, skipped)
        classes = _classes(child)
        if not classes and any(g.name in SPLIT_FOLDERS for g in _subdirs(child)):
            classes = _split_classes(child, split, skipped, problems)
        elif not classes:
            problems.append(f"{child} (no class folders in it)")
        found += classes
    if not children:
        problems.append(f"{folder} (an empty generator folder)")
    return found


def scan(roots: list[Path], split: str, source: str) -> tuple[list[ClassFolder], dict[str, Any]]:
    """Every class folder under ``roots``; raises ValueError naming each folder it cannot place."""
    if split not in SPLIT_FOLDERS:
        raise ValueError(f"{source} option split must be one of {list(SPLIT_FOLDERS)}, got {split!r}")
    skipped: dict[str, Any] = {}
    problems: list[str] = []
    folders: list[ClassFolder] = []
    for root in roots:
        if not root.is_dir():
            raise ValueError(f"{source}: {root} is not a folder; expected a folder holding {LAYOUTS}")
        if _classes(root) or any(c.name in SPLIT_FOLDERS for c in _subdirs(root)):
            generators = [root]
        else:
            _count_files(root, skipped)
            generators = []
            for child in _subdirs(root):
                if child.name.startswith("."):
                    _count(skipped, "hidden_folders", child)
                else:
                    generators.append(child)
            if not generators:
                problems.append(f"{root} (no generator folders in it)")
        for generator in generators:
            for path, label in _generator_classes(generator, split, skipped, problems):
                folders.append(ClassFolder(root=root, generator=generator.name, path=path, label=label))
    if problems:
        listed = "\n  ".join(problems[:20]) + (
            f"\n  ... and {len(problems) - 20} more" if len(problems) > 20 else ""
        )
        raise ValueError(
            f"{source}: {len(problems)} folder(s) fit no known layout:\n  {listed}\nexpected under each input "
            f"{LAYOUTS}; move or remove the other folders, or pass the folders that hold the images"
        )
    return folders, skipped


def images(folders: list[ClassFolder], skipped: dict[str, Any]) -> Iterator[tuple[Path, ClassFolder]]:
    """The image files below each class folder, in a stable order; other files are counted."""
    for folder in folders:
        for current, dirs, files in os.walk(folder.path):
            dirs.sort()
            for name in sorted(files):
                path = Path(current) / name
                if path.suffix.lower() in IMAGE_EXTENSIONS:
                    yield path, folder
                else:
                    skipped["non_image_files"] = skipped.get("non_image_files", 0) + 1
