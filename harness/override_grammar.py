"""Overrides Hydra's grammar cannot read as typed, and what to type instead.

Hydra's own messages for them are its lexer's and parser's ("LexerNoViableAltException:
paths.runs=/home/josé/runs", "mismatched input '(' expecting <EOF>", "Ambiguous value for
argument"): they point at a character but do not say that the value needs quotes, nor how to
quote it past the shell. A value with a letter outside ASCII (a path under a user's home, a
prompt in another language) or one of ``! # & ; < = ^ ~ ' " ( [ {`` reads only inside quotes, in
a list too (each item quoted); a comma makes a sweep (one run per value), which only a multirun
takes.

Hydra's parser is imported only once a composition or a sweep expansion has failed: it costs a
quarter of a second, and a command line that composed once is served from the cache.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from common.errors import ConfigError, Problem

# A check of one key's value that raises ConfigError naming what the value must be.
ValueRule = Callable[[str], object]

__all__ = ["grammar_problems", "hydra_quoted", "override_key"]


def grammar_problems(
    overrides: Sequence[str],
    *,
    sweeps_allowed: bool,
    unsweepable: Sequence[str] = (),
    value_rules: Mapping[str, ValueRule] | None = None,
    name_lists: Sequence[str] = (),
) -> list[Problem]:
    """One problem per override Hydra cannot parse, or that sweeps where `sweeps_allowed` is False
    (a single run), each under its key with the override to type instead. Keys in `unsweepable`
    are not offered a multirun. A key in `value_rules` is offered no quoting or list that its rule
    refuses: the rule's own problem is reported instead (quoting `run_name=é` would only lead to
    the run-name rule). A key in `name_lists` takes one name or a list of names, never text with a
    comma: a comma there is offered the list only."""
    rules = value_rules or {}
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    problems: list[Problem] = []
    for arg in overrides:
        try:
            parsed = parser.parse_overrides([arg])[0]
        except Exception as exc:  # noqa: BLE001 - Hydra raises HydraException or its subclasses
            problems.append(_rule_problem(rules, arg) or _unreadable(parser, arg, exc))
            continue
        if not sweeps_allowed and parsed.is_sweep_override():
            rule = rules.get(_key(arg))
            multirun = _key(arg) not in unsweepable
            problems.append(_sweep(parser, arg, parsed, multirun, rule=rule, names=_key(arg) in name_lists))
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


def _rule_problem(rules: Mapping[str, ValueRule], arg: str) -> Problem | None:
    """The problem `arg`'s value has under its key's rule, if it has a rule and the value breaks it.

    A plain comma list that Hydra cannot read (`-m run_name=é,b`) is meant as a sweep: the first
    item that breaks the rule is named, not the whole text."""
    rule = rules.get(_key(arg))
    if rule is None:
        return None
    value = arg.partition("=")[2]
    items = value.split(",") if not set(value) & set("'\"[]{}()") else [value]
    refusals = (_refusal(rule, item) for item in items)
    return next((problem for problem in refusals if problem is not None), None)


def _refusal(rule: ValueRule, value: str) -> Problem | None:
    try:
        rule(value)
    except ConfigError as exc:
        return exc.problems[0]
    return None


def _reads_as(parser: Any, override: str, value: Any) -> bool:
    try:
        return parser.parse_overrides([override])[0].value() == value
    except Exception:  # noqa: BLE001 - a suggestion that does not parse is not offered
        return False


_NEEDS_QUOTES = "(letters outside ASCII and ! # & ; < = ^ ~ ' \" ( [ { need them)"


def _unreadable(parser: Any, arg: str, exc: Exception) -> Problem:
    key, sep, value = arg.partition("=")
    reason = " ".join(str(exc).split())
    if sep and key:
        as_list = _quoted_list(parser, key, value)
        if as_list is not None:
            return Problem(
                _key(arg),
                f"Hydra's grammar reads the items of the list {value!r} only in quotes {_NEEDS_QUOTES}: "
                f"type {shlex.quote(as_list)} (the outer quotes are the shell's, the inner ones Hydra's)",
            )
        typed = f"{key}={hydra_quoted(value)}"
        if _reads_as(parser, typed, value):
            return Problem(
                _key(arg),
                f"Hydra's grammar reads the value {value!r} only in quotes {_NEEDS_QUOTES}: type "
                f"{shlex.quote(typed)} (the outer quotes are the shell's, the inner ones Hydra's)",
            )
    return Problem(_key(arg), f"Hydra cannot parse the override {arg!r}: {reason}")


def _quoted_list(parser: Any, key: str, value: str) -> str | None:
    """`key=["a","b"]` for a typed `key=[a,b]` whose items need quotes, when that reads back as
    the items typed; None for a value that is no flat list."""
    if not (value.startswith("[") and value.endswith("]")) or len(value) < 3:
        return None
    items = [item.strip() for item in value[1:-1].split(",")]
    quoted = ",".join(hydra_quoted(item) for item in items)
    typed = f"{key}=[{quoted}]"
    return typed if _reads_as(parser, typed, items) else None


def _sweep(
    parser: Any, arg: str, parsed: Any, multirun: bool, rule: ValueRule | None = None, names: bool = False
) -> Problem:
    key, _, value = arg.partition("=")
    fixes = []
    if getattr(parsed.value(), "simple_form", False):  # a,b: a list or a string was likely meant
        as_list, as_text = f"{key}=[{value}]", f"{key}={hydra_quoted(value)}"
        if rule is None and _reads_as(parser, as_list, list(parsed.value().list)):
            fixes.append(f"for a list type {as_list}")
        text_allowed = not names and (rule is None or _refusal(rule, value) is None)
        if text_allowed and _reads_as(parser, as_text, value):
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
