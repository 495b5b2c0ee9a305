"""Name -> object registries that modules join by declaring themselves.

Modelled on lm-evaluation-harness: a config names things by string, and a mistyped name fails
with the close matches and the full list, e.g.
``unknown metric 'acuracy' (did you mean: accuracy?); available: accuracy, ap, auc, ...``.

A registry can also *discover* its entries instead of being handed a list:

- ``packages``: the project's own packages that hold declarations. Their modules are read, not
  imported (lm-eval's task index walks YAML files the same way): a call of the registry's
  ``declarator`` with a literal name, e.g. ``@data_source("fake_hr1")``, declares that name, and
  the module is imported the first time the name is looked up. Listing the names therefore costs
  no import (the CLI renders a pipeline in about a second).
- plugins (:mod:`common.plugins`): modules of a user's own package, named by the ``plugins``
  config key or the ``AIGI_PLUGINS`` environment variable, are imported and register directly.

A registration made while a file is loaded *by path* (verl's ``custom_reward_function.path``, the
ms-swift reward adapter, a run's copy of a reward file: modules that are not in ``sys.modules``
under their name) is ignored: such a load runs one function, it does not redefine a name, and a
user's edited copy of a reward must not collide with the original it was copied from.
"""

from __future__ import annotations

import ast
import atexit
import hashlib
import importlib
import importlib.util
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from common.errors import HarnessError, did_you_mean

T = TypeVar("T")

__all__ = ["DeclarationError", "Registry", "UnknownNameError", "declared_names"]


class UnknownNameError(HarnessError):
    """A config named something no registry entry has; the message lists the alternatives."""

    def __init__(self, kind: str, name: str, available: list[str]):
        self.kind, self.name, self.available = kind, name, available
        super().__init__(name)

    def __str__(self) -> str:
        return (
            f"unknown {self.kind} '{self.name}'{did_you_mean(self.name, self.available)}; "
            f"available: {', '.join(self.available)}"
        )


class DeclarationError(HarnessError, ValueError):
    """Two modules declare the same name, or a module declares a name it does not register."""


def _defining_module(obj: Any) -> str | None:
    if isinstance(obj, ModuleType):
        return obj.__name__
    return getattr(obj, "__module__", None)


def _loaded_by_name(module_name: str | None) -> bool:
    """False while a file is executed by path without being put in sys.modules (verl's loader)."""
    return module_name is not None and module_name in sys.modules


def declared_names(source: str, declarator: str) -> list[str]:
    """The literal names passed to ``declarator(...)`` anywhere in Python ``source``: its first
    argument, or its ``name=`` keyword (``StageKind(name="expert_train", ...)``).

    Parsing the indexed modules is a fifth of a dry run, so the answer is kept in the user's cache
    under a digest of the declarator and the source: an edited module is another key."""
    if declarator not in source:
        return []
    key = hashlib.sha256(f"{declarator}\0{source}".encode()).hexdigest()[:32]
    known = _DeclaredCache.entries()
    if key not in known:
        known[key] = _parse_declared_names(source, declarator)
        _DeclaredCache.changed()
    return list(known[key])


class _DeclaredCache:
    """One JSON file of digest -> names, read once per process, written once at exit when it grew."""

    _entries: dict[str, list[str]] | None = None
    _dirty = False

    @classmethod
    def path(cls) -> Path:
        from common.user_cache import user_cache_dir

        return user_cache_dir("declared_names.json")

    @classmethod
    def entries(cls) -> dict[str, list[str]]:
        if cls._entries is None:
            try:
                loaded = json.loads(cls.path().read_text(encoding="utf-8"))
                valid = isinstance(loaded, dict) and all(
                    isinstance(v, list) and all(isinstance(n, str) for n in v) for v in loaded.values()
                )
                cls._entries = loaded if valid else {}
            except (OSError, ValueError):  # absent, unreadable or damaged: parse again
                cls._entries = {}
        return cls._entries

    @classmethod
    def changed(cls) -> None:
        if not cls._dirty:
            cls._dirty = True
            atexit.register(cls.save)

    @classmethod
    def save(cls) -> None:
        from common.atomic import write_json

        try:
            path = cls.path()
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json(path, cls._entries or {}, indent=None)
        except OSError:  # a read-only home: discovery still works, only slower
            pass
        cls._dirty = False


def _parse_declared_names(source: str, declarator: str) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        called = (
            func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None
        )
        if called != declarator:
            continue
        first = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "name"), None)
        if isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.append(first.value)
    return names


