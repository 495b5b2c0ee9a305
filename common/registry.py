"""Name -> object registries (metrics, response formats, backends, robustness transforms).

Modelled on lm-evaluation-harness: a config names things by string, and a mistyped name fails
with the close matches and the full list, e.g.
``unknown metric 'acuracy' (did you mean: accuracy?); available: accuracy, ap, auc, ...``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from common.errors import HarnessError, did_you_mean

T = TypeVar("T")

__all__ = ["Registry", "UnknownNameError"]


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


class Registry(Generic[T]):
    """Objects of one kind registered by name; registering a name twice is an error."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def add(obj: T) -> T:
            if name in self._entries:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._entries[name] = obj
            return obj

        return add

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
