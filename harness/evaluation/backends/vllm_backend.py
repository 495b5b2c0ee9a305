"""vLLM offline batch inference (``vllm.LLM``): the GPU backend.

Not runnable on the CPU test machine (vLLM needs a GPU and is not installed there); the request
building is shared with the tested code (prompts from the processor's chat template as in the
transformers backend; collaborative decoding through the same ``OneShotAnswerBias``).

What is requested from vLLM:
- one ``SamplingParams`` per image: ``temperature``, ``top_p``, ``top_k``, ``repetition_penalty``,
  ``seed``, ``max_tokens = eval.max_new_tokens``;
- soft scoring at the answer (``soft_scoring.position: answer``): ``logprobs =
  soft_scoring.top_logprobs`` per generated position; the engine runs with
  ``logprobs_mode = eval.vllm.logprobs_mode`` (default ``raw_logits``: the numbers are logits, as
  eq. 2 needs). Anchor tokens outside the top-k at the answer position are missing from the score
  (noted per image in ``soft_score_note``);
- soft scoring by prefix (``position: prefix``): a second request per image whose prompt ends with
  ``soft_scoring.assistant_prefix``, ``max_tokens = 1``, same ``logprobs``;
- collaborative decoding: the engine gets ``logits_processors=[CollaborativeDecodingLogitsProcessor]``
  and each request ``extra_args = {"collaborative_decoding": {...}}``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.evaluation.backends.base import GenerationRequest, GenerationResult
from harness.evaluation.config import EvalConfig
from harness.evaluation.prompts import IMAGE_PLACEHOLDER, structured_messages
from harness.evaluation.soft_scoring import SoftScore, find_answer_position, resolve_anchor_tokens, soft_score
from harness.evaluation.vllm_logits_processor import EXTRA_ARGS_KEY, answer_bias_to_args, processor_class

__all__ = ["VllmBackend"]


class VllmBackend:
    def __init__(self, model: str, config: EvalConfig):
        from transformers import AutoProcessor
        from vllm import LLM

        self.config = config
        self.processor = AutoProcessor.from_pretrained(model)
        engine = config.vllm
        kwargs: dict[str, Any] = {
            "model": model,
            "tensor_parallel_size": engine.tensor_parallel_size,
            "gpu_memory_utilization": engine.gpu_memory_utilization,
            "dtype": engine.dtype,
            "enforce_eager": engine.enforce_eager,
            "seed": config.sampling.seed,
            "limit_mm_per_prompt": {"image": 1},
            "logprobs_mode": engine.logprobs_mode,
        }
        if engine.max_model_len is not None:
            kwargs["max_model_len"] = engine.max_model_len
        if config.collaborative_decoding is not None:
            kwargs["logits_processors"] = [processor_class()]
        kwargs.update(engine.engine_kwargs)
        self.llm = LLM(**kwargs)
        soft = config.soft_scoring
        self.anchors = None
        if soft is not None and soft.enabled:
            self.anchors = resolve_anchor_tokens(
                self.tokenizer, soft.fake_words, soft.real_words, soft.multi_token_variants
            )

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    def close(self) -> None:
        del self.llm

    def _prompt(self, messages: list[dict[str, Any]], assistant_text: str, image: Any) -> dict[str, Any]:
        structured, _ = structured_messages(messages)
        text = self.processor.apply_chat_template(structured, add_generation_prompt=True, tokenize=False)
        return {"prompt": text + assistant_text, "multi_modal_data": {"image": image}}

    def _params(self, request: GenerationRequest | None, max_tokens: int, logprobs: int | None) -> Any:
        from vllm import SamplingParams

        sampling = self.config.sampling
        extra = (
            {EXTRA_ARGS_KEY: answer_bias_to_args(request.answer_bias)}
            if request is not None and request.answer_bias is not None
            else None
        )
        return SamplingParams(
            temperature=sampling.temperature,
            top_p=sampling.top_p,
            top_k=sampling.top_k if sampling.top_k is not None else -1,
            repetition_penalty=sampling.repetition_penalty or 1.0,
            seed=sampling.seed,
            max_tokens=max_tokens,
            logprobs=logprobs,
            extra_args=extra,
        )

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        config, soft = self.config, self.config.soft_scoring
        answer_mode = self.anchors is not None and soft is not None and soft.position == "answer"
        top = soft.top_logprobs if answer_mode and soft is not None else None
        prompts = [self._prompt(r.messages, config.response_prefix, r.image) for r in requests]
        params = [self._params(r, config.max_new_tokens, top) for r in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        prefix_scores = (
            self._prefix_scores(requests)
            if self.anchors is not None and soft is not None and soft.position == "prefix"
            else None
        )
        results = []
        for row, output in enumerate(outputs):
            completion = output.outputs[0]
            ids = list(completion.token_ids)
            score = (
                prefix_scores[row]
                if prefix_scores is not None
                else (self._answer_score(ids, completion.logprobs) if answer_mode else None)
            )
            results.append(
                GenerationResult(text=completion.text, num_generated_tokens=len(ids), soft_score=score)
            )
        return results

    def _answer_score(self, ids: list[int], logprobs: Any) -> SoftScore:
        assert self.anchors is not None and self.config.soft_scoring is not None
        position = find_answer_position(
            ids,
            self.anchors,
            lambda t: self.tokenizer.decode(t, skip_special_tokens=True),
            self.config.response_prefix,
            self.config.soft_scoring.answer_after,
        )
        if position is None or not logprobs or position >= len(logprobs):
            return SoftScore(None, None, "the answer states no anchor token")
        return soft_score({int(k): float(v.logprob) for k, v in logprobs[position].items()}, self.anchors)

    def _prefix_scores(self, requests: Sequence[GenerationRequest]) -> list[SoftScore]:
        soft = self.config.soft_scoring
        assert soft is not None and self.anchors is not None
        prompts = []
        for request in requests:
            messages = (
                request.messages
                if soft.prompt is None
                else [{"role": "user", "content": IMAGE_PLACEHOLDER + soft.prompt}]
            )
            prompts.append(self._prompt(messages, soft.assistant_prefix, request.image))
        params = [self._params(None, 1, soft.top_logprobs) for _ in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        scores = []
        for output in outputs:
            logprobs = output.outputs[0].logprobs or [{}]
            scores.append(
                soft_score({int(k): float(v.logprob) for k, v in logprobs[0].items()}, self.anchors)
            )
        return scores
