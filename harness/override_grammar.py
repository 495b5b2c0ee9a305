"""Overrides Hydra's grammar cannot read as typed, and what to type instead.

Hydra's own messages for them are its lexer's and parser's ("LexerNoViableAltException:
paths.runs=/home/josé/runs", "mismatched input '(' expecting <EOF>", "Ambiguous value for
argument"): they point at a character but do not say that the value needs quotes, nor how to
quote it past the shell. A value with a letter outside ASCII (a path under a user's home, a
prompt in another language) or one of ``! # & ; < ^ ~ ' " ( [ {`` reads only inside quotes; a
comma makes a sweep (one run per value), which only a multirun takes.

Hydra's parser is imported only once a composition or a sweep expansion has failed: it costs a
quarter of a second, and a command line that composed once is served from the cache.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from typing import Any

from common.errors import Problem

__all__ = ["grammar_problems", "hydra_quoted", "override_key"]


def grammar_problems(
    overrides: Sequence[str], *, sweeps_allowed: bool, unsweepable: Sequence[str] = ()
) -> list[Problem]:
    """One problem per override Hydra cannot parse, or that sweeps where `sweeps_allowed` is False
    (a single run), each under its key with the override to type instead. Keys in `unsweepable`
    are not offered a multirun."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    problems: list[Problem] = []
    for arg in overrides:
        try:
            parsed = parser.parse_overrides([arg])[0]
        except Exception as exc:  # noqa: BLE001 - Hydra raises HydraException or its subclasses
            problems.append(_unreadable(parser, arg, exc))
            continue
        if not sweeps_allowed and parsed.is_sweep_override():
            problems.append(_sweep(parser, arg, parsed, multirun=_key(arg) not in unsweepable))
    return problems


def hydra_quoted(value: str, quote: str | None = None) -> str:
    """`value` as one quoted string of Hydra's grammar, which escapes only the quote and the
    backslashes right before a quote or the end. `quote` defaults to a double quote, or a single
    one for a value with double quotes and no single one (what reads best inside shell quotes)."""
    if quote is None:
        quote = "'" if '"' in value and "'" not in value else '"'
    escaped = re.sub(
        r"(\\*)(" + quote + "|$)", lambda m: m.group(1) * 2 + ("\\" + quote if m.group(2) else ""), value
    )
    return quote + escaped + quote


def override_key(override: str) -> str:
    """The config key a Hydra override sets (`+stages.x.y=1` -> 'stages.x.y')."""
    return override.partition("=")[0].lstrip("+~")


def _key(arg: str) -> str:
    """The key a problem is reported under, or the whole argument when it has none (`=x`)."""
    return override_key(arg) or arg


def _reads_as(parser: Any, override: str, value: Any) -> bool:
    try:
        return parser.parse_overrides([override])[0].value() == value
    except Exception:  # noqa: BLE001 - a suggestion that does not parse is not offered
        return False


def _unreadable(parser: Any, arg: str, exc: Exception) -> Problem:
    key, sep, value = arg.partition("=")
    reason = " ".join(str(exc).split())
    if sep and key:
        typed = f"{key}={hydra_quoted(value)}"
        if _reads_as(parser, typed, value):
            return Problem(
                _key(arg),
                f"Hydra's grammar reads the value {value!r} only in quotes (letters outside ASCII and "
                f"! # & ; < ^ ~ ' \" ( [ {{ need them): type {shlex.quote(typed)} (the outer quotes "
                "are the shell's, the inner ones Hydra's)",
            )
    return Problem(_key(arg), f"Hydra cannot parse the override {arg!r}: {reason}")


def _sweep(parser: Any, arg: str, parsed: Any, multirun: bool) -> Problem:
    key, _, value = arg.partition("=")
    fixes = []
    if getattr(parsed.value(), "simple_form", False):  # a,b: a list or a string was likely meant
        as_list, as_text = f"{key}=[{value}]", f"{key}={hydra_quoted(value)}"
        if _reads_as(parser, as_list, list(parsed.value().list)):
            fixes.append(f"for a list type {as_list}")
        if _reads_as(parser, as_text, value):
            fixes.append(f"for text with a comma type {shlex.quote(as_text)}")
    if not fixes:
        fixes.append("give one value")
    if multirun:
        fixes.append("add -m to run once per value")
    listed = ", ".join(fixes[:-1]) + ", or " + fixes[-1] if len(fixes) > 1 else fixes[0]
    return Problem(
        _key(arg),
        f"{value!r} is a sweep (Hydra runs the recipe once per value) and this is a single run: {listed}",
    )