class Registry(Generic[T]):
    """Objects of one kind registered by name; two modules registering one name is an error.

    ``packages`` and ``declarator`` turn on discovery (see the module docstring); without them the
    registry holds what was registered, as before.
    """

    def __init__(self, kind: str, *, packages: Sequence[str] = (), declarator: str | None = None):
        if packages and not declarator:
            raise ValueError("a registry that indexes packages needs the declarator to look for")
        self.kind = kind
        self.packages = tuple(packages)
        self.declarator = declarator
        self._entries: dict[str, T] = {}
        self._origins: dict[str, str] = {}  # name -> module that registered it
        self._index: dict[str, str] | None = None  # name -> module that declares it (not imported yet)
        self._targets: dict[str, str] = {}  # name -> "module:attribute", imported on first use

    # --- registering ---------------------------------------------------------------------------

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register the object under ``name`` (its module is where it is declared)."""

        def add(obj: T) -> T:
            self.add(name, obj)
            return obj

        return add

    def add(self, name: str, obj: T, *, declared_in: str | None = None) -> None:
        """Register ``obj``; ``declared_in`` is the declaring module when ``obj`` is a wrapper."""
        module = declared_in or _defining_module(obj)
        if self.declarator and not _loaded_by_name(module):
            return  # a file loaded by path (see the module docstring)
        module = module or "?"
        previous = self._origins.get(name)
        # The same module registering again (importlib.reload) replaces its entry.
        if name in self._entries and (previous != module or module == "?"):
            raise DeclarationError(
                f"{self.kind} '{name}' is already registered by {previous}; {module} registers it too"
            )
        declared = self._declarations().get(name)
        if declared is not None and declared != module:
            raise DeclarationError(
                f"{self.kind} '{name}' is declared by {declared}; {module} registers it too"
            )
        self._entries[name] = obj
        self._origins[name] = module

    def add_target(self, name: str, target: str) -> None:
        """Register ``"package.module:attribute"`` under ``name``; nothing is imported until it is used.

        The registering module then does not import the entry's module, so the entry's module may
        import the registering one without a cycle (lm-evaluation-harness's lazy placeholders).
        """
        module, sep, attribute = target.partition(":")
        if not sep or not module or not attribute:
            raise ValueError(
                f"{self.kind} '{name}': target must look like 'package.module:attribute', got {target!r}"
            )
        if name in self._entries or name in self._targets:
            raise DeclarationError(f"{self.kind} '{name}' is already registered")
        self._targets[name] = target
        self._origins[name] = module

    # --- looking up ----------------------------------------------------------------------------

    def get(self, name: str) -> T:
        if name in self._targets and name not in self._entries:
            module, _, attribute = self._targets[name].partition(":")
            self._entries[name] = getattr(importlib.import_module(module), attribute)
        if name not in self._entries:
            self._load(name)
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def origin(self, name: str) -> str:
        """The module that declares ``name``, without importing it when the index knows it."""
        if name in self._origins:
            return self._origins[name]
        declared = self._declarations().get(name)
        if declared is not None:
            return declared
        self._load_plugins()
        if name in self._origins:
            return self._origins[name]
        raise UnknownNameError(self.kind, name, self.names())

    def names(self) -> list[str]:
        """Every name: registered, declared in the indexed packages, and the plugins'."""
        self._load_plugins()
        return sorted(set(self._entries) | set(self._targets) | set(self._declarations()))

    def load_all(self) -> dict[str, T]:
        """Import every declaring module; name -> object."""
        return {name: self.get(name) for name in self.names()}

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    # --- discovery -----------------------------------------------------------------------------

    def _load(self, name: str) -> None:
        declared = self._declarations().get(name)
        if declared is None:
            self._load_plugins()
            return
        importlib.import_module(declared)
        if name not in self._entries:
            raise DeclarationError(
                f"{declared} declares {self.kind} '{name}' but importing it registered nothing; "
                f"call {self.declarator}({name!r}) at module level"
            )

    def _load_plugins(self) -> None:
        if self.declarator:
            from common.plugins import load_plugins

            load_plugins()

    def _declarations(self) -> dict[str, str]:
        if self._index is None:
            index: dict[str, str] = {}
            for package in self.packages:
                for module, path in _package_modules(package):
                    for name in declared_names(path.read_text(encoding="utf-8"), str(self.declarator)):
                        if name in index and index[name] != module:
                            raise DeclarationError(
                                f"{self.kind} '{name}' is declared twice: in {index[name]} and in {module}"
                            )
                        index[name] = module
            self._index = index
        return self._index


def _package_modules(package: str) -> Iterator[tuple[str, Path]]:
    """(module name, file) of a package's own top-level modules, without importing them."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"{package} is not a package")
    for folder in spec.submodule_search_locations:
        for path in sorted(Path(folder).glob("*.py")):
            yield (package if path.stem == "__init__" else f"{package}.{path.stem}"), path
