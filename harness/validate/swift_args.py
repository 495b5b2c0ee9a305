"""Check a rendered ms-swift command against the pinned ms-swift's own argument parser.

The parser is rebuilt from the snapshot `harness/trainer_specs/ms-swift-<v>.json`, which is
generated from ms-swift's HfArgumentParser (importing ms-swift costs ~12 s; a slow test checks
the snapshot against the installed package and runs the real parser too). Abbreviated flags are
rejected (`allow_abbrev=False`): ms-swift would silently accept a unique prefix.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from common.errors import Problem, did_you_mean
from common.gpu_share import GPU_SHARE_RULE, is_gpu_share
from harness.render import Rendered
from harness.trainer_specs import load_swift_spec

_TRUE = {"true", "1", "yes", "y", "t", "on"}
_FALSE = {"false", "0", "no", "n", "f", "off"}


def _to_bool(text: str) -> bool:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise argparse.ArgumentTypeError(f"invalid bool value: '{text}'")


_TYPES: Mapping[str, Callable[[str], Any]] = {"int": int, "float": float, "str": str, "bool": _to_bool}


class _ParseError(Exception):
    pass


class _StrictParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ParseError(message)


@lru_cache(maxsize=8)
def swift_parser(command: str) -> _StrictParser:
    spec = load_swift_spec()
    options = spec["commands"][command]["options"]
    parser = _StrictParser(prog=f"swift {command}", add_help=False, allow_abbrev=False)
    for opt in options:
        kwargs: dict[str, Any] = {"dest": opt["dest"]}
        if opt["kind"] == "flag":
            kwargs["action"] = "store_const"
            kwargs["const"] = True
        else:
            if opt["kind"] == "choice":
                kwargs["choices"] = [c for c in opt["choices"] if c is not None]
            else:
                kwargs["type"] = _TYPES[opt["kind"]]
            if opt["nargs"] is not None:
                kwargs["nargs"] = opt["nargs"]
        parser.add_argument(*opt["flags"], **kwargs)
    return parser


def known_flags(command: str) -> list[str]:
    spec = load_swift_spec()
    return [f for opt in spec["commands"][command]["options"] for f in opt["flags"]]


def validate_swift_command(rendered: Rendered, deep: bool = False) -> list[Problem]:
    """A rendered `swift <command> ...`; the parser snapshot is the whole check (no deep step)."""
    return check_swift_argv(rendered.argv, rendered.keys)


def check_swift_argv(argv: Sequence[str], keys: Mapping[str, str]) -> list[Problem]:
    """argv = ['swift', <command>, ...]; problems name the config key behind each flag."""
    command = argv[1]
    spec = load_swift_spec()
    parser = swift_parser(command)
    version = spec["version"]
    problems: list[Problem] = []
    flags = known_flags(command)
    pairs = _split(list(argv[2:]))
    given = dict(pairs)
    # Parse flag by flag so one bad value does not hide the others.
    for flag, values in pairs:
        where = keys.get(flag, flag)
        if flag not in flags:
            snake = [f for f in flags if "-" not in f[2:]]  # suggest one spelling per flag
            problems.append(
                Problem(
                    where,
                    f"ms-swift {version} `swift {command}` has no flag {flag}{did_you_mean(flag, snake)}",
                )
            )
            continue
        negative = _negative_learning_rate(flag, values)
        if negative is not None:
            problems.append(Problem(where, f"a learning rate must not be negative, got {negative!r}"))
            continue
        low = _out_of_range(flag, values, given)
        if low is not None:
            problems.append(Problem(where, low))
            continue
        try:
            ns, unknown = parser.parse_known_args([flag, *values])
        except _ParseError as exc:
            problems.append(Problem(where, f"ms-swift {version} rejects `{flag} {' '.join(values)}`: {exc}"))
            continue
        if unknown:
            problems.append(
                Problem(
                    where,
                    f"ms-swift {version} `swift {command}` does not accept {' '.join(unknown)} after {flag}",
                )
            )
            continue
        problems += _check_value(flag, values, where, spec)
    if command == "rlhf":
        problems += _rollout_problems(given, keys, version)
    return problems


# RLHFArguments._init_rollout (swift/arguments/rlhf_args.py) raises when the two disagree, for the
# rlhf types that roll out (rlhf_support_vllm_types): one argument error per job, at start-up.
_ROLLOUT_TYPES = ("grpo", "gkd")


def _rollout_problems(flags: Mapping[str, list[str]], keys: Mapping[str, str], version: str) -> list[Problem]:
    """`--vllm_mode` goes with `--use_vllm true`, and only with it."""
    if (flags.get("--rlhf_type") or [""])[0] not in _ROLLOUT_TYPES:
        return []
    try:
        use_vllm = _to_bool((flags.get("--use_vllm") or ["false"])[0])
    except argparse.ArgumentTypeError:
        return []  # reported with the flag's own value above
    mode = flags.get("--vllm_mode")
    if mode and not use_vllm:
        where = keys.get("--vllm_mode", "--vllm_mode")
        return [Problem(where, f"ms-swift {version} rejects vllm_mode without use_vllm=true; set it to null")]
    if use_vllm and not mode:
        where = keys.get("--use_vllm", "--use_vllm")
        return [Problem(where, f"ms-swift {version} needs vllm_mode (colocate or server) with use_vllm=true")]
    return []


# Counts ms-swift takes as given: below the minimum it trains nothing, or fails at start-up
# after the model loaded. num_train_epochs counts only without a positive max_steps, and a
# save_steps below 1 is a fraction of the total steps (transformers' TrainingArguments).
_AT_LEAST_ONE = (
    "--max_length",
    "--lora_rank",
    "--gradient_accumulation_steps",
    "--num_generations",
    "--max_completion_length",
)
_POSITIVE = ("--num_train_epochs", "--save_steps")
# vLLM and the sampler refuse a negative temperature at the first rollout; a negative beta (the
# KL weight) rewards drifting from the reference model; the vLLM share of a GPU is a fraction.
_NOT_NEGATIVE = ("--temperature", "--beta")
_SHARE = ("--vllm_gpu_memory_utilization",)


# transformers 5 TrainingArguments copies warmup_ratio into warmup_steps and reads a value of 1
# or more as a number of steps: warmup_ratio=5 (meant as 5 %) warmed up for 5 steps, silently.
_RATIOS = ("--warmup_ratio",)
_RANGED = frozenset(_AT_LEAST_ONE + _POSITIVE + _RATIOS + _NOT_NEGATIVE + _SHARE)


def _out_of_range(flag: str, values: list[str], flags: Mapping[str, list[str]]) -> str | None:
    """Why a numeric flag's value is outside what the trainer takes, or None (a value that is not a
    number: argparse's)."""
    if flag not in _RANGED or len(values) != 1:
        return None
    try:
        value = float(values[0])
        max_steps = float((flags.get("--max_steps") or ["-1"])[0])
    except ValueError:
        return None
    if flag in _RATIOS and not 0 <= value < 1:
        return (
            f"is a fraction of the training steps, at least 0 and below 1, got {values[0]} "
            "(transformers reads 1 or more as a number of steps: set warmup_steps for that)"
        )
    if flag == "--num_train_epochs" and max_steps > 0:
        return None
    if flag == "--num_generations" and (flags.get("--rlhf_type") or [""])[0] == "grpo" and value < 2:
        # RLHFArguments raises "num_generations must be greater than 1 for GRPO" at start-up: one
        # response per prompt has no group to compare with
        return f"must be at least 2 for GRPO (the responses compared per prompt), got {values[0]}"
    if flag in _NOT_NEGATIVE and value < 0:
        return f"must be 0 or more, got {values[0]}"
    if flag in _SHARE and not is_gpu_share(value):
        return f"{GPU_SHARE_RULE}, got {values[0]}"
    if flag in _POSITIVE and value <= 0:
        extra = " (or set max_steps)" if flag == "--num_train_epochs" else ""
        return f"must be more than 0{extra}, got {values[0]}"
    if flag in _AT_LEAST_ONE and value < 1:
        return f"must be at least 1, got {values[0]}"
    return None


