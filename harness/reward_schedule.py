"""Values of a GRPO stage that planning derives from completed upstream outputs.

A reward schedule (e.g. FakeXplain's staged weights) needs the job's total optimizer steps,
which depend on how many rows the data stage wrote. Planning fills them in before rendering
(harness.kinds: `derive_config` of verl_grpo); renderers themselves read no files.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from common.errors import ConfigError, Problem


def verl_reward_kwargs(config: Mapping[str, Any]) -> Mapping[str, Any]:
    """What verl merges into every compute_score call: reward.custom_reward_function.reward_kwargs."""
    function = (config.get("reward") or {}).get("custom_reward_function") or {}
    kwargs = function.get("reward_kwargs")
    return kwargs if isinstance(kwargs, Mapping) else {}


def with_reward_total_steps(
    name: str, config: Mapping[str, Any], inputs: Mapping[str, Any]
) -> Mapping[str, Any]:
    """Fill a GRPO reward schedule's `total_steps: null` with the job's optimizer steps.

    verl runs len(dataset) // data.train_batch_size steps per epoch (drop_last, v1 trainer_base),
    times trainer.total_epochs unless trainer.total_training_steps is set. The row count comes
    from the data stage's stats.json once it exists, before that from `expected_rows`.
    Returns `config` itself when there is nothing to fill, else a filled copy.
    """
    kwargs = verl_reward_kwargs(config)
    if "total_steps" not in kwargs or kwargs["total_steps"] is not None:
        return config
    trainer = config.get("trainer") or {}
    if trainer.get("total_training_steps"):
        steps = int(trainer["total_training_steps"])
    else:
        rows = _train_rows(inputs.get("train_files")) or config.get("expected_rows")
        if not rows:
            raise ConfigError(
                Problem(
                    f"stages.{name}.expected_rows",
                    "the reward schedule needs the job's total steps: set expected_rows "
                    "(training rows) or trainer.total_training_steps",
                )
            )
        batch = int((config.get("data") or {}).get("train_batch_size", 1))
        if batch < 1:
            raise ConfigError(
                Problem(f"stages.{name}.data.train_batch_size", f"must be at least 1, got {batch}")
            )
        steps = (int(rows) // batch) * int(trainer.get("total_epochs", 1))
    filled = copy.deepcopy(dict(config))
    filled["reward"]["custom_reward_function"]["reward_kwargs"]["total_steps"] = max(steps, 1)
    return filled


def _train_rows(train_files: Any) -> int | None:
    """Rows the data stage wrote into these files (its stats.json), if it has run."""
    files = train_files if isinstance(train_files, list) else [train_files]
    total = 0
    for file in files:
        if not file:
            return None
        stats_path = Path(file).parent / "stats.json"
        if not stats_path.exists():
            return None
        written = json.loads(stats_path.read_text()).get("written") or {}
        if Path(file).name not in written:
            return None
        total += int(written[Path(file).name])
    return total
