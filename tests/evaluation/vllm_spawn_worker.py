"""Run inside a subprocess whose sys.path starts with tests/evaluation/stand_in_vllm: vLLM's spawn
path for custom logits processors, reproduced (vllm 0.24.0 pickles the engine config into workers
started with spawn and loads `logits_processors` there by fully qualified name).

`python -m tests.evaluation.vllm_spawn_worker` prints one JSON line: what the spawned worker saw.
"""

from __future__ import annotations

import json
import multiprocessing
import pickle
import sys
from typing import Any


def worker(engine_kwargs: dict[str, Any], queue: Any) -> None:
    """A vLLM worker: load the processors named in the (unpickled) config, run one request."""
    import torch
    from vllm.v1.sample.logits_processor import load_by_fqcns

    from harness.evaluation.collaborative_decoding import AnswerBias
    from harness.evaluation.vllm_logits_processor import EXTRA_ARGS_KEY, answer_bias_to_args

    [cls] = load_by_fqcns(engine_kwargs["logits_processors"])
    processor = cls(None, "cpu", False)
    spec = AnswerBias(target_ids=(5, 6), real_id=1, fake_id=2, bias_real=-1.0, bias_fake=0.5)

    class Params:  # SamplingParams' extra_args, as the request carries them
        extra_args = {EXTRA_ARGS_KEY: answer_bias_to_args(spec)}

    cls.validate_params(Params())
    output_ids = [4, 5, 6]  # the list vLLM keeps growing in place
    processor.add_request(0, Params(), prompt_ids=[9], output_ids=output_ids)
    logits = processor.apply(torch.zeros(1, 8))
    output_ids.append(2)
    again = processor.apply(torch.zeros(1, 8))  # one-shot: nothing after it fired
    queue.put(
        {
            "class": f"{cls.__module__}:{cls.__qualname__}",
            "real": float(logits[0, 1]),
            "fake": float(logits[0, 2]),
            "after": float(again.abs().sum()),
            "argmax_invariant": processor.is_argmax_invariant(),
            "class_pickles": pickle.loads(pickle.dumps(cls)) is cls,
        }
    )


def main() -> int:
    from harness.evaluation.backends.vllm_backend import engine_kwargs
    from harness.evaluation.config import parse_eval_config

    config = parse_eval_config(
        {"backend": "vllm", "collaborative_decoding": {"expert_probs": "/x.jsonl"}, "soft_scoring": None}
    )
    kwargs = engine_kwargs("/models/m", config)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=worker, args=(kwargs, queue))
    process.start()  # pickles kwargs, as vLLM's spawn does with its config
    result = queue.get(timeout=300)
    process.join(timeout=60)
    print(json.dumps({"exitcode": process.exitcode, **result}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