def _negative_learning_rate(flag: str, values: list[str]) -> float | None:
    """The value of a learning-rate flag (`--learning_rate`, `--vit_lr`, ...) when it is below zero.

    argparse would read `-1e-05` as a flag and say "expected one argument", which hides the mistake.
    """
    name = flag.lstrip("-").replace("-", "_")
    if len(values) != 1 or not (name.endswith("learning_rate") or name == "lr" or name.endswith("_lr")):
        return None
    try:
        value = float(values[0])
    except ValueError:
        return None
    return value if value < 0 else None


def _split(rest: list[str]) -> list[tuple[str, list[str]]]:
    out: list[tuple[str, list[str]]] = []
    for item in rest:
        if item.startswith("--"):
            out.append((item, []))
        elif out:
            out[-1][1].append(item)
        else:
            out.append((item, []))
    return out


def _check_value(flag: str, values: list[str], where: str, spec: Mapping[str, Any]) -> list[Problem]:
    """Free-string flags ms-swift checks only after loading a model, checked here up front."""
    name = flag.lstrip("-").replace("-", "_")
    version = spec["version"]
    if not values:
        return []
    value = values[0]
    if name == "model_type" and value not in spec["model_types"]:
        return [
            Problem(
                where,
                f"ms-swift {version} has no model_type '{value}'{did_you_mean(value, spec['model_types'])}",
            )
        ]
    if name == "template" and value not in spec["templates"]:
        return [
            Problem(
                where, f"ms-swift {version} has no template '{value}'{did_you_mean(value, spec['templates'])}"
            )
        ]
    if name == "tuner_type" and value not in spec["tuner_types"]:
        return [
            Problem(
                where,
                f"ms-swift {version} has no tuner_type '{value}'{did_you_mean(value, spec['tuner_types'])}",
            )
        ]
    if name == "deepspeed":
        presets = spec["deepspeed_presets"]
        if value not in presets and not value.lstrip().startswith("{") and not os.path.exists(value):
            return [
                Problem(
                    where,
                    f"ms-swift {version} --deepspeed takes one of {', '.join(presets)}, "
                    f"a JSON string or an existing JSON file, not '{value}'",
                )
            ]
    return []
