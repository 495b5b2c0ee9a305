"""Validators of the project's own stages: the names they look up in a registry exist.

A data-preparation command names a data source (``--source``) or a synthetic layout
(``--layout``), an evaluation command a backend, a response format and metrics (its
``--config-json``). The registries find the project's entries and the plugins' (common/plugins.py,
already imported by the composition), so a typo, or a plugin that was not loaded, is reported with
the config key and the known names instead of failing in the stage hours later. The stage kinds
`data_prep` and `eval` name these validators (harness/kinds.py).
"""

from __future__ import annotations

import json
from typing import Any

from common.errors import ConfigError, Problem, did_you_mean
from harness.render import Rendered

__all__ = [
    "data_prep_sample_answers",
    "eval_response_format",
    "flag_value",
    "validate_data_prep_command",
    "validate_eval_command",
]


def validate_data_prep_command(rendered: Rendered, deep: bool = False) -> list[Problem]:
    """`python3 -m data_prep <command> ...`: the source or layout it names is registered, and
    data_prep's own parser takes the command line (a key it does not know, a count below its
    minimum, a layout that takes no such option), so the stage does not stop after those before it
    ran."""
    argv = list(rendered.argv)
    command = argv[3] if len(argv) > 3 else "convert"
    if command in ("convert", "check"):
        from data_prep.sources import SOURCES

        named = _check_name(rendered, "--source", "data source", SOURCES.names())
        return named or _check_command_line(rendered) or _check_options(rendered)
    if command == "synth":
        from data_prep.synth_layouts import LAYOUTS

        return _check_name(rendered, "--layout", "synth layout", LAYOUTS.names()) or _check_command_line(
            rendered
        )
    return _check_command_line(rendered)


def _check_command_line(rendered: Rendered) -> list[Problem]:
    """data_prep's parser on the rendered argv; each refusal under the config key of the first
    option it names (the stage's keys when it names none it renders)."""
    from data_prep.__main__ import command_line_problems

    argv = list(rendered.argv)
    stage = next((k.split(".")[1] for k in rendered.keys.values() if k.startswith("stages.")), None)
    problems = []
    for error in command_line_problems(argv[3:]):
        keys = [rendered.keys[f] for f in error.flags if f in rendered.keys]
        if not keys and stage is not None:
            keys = [f"stages.{stage}.{f[2:].replace('-', '_')}" for f in error.flags] or [f"stages.{stage}"]
        problems.append(
            Problem(keys[0] if keys else "", f"python3 -m data_prep {' '.join(argv[3:4])}: {error}")
        )
    return problems


def validate_eval_command(rendered: Rendered, deep: bool = False) -> list[Problem]:
    """`python3 -m harness.evaluation ... --config-json JSON`: the evaluation config parses."""
    from harness.evaluation.config import parse_eval_config

    where = rendered.keys.get("--config-json", "options")
    raw = flag_value(list(rendered.argv), "--config-json")
    try:
        parse_eval_config(json.loads(raw) if raw is not None else {})
    except ConfigError as exc:
        return [
            Problem(where + p.key[len("eval") :] if p.key.startswith("eval") else where, p.message)
            for p in exc.problems
        ]
    return []


def data_prep_sample_answers(rendered: Rendered) -> list[Any]:
    """`python3 -m data_prep convert --source S --options JSON`: the answers S's rows teach under
    those options (its ``sample_answers``, data_prep/source_api.py); [] for a source that does not
    write its answers, another command, or options that do not parse (validate_data_prep_command
    reports those). Raises what the source raises (a vocabulary file that is not there)."""
    from data_prep.source_api import parse_options
    from data_prep.sources import SOURCES

    argv = list(rendered.argv)
    name = flag_value(argv, "--source")
    if name is None or name not in SOURCES.names():
        return []
    module = SOURCES.get(name)
    sample_answers = getattr(module, "sample_answers", None)
    options_cls = getattr(module, "Options", None)
    raw = flag_value(argv, "--options")
    if sample_answers is None or options_cls is None:
        return []
    try:
        options = parse_options(options_cls, json.loads(raw) if raw is not None else {}, name)
    except (ConfigError, json.JSONDecodeError):
        return []
    return list(sample_answers(options))


def eval_response_format(rendered: Rendered) -> str | None:
    """The response format an evaluation command's `--config-json` names; None when it names none
    or does not parse (validate_eval_command reports that)."""
    raw = flag_value(list(rendered.argv), "--config-json")
    try:
        config = json.loads(raw) if raw is not None else {}
    except json.JSONDecodeError:
        return None
    value = config.get("response_format") if isinstance(config, dict) else None
    return value if isinstance(value, str) else None


def _check_options(rendered: Rendered) -> list[Problem]:
    """The source's `--options` parse into its Options, and a fold is one of num_folds.

    Both would otherwise stop the data stage, after the stages before it ran.
    """
    from data_prep.cv_folds import fold_problem
    from data_prep.source_api import parse_options
    from data_prep.sources import SOURCES

    name = str(flag_value(list(rendered.argv), "--source"))
    options_cls = getattr(SOURCES.get(name), "Options", None)
    raw = flag_value(list(rendered.argv), "--options")
    if options_cls is None or raw is None:
        return []
    where = rendered.keys.get("--options", "options")
    try:
        parsed = parse_options(options_cls, json.loads(raw), name)
    except ConfigError as exc:
        prefix = f"{name} options"
        return [
            Problem(where + p.key[len(prefix) :] if p.key.startswith(prefix) else where, p.message)
            for p in exc.problems
        ]
    fold, num_folds = getattr(parsed, "fold", None), getattr(parsed, "num_folds", None)
    if isinstance(fold, int) and isinstance(num_folds, int):
        problem = fold_problem(fold, num_folds)
        if problem:
            return [Problem(f"{where}.fold", f"{problem} (data.fold, data.num_folds in the recipes)")]
    check = getattr(SOURCES.get(name), "check_options", None)
    try:
        if check is not None:
            check(parsed)
    except OSError:
        return []  # a config file not on this machine: the stage's own path check names it
    except ValueError as error:
        # "<source> options.templates_real: ..." -> under the key of that option
        option, sep, message = str(error).partition(": ")
        if sep and option.startswith(f"{name} options"):
            return [Problem(where + option[len(f"{name} options") :], message)]
        return [Problem(where, str(error))]
    return []


def _check_name(rendered: Rendered, flag: str, what: str, known: list[str]) -> list[Problem]:
    name = flag_value(list(rendered.argv), flag)
    if name in known:
        return []
    key = rendered.keys.get(flag, flag.lstrip("-"))
    if name is None:
        return [Problem(key, f"no {what} given; known: {', '.join(known)}")]
    return [_unknown(key, what, name, known)]


def flag_value(argv: list[str], flag: str) -> str | None:
    """The value after `flag` in a rendered argv, None when it is not there."""
    for i, item in enumerate(argv[:-1]):
        if item == flag:
            return argv[i + 1]
    return None


def _unknown(key: str, what: str, name: Any, known: list[str]) -> Problem:
    return Problem(key, f"unknown {what} '{name}'{did_you_mean(str(name), known)}; known: {', '.join(known)}")
