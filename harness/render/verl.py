"""`python3 -m verl.trainer.main_ppo` and verl's checkpoint-to-Hugging-Face merger.

A verl stage's config is a nested tree of verl's own keys (verl/trainer/config/ppo_trainer.yaml,
0.9.1 layout). It is flattened to `key=value` Hydra overrides; the dialect
(conf/dialect/verl/) renames key prefixes for other verl versions and marks keys that the
version's schema lacks, which Hydra only accepts with a leading '+'.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from common.errors import ConfigError, Problem
from data_prep.swift_skipped_records import SKIPPED_FILE
from data_prep.verl_skipped_records import CLASS_NAME as SKIPPED_CLASS
from data_prep.verl_skipped_records import SKIPPED_ENV
from harness.render import Rendered, StageContext
from harness.render.tracking import verl_tracking
from harness.render.values import flatten, hydra_value

# Stage inputs of a GRPO stage and the verl keys they fill.
GRPO_INPUT_KEYS = {
    "model": "actor_rollout_ref.model.path",
    "train_files": "data.train_files",
    "val_files": "data.val_files",
}
# Keys the harness derives from the run directory and the cluster.
_OWNED = {
    "trainer.default_local_dir": "the stage folder (<stage_dir>/checkpoints)",
    "trainer.nnodes": "cluster.nnodes",
    "trainer.n_gpus_per_node": "cluster.gpus_per_node",
}
# verl/trainer/config/ppo_trainer.yaml (0.9.1): -1, and RayPPOTrainer.fit saves only when > 0.
VERL_DEFAULT_SAVE_FREQ = -1


def render_verl_grpo(ctx: StageContext) -> Rendered:
    overrides: dict[str, Any] = {}
    keys: dict[str, str] = {}
    for name, value in ctx.inputs.items():
        if name not in GRPO_INPUT_KEYS:
            raise ConfigError(
                Problem(
                    f"stages.{ctx.name}.inputs.{name}",
                    f"a verl_grpo stage takes inputs {sorted(GRPO_INPUT_KEYS)}",
                )
            )
        if value is not None:
            overrides[GRPO_INPUT_KEYS[name]] = value
            keys[GRPO_INPUT_KEYS[name]] = f"stages.{ctx.name}.inputs.{name}"
    for dotted, value in flatten(ctx.args).items():
        if dotted in _OWNED:
            raise ConfigError(
                Problem(
                    f"stages.{ctx.name}.{dotted}", f"is set by the harness from {_OWNED[dotted]}; remove it"
                )
            )
        if dotted in overrides:
            raise ConfigError(Problem(f"stages.{ctx.name}.{dotted}", "is also given as a stage input"))
        overrides[dotted] = value
        keys[dotted] = f"stages.{ctx.name}.{dotted}"
    tracker_env: dict[str, str] = {}
    if ctx.tracking is not None and not ctx.verbatim:
        values, tracker_env = verl_tracking(ctx.tracking, ctx.name, overrides, ctx.run_dir, ctx.stage_dir)
        for key, value in values.items():
            overrides[key] = value
            keys[key] = f"tracking (tracking={ctx.tracking.name})"
    overrides["trainer.default_local_dir"] = str(Path(ctx.stage_dir) / "checkpoints")
    keys["trainer.default_local_dir"] = f"stages.{ctx.name} (output: <stage_dir>/checkpoints)"
    overrides["trainer.nnodes"] = int(ctx.nnodes)
    keys["trainer.nnodes"] = "cluster.nnodes"
    overrides["trainer.n_gpus_per_node"] = int(ctx.gpus_per_node)
    keys["trainer.n_gpus_per_node"] = "cluster.gpus_per_node"

    recording = not ctx.verbatim and overrides.get("data.custom_cls.path") is None
    if recording:
        # verl's data.filter_overlong_prompts drops a prompt longer than data.max_prompt_length
        # printing only two lengths: this subclass of its RLHFDataset names each one.
        overrides["data.custom_cls.path"] = skipped_records_dataset(ctx.repo)
        overrides["data.custom_cls.name"] = SKIPPED_CLASS
        for key in ("data.custom_cls.path", "data.custom_cls.name"):
            keys[key] = (
                f"stages.{ctx.name} (data_prep/verl_skipped_records.py names the prompts verl filters out)"
            )
    argv, rendered_keys = render_verl_overrides(overrides, keys, ctx.dialect)
    renamed = {
        k: _rename(k, ctx.dialect.get("keys") or {}) for k in ("trainer.nnodes", "trainer.n_gpus_per_node")
    }
    post: tuple[tuple[str, ...], ...] = ()
    if not ctx.verbatim:
        _require_checkpoint(ctx.name, overrides.get("trainer.save_freq"))
        # Record the last global_step_N as <stage_dir>/final for the merger stage.
        post = (("python3", "-m", "harness.finalize", "verl", ctx.stage_dir),)
    env = {**ctx.env, **tracker_env}
    # verl's `file` logger writes here (default: <cwd>/<project>/<experiment>.jsonl); the report
    # reads the training curves from it.
    if not ctx.verbatim:
        env.setdefault("VERL_FILE_LOGGER_PATH", str(Path(ctx.stage_dir) / "verl_metrics.jsonl"))
    if recording:
        env.setdefault(SKIPPED_ENV, str(Path(ctx.stage_dir) / SKIPPED_FILE))
    return Rendered(
        argv=("python3", "-m", "verl.trainer.main_ppo", *argv),
        env=env,
        mode="ray",
        keys=rendered_keys,
        alloc_args={renamed["trainer.nnodes"]: "nnodes", renamed["trainer.n_gpus_per_node"]: "gpus_per_node"},
        post_argv=post,
    )


def skipped_records_dataset(repo: str) -> str:
    """The verl dataset class file that records the prompts verl filters out (data_prep/verl_skipped_records.py)."""
    return str(Path(repo) / "data_prep" / "verl_skipped_records.py")


def _require_checkpoint(stage: str, save_freq: Any) -> None:
    """Refuse a training run that would end with nothing for harness.finalize to link.

    verl saves every save_freq steps and at the last step, but only when save_freq > 0; with
    less the stage trains to the end and then fails, and the stages after it have no model.
    """
    try:
        freq = VERL_DEFAULT_SAVE_FREQ if save_freq is None else float(save_freq)
    except (TypeError, ValueError):
        return  # not a number: verl's config tree refuses it (validate_verl_command)
    if freq > 0:
        return
    given = f"not set (verl's default is {VERL_DEFAULT_SAVE_FREQ})" if save_freq is None else str(save_freq)
    raise ConfigError(
        Problem(
            f"stages.{stage}.trainer.save_freq",
            f"is {given}: verl saves a checkpoint only when trainer.save_freq > 0, so the stage "
            f"would train to the end and leave no global_step_N for the next stage (nothing to "
            f"merge, evaluate or resume); set a number of steps, e.g. "
            f"stages.{stage}.trainer.save_freq=50 (verl also saves at the last step)",
        )
    )


def render_verl_merge(ctx: StageContext) -> Rendered:
    checkpoint = ctx.inputs.get("checkpoint")
    if not checkpoint:
        raise ConfigError(
            Problem(
                f"stages.{ctx.name}.inputs.checkpoint",
                "a verl_merge stage needs the GRPO stage's checkpoint (stage:<grpo stage>)",
            )
        )
    backend = ctx.args.get("backend", "fsdp")
    extra = {k: v for k, v in ctx.args.items() if k != "backend"}
    argv = [
        "python3",
        "-m",
        "verl.model_merger",
        "merge",
        "--backend",
        str(backend),
        "--local_dir",
        str(Path(checkpoint) / "actor"),
        "--target_dir",
        str(Path(ctx.stage_dir) / "hf"),
    ]
    for name, value in extra.items():
        argv += [f"--{name}", str(value)]
    return Rendered(
        argv=tuple(argv),
        env=dict(ctx.env),
        mode="single",
        keys={"--local_dir": f"stages.{ctx.name}.inputs.checkpoint"},
    )


def render_verl_overrides(
    overrides: Mapping[str, Any], keys: Mapping[str, str], dialect: Mapping[str, Any]
) -> tuple[list[str], dict[str, str]]:
    """Canonical verl 0.9.1 keys -> `key=value` argv items in `dialect`."""
    renames: Mapping[str, str] = dialect.get("keys") or {}
    append = tuple(dialect.get("append") or ())
    argv: list[str] = []
    rendered_keys: dict[str, str] = {}
    for key, value in overrides.items():
        target = _rename(key, renames)
        plus = "+" if any(target == p or target.startswith(p + ".") for p in append) else ""
        argv.append(f"{plus}{target}={hydra_value(value)}")
        rendered_keys[target] = keys.get(key, key)
    return argv, rendered_keys


def _rename(key: str, renames: Mapping[str, str]) -> str:
    # Longest matching prefix wins, so specific renames can refine general ones.
    for prefix in sorted(renames, key=len, reverse=True):
        if key == prefix or key.startswith(prefix + "."):
            return renames[prefix] + key[len(prefix) :]
    return key
