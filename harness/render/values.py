"""Spelling Python values as command-line arguments: argparse flags and Hydra overrides."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

_BARE_HYDRA = re.compile(r"^[A-Za-z_/.][A-Za-z0-9_\-./:@+]*$")
_HYDRA_KEYWORDS = {"null", "true", "false", "nan", "inf", "-inf"}


def format_number(value: float | int) -> str:
    if isinstance(value, bool):
        raise TypeError("bool is not a number here")
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return repr(value)


def cli_value(value: Any) -> str:
    """One argparse value: booleans lower-case, dicts as JSON, numbers as Python spells them."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, Mapping):
        return json.dumps(value, sort_keys=False)
    return str(value)


def hydra_value(value: Any) -> str:
    """A value in Hydra's override grammar that parses back to exactly `value`.

    Strings are single-quoted unless they are plain identifiers or paths; inside quotes
    Hydra only treats backslashes that precede a quote as escapes, and OmegaConf would
    interpolate `${...}` when verl resolves its config, so that is escaped as `\\${`.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return format_number(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(hydra_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{_hydra_key(k)}:{hydra_value(v)}" for k, v in value.items()) + "}"
    text = str(value)
    if _BARE_HYDRA.match(text) and text.lower() not in _HYDRA_KEYWORDS and "${" not in text:
        return text
    return _quote_hydra(text)


def _hydra_key(key: Any) -> str:
    text = str(key)
    if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", text):
        raise ValueError(f"dict key {text!r} cannot be written as a Hydra override key")
    return text


def _quote_hydra(text: str) -> str:
    # OmegaConf reads `\${` as a literal `${` and `\\${` as a backslash then an interpolation.
    text = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", text)
    out = []
    i = 0
    while i < len(text):
        # A run of backslashes followed by a quote (or by the closing quote at the end) is
        # read as escapes by Hydra: double the run, then escape the quote.
        j = i
        while j < len(text) and text[j] == "\\":
            j += 1
        run = text[i:j]
        if run:
            follows_quote = j == len(text) or text[j] == "'"
            out.append(run * 2 if follows_quote else run)
            i = j
            continue
        ch = text[i]
        out.append("\\'" if ch == "'" else ch)
        i += 1
    return "'" + "".join(out) + "'"


def flatten(tree: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dict -> dotted leaf keys; empty dicts stay as values."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat
