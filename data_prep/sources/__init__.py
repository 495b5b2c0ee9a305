"""Source formats, one module each, selected by name (``convert --source <name>``).

A source module declares itself by decorating its ``convert`` (the contract is in
:mod:`data_prep.source_api`)::

    from data_prep.sources import data_source

    @data_source("my_dataset")
    def convert(record: RawRecord, options: Options) -> Converted: ...

The modules of this package are found without importing them (:mod:`common.registry`); a
user's own package registers its sources when it is imported as a plugin (:mod:`common.plugins`,
``AIGI_PLUGINS``). The project's sources:

| name              | module            | what it reads                                           |
|-------------------|-------------------|---------------------------------------------------------|
| fakexplained      | fakexplained.py   | FakeXplained annotations (seed 002), see the module     |
| aigi_holmes       | aigi_holmes.py    | AIGI-Holmes SFT/DPO jsonl in ms-swift 2.x form (seed 000)|
| fake_hr1          | fake_hr1.py       | GenImage / FakeClue json for Fake-HR1 (seed 001)        |
| fakescope         | fakescope.py      | FakeScope instruction data (seed 003)                   |
| testset_folders   | testset_folders.py| TestSet/<generator>/{0_real,1_fake} (seed 000)          |
| testset_jsonl     | testset_jsonl.py  | jsonl of {file_path, label} (seed 001)                  |

A module may also define ``check_layout(inputs, *, verify_images, image_root) -> list[str]``:
``python -m data_prep check`` then adds its findings (what is missing, where to get it) to the
generic check every source gets; and ``sample_answers(options)`` (data_prep/source_api.py): what
its SFT rows teach the model to answer, which the plan's validation parses with the evaluation's
response format (harness/validate/answer_format.py).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import ModuleType
from typing import TypeVar

from common.registry import Registry, UnknownNameError

__all__ = ["SOURCES", "data_source", "source_module"]

SOURCES: Registry[ModuleType] = Registry(
    "data source", packages=("data_prep.sources",), declarator="data_source"
)

F = TypeVar("F", bound=Callable)


def data_source(name: str) -> Callable[[F], F]:
    """Declare the module of the decorated ``convert`` as the source ``name``."""

    def declare(convert: F) -> F:
        module = sys.modules.get(convert.__module__)
        if module is not None:  # None: a file executed by path, which declares nothing
            SOURCES.add(name, module)
        return convert

    return declare


def source_module(name: str) -> ModuleType:
    """The converter module registered under ``name``; an unknown name lists the known ones."""
    try:
        return SOURCES.get(name)
    except UnknownNameError as exc:
        raise ValueError(
            f"unknown source {name!r}{_hint(exc)}; known sources: {', '.join(exc.available)}"
        ) from None


def _hint(exc: UnknownNameError) -> str:
    from common.errors import did_you_mean

    return did_you_mean(exc.name, exc.available)
