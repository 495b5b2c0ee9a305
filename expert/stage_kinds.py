"""The expert's three stage kinds, registered in the harness' stage-kind registry (harness.kinds).

Importing this module registers them (harness.kinds imports it with the repository's other kind
modules); their renderers are pure, like the harness' other kinds, and import no torch.

- ``expert_train``: ``python3 -m expert train`` (mode torchrun: the launcher's NPROC_PER_NODE /
  NNODES make it start torchrun itself, like ms-swift); primary output ``final/``; resumable (the
  program continues from its newest complete checkpoint whenever it starts, so a requeued Slurm
  job needs nothing more).
- ``expert_swap``: ``python3 -m expert swap``; primary output ``llava/`` (``expert/`` beside it).
- ``expert_infer``: ``python3 -m expert infer``; primary output the stage folder
  (``expert_probs.jsonl``, ``predictions.jsonl``, ``metrics.json``); an evaluating kind, so the
  report lists its metrics and draws its ROC like an eval stage's.

A stage's own keys (all but the harness' keys, harness.pipeline.RESERVED_KEYS) are the program's
settings (expert/config.py); they are checked here, so a bad one is an error naming
``stages.<stage>.<key>`` before anything runs. ``global_batch_size`` is the expert's global
batch (split over the processes). Inputs become flags named after them (``train_manifest`` ->
``--train-manifest``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from common.errors import ConfigError, Problem
from expert.config import parse_infer_config, parse_swap_config, parse_train_config
from expert.curves import read_expert_stage
from harness.kinds import Output, StageKind, register_kind
from harness.render import Rendered, StageContext
from harness.rerun import START_OVER, RerunRule

__all__ = ["EXPERT_CHECKPOINTS", "render_expert_infer", "render_expert_swap", "render_expert_train"]

# A fresh attempt starts from an empty folder; an interrupted one keeps it, and `python3 -m expert
# train` continues from its newest complete checkpoints/step-N whenever it starts, so neither a
# resumed attempt nor a requeued Slurm job needs a changed argv.
EXPERT_CHECKPOINTS = RerunRule(resumable=True)

_INPUTS = {
    "expert_train": ({"train_manifest", "model"}, {"val_manifest"}),
    "expert_swap": ({"expert", "llava"}, {"base"}),
    "expert_infer": ({"expert", "manifest"}, set()),
}


def _inputs(ctx: StageContext, kind: str) -> tuple[list[str], dict[str, str]]:
    required, optional = _INPUTS[kind]
    problems = [
        Problem(f"stages.{ctx.name}.inputs.{name}", f"a {kind} stage needs this input")
        for name in sorted(required)
        if ctx.inputs.get(name) in (None, "")
    ]
    problems += [
        Problem(
            f"stages.{ctx.name}.inputs.{name}",
            f"unknown input of a {kind} stage; known: {', '.join(sorted(required | optional))}",
        )
        for name in ctx.inputs
        if name not in required | optional
    ]
    if problems:
        raise ConfigError(problems)
    argv: list[str] = []
    keys: dict[str, str] = {}
    for name in sorted(ctx.inputs):
        value = ctx.inputs[name]
        if value in (None, ""):
            continue
        flag = "--" + name.replace("_", "-")
        argv += [flag, str(value)]
        keys[flag] = f"stages.{ctx.name}.inputs.{name}"
    return argv, keys


def _render(
    ctx: StageContext,
    kind: str,
    command: str,
    settings: Mapping[str, Any],
    parse: Callable[[Mapping[str, Any], str], Any],
    mode: str,
) -> Rendered:
    parse(settings, f"stages.{ctx.name}")
    argv, keys = _inputs(ctx, kind)
    argv = ["python3", "-m", "expert", command, *argv, "--output-dir", ctx.stage_dir]
    if settings:
        argv += ["--config-json", json.dumps(dict(settings), sort_keys=True)]
        keys["--config-json"] = f"stages.{ctx.name}"
    return Rendered(argv=tuple(argv), env=dict(ctx.env), mode=mode, keys=keys)


def render_expert_train(ctx: StageContext) -> Rendered:
    settings = dict(ctx.args)
    if ctx.global_batch_size is not None:
        if "batch_size" in settings:
            raise ConfigError(
                Problem(f"stages.{ctx.name}.batch_size", "set global_batch_size or batch_size, not both")
            )
        settings["batch_size"] = int(ctx.global_batch_size)
    processes = ctx.nnodes * max(ctx.gpus_per_node, 1)
    batch = int(settings.get("batch_size", 16))
    if batch % processes:
        raise ConfigError(
            Problem(
                f"stages.{ctx.name}.global_batch_size",
                f"{batch} images do not split over {processes} processes "
                f"(cluster.nnodes {ctx.nnodes} x cluster.gpus_per_node {ctx.gpus_per_node})",
            )
        )
    return _render(ctx, "expert_train", "train", settings, parse_train_config, mode="torchrun")


def render_expert_swap(ctx: StageContext) -> Rendered:
    return _render(ctx, "expert_swap", "swap", dict(ctx.args), parse_swap_config, mode="single")


def render_expert_infer(ctx: StageContext) -> Rendered:
    return _render(ctx, "expert_infer", "infer", dict(ctx.args), parse_infer_config, mode="single")


register_kind(
    StageKind(
        name="expert_train",
        command="python3 -m expert train",
        render=render_expert_train,
        output=Output("final"),  # PEFT adapter + head.safetensors + expert.json
        rerun=EXPERT_CHECKPOINTS,
        trains=True,
        read_curves=read_expert_stage,
    )
)
register_kind(
    StageKind(
        name="expert_swap",
        command="python3 -m expert swap",
        render=render_expert_swap,
        output=Output("llava"),  # LLaVA with the merged expert as its vision tower; expert/ beside it
        rerun=START_OVER,
    )
)
register_kind(
    StageKind(
        name="expert_infer",
        command="python3 -m expert infer",
        render=render_expert_infer,
        output=Output("."),  # expert_probs.jsonl, predictions.jsonl, metrics.json
        rerun=START_OVER,
        evaluates=True,
    )
)
