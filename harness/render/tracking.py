"""The experiment tracker of every training stage (`tracking=`, conf/tracking/), for both trainers.

One choice sets ms-swift's ``--report_to`` and verl's ``trainer.logger`` together, names the
tracker's project after the paper and its run ``<run_name>-<stage>``, and keeps the tracker's
files inside the stage folder (``tracker_dir``), where the report finds them. API keys
(WANDB_API_KEY, SWANLAB_API_KEY) are read by the trackers from the environment the stage inherits;
nothing here puts a key into a command line (ms-swift's ``--swanlab_token`` is refused).

What each trainer reads (pinned versions):
- ms-swift 4.6: ``--report_to`` (default ``tensorboard``), ``--logging_dir`` (TensorBoard; it
  exports it as TENSORBOARD_LOGGING_DIR for transformers >= 5.15), ``--run_name`` (wandb's run
  name; transformers' WandbCallback reads the project from WANDB_PROJECT), ``--swanlab_project``,
  ``--swanlab_exp_name``, ``--swanlab_mode`` (swift/arguments/sft_args.py, trainers/arguments.py).
- verl 0.9.1: ``trainer.logger`` (a list; ``file`` stays in it: the report reads its jsonl),
  ``trainer.project_name``, ``trainer.experiment_name``; TensorBoard writes to TENSORBOARD_DIR,
  SwanLab to SWANLAB_LOG_DIR in SWANLAB_MODE (verl/utils/tracking.py).
- wandb (both): WANDB_MODE, WANDB_DIR (its ``wandb/`` folder goes there), WANDB_RUN_GROUP.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.errors import ConfigError, Problem

TRACKERS = ("tensorboard", "wandb", "swanlab", "none")
MODES: Mapping[str, tuple[str, ...]] = {"wandb": ("offline", "online"), "swanlab": ("local", "cloud")}
# Where each tracker writes inside a stage folder (wandb adds wandb/<offline-run-...> below WANDB_DIR).
TRACKER_DIRS: Mapping[str, str] = {"tensorboard": "tensorboard", "wandb": "wandb", "swanlab": "swanlog"}

# Trainer settings the tracking choice owns: a recipe that sets them is refused (one place decides).
SWIFT_KEYS = ("report_to", "logging_dir", "run_name", "swanlab_project", "swanlab_exp_name", "swanlab_mode")
VERL_KEYS = ("trainer.logger", "trainer.project_name", "trainer.experiment_name")
# verl's loggers kept whatever the tracker: console for the log, file for the report's curves.
VERL_BASE_LOGGERS = ("console", "file")


@dataclass(frozen=True)
class Tracking:
    name: str
    project: str
    mode: str | None = None
    requires: str | None = None  # the Python module the trainers import for it (checked before launch)


def parse_tracking(data: Mapping[str, Any]) -> Tracking:
    """The resolved `tracking` config; a bad value names its key and the choices."""
    name = str(data.get("name"))
    if name not in TRACKERS:
        raise ConfigError(
            Problem("tracking.name", f"unknown tracker '{name}'; choose tracking={' | '.join(TRACKERS)}")
        )
    project = data.get("project")
    if not project or not str(project).strip():
        raise ConfigError(Problem("tracking.project", "must name the tracker's project (default: the paper)"))
    mode = data.get("mode")
    choices = MODES.get(name, ())
    if choices and mode not in choices:
        raise ConfigError(
            Problem("tracking.mode", f"{mode!r} is not a {name} mode; choose one of {', '.join(choices)}")
        )
    if not choices and mode is not None:
        raise ConfigError(Problem("tracking.mode", f"{name} has no modes; leave it null"))
    requires = data.get("requires")
    return Tracking(
        name=name,
        project=str(project),
        mode=str(mode) if mode is not None else None,
        requires=str(requires) if requires else None,
    )


def run_label(run_dir: str, stage: str) -> str:
    """The tracker's run name: `<run_name>-<stage>` (one tracker run per training stage)."""
    return f"{Path(run_dir).name}-{stage}"


def tracker_dir(name: str, stage_dir: str | Path) -> Path | None:
    """Where `name` writes inside a stage folder (None: it writes nothing)."""
    sub = TRACKER_DIRS.get(name)
    return Path(stage_dir) / sub if sub else None


def _check_not_set(stage: str, given: Mapping[str, Any], owned: tuple[str, ...], tracking: Tracking) -> None:
    problems = [
        Problem(
            f"stages.{stage}.{key}",
            f"is set by tracking={tracking.name} (conf/tracking/) for every training stage; "
            f"remove it here, or choose tracking={'|'.join(TRACKERS)}",
        )
        for key in owned
        if key in given
    ]
    if problems:
        raise ConfigError(problems)


def _common_env(tracking: Tracking, run_dir: str, stage_dir: str) -> dict[str, str]:
    env: dict[str, str] = {}
    if tracking.name == "wandb":
        env.update(
            WANDB_MODE=str(tracking.mode),
            WANDB_DIR=str(stage_dir),
            WANDB_PROJECT=tracking.project,
            WANDB_RUN_GROUP=Path(run_dir).name,
        )
    elif tracking.name == "swanlab":
        folder = str(tracker_dir("swanlab", stage_dir))
        # SWANLAB_LOG_DIR: verl and swanlab < 0.7; SWANLAB_LOGDIR: its newer name.
        env.update(SWANLAB_MODE=str(tracking.mode), SWANLAB_LOG_DIR=folder, SWANLAB_LOGDIR=folder)
    return env


def swift_tracking(
    tracking: Tracking, stage: str, args: Mapping[str, Any], run_dir: str, stage_dir: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """ms-swift flags and environment for the tracker of one `swift sft` / `swift rlhf` stage."""
    _check_not_set(stage, args, SWIFT_KEYS, tracking)
    if "swanlab_token" in args:
        raise ConfigError(
            Problem(
                f"stages.{stage}.swanlab_token",
                "an API key never goes into a command line: export SWANLAB_API_KEY in the environment",
            )
        )
    if tracking.name == "none":
        return {"report_to": ["none"]}, {}
    flags: dict[str, Any] = {"report_to": [tracking.name], "run_name": run_label(run_dir, stage)}
    if tracking.name == "tensorboard":
        flags["logging_dir"] = str(tracker_dir("tensorboard", stage_dir))
    elif tracking.name == "swanlab":
        flags.update(
            swanlab_project=tracking.project,
            swanlab_exp_name=run_label(run_dir, stage),
            swanlab_mode=tracking.mode,
        )
    return flags, _common_env(tracking, run_dir, stage_dir)


def verl_tracking(
    tracking: Tracking, stage: str, overrides: Mapping[str, Any], run_dir: str, stage_dir: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """verl `trainer.*` overrides and environment for the tracker of one GRPO stage."""
    _check_not_set(stage, overrides, VERL_KEYS, tracking)
    loggers = [*VERL_BASE_LOGGERS, *([] if tracking.name == "none" else [tracking.name])]
    values: dict[str, Any] = {
        "trainer.logger": loggers,
        "trainer.project_name": tracking.project,
        "trainer.experiment_name": run_label(run_dir, stage),
    }
    env = _common_env(tracking, run_dir, stage_dir)
    if tracking.name == "tensorboard":
        env["TENSORBOARD_DIR"] = str(tracker_dir("tensorboard", stage_dir))
    return values, env
