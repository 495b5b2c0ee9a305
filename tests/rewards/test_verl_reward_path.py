"""verl 0.9.1's own reward path carries the training step into compute_score.

What runs for real: verl's Hydra config (verl/trainer/config/ppo_trainer.yaml) composed with the
overrides the harness renders from conf/reward/fakexplain.yaml; verl's RewardLoopWorker, which
loads rewards/fakexplain.py through verl's custom-reward loading with reward_kwargs and builds the
naive reward manager with a real tokenizer (the tiny Qwen2.5-VL's, trained with `tokenizers`);
verl's AgentLoopWorker with its single-turn agent loop, LLMServerClient.generate, post-processing
and _compute_score, i.e. the code main_ppo's trainers use to score every rollout.

What is stood in for, because it cannot run on this CPU machine:
- the vLLM rollout server (a Ray actor on GPUs): FakeVllmServer returns fixed response tokens and,
  like verl's vLLM server (vllm_async_server.py), stamps each output with the weight version that
  checkpoint_manager.update_weights(global_steps) set on it;
- Ray actor handles: the load-balancer lookup returns that one server, and the reward-loop worker
  is called in-process instead of through `.remote`.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from .conftest import load_reward_conf

pytestmark = pytest.mark.slow

TOTAL_STEPS = 10
RESPONSE = (
    '<think>Suspicious regions: {"bbox_2d": [10, 10, 50, 50], "label": "a sixth finger"}.</think>\n'
    "<tag>Structure/attribute errors</tag>\n<verdict>fake</verdict>"
)
FAKE_GT = json.dumps({"label": "fake", "boxes": [[10, 10, 50, 50]]})
REAL_GT = json.dumps({"label": "real", "boxes": []})


def harness_overrides(reward: dict, kwargs: dict) -> list[str]:
    """The verl overrides for a custom reward, as the harness must render them (FACTS.md: the
    top-level custom_reward_function.* keys are dead in main_ppo; reward_kwargs need a '+')."""
    rendered = [
        f"reward.custom_reward_function.path={reward['path']}",
        f"reward.custom_reward_function.name={reward['name']}",
    ]
    rendered += [
        f"+reward.custom_reward_function.reward_kwargs.{k}={'null' if v is None else v}"
        for k, v in kwargs.items()
    ]
    return rendered


@pytest.fixture(scope="module")
def verl_workers(tiny_qwen_dir: Path):
    import verl
    from hydra import compose, initialize_config_dir

    import data_prep.cpu_compat  # noqa: F401  (the tiny Qwen2.5-VL processor without torchvision)

    reward = load_reward_conf("fakexplain")
    kwargs = {**reward["schedules"]["linear"], "total_steps": TOTAL_STEPS}
    overrides = harness_overrides(reward, kwargs) + [
        f"actor_rollout_ref.model.path={tiny_qwen_dir}",
        "actor_rollout_ref.rollout.name=vllm",
        "actor_rollout_ref.rollout.prompt_length=256",
        "actor_rollout_ref.rollout.response_length=256",
    ]
    with initialize_config_dir(
        config_dir=str(Path(verl.__file__).parent / "trainer" / "config"), version_base=None
    ):
        config = compose("ppo_trainer", overrides=overrides)

    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker
    from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
    from verl.workers.rollout.llm_server import LLMServerClient
    from verl.workers.rollout.replica import TokenOutput

    class Remote:
        def __init__(self, fn):
            self.remote = fn

    class FakeVllmServer:
        """The vLLM server actor: fixed tokens, stamped with the weight version."""

        def __init__(self, token_ids):
            self.token_ids = token_ids
            self.global_steps = None
            self.generate = Remote(self._generate)

        async def set_global_steps(self, global_steps: int) -> None:
            self.global_steps = global_steps

        async def _generate(self, request_id, prompt_ids, sampling_params, **kwargs):
            return TokenOutput(
                token_ids=self.token_ids,
                stop_reason="completed",
                extra_fields={"global_steps": self.global_steps},
            )

    class OneServerClient(LLMServerClient):
        """verl's client; only the Ray load balancer's server lookup is replaced."""

        def __init__(self, config, server):
            super().__init__(config)
            self.server = server

        async def _acquire_server(self, request_id, **extra):
            return "server-0", self.server

        def _release_server(self, server_id, request_id=None):
            pass

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # verl's workers keep the loop they were built on, as in a Ray actor
    reward_worker = RewardLoopWorker(config)
    agent_worker = AgentLoopWorker(config, llm_client=None, reward_loop_worker_handles=None)
    tokenizer = agent_worker.tokenizer
    token_ids = tokenizer.encode(RESPONSE, add_special_tokens=False) + [tokenizer.eos_token_id]
    server = FakeVllmServer(token_ids)
    agent_worker.llm_client = OneServerClient(config, server)
    reward_worker_handle = type(
        "RewardLoopWorkerHandle", (), {"compute_score": Remote(reward_worker.compute_score)}
    )
    agent_worker.reward_loop_worker_handles = [reward_worker_handle()]
    yield {
        "config": config,
        "reward_worker": reward_worker,
        "agent_worker": agent_worker,
        "server": server,
        "loop": loop,
        "tokenizer": tokenizer,
    }
    loop.close()
    asyncio.set_event_loop(None)


def prompts(step: int) -> Any:
    """One fake-image and one real-image prompt, as verl's RLHFDataset rows reach the agent loop."""
    from verl import DataProto

    rows = [FAKE_GT, REAL_GT]
    raw_prompt = np.empty(len(rows), dtype=object)
    raw_prompt[:] = [[{"role": "user", "content": "Is this image real or fake?"}] for _ in rows]
    return DataProto(
        non_tensor_batch={
            "raw_prompt": raw_prompt,
            "data_source": np.array(["fakexplain"] * len(rows), dtype=object),
            "reward_model": np.array([{"ground_truth": gt, "style": "rule"} for gt in rows], dtype=object),
            "extra_info": np.array(
                [{"index": i, "width": 100, "height": 100} for i in range(len(rows))], dtype=object
            ),
            "index": np.array(range(len(rows)), dtype=object),
        },
        meta_info={"global_steps": step + 1, "validate": False},  # the trainer's dataloader step
    )


