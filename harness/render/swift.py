"""`swift sft`, `swift rlhf` and `swift export` (ms-swift), in the stage's dialect.

Recipes use ms-swift 4.6 flag names. A dialect (conf/dialect/swift/) renames flags and values
for another ms-swift version and lists the defaults that version implied, so a seed's own
command comes out verbatim and a recipe that states those defaults trains the same objective
on the pinned version.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from common.errors import ConfigError, Problem
from data_prep.swift_skipped_records import SKIPPED_ENV, SKIPPED_FILE
from harness.batching import gradient_accumulation_steps
from harness.render import Rendered, StageContext
from harness.render.tracking import swift_tracking
from harness.render.values import cli_value
from harness.report.training_logs import REWARD_PARTS_FILE

REWARD_ENV = "AIGI_REWARD"
# rewards/swift_adapter.py appends the mean score and parts of each call here (the report reads it).
REWARD_PARTS_ENV = "AIGI_REWARD_PARTS"

# Flags the harness owns: set from the pipeline layout, never typed in a recipe.
_OWNED = ("output_dir",)


def render_swift_sft(ctx: StageContext) -> Rendered:
    return _render_training(ctx, "sft")


def render_swift_rlhf(ctx: StageContext) -> Rendered:
    if "rlhf_type" not in ctx.args:
        raise ConfigError(
            Problem(f"stages.{ctx.name}.rlhf_type", "a swift_rlhf stage must say rlhf_type (dpo, grpo, ...)")
        )
    return _render_training(ctx, "rlhf")


def render_swift_export(ctx: StageContext) -> Rendered:
    args: dict[str, Any] = {}
    keys: dict[str, str] = {}
    _take_inputs(ctx, args, keys)
    _take_args(ctx, args, keys)
    args["output_dir"] = str(Path(ctx.stage_dir) / "merged")
    keys["output_dir"] = f"stages.{ctx.name} (output: <stage_dir>/merged)"
    argv, flag_keys, warnings = render_swift_args(args, keys, ctx.dialect)
    return Rendered(
        argv=("swift", "export", *argv),
        env=dict(ctx.env),
        mode="single",
        keys=flag_keys,
        warnings=tuple(warnings),
    )


def _render_training(ctx: StageContext, command: str) -> Rendered:
    args: dict[str, Any] = {}
    keys: dict[str, str] = {}
    _take_inputs(ctx, args, keys)
    _take_args(ctx, args, keys)
    if ctx.global_batch_size is not None:
        per_device = int(ctx.args.get("per_device_train_batch_size", 1))
        where = f"stages.{ctx.name}.global_batch_size"
        if "gradient_accumulation_steps" in ctx.args:
            raise ConfigError(
                Problem(
                    f"stages.{ctx.name}.gradient_accumulation_steps",
                    "is derived from global_batch_size; set one of the two",
                )
            )
        args["gradient_accumulation_steps"] = gradient_accumulation_steps(
            int(ctx.global_batch_size), per_device, ctx.gpus_per_node, ctx.nnodes, where
        )
        keys["gradient_accumulation_steps"] = where
    # Deterministic output folders let resume and later stages find them (libs.md 1: ms-swift
    # otherwise writes a new vN-<timestamp> folder per run).
    args["output_dir"] = str(Path(ctx.stage_dir) / "output")
    keys["output_dir"] = f"stages.{ctx.name} (output: <stage_dir>/output)"
    post: tuple[tuple[str, ...], ...] = ()
    env = dict(ctx.env)
    if ctx.tracking is not None and not ctx.verbatim:
        flags, tracker_env = swift_tracking(ctx.tracking, ctx.name, ctx.args, ctx.run_dir, ctx.stage_dir)
        for name, value in flags.items():
            args[name] = value
            keys[name] = f"tracking (tracking={ctx.tracking.name})"
        env.update(tracker_env)
    if not ctx.verbatim:
        args["add_version"] = False
        keys.setdefault("add_version", f"stages.{ctx.name}.add_version")
        # <stage_dir>/final -> the last checkpoint-N, what later stages consume. ms-swift's own
        # --create_checkpoint_symlink crashes at the end of a run without evaluation (it links
        # best_model_checkpoint, which is None; ms-swift 4.6 pipelines/train/sft.py).
        post = (("python3", "-m", "harness.finalize", "swift", ctx.stage_dir),)
        # ms-swift 4.6 leaves out a row longer than max_length without a word (dropped, or another
        # row trained in its place): the plugin names each one, harness.finalize counts them.
        args["external_plugins"] = [*_listed(args.get("external_plugins")), skipped_records_plugin(ctx.repo)]
        keys.setdefault("external_plugins", f"stages.{ctx.name}.external_plugins")
        env.setdefault(SKIPPED_ENV, str(Path(ctx.stage_dir) / SKIPPED_FILE))
        _require_checkpoint(
            args.get("save_strategy"), keys.get("save_strategy", f"stages.{ctx.name}.save_strategy")
        )
    argv, flag_keys, warnings = render_swift_args(args, keys, ctx.dialect)
    if ctx.reward_fn is not None:
        # rewards/swift_adapter.py wraps this verl-style compute_score for ms-swift's GRPO.
        env[REWARD_ENV] = json.dumps(dict(ctx.reward_fn), sort_keys=True)
        env.setdefault(REWARD_PARTS_ENV, str(Path(ctx.stage_dir) / REWARD_PARTS_FILE))
    return Rendered(
        argv=("swift", command, *argv),
        env=env,
        mode="torchrun",
        keys=flag_keys,
        post_argv=post,
        warnings=tuple(warnings),
    )


def skipped_records_plugin(repo: str) -> str:
    """The ms-swift plugin file that records the rows ms-swift leaves out (data_prep/swift_skipped_records.py)."""
    return str(Path(repo) / "data_prep" / "swift_skipped_records.py")


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _require_checkpoint(save_strategy: Any, where: str) -> None:
    """Refuse a training run that would end with nothing for harness.finalize to link.

    ms-swift saves at the last step for every strategy but "no" (DefaultFlowCallbackNew,
    ms-swift 4.6 trainers/patcher.py); with "no" the stage trains to the end and then fails.
    """
    if str(save_strategy).lower() == "no":
        raise ConfigError(
            Problem(
                where,
                f"is {save_strategy!r}: ms-swift then saves no checkpoint-N, so the stage would train "
                "to the end and leave nothing for the next stage (nothing to merge, evaluate or resume); use "
                "steps (with save_steps) or epoch, which also save at the last step",
            )
        )


def _take_inputs(ctx: StageContext, args: dict[str, Any], keys: dict[str, str]) -> None:
    # Inputs are named after the flag they feed (model, dataset, val_dataset, adapters, ...).
    for name, value in ctx.inputs.items():
        if value is None:
            continue
        args[name] = value
        keys[name] = f"stages.{ctx.name}.inputs.{name}"


def _take_args(ctx: StageContext, args: dict[str, Any], keys: dict[str, str]) -> None:
    for name, value in ctx.args.items():
        if name in _OWNED:
            raise ConfigError(
                Problem(
                    f"stages.{ctx.name}.{name}",
                    "is set by the harness from the run directory; remove it from the recipe",
                )
            )
        if name in args:
            raise ConfigError(
                Problem(
                    f"stages.{ctx.name}.{name}",
                    f"is also given as an input (stages.{ctx.name}.inputs.{name})",
                )
            )
        if name == "add_version" and value is not False:
            raise ConfigError(
                Problem(
                    f"stages.{ctx.name}.add_version",
                    "must be false: the harness needs deterministic output folders",
                )
            )
        args[name] = value
        keys[name] = f"stages.{ctx.name}.{name}"


def render_swift_args(
    args: Mapping[str, Any], keys: Mapping[str, str], dialect: Mapping[str, Any]
) -> tuple[list[str], dict[str, str], list[str]]:
    """Canonical (ms-swift 4.6) arguments -> argv in `dialect`; also flag -> config key."""
    renames: Mapping[str, str] = dialect.get("flags") or {}
    value_maps: Mapping[str, Mapping[str, str]] = dialect.get("values") or {}
    implied: Mapping[str, Any] = dialect.get("implied") or {}
    unsupported: Mapping[str, str] = dialect.get("unsupported") or {}
    argv: list[str] = []
    flag_keys: dict[str, str] = {}
    warnings: list[str] = []
    for name, value in args.items():
        if value is None:
            continue
        if name in unsupported:
            warnings.append(f"{keys.get(name, name)}: dropped for {dialect.get('name')}: {unsupported[name]}")
            continue
        if name in implied and _same(value, implied[name]):
            continue
        flag = renames.get(name, name)
        mapping = value_maps.get(name) or {}
        values = [mapping.get(v, v) for v in _strings(value)]
        argv.append(f"--{flag}")
        argv.extend(values)
        flag_keys[f"--{flag}"] = keys.get(name, name)
    return argv, flag_keys, warnings


def _strings(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        return [cli_value(v) for v in value]
    return [cli_value(value)]


def _same(a: Any, b: Any) -> bool:
    return _strings(a) == _strings(b)
