"""What a source module (``data_prep/sources/<name>.py``) provides to the conversion stage.

A source module defines:

- ``OUTPUTS``: the output files it can write (``sft.jsonl``, ``grpo.parquet``, ...);
- ``Options``: a dataclass of its converter options (``--options`` JSON), with defaults;
- ``prepare(inputs, options) -> Prepared``: runs in the main process; checks the inputs exist,
  returns the record stream and the routing of converted records to output files;
- ``convert(record, options) -> Converted``: runs in worker processes, one record at a time;
  raises ``RecordRejected`` for a record that cannot be converted.

It may define ``check_options(options) -> None``: raises ValueError (naming the option) for options
that cannot work, reading only config files, never the dataset; ``prepare`` calls it first, and the
plan's validation before anything runs (harness/validate/registered.py), so a bad option stops the
pipeline and not the data stage after those before it ran.

It may define ``sample_answers(options) -> list[SampleAnswer]``: what its SFT rows teach the
model to answer under these options, one per label, when the converter writes the answers
itself. The plan's validation parses them with each evaluation's response format whose model was
trained on the source's rows (harness/validate/answer_format.py), before anything runs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.parse import parse_dataclass
from data_prep.records import Converted, RawRecord

__all__ = ["Prepared", "SampleAnswer", "parse_options", "resolve_image_path", "require_inputs"]


@dataclass(frozen=True)
class SampleAnswer:
    label: str  # "real" | "fake"
    text: str  # the assistant turn, as the model learns to write it
    frame: tuple[int, int] | None = None  # (width, height) its boxes live in


@dataclass
class Prepared:
    records: Iterator[RawRecord]
    # Which output files a converted record's rows go to; None = every file it produced rows for.
    route: Callable[[Converted], tuple[str, ...] | None] = lambda converted: None
    # Which output files to create (even if empty); defaults to the module's OUTPUTS.
    outputs: tuple[str, ...] | None = None
    parquet_schemas: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # merged into stats.json
    # Reject a record whose id an earlier record had (the stage then keeps the ids, not the records).
    unique_ids: bool = False
    # What the inputs should hold, for the error when they yield no record at all.
    expected: str = ""


def parse_options(options_cls: type, raw: dict[str, Any] | None, source: str) -> Any:
    """Build a source's Options dataclass from ``--options``; unknown keys and bad types are errors.

    Raises common.errors.ConfigError naming every bad key (``fakexplained options.fold: must be an
    integer, got 'x'``).
    Text values a hand-written command line produces ("true", "3") are accepted for bools and numbers.
    """
    return parse_dataclass(options_cls, raw or {}, f"{source} options", strings=True)


def require_inputs(inputs: list[Path], source: str, what: str) -> list[Path]:
    """Resolve input paths; a missing one is an error naming it and what was expected there."""
    if not inputs:
        raise ValueError(f"{source}: no --input given; expected {what}")
    resolved = []
    for path in inputs:
        path = Path(path).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"{source}: input {path} does not exist; expected {what}")
        resolved.append(path.resolve())
    return resolved


def require_files(inputs: list[Path], source: str, what: str) -> list[Path]:
    """require_inputs for sources that read files: a folder is an error naming it."""
    files = require_inputs(inputs, source, what)
    for path in files:
        if path.is_dir():
            raise ValueError(f"{source}: {path} is a folder; pass the files themselves ({what})")
    return files


def resolve_image_path(value: str, base_dir: str, image_root: str | None) -> Path:
    """An absolute path as is; a relative one against the option image_root, else the record's folder."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return path
    return (Path(image_root).expanduser() if image_root else Path(base_dir)) / path
