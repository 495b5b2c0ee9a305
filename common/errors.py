"""Errors the harness reports to the user before anything is launched."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a config or a rendered command, located by its config key."""

    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}" if self.key else self.message


class HarnessError(Exception):
    """A problem the user has to fix; the message says what to change."""


class ConfigError(HarnessError):
    """One or more problems found while composing, rendering or validating a pipeline."""

    def __init__(self, problems: Sequence[Problem] | Problem | str):
        if isinstance(problems, str):
            problems = [Problem("", problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems = list(problems)
        super().__init__(self.render())

    def render(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} problems:"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


def did_you_mean(word: str, candidates: Iterable[str], n: int = 3) -> str:
    """' (did you mean: a, b?)' for close matches, or ''. Case is ignored: `stages=[SFT]` and
    `paper=FakeXplain` found nothing, difflib compares characters exactly."""
    by_folded: dict[str, list[str]] = {}
    for candidate in candidates:
        by_folded.setdefault(candidate.casefold(), []).append(candidate)
    folded = word.casefold()
    close = (
        [folded]
        if folded in by_folded
        else difflib.get_close_matches(folded, list(by_folded), n=n, cutoff=0.6)
    )
    matches = [candidate for key in close for candidate in by_folded[key]][:n]
    return f" (did you mean: {', '.join(matches)}?)" if matches else ""


def print_problems(problems: Sequence[Problem], stream: TextIO) -> None:
    """One `error: <key>: <message>` line per problem (standard library only: `make gpu-smoke`'s
    entry prints with it on the system python)."""
    for problem in problems:
        print(f"error: {problem}", file=stream)
