"""Source formats, one module each, selected by name (``convert --source <name>``).

| name              | module            | what it reads                                           |
|-------------------|-------------------|---------------------------------------------------------|
| fakexplained      | fakexplained.py   | FakeXplained annotations (seed 002), see the module     |
| aigi_holmes       | aigi_holmes.py    | AIGI-Holmes SFT/DPO jsonl in ms-swift 2.x form (seed 000)|
| fake_hr1          | fake_hr1.py       | GenImage / FakeClue json for Fake-HR1 (seed 001)        |
| fakescope         | fakescope.py      | FakeScope instruction data (seed 003)                   |
| testset_folders   | testset_folders.py| TestSet/<generator>/{0_real,1_fake} (seed 000)          |
| testset_jsonl     | testset_jsonl.py  | jsonl of {file_path, label} (seed 001)                  |
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["SOURCES", "source_module"]

SOURCES: tuple[str, ...] = (
    "fakexplained",
    "aigi_holmes",
    "fake_hr1",
    "fakescope",
    "testset_folders",
    "testset_jsonl",
)


def source_module(name: str) -> ModuleType:
    """The converter module registered under ``name``; an unknown name lists the known ones."""
    if name not in SOURCES:
        raise ValueError(f"unknown source {name!r}; known sources: {', '.join(SOURCES)}")
    return importlib.import_module(f"data_prep.sources.{name}")