def test_verl_loads_the_reward_with_its_kwargs(verl_workers):
    from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager

    manager = verl_workers["reward_worker"].reward_manager
    assert isinstance(manager, NaiveRewardManager)
    assert manager.compute_score.args[1] == {
        **load_reward_conf("fakexplain")["schedules"]["linear"],
        "total_steps": TOTAL_STEPS,
    }
    # the response survives verl's decode (skip_special_tokens=True) unchanged
    tokenizer = verl_workers["tokenizer"]
    ids = tokenizer.encode(RESPONSE, add_special_tokens=False) + [tokenizer.eos_token_id]
    assert tokenizer.decode(ids, skip_special_tokens=True) == RESPONSE


@pytest.mark.parametrize("weights_version", [0, 5, TOTAL_STEPS])
def test_the_linear_weight_follows_the_rollout_weights_version(verl_workers, weights_version):
    loop, server, worker = verl_workers["loop"], verl_workers["server"], verl_workers["agent_worker"]
    # what checkpoint_manager.update_weights(global_steps) does after each optimizer step
    loop.run_until_complete(server.set_global_steps(weights_version))
    out = loop.run_until_complete(worker.generate_sequences(prompts(weights_version)))

    w_iou = 0.5 + 0.5 * weights_version / TOTAL_STEPS
    assert out.meta_info["reward_extra_keys"] == [
        "score",
        "format",
        "label",
        "iou",
        "grounding",
        "acc",
        "w_iou",
    ]
    assert out.non_tensor_batch["w_iou"].tolist() == pytest.approx([w_iou, w_iou])
    # row 0: fake image, right verdict and box; row 1: real image, the response says fake with a box
    assert out.non_tensor_batch["score"].tolist() == pytest.approx([w_iou + 2.0, 0.0])
    assert out.non_tensor_batch["iou"].tolist() == [1.0, 0.0]
    # the scalar verl trains on sits at each response's last token
    assert out.batch["rm_scores"].sum(dim=-1).tolist() == pytest.approx([w_iou + 2.0, 0.0])
