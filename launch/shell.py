"""Turning argv and env into shell text that a shell gives back verbatim.

Every value written into a command line or script passes through `shlex.quote`. The only
unquoted text is the launcher's own fixed shell code and shell variable references
(`ShellVar`), which the launcher writes itself and never takes from a config value.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A variable or one element of an array indexed by a variable or number: `nodes[$i]`.
_REF = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\[\$?[A-Za-z0-9_]+\])?")


@dataclass(frozen=True)
class ShellVar:
    """A value known only when the script runs, rendered as a quoted expansion `"${ref}"`.

    `ref` is written by the launcher itself (a variable name or `array[$i]`), never taken
    from a config. `prefix` and `suffix` are literal text glued around it and are quoted,
    e.g. ShellVar("SLURM_JOB_NUM_NODES", prefix="trainer.nnodes=").
    `required_hint` renders `"${ref:?hint}"`: the shell stops with the hint when unset.
    """

    ref: str
    prefix: str = ""
    suffix: str = ""
    required_hint: str = ""

    def __post_init__(self) -> None:
        if not _REF.fullmatch(self.ref):
            raise ValueError(f"not a shell variable reference: {self.ref!r}")

    def render(self) -> str:
        if self.required_hint:
            ref = f'"${{{self.ref}:?{_double_quote_safe(self.required_hint)}}}"'
        else:
            ref = f'"${{{self.ref}}}"'
        before = shlex.quote(self.prefix) if self.prefix else ""
        after = shlex.quote(self.suffix) if self.suffix else ""
        return before + ref + after


Word = str | ShellVar


def _double_quote_safe(text: str) -> str:
    # The hint is launcher-written prose; drop characters that are special inside "...".
    return re.sub(r'[\\"$`!\n]', "", text)


def word(item: Word) -> str:
    """One shell word: literal strings quoted, ShellVar rendered as a quoted expansion."""
    return item.render() if isinstance(item, ShellVar) else shlex.quote(item)


def join(argv: Iterable[Word]) -> str:
    """argv as one shell command line."""
    return " ".join(word(a) for a in argv)


def assignments(env: Mapping[str, Word]) -> list[str]:
    """`NAME=value` words for a command prefix, values quoted."""
    out = []
    for name, value in env.items():
        if not _VAR.fullmatch(name):
            raise ValueError(f"not a valid environment variable name: {name!r}")
        out.append(f"{name}={word(value)}")
    return out


def command_line(env: Mapping[str, Word], argv: Sequence[Word]) -> str:
    """`A=1 B='x y' prog arg ...`: copy-pasteable, every value quoted."""
    return " ".join([*assignments(env), join(argv)])


def export_lines(env: Mapping[str, Word]) -> list[str]:
    """`export NAME=value` lines for a script."""
    return [f"export {a}" for a in assignments(env)]
