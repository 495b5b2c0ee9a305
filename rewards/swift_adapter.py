"""ms-swift GRPO adapter: any verl-style ``compute_score`` as an ms-swift reward function.

    AIGI_REWARD='{"path": "/abs/rewards/fakexplain.py", "name": "compute_score", "kwargs": {...}}' \\
    swift rlhf --rlhf_type grpo --external_plugins /abs/rewards/swift_adapter.py --reward_funcs aigi_reward ...

ms-swift imports this file by path (``--external_plugins``) and calls the registered ORM with the
batch's completions plus every dataset column as a per-sample list (``swift/rl_core/data.py``
``to_reward_row``) and ``trainer_state``. For each sample the adapter calls
``compute_score(data_source=, solution_str=<completion>, ground_truth=<solution column>,
extra_info=<extra_info column + the training step>, **kwargs)``; the scoring code is the same
file verl loads, so there is no second implementation.

Dataset columns read: ``solution`` (the ground truth, as in verl's ``reward_model.ground_truth``;
required), ``data_source`` (optional), ``extra_info`` (a dict or its JSON string; optional).
The step: ``extra_info["global_steps"] = trainer_state.global_step`` (optimizer steps completed,
0 during the first step, like verl's weight version) and ``extra_info["total_steps"] =
trainer_state.max_steps``.

Set ``AIGI_REWARD_LOG=/path/file.jsonl`` to append one JSON line per call (the step, the arguments
given to compute_score, the scores and their parts): the proof in tests that the reward ran with
the step, and a debugging aid.
"""

import asyncio
import inspect
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ != "rewards":  # loaded by file path (ms-swift's --external_plugins): rewards/bootstrap.py
    try:
        import rewards.bootstrap  # the installed project, or its root already on sys.path
    except ImportError:  # a checkout that is not installed: its root is this file's grandparent
        sys.path.append(str(Path(__file__).resolve().parents[1]))
        import rewards.bootstrap  # still missing: pip install -e . (the project), or its root on PYTHONPATH
    rewards.bootstrap.loaded_by_path(__file__)

from swift.rewards import ORM, orms  # noqa: E402

from rewards.loader import RewardPluginError, load_reward_fn  # noqa: E402

__all__ = ["AigiReward", "ENV_CONFIG", "ENV_LOG"]

ENV_CONFIG = "AIGI_REWARD"
ENV_LOG = "AIGI_REWARD_LOG"
ORM_NAME = "aigi_reward"


def _read_config() -> tuple[str, str, dict]:
    raw = os.environ.get(ENV_CONFIG)
    if not raw:
        raise RewardPluginError(
            f'{ENV_CONFIG} is not set; export {ENV_CONFIG}=\'{{"path": "/abs/reward.py", '
            f'"name": "compute_score", "kwargs": {{}}}}\' before swift rlhf --reward_funcs {ORM_NAME}'
        )
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise RewardPluginError(f"{ENV_CONFIG} is not valid JSON ({exc}): {raw!r}") from None
    if not isinstance(config, dict) or not isinstance(config.get("path"), str):
        raise RewardPluginError(
            f'{ENV_CONFIG} must be a JSON object with "path" (and "name", "kwargs"): {raw!r}'
        )
    kwargs = config.get("kwargs") or {}
    if not isinstance(kwargs, dict):
        raise RewardPluginError(f'{ENV_CONFIG} "kwargs" must be a JSON object, got {kwargs!r}')
    return config["path"], config.get("name") or "compute_score", kwargs


def _extra_info(value: Any) -> dict:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except ValueError:
            value = {}
    return dict(value) if isinstance(value, dict) else {}


def _column(kwargs: dict, name: str, size: int) -> list:
    values = kwargs.get(name)
    if values is None:
        return [None] * size
    values = list(values)
    if len(values) != size:
        raise RewardPluginError(f"dataset column {name!r} has {len(values)} values for {size} completions")
    return values


class AigiReward(ORM):
    """Scores completions with the verl-style reward named by ``$AIGI_REWARD``."""

    def __init__(self, args: Any = None, **kwargs: Any) -> None:
        super().__init__(args, **kwargs)
        path, name, self.reward_kwargs = _read_config()
        self.compute_score: Callable = load_reward_fn(path, name, reward_kwargs=self.reward_kwargs)
        self.log_path = os.environ.get(ENV_LOG) or None

    def __call__(self, completions: list[str], **kwargs: Any) -> list[float]:
        n = len(completions)
        if kwargs.get("solution") is None:
            raise RewardPluginError(
                f"the GRPO dataset has no 'solution' column (columns passed: {sorted(kwargs)}); "
                "write the ground truth there, as data_prep does for ms-swift GRPO"
            )
        solutions = _column(kwargs, "solution", n)
        sources = _column(kwargs, "data_source", n)
        infos = _column(kwargs, "extra_info", n)
        state = kwargs.get("trainer_state")
        step = getattr(state, "global_step", None)
        max_steps = getattr(state, "max_steps", None)
        results = []
        extra_infos = []
        for completion, solution, source, info in zip(completions, solutions, sources, infos):
            extra_info = _extra_info(info)
            if step is not None:
                extra_info["global_steps"] = step
            if max_steps is not None and max_steps > 0:
                extra_info["total_steps"] = max_steps
            extra_infos.append(extra_info)
            results.append(
                self.compute_score(
                    data_source=source or "",
                    solution_str=completion,
                    ground_truth=solution,
                    extra_info=extra_info,
                    **self.reward_kwargs,
                )
            )
        if any(inspect.isawaitable(r) for r in results):  # an async def compute_score, as verl allows

            async def gather() -> list:
                return list(await asyncio.gather(*results))

            results = asyncio.run(gather())
        scores = [float(r["score"]) if isinstance(r, dict) else float(r) for r in results]
        if self.log_path:
            parts = [
                {k: v for k, v in r.items() if isinstance(v, (int, float))} if isinstance(r, dict) else {}
                for r in results
            ]
            self._log(
                {
                    "global_step": step,
                    "max_steps": max_steps,
                    "scores": scores,
                    "parts": parts,
                    "completions": list(completions),
                    "ground_truths": solutions,
                    "data_sources": sources,
                    "extra_infos": extra_infos,
                }
            )
        return scores

    def _log(self, line: dict) -> None:
        with open(self.log_path, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"pid": os.getpid(), **line}, default=repr) + "\n")


orms[ORM_NAME] = AigiReward
