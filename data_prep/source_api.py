"""What a source module (``data_prep/sources/<name>.py``) provides to the conversion stage.

A source module defines:

- ``OUTPUTS``: the output files it can write (``sft.jsonl``, ``grpo.parquet``, ...);
- ``Options``: a dataclass of its converter options (``--options`` JSON), with defaults;
- ``prepare(inputs, options) -> Prepared``: runs in the main process; checks the inputs exist,
  returns the record stream and the routing of converted records to output files;
- ``convert(record, options) -> Converted``: runs in worker processes, one record at a time;
  raises ``RecordRejected`` for a record that cannot be converted.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from data_prep.records import Converted, RawRecord

__all__ = ["Prepared", "parse_options", "resolve_image_path", "require_inputs"]


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


def _coerce(name: str, value: Any, annotation: Any, source: str) -> Any:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _coerce(name, value, non_none[0], source)
        return value
    if origin is typing.Literal:
        if value not in args:
            raise ValueError(f"{source} option {name!r} must be one of {list(args)}, got {value!r}")
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise ValueError(f"{source} option {name!r} must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(f"{source} option {name!r} must be an integer, got {value!r}")
        try:
            return int(value)
        except ValueError:
            raise ValueError(f"{source} option {name!r} must be an integer, got {value!r}") from None
    if annotation is float:
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{source} option {name!r} must be a number, got {value!r}") from None
    if annotation is dict:
        if not isinstance(value, dict):
            raise ValueError(f"{source} option {name!r} must be a JSON object, got {value!r}")
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ValueError(f"{source} option {name!r} must be a string, got {value!r}")
        return value
    return value


def parse_options(options_cls: type, raw: dict[str, Any] | None, source: str) -> Any:
    """Build a source's Options dataclass from ``--options``; unknown keys and bad types are errors."""
    raw = dict(raw or {})
    hints = typing.get_type_hints(options_cls)
    known = {f.name for f in dataclasses.fields(options_cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ValueError(f"unknown {source} option(s) {unknown}; valid options: {sorted(known)}")
    values = {name: _coerce(name, value, hints[name], source) for name, value in raw.items()}
    return options_cls(**values)


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
