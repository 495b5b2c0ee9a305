"""The GRPO reward a run uses: checked before launch, copied into the run so it travels with it.

`reward.path=/path/to/reward.py reward.name=compute_score` plugs in any verl-style reward. Before
anything launches the harness imports it the way verl will (rewards.loader) and checks that the
function accepts verl's call; then the file is copied to `<run_dir>/reward/` and every stage reads
that copy, so a Slurm job that starts hours later (or on another node) scores with exactly the
file that was checked.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from common.errors import ConfigError, Problem

GRPO_KINDS = {"verl_grpo"}


def uses_reward(cfg: DictConfig, stage_names: list[str]) -> bool:
    if OmegaConf.select(cfg, "reward.path", default=None) is None:
        return False
    for name in stage_names:
        stage = cfg.stages[name]
        if stage.get("kind") in GRPO_KINDS or stage.get("rlhf_type") == "grpo":
            return True
    return False


def check_and_copy_reward(cfg: DictConfig, run_dir: Path) -> str:
    """Validate `reward.path`/`reward.name`, copy the file into the run, point the config at it.

    Returns the copy's sha256 for the manifest.
    """
    from rewards.loader import RewardPluginError, load_reward_fn

    source = Path(str(cfg.reward.path))
    name = str(cfg.reward.name)
    try:
        load_reward_fn(source, name)
    except RewardPluginError as exc:
        raise ConfigError(Problem("reward.path", str(exc))) from None
    target_dir = run_dir / "reward"
    target_dir.mkdir(parents=True, exist_ok=True)
    target = target_dir / source.name
    if source.resolve() != target.resolve():
        shutil.copy2(source, target)
    OmegaConf.update(cfg, "reward.path", str(target), merge=False)
    return hashlib.sha256(target.read_bytes()).hexdigest()
