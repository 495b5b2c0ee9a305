"""vLLM offline batch inference (``vllm.LLM``): the GPU backend.

Not runnable on the CPU test machine (vLLM needs a GPU and is not installed there); the request
building is shared with the tested code (prompts from the processor's chat template as in the
transformers backend; collaborative decoding through the same ``OneShotAnswerBias``), and
``engine_kwargs`` / ``sampling_kwargs`` are plain functions the tests check.

What is requested from vLLM (0.24):
- one ``SamplingParams`` per image: ``temperature``, ``top_p``, ``top_k``, ``repetition_penalty``,
  ``seed``, ``max_tokens = eval.max_new_tokens``;
- soft scoring: ``logprob_token_ids`` = the anchor tokens' ids, so every generated position
  returns exactly those tokens' values (vllm/v1/sample/sampler.py gather_specific_token_logprobs),
  not whatever happens to be in a top-k; the engine runs with ``logprobs_mode =
  eval.vllm.logprobs_mode`` (default ``raw_logits``: the numbers are logits, as eq. 2 needs).
  At the answer position (``soft_scoring.position: answer``) from the generated answer; by prefix
  (``position: prefix``) from a second request per image whose prompt ends with
  ``soft_scoring.assistant_prefix``, ``max_tokens = 1``;
- collaborative decoding: the engine gets ``logits_processors=[PROCESSOR_FQCN]`` (a name, so the
  config pickles under spawn) and each request ``extra_args = {"collaborative_decoding": {...}}``.
  ``raw_logits`` are taken before any logits processor runs (sampler.py), so the bias is not in
  them: the soft score adds it back at the step it fired (``collaborative_decoding.bias_at_step``),
  as the transformers backend does, and describes the logits the verdict was decoded from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.evaluation.backends.base import GenerationRequest, GenerationResult
from harness.evaluation.config import EvalConfig
from harness.evaluation.prompts import IMAGE_PLACEHOLDER, structured_messages
from harness.evaluation.soft_scoring import SoftScore, answer_soft_score, resolve_anchor_tokens, soft_score
from harness.evaluation.vllm_logits_processor import EXTRA_ARGS_KEY, PROCESSOR_FQCN, answer_bias_to_args

__all__ = ["VllmBackend", "engine_kwargs", "sampling_kwargs"]


def engine_kwargs(model: str, config: EvalConfig) -> dict[str, Any]:
    """``vllm.LLM``'s arguments: plain data (vLLM pickles them into its workers under spawn)."""
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
        kwargs["logits_processors"] = [PROCESSOR_FQCN]
    kwargs.update(engine.engine_kwargs)
    return kwargs


def sampling_kwargs(
    config: EvalConfig, request: GenerationRequest | None, max_tokens: int, anchor_ids: Sequence[int] | None
) -> dict[str, Any]:
    """``SamplingParams``' arguments for one request (``anchor_ids``: the soft score's tokens)."""
    sampling = config.sampling
    kwargs: dict[str, Any] = {
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k if sampling.top_k is not None else -1,
        "repetition_penalty": sampling.repetition_penalty or 1.0,
        "seed": sampling.seed,
        "max_tokens": max_tokens,
        "extra_args": (
            {EXTRA_ARGS_KEY: answer_bias_to_args(request.answer_bias)}
            if request is not None and request.answer_bias is not None
            else None
        ),
    }
    if anchor_ids:
        kwargs["logprob_token_ids"] = list(anchor_ids)
    return kwargs


class VllmBackend:
    def __init__(self, model: str, config: EvalConfig):
        from transformers import AutoProcessor
        from vllm import LLM

        self.config = config
        self.processor = AutoProcessor.from_pretrained(model)
        self.llm = LLM(**engine_kwargs(model, config))
        soft = config.soft_scoring
        self.anchors = None
        if soft is not None and soft.enabled:
            self.anchors = resolve_anchor_tokens(
                self.tokenizer, soft.fake_words, soft.real_words, soft.multi_token_variants, soft.answer_after
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

    def _params(self, request: GenerationRequest | None, max_tokens: int, scored: bool) -> Any:
        from vllm import SamplingParams

        anchors = self.anchors.all_ids if scored and self.anchors is not None else None
        return SamplingParams(**sampling_kwargs(self.config, request, max_tokens, anchors))

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        config, soft = self.config, self.config.soft_scoring
        answer_mode = self.anchors is not None and soft is not None and soft.position == "answer"
        prompts = [self._prompt(r.messages, config.response_prefix, r.image) for r in requests]
        params = [self._params(r, config.max_new_tokens, answer_mode) for r in requests]
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
                else (self._answer_score(requests[row], ids, completion.logprobs) if answer_mode else None)
            )
            results.append(
                GenerationResult(text=completion.text, num_generated_tokens=len(ids), soft_score=score)
            )
        return results

    def _answer_score(self, request: GenerationRequest, ids: list[int], logprobs: Any) -> SoftScore:
        assert self.anchors is not None and self.config.soft_scoring is not None
        return answer_soft_score(
            self.anchors,
            ids,
            [_as_logits(step) for step in (logprobs or [])],
            lambda t: self.tokenizer.decode(t, skip_special_tokens=True),
            self.config.response_prefix,
            self.config.soft_scoring.answer_after,
            request.answer_bias,
        )

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
        params = [self._params(None, 1, True) for _ in requests]
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        scores = []
        for output in outputs:
            logprobs = output.outputs[0].logprobs or [{}]
            scores.append(soft_score(_as_logits(logprobs[0]), self.anchors))
        return scores


def _as_logits(step: Any) -> dict[int, float]:
    """One position of vLLM's logprobs ({token id: Logprob}) as {token id: value}."""
    return {int(k): float(getattr(v, "logprob", v)) for k, v in (step or {}).items()}
