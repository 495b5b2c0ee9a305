"""A typed dataclass from a mapping (YAML, JSON, an OmegaConf node), with one style of error.

Every settings block of the project is a dataclass whose fields are its keys, their types and
their defaults: the eval options, the report tables, the cluster, a data source's options. This
module builds one from plain data and reports every problem with the full key path, all at once:

    eval.batch_size: must be an integer, got '8'
    cluster.slurm.partion: unknown key (did you mean: partition?); known: partition, account, ...

Supported field types: bool, int, float, str, Any, ``X | None``, unions, ``Literal[...]``, nested
dataclasses, ``tuple[X, ...]``, ``list[X]`` and mappings (kept as dicts, values unchecked).
``strings=True`` also accepts the text spellings a command line produces ("true", "3", "0.5").
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar, Union

from common.errors import ConfigError, Problem, did_you_mean

__all__ = ["from_mapping", "parse_dataclass", "to_mapping"]

T = TypeVar("T")

_MAPPINGS = (dict, Mapping, collections.abc.Mapping, collections.abc.MutableMapping)


def parse_dataclass(cls: type[T], data: Any, where: str, *, strings: bool = False) -> T:
    """Build dataclass ``cls`` from ``data``; raises ConfigError listing every problem."""
    problems: list[Problem] = []
    value = from_mapping(cls, {} if data is None else data, where, problems, strings=strings)
    if problems:
        raise ConfigError(problems)
    return value


def from_mapping(cls: type[T], data: Any, where: str, problems: list[Problem], *, strings: bool = False) -> T:
    """Build dataclass ``cls``; problems go to ``problems`` (the result is then only a stand-in)."""
    if not isinstance(data, Mapping):
        problems.append(Problem(where, f"must be a mapping, got {_shown(data)}"))
        return _stand_in(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    before = len(problems)
    for key, value in data.items():
        name = str(key)
        if name not in fields:
            problems.append(
                Problem(
                    _join(where, name), f"unknown key{did_you_mean(name, fields)}; known: {', '.join(fields)}"
                )
            )
            continue
        kwargs[name] = _convert(hints[name], value, _join(where, name), problems, strings)
    for name, f in fields.items():
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if required and name not in data:
            problems.append(Problem(_join(where, name), "is required"))
    if len(problems) > before:
        return _stand_in(cls)
    return cls(**kwargs)


def _stand_in(cls: type[T]) -> T:
    """The defaults of ``cls`` when a problem was found, or None when it has required fields."""
    try:
        return cls()
    except TypeError:
        return None  # type: ignore[return-value]


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _shown(value: Any) -> str:
    return type(value).__name__ if isinstance(value, (Mapping, list, tuple)) else repr(value)


def _convert(hint: Any, value: Any, where: str, problems: list[Problem], strings: bool) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        return _convert_union(typing.get_args(hint), value, where, problems, strings)
    if origin is typing.Literal:
        choices = typing.get_args(hint)
        if value not in choices:
            problems.append(
                Problem(where, f"must be one of {', '.join(map(repr, choices))}, got {_shown(value)}")
            )
        return value
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, where, problems, strings=strings)  # type: ignore[arg-type]
    if origin in (tuple, list) or hint in (tuple, list):
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            problems.append(Problem(where, f"must be a list, got {_shown(value)}"))
            return ()
        args = [a for a in typing.get_args(hint) if a is not Ellipsis]
        item = args[0] if args else Any
        items = [_convert(item, v, f"{where}[{i}]", problems, strings) for i, v in enumerate(value)]
        return list(items) if (origin or hint) is list else tuple(items)
    if origin in _MAPPINGS or hint in _MAPPINGS:
        if not isinstance(value, Mapping):
            problems.append(Problem(where, f"must be a mapping, got {_shown(value)}"))
            return {}
        return dict(value)
    if hint is bool:
        if strings and isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        if not isinstance(value, bool):
            problems.append(Problem(where, f"must be true or false, got {_shown(value)}"))
        return value
    if hint is int:
        if strings and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(where, f"must be an integer, got {_shown(value)}"))
        return value
    if hint is float:
        if strings and isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem(where, f"must be a number, got {_shown(value)}"))
            return value
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            problems.append(Problem(where, f"must be a string, got {_shown(value)}"))
        return value
    return value


def _convert_union(
    options: tuple[Any, ...], value: Any, where: str, problems: list[Problem], strings: bool
) -> Any:
    if value is None and type(None) in options:
        return None
    candidates = [o for o in options if o is not type(None)]
    if len(candidates) == 1:
        if value is None:
            problems.append(Problem(where, "must not be null"))
            return None
        return _convert(candidates[0], value, where, problems, strings)
    for option in candidates:  # the first type the value fits
        trial: list[Problem] = []
        converted = _convert(option, value, where, trial, strings)
        if not trial:
            return converted
    names = " or ".join(getattr(o, "__name__", str(o)) for o in candidates)
    problems.append(Problem(where, f"must be {names}, got {_shown(value)}"))
    return value


def to_mapping(obj: Any) -> Any:
    """A dataclass tree as plain JSON-able data (tuples become lists)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_mapping(v) for k, v in obj.items()}
    return obj
