"""Hugging Face transformers generation: the CPU backend (smoke profile, tests), also usable on one GPU.

The model folder is loaded with ``AutoProcessor`` and ``AutoModelForImageTextToText`` (Qwen2.5-VL,
LLaVA, LLaVA-NeXT). Prompts are the manifest's messages rendered by the processor's own chat
template, plus ``eval.response_prefix``; a batch is left-padded.

Soft scoring reads the logits of the anchor tokens at each decoding step through a logits processor
placed before any other custom processor (so before the collaborative bias and before sampling
warpers; after transformers' built-in processors such as a repetition penalty, when one is set).
With collaborative decoding the bias is added back at the step it fired, so ``p_fake`` describes the
logits the verdict was decoded from.

On a machine without torchvision, ``data_prep.cpu_compat`` is applied before the processor is loaded
(transformers 5.10's Qwen2.5-VL processor insists on a torchvision video processor).
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from harness.evaluation.backends.base import GenerationRequest, GenerationResult
from harness.evaluation.collaborative_decoding import OneShotAnswerBias
from harness.evaluation.config import EvalConfig
from harness.evaluation.prompts import IMAGE_PLACEHOLDER, structured_messages
from harness.evaluation.soft_scoring import (
    AnchorTokens,
    SoftScore,
    find_answer_position,
    resolve_anchor_tokens,
    soft_score,
)

__all__ = ["TransformersBackend"]


def _apply_cpu_compat() -> None:
    from data_prep import cpu_compat

    if not cpu_compat.torchvision_importable():
        cpu_compat.apply()


class TransformersBackend:
    def __init__(self, model: str, config: EvalConfig):
        _apply_cpu_compat()
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.config = config
        self.torch = torch
        self._keeps_logits: bool | None = None  # the model's forward takes logits_to_keep
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        dtype = {
            "auto": torch.bfloat16 if self.device.type == "cuda" else torch.float32,
            "float32": torch.float32,
            "bfloat16": torch.bfloat16,
            "float16": torch.float16,
        }[config.dtype]
        self.processor = AutoProcessor.from_pretrained(model)
        self.processor.tokenizer.padding_side = "left"  # generation continues from the right end
        self.model = AutoModelForImageTextToText.from_pretrained(model, dtype=dtype).to(self.device).eval()
        soft = config.soft_scoring
        self.anchors: AnchorTokens | None = None
        if soft is not None and soft.enabled:
            self.anchors = resolve_anchor_tokens(
                self.tokenizer, soft.fake_words, soft.real_words, soft.multi_token_variants, soft.answer_after
            )
        generation_config = self.model.generation_config
        eos = generation_config.eos_token_id
        self.stop_ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
        if generation_config.pad_token_id is not None:
            self.stop_ids.add(generation_config.pad_token_id)

    @property
    def tokenizer(self) -> Any:
        return self.processor.tokenizer

    def close(self) -> None:
        del self.model

    # --- prompts ---------------------------------------------------------------------------------

    def _prompt_text(self, messages: list[dict[str, Any]], assistant_text: str) -> str:
        structured, _ = structured_messages(messages)
        text = self.processor.apply_chat_template(structured, add_generation_prompt=True, tokenize=False)
        return text + assistant_text

    def _inputs(self, texts: list[str], requests: Sequence[GenerationRequest]) -> Any:
        inputs = self.processor(
            text=texts, images=[r.image for r in requests], padding=True, return_tensors="pt"
        )
        return inputs.to(self.device)

    # --- generation ------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        from transformers import LogitsProcessorList

        torch = self.torch
        config = self.config
        texts = [self._prompt_text(r.messages, config.response_prefix) for r in requests]
        inputs = self._inputs(texts, requests)
        prompt_len = int(inputs["input_ids"].shape[1])
        soft = config.soft_scoring
        record_answer = self.anchors is not None and soft is not None and soft.position == "answer"
        recorder = _AnchorLogitRecorder(self.anchors.all_ids if record_answer and self.anchors else ())
        biases = _CollaborativeBias(requests, prompt_len)
        processors = LogitsProcessorList(
            [
                p
                for p in (recorder if record_answer else None, biases if biases.active else None)
                if p is not None
            ]
        )
        sampling = config.sampling
        kwargs: dict[str, Any] = {
            "max_new_tokens": config.max_new_tokens,
            "do_sample": sampling.temperature > 0,
            "logits_processor": processors,
        }
        if sampling.temperature > 0:
            kwargs.update(temperature=sampling.temperature, top_p=sampling.top_p, top_k=sampling.top_k)
        else:  # greedy: no sampling knobs (transformers warns about unused ones)
            kwargs.update(temperature=None, top_p=None, top_k=None)
        if sampling.repetition_penalty is not None:
            kwargs["repetition_penalty"] = sampling.repetition_penalty
        torch.manual_seed(sampling.seed)
        with torch.no_grad():
            sequences = self.model.generate(**inputs, **kwargs)
        generated = sequences[:, prompt_len:].tolist()
        results: list[GenerationResult] = []
        prefix_scores = (
            self._prefix_scores(requests)
            if self.anchors is not None and soft is not None and soft.position == "prefix"
            else None
        )
        for row, ids in enumerate(generated):
            ids = self._until_stop(ids)
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            if prefix_scores is not None:
                score = prefix_scores[row]
            elif record_answer:
                score = self._answer_score(row, ids, recorder, biases)
            else:
                score = None
            results.append(GenerationResult(text=text, num_generated_tokens=len(ids), soft_score=score))
        return results

    def _until_stop(self, ids: list[int]) -> list[int]:
        for index, token in enumerate(ids):
            if token in self.stop_ids:
                return ids[:index]
        return ids

    def _answer_score(
        self, row: int, ids: list[int], recorder: _AnchorLogitRecorder, biases: _CollaborativeBias
    ) -> SoftScore:
        assert self.anchors is not None and self.config.soft_scoring is not None
        position = find_answer_position(
            ids,
            self.anchors,
            lambda t: self.tokenizer.decode(t, skip_special_tokens=True),
            self.config.response_prefix,
            self.config.soft_scoring.answer_after,
        )
        if position is None:
            return SoftScore(None, None, "the answer states no anchor token")
        logits = dict(zip(self.anchors.all_ids, recorder.steps[position][row]))
        bias = biases.bias_at(row, position)
        for token_id, value in bias.items():
            if token_id in logits:
                logits[token_id] += value
        return soft_score(logits, self.anchors.compared_at(ids[position]))

    def _prefix_scores(self, requests: Sequence[GenerationRequest]) -> list[SoftScore]:
        """003 eq. 2 in its own prompt: next-token logits after ``assistant_prefix``."""
        soft = self.config.soft_scoring
        assert soft is not None and self.anchors is not None
        texts = []
        for request in requests:
            messages = request.messages
            if soft.prompt is not None:
                messages = [{"role": "user", "content": IMAGE_PLACEHOLDER + soft.prompt}]
            texts.append(self._prompt_text(messages, soft.assistant_prefix))
        inputs = self._inputs(texts, requests)
        with self.torch.no_grad():
            last = self.model(**inputs, **self._last_position_only()).logits[:, -1, :].float()
        anchor_ids = list(self.anchors.all_ids)
        columns = last[:, anchor_ids].tolist()
        return [soft_score(dict(zip(anchor_ids, values)), self.anchors) for values in columns]

    def _last_position_only(self) -> dict[str, int]:
        """``logits_to_keep=1`` where the model's forward takes it (Qwen2.5-VL, LLaVA, LLaVA-NeXT in
        transformers 5.10): only the last position's logits are computed, not a batch x prompt
        length x vocabulary tensor (about 1.3 GB of fp32 at batch 16 on the tiny model)."""
        if self._keeps_logits is None:
            self._keeps_logits = "logits_to_keep" in inspect.signature(self.model.forward).parameters
        return {"logits_to_keep": 1} if self._keeps_logits else {}


class _AnchorLogitRecorder:
    """A logits processor that keeps the anchor tokens' logits of every step (nothing else)."""

    def __init__(self, anchor_ids: Sequence[int]):
        self.anchor_ids = list(anchor_ids)
        self.steps: list[list[list[float]]] = []  # step -> row -> anchor logits

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if self.anchor_ids:
            self.steps.append(scores[:, self.anchor_ids].float().tolist())
        return scores


class _CollaborativeBias:
    """One ``OneShotAnswerBias`` per batch row, as a transformers logits processor."""

    def __init__(self, requests: Sequence[GenerationRequest], prompt_len: int):
        self.prompt_len = prompt_len
        self.machines = [
            OneShotAnswerBias(r.answer_bias) if r.answer_bias is not None else None for r in requests
        ]
        self.active = any(m is not None for m in self.machines)

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        generated = input_ids[:, self.prompt_len :].tolist()
        for row, machine in enumerate(self.machines):
            if machine is not None:
                machine(generated[row], scores[row])
        return scores

    def bias_at(self, row: int, step: int) -> dict[int, float]:
        machine = self.machines[row] if row < len(self.machines) else None
        if machine is None or machine.triggered_at != step:
            return {}
        spec = machine.spec
        return {spec.real_id: spec.bias_real, spec.fake_id: spec.bias_fake}
