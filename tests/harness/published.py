"""Read the seeds' published commands (tests/published/*.sh) as flag -> values maps."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

PUBLISHED = Path(__file__).resolve().parent.parent / "published"
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def published_command(name: str) -> tuple[dict[str, str], list[str]]:
    """(env assignments, argv) of a published shell command, as the shell would split it."""
    text = (PUBLISHED / f"{name}.sh").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    words = shlex.split(text.replace("\\\n", " "))
    env: dict[str, str] = {}
    while words and _ENV.match(words[0]):
        key, _, value = words.pop(0).partition("=")
        env[key] = value
    return env, words


def swift_flags(argv: list[str]) -> dict[str, list[str]]:
    """['swift', 'sft', '--a', '1', '--b', 'x', 'y'] -> {'--a': ['1'], '--b': ['x', 'y']}."""
    flags: dict[str, list[str]] = {}
    current = None
    for word in argv[2:]:
        if word.startswith("--"):
            current = word
            flags[current] = []
        else:
            assert current is not None, word
            flags[current].append(word)
    return flags


def parse_verl_argv(argv: list[str]) -> dict[str, object]:
    """`key=value` overrides -> {key: parsed value} with Hydra's own parser."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    parsed: dict[str, object] = {}
    for item in argv:
        override = parser.parse_override(item)
        parsed[override.key_or_group] = override.value()
    return parsed


def verl_overrides(argv: list[str]) -> dict[str, object]:
    """['python3', '-m', 'verl.trainer.main_ppo', 'k=v', ...] -> {k: value parsed by Hydra}."""
    assert argv[:3] == ["python3", "-m", "verl.trainer.main_ppo"], argv[:3]
    return parse_verl_argv(argv[3:])


def same_value(a: str, b: str) -> bool:
    """Equal as written, or as numbers (5e-5 == 5e-05)."""
    if a == b:
        return True
    try:
        return float(a) == float(b)
    except ValueError:
        return False
