"""Config groups whose keys, types and defaults are the dataclasses the programs parse.

``cluster`` (launch.config.ClusterConfig) and ``eval`` (harness.evaluation.config.EvalConfig) are
registered with Hydra as the structured config ``<group>/_schema``; the YAML files of the group
start from it (``defaults: [_schema, _self_]``) and state only what they change. So every key
exists, with its type and default, in exactly one place, the dataclass:

- a YAML file or a command line that sets an unknown key, or a value of the wrong type, fails
  composition, naming the key;
- a default changed in the dataclass is what every composed config and every hand-built mapping
  (``parse_cluster({"launcher": "slurm"})``) gets; nothing to keep equal by hand.

Hydra makes a frozen dataclass read-only, which would forbid the YAML files from setting
anything; the schema is therefore an unfrozen copy of the dataclass (same fields, types and
defaults), made here.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from typing import Any, Union

__all__ = ["register_schemas", "schema_of"]


def _schemas() -> dict[str, type]:
    """Config group -> the dataclass its `_schema` is."""
    from harness.evaluation.config import EvalConfig
    from launch.config import ClusterConfig

    return {"cluster": ClusterConfig, "eval": EvalConfig}


_registered = False


def register_schemas() -> None:
    """Put ``<group>/_schema`` into Hydra's config store (once per process)."""
    global _registered
    if _registered:
        return
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for group, cls in _schemas().items():
        store.store(group=group, name="_schema", node=schema_of(cls), package=group)
    _registered = True


_COPIES: dict[type, type] = {}  # dataclass -> its schema copy, one per process
_BY_NAME: dict[str, type] = {}  # the copies by the attribute name pickle looks them up by


def schema_of(cls: type, _memo: dict[type, type] | None = None) -> type:
    """An unfrozen copy of dataclass ``cls`` (nested dataclasses copied too), for OmegaConf.

    One copy per class and process, reachable as an attribute of this module
    (``Schema__<module>__<name>``), so a composed config pickles and unpickles
    (harness/compose_cache.py): pickle finds a class by its module and qualified name.
    """
    memo = _COPIES if _memo is None else _memo
    if cls in memo:
        return memo[cls]
    hints = typing.get_type_hints(cls)
    specs: list[tuple[str, Any, Any]] = []
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            factory = f.default_factory
            if dataclasses.is_dataclass(factory):
                factory = schema_of(factory, memo)
            spec = dataclasses.field(default_factory=factory)
        elif f.default is not dataclasses.MISSING:
            spec = dataclasses.field(default=f.default)
        else:
            spec = dataclasses.field()
        specs.append((f.name, _unfrozen_hint(hints[f.name], memo), spec))
    copy = dataclasses.make_dataclass(cls.__name__, specs, frozen=False)
    copy.__doc__ = cls.__doc__
    copy.__module__ = __name__
    copy.__qualname__ = "Schema__" + f"{cls.__module__}.{cls.__qualname__}".replace(".", "__")
    memo[cls] = copy
    _BY_NAME[copy.__qualname__] = copy
    return copy


def __getattr__(name: str) -> type:
    """A schema copy by its name (what unpickling a composed config asks for)."""
    if name.startswith("Schema__") and name not in _BY_NAME:
        for cls in _schemas().values():
            schema_of(cls)
    try:
        return _BY_NAME[name]
    except KeyError:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None


def _unfrozen_hint(hint: Any, memo: dict[type, type]) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return schema_of(hint, memo)  # type: ignore[arg-type]
    if origin in (Union, types.UnionType):
        return Union[tuple(_unfrozen_hint(a, memo) for a in typing.get_args(hint))]  # noqa: UP007
    if origin is collections.abc.Mapping:  # OmegaConf knows dict, not the abstract Mapping
        return dict[typing.get_args(hint)]  # type: ignore[misc]
    return hint
