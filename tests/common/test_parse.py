"""common.parse: one dataclass-from-mapping parser; every problem named by its key, all at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest
from omegaconf import OmegaConf

from common.errors import ConfigError, Problem
from common.parse import from_mapping, parse_dataclass, to_mapping


@dataclass(frozen=True)
class Inner:
    port: int = 6379
    ratio: float = 0.5


@dataclass(frozen=True)
class Outer:
    name: str
    enabled: bool = True
    count: int | None = None
    words: tuple[str, ...] = ("a",)
    inner: Inner = field(default_factory=Inner)
    maybe: Inner | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    style: Literal["think", "keep"] = "think"
    items: tuple[Inner, ...] = ()
    anything: Any = None
    either: int | str = 0


def _problems(data: Any, **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_dataclass(Outer, data, "cfg", **kwargs)
    return [str(p) for p in caught.value.problems]


def test_a_valid_mapping_becomes_the_typed_dataclass() -> None:
    parsed = parse_dataclass(
        Outer,
        {
            "name": "x",
            "count": 3,
            "words": ["b", "c"],
            "inner": {"port": 1, "ratio": 1},
            "maybe": {},
            "extra": {"k": [1]},
            "style": "keep",
            "items": [{"port": 2}],
            "either": "text",
        },
        "cfg",
    )
    assert parsed == Outer(
        name="x",
        count=3,
        words=("b", "c"),
        inner=Inner(1, 1.0),
        maybe=Inner(),
        extra={"k": [1]},
        style="keep",
        items=(Inner(2),),
        either="text",
    )
    assert isinstance(parsed.inner.ratio, float)
    assert to_mapping(parsed)["items"] == [{"port": 2, "ratio": 0.5}]


def test_an_omegaconf_node_parses_like_plain_data() -> None:
    node = OmegaConf.create({"name": "${other}", "other": "y", "words": ["z"]})
    data = {k: v for k, v in node.items() if k != "other"}
    assert parse_dataclass(Outer, data, "cfg") == Outer(name="y", words=("z",))


def test_every_problem_is_reported_with_its_full_key() -> None:
    problems = _problems(
        {
            "enabld": True,
            "count": "3",
            "words": "a",
            "inner": {"prot": 1, "ratio": True},
            "style": "nope",
            "items": [{"port": 1.5}],
            "either": [1],
        }
    )
    assert problems == [
        "cfg.enabld: unknown key (did you mean: enabled?); known: name, enabled, count, words, inner, "
        "maybe, extra, style, items, anything, either",
        "cfg.count: must be an integer, got '3'",
        "cfg.words: must be a list, got 'a'",
        "cfg.inner.prot: unknown key (did you mean: port?); known: port, ratio",
        "cfg.inner.ratio: must be a number, got True",
        "cfg.style: must be one of 'think', 'keep', got 'nope'",
        "cfg.items[0].port: must be an integer, got 1.5",
        "cfg.either: must be int or str, got list",
        "cfg.name: is required",
    ]


def test_null_is_only_accepted_where_the_type_allows_it() -> None:
    assert parse_dataclass(Outer, {"name": "x", "count": None, "maybe": None}, "cfg").count is None
    assert _problems({"name": "x", "enabled": None, "inner": None}) == [
        "cfg.enabled: must be true or false, got None",
        "cfg.inner: must be a mapping, got None",
    ]


def test_strings_mode_accepts_command_line_spellings_of_bools_and_numbers() -> None:
    parsed = parse_dataclass(
        Outer, {"name": "x", "enabled": "False", "count": "4", "inner": {"ratio": "0.25"}}, "o", strings=True
    )
    assert (parsed.enabled, parsed.count, parsed.inner.ratio) == (False, 4, 0.25)
    assert _problems({"name": "x", "count": "four"}, strings=True) == [
        "cfg.count: must be an integer, got 'four'"
    ]


def test_collecting_form_appends_to_the_callers_problems() -> None:
    problems = [Problem("earlier", "kept")]
    assert from_mapping(Inner, ["not", "a", "mapping"], "ray", problems) == Inner()
    assert [str(p) for p in problems] == ["earlier: kept", "ray: must be a mapping, got list"]
