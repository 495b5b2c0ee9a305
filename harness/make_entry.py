"""`make reproduce`'s command line, built in Python from make's variables as the user typed them.

The Makefile hands PAPER, TABLE, PROFILE, DRY_RUN and ARGS over in the environment
(``AIGI_MAKE_<NAME>``, each single-quoted from make's unexpanded value), so no value passes through
make's ``$`` expansion or a shell: ``ARGS='+stages.sft.system="It costs $5; (a lot)"'`` reaches Hydra
as typed, and ``ARGS='run_name=x; rm -rf ~'`` is two words Hydra refuses, never a second command.

ARGS is read as Hydra overrides separated by spaces. Quotes are Hydra's and stay in the override
(``tags=["a,b",c]`` is a list of two); spaces inside quotes or brackets do not separate
(``stages.sft.target_modules=[q_proj, v_proj]``); an override wrapped whole in quotes, as a shell
would need it (``'x=[1, 2]'``), loses that outer pair.

The other targets that take ARGS (``gpu-smoke``, ``bench-learn``, ``bench-table``, ``bench-eval``) run
``python -m harness.make_entry --script <script>``: ARGS is split the same way and handed to the script
as its argv (flags and Hydra overrides), any word wrapped whole in quotes losing that pair
(``--run-name 'my run'``), and still no shell.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping, Sequence

from common.errors import ConfigError, Problem, print_problems

__all__ = ["ENV_PREFIX", "split_overrides", "reproduce_argv", "script_argv", "main"]

ENV_PREFIX = "AIGI_MAKE_"
_QUOTES = "'\""
_OPEN, _CLOSE = "[{(", "]})"
# DRY_RUN=1|0 as make users write it; any other value reaches the harness, which names it.
_DRY_RUN = {"1": "true", "0": "false"}


def split_overrides(text: str, *, unwrap_any: bool = False) -> list[str]:
    """The overrides of ``text``: split at spaces outside quotes and brackets, quotes kept.

    A word wrapped whole in one pair of quotes loses it when it is an override (``'x=[1, 2]'``), or
    always with ``unwrap_any`` (a script's flag value: ``'my run'``).
    """
    words: list[str] = []
    current: list[str] = []
    quote: str | None = None
    quote_start = 0
    depth = 0
    escaped = False
    for position, char in enumerate(text):
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif quote is not None:
            current.append(char)
            if char == quote:
                quote = None
        elif char in _QUOTES:
            current.append(char)
            quote, quote_start = char, position
        elif char.isspace() and depth == 0:
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
            if char in _OPEN:
                depth += 1
            elif char in _CLOSE and depth > 0:
                depth -= 1
    if quote is not None:
        raise ConfigError(
            Problem(
                "ARGS",
                f"the quote {quote} at character {quote_start + 1} is never closed: {text!r} "
                "(a quote is part of the word: close it inside the word it opens)",
            )
        )
    if current:
        words.append("".join(current))
    return [_unwrap(word, unwrap_any) for word in words]


def _unwrap(word: str, unwrap_any: bool) -> str:
    """``'x=[1, 2]'`` -> ``x=[1, 2]``: one pair of quotes around a whole override, as a shell needs."""
    if len(word) < 2 or word[0] not in _QUOTES or word[-1] != word[0]:
        return word
    inner = word[1:-1]
    # Only when the first quote closes at the end ('a'='b' is not wrapped) and an override is inside.
    if word[0] in inner.replace("\\" + word[0], "") or ("=" not in inner and not unwrap_any):
        return word
    return inner


def reproduce_argv(env: Mapping[str, str]) -> list[str]:
    """``python -m harness``'s arguments for make's PAPER, TABLE, PROFILE, DRY_RUN and ARGS."""
    argv: list[str] = []
    for name, key in (("PAPER", "paper"), ("TABLE", "table"), ("PROFILE", "profile")):
        value = env.get(ENV_PREFIX + name, "").strip()
        if value:
            argv.append(f"{key}={value}")
    dry_run = env.get(ENV_PREFIX + "DRY_RUN", "").strip()
    if dry_run:
        argv.append(f"dry_run={_DRY_RUN.get(dry_run, dry_run)}")
    argv.extend(split_overrides(env.get(ENV_PREFIX + "ARGS", "")))
    return argv


def script_argv(script: str, env: Mapping[str, str]) -> list[str]:
    """The command of ``make <target> ARGS=...`` for a target that runs ``script``."""
    return [sys.executable, script, *split_overrides(env.get(ENV_PREFIX + "ARGS", ""), unwrap_any=True)]


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(argv or [])
    if argv[:1] == ["--script"]:
        return _run_script(argv[1:])
    try:
        command = reproduce_argv(os.environ)
    except ConfigError as exc:
        print_problems(exc.problems, sys.stderr)
        return 2
    from harness.cli import main as harness_main

    command.extend(argv)
    # What make used to echo: the command as one copy-pasteable line.
    print(shlex.join([sys.executable, "-m", "harness", *command]), flush=True)
    return harness_main(command)


def _run_script(argv: list[str]) -> int:
    try:
        if len(argv) != 1:
            raise ConfigError(Problem("--script", f"takes one script path, got {argv}"))
        command = script_argv(argv[0], os.environ)
    except ConfigError as exc:
        print_problems(exc.problems, sys.stderr)
        return 2
    print(shlex.join(command), flush=True)
    # The script replaces this process: its exit status and signals are make's, as before.
    os.execv(command[0], command)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
