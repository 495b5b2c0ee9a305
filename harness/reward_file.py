"""The GRPO reward a run uses: checked before launch, copied into the run so it travels with it.

`reward.path=/path/to/reward.py reward.name=compute_score` plugs in any verl-style reward. Planning
decides (purely) that a run which trains with a reward scores with `<run_dir>/reward/<file>` and
renders every stage with that path; validation imports the user's file the way verl will
(rewards.loader) and checks that the function accepts verl's call; the runner copies it there
before the first stage starts. So a Slurm job that starts hours later (or on another node) scores
with exactly the file that was checked.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from common.atomic import AtomicFile
from common.errors import Problem
from harness.kinds import find_kind

RUN_COPY_DIR = "reward"


@dataclass(frozen=True)
class RunReward:
    """The user's reward file and the run's copy of it, which every stage is rendered with."""

    source: Path
    name: str
    copy: Path

    def problems(self, stage_configs: Iterable[tuple[str, Mapping[str, Any]]] = ()) -> list[Problem]:
        """The file imports and `name` accepts verl's call (problems name reward.path), and the
        keyword arguments each of `stage_configs` (name, config) passes to it bind and pass the
        file's own `check_reward_kwargs` (problems name the reward config): else the first reward
        call fails, on the GPU node, after the model loaded and the first rollouts ran."""
        from rewards.loader import RewardPluginError, reward_kwargs_errors

        scoring: list[tuple[str, Mapping[str, Any]]] = []
        for stage, config in stage_configs:
            kind = find_kind(str(config.get("kind")))
            kwargs = kind.reward_kwargs(config) if kind is not None and kind.uses_reward(config) else None
            if kwargs is not None:
                scoring.append((stage, kwargs))
        try:
            errors = reward_kwargs_errors(self.source, self.name, [kwargs for _, kwargs in scoring])
        except RewardPluginError as exc:
            return [Problem("reward.path", str(exc))]
        refused: dict[str, list[str]] = {}  # the message -> the stages it refuses
        for (stage, _), error in zip(scoring, errors):
            if error is not None:
                refused.setdefault(error, []).append(stage)
        return [
            Problem("reward", f"{message} [stage{'s' if len(stages) > 1 else ''} {', '.join(stages)}]")
            for message, stages in refused.items()
        ]

    def source_sha256(self) -> str:
        """The user's file's content hash: part of the fingerprint of every stage that scores with it."""
        try:
            return hashlib.sha256(self.source.read_bytes()).hexdigest()
        except OSError:
            return "<unreadable>"  # validation names reward.path before anything runs

    def install(self) -> str:
        """Copy the file into the run (atomically: another node may read it); returns its sha256."""
        self.copy.parent.mkdir(parents=True, exist_ok=True)
        if self.source.resolve() != self.copy.resolve():
            target = AtomicFile(self.copy)
            try:
                shutil.copy2(self.source, target.tmp)
                target.commit()
            except BaseException:
                target.discard()
                raise
        return hashlib.sha256(self.copy.read_bytes()).hexdigest()


def uses_reward(stage_configs: Iterable[Mapping[str, Any]]) -> bool:
    """Some stage scores with `reward.path` (its kind says so for its config)."""
    for config in stage_configs:
        kind = find_kind(str(config.get("kind")))
        if kind is not None and kind.uses_reward(config):
            return True
    return False


def planned_reward(
    cfg: DictConfig, run_dir: Path, stage_configs: Iterable[Mapping[str, Any]]
) -> RunReward | None:
    """The run's copy of `reward.path`, when a stage scores with it."""
    path = OmegaConf.select(cfg, "reward.path", default=None)
    if path is None or not uses_reward(stage_configs):
        return None
    source = Path(str(path))
    return RunReward(source=source, name=str(cfg.reward.name), copy=run_dir / RUN_COPY_DIR / source.name)


def with_run_reward(cfg: DictConfig, reward: RunReward) -> DictConfig:
    """A new config whose `reward.path` is the run's copy (the given config is left as it is)."""
    return OmegaConf.merge(cfg, {"reward": {"path": str(reward.copy)}})  # type: ignore[return-value]
