"""An OpenAI-compatible chat server, queried over HTTP (AIGI-Holmes' README serves its model with
``python -m vllm.entrypoints.openai.api_server ... --logits-processor-pattern ...``).

Start the server yourself, e.g. with vLLM >= 0.10::

    vllm serve <model dir> --served-model-name <name> --logprobs-mode raw_logits \\
        --logits-processors harness.evaluation.vllm_collab_processor:CollaborativeDecodingLogitsProcessor

and set ``eval.openai.{base_url, model}`` - or let the eval stage start it: ``eval.openai.launch_server:
true`` (``server_process.py``). An API key, when the server wants one, is read from the environment
variable named by ``eval.openai.api_key_env`` (never from the config).

Each image is one ``POST {base_url}/chat/completions`` with the manifest's messages (the image
inline as a PNG data URL), ``max_tokens``, ``temperature``, ``top_p``, ``seed``, and:
- soft scoring at the answer: ``logprobs: true, top_logprobs: soft_scoring.top_logprobs`` and
  vLLM's ``return_tokens_as_token_ids: true`` (tokens come back as ``token_id:<n>``);
- soft scoring by prefix: a second request whose last message is the assistant prefix with vLLM's
  ``continue_final_message: true, add_generation_prompt: false`` and ``max_tokens: 1``;
- collaborative decoding: vLLM's ``vllm_xargs: {"collaborative_decoding": "<json>"}``.

The local ``--model`` folder, when it exists, provides the tokenizer (anchor token ids and the
collaborative-decoding target ids); without it those two features are unavailable.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common.errors import HarnessError
from harness.evaluation.backends.base import GenerationRequest, GenerationResult
from harness.evaluation.backends.server_process import ServerProcess, server_argv
from harness.evaluation.config import EvalConfig
from harness.evaluation.prompts import IMAGE_PLACEHOLDER, openai_messages
from harness.evaluation.soft_scoring import SoftScore, answer_soft_score, resolve_anchor_tokens, soft_score
from harness.evaluation.vllm_logits_processor import EXTRA_ARGS_KEY, answer_bias_to_args

__all__ = ["OpenAIBackend", "ServerError"]

_TOKEN_ID_PREFIX = "token_id:"


class ServerError(HarnessError):
    """The server refused or failed a request after the configured retries."""


class OpenAIBackend:
    def __init__(self, model: str, config: EvalConfig):
        self.config = config
        settings = config.openai
        self.url = settings.base_url.rstrip("/") + "/chat/completions"
        self.model_name = settings.model or model
        self.api_key: str | None = None
        if settings.api_key_env:
            self.api_key = os.environ.get(settings.api_key_env)
            if not self.api_key:
                raise HarnessError(
                    f"eval.openai.api_key_env names {settings.api_key_env!r}, which is not set"
                )
        self._tokenizer: Any = None
        if Path(model).is_dir():
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(model)
        soft = config.soft_scoring
        self.anchors = None
        if soft is not None and soft.enabled:
            if self._tokenizer is None:
                raise HarnessError(
                    "soft scoring with backend openai needs the model's tokenizer: pass the model "
                    "folder as --model and the served name as eval.openai.model"
                )
            self.anchors = resolve_anchor_tokens(
                self._tokenizer,
                soft.fake_words,
                soft.real_words,
                soft.multi_token_variants,
                soft.answer_after,
            )
        # Last, so that no check above can fail after the server started.
        self.server: ServerProcess | None = None
        if settings.launch_server:
            self.server = ServerProcess(
                server_argv(model, config), settings.base_url, settings.startup_timeout_s
            )

    @property
    def tokenizer(self) -> Any:
        return self._tokenizer

    def close(self) -> None:
        if self.server is not None:
            self.server.stop()

    # --- HTTP ------------------------------------------------------------------------------------

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        data = json.dumps(body).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        settings = self.config.openai
        last_error = ""
        for attempt in range(settings.max_retries + 1):
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=settings.timeout_s) as response:
                    return json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as exc:
                detail = exc.read().decode("utf-8", "replace")[:500]
                last_error = f"HTTP {exc.code}: {detail}"
                if exc.code < 500:  # the request itself is wrong: retrying cannot help
                    break
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last_error = str(exc)
            if attempt < settings.max_retries:
                time.sleep(min(2**attempt, 30))
        raise ServerError(f"{self.url}: {last_error}")

    def _body(
        self,
        request: GenerationRequest,
        messages: list[dict[str, Any]],
        max_tokens: int,
        logprobs: int | None,
    ) -> dict[str, Any]:
        sampling = self.config.sampling
        body: dict[str, Any] = {
            "model": self.model_name,
            "messages": openai_messages(messages, [request.image]),
            "max_tokens": max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
        }
        if sampling.top_k is not None:
            body["top_k"] = sampling.top_k
        if sampling.repetition_penalty is not None:
            body["repetition_penalty"] = sampling.repetition_penalty
        if logprobs is not None:
            body.update(logprobs=True, top_logprobs=logprobs, return_tokens_as_token_ids=True)
        if request.answer_bias is not None:
            # vllm_xargs values must be scalars: the arguments travel as one JSON string.
            body["vllm_xargs"] = {EXTRA_ARGS_KEY: json.dumps(answer_bias_to_args(request.answer_bias))}
        return body

    # --- generation ------------------------------------------------------------------------------

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        with ThreadPoolExecutor(max_workers=max(1, len(requests))) as pool:
            return list(pool.map(self._one, requests))

    def _one(self, request: GenerationRequest) -> GenerationResult:
        config, soft = self.config, self.config.soft_scoring
        answer_mode = self.anchors is not None and soft is not None and soft.position == "answer"
        messages = list(request.messages)
        if config.response_prefix:
            messages.append({"role": "assistant", "content": config.response_prefix})
        body = self._body(
            request, messages, config.max_new_tokens, soft.top_logprobs if answer_mode and soft else None
        )
        if config.response_prefix:
            body.update(continue_final_message=True, add_generation_prompt=False)
        reply = self._post(body)
        choice = reply["choices"][0]
        text = choice["message"].get("content") or ""
        content = (choice.get("logprobs") or {}).get("content") or []
        usage = reply.get("usage") or {}
        score = None
        if answer_mode:
            score = self._answer_score(content, request)
        elif self.anchors is not None and soft is not None and soft.position == "prefix":
            score = self._prefix_score(request)
        return GenerationResult(
            text=text,
            num_generated_tokens=usage.get("completion_tokens", len(content) or None),
            soft_score=score,
        )

    def _token_id(self, token: str) -> int | None:
        if token.startswith(_TOKEN_ID_PREFIX):
            return int(token[len(_TOKEN_ID_PREFIX) :])
        ids = self._tokenizer.convert_tokens_to_ids([token]) if self._tokenizer is not None else [None]
        return ids[0] if isinstance(ids[0], int) else None

    def _answer_score(self, content: list[dict[str, Any]], request: GenerationRequest) -> SoftScore:
        assert self.anchors is not None and self.config.soft_scoring is not None
        ids = [self._token_id(entry.get("token", "")) for entry in content]
        known = [i if i is not None else -1 for i in ids]

        def decode(ids: Sequence[int]) -> str:
            return self._tokenizer.decode([i for i in ids if i >= 0], skip_special_tokens=True)

        # The server's raw logits are taken before the collaborative-decoding processor ran:
        # answer_soft_score adds its bias back at the step it fired, as the other backends do.
        return answer_soft_score(
            self.anchors,
            known,
            [self._top(entry) for entry in content],
            decode,
            self.config.response_prefix,
            self.config.soft_scoring.answer_after,
            request.answer_bias,
        )

    def _top(self, entry: dict[str, Any]) -> dict[int, float]:
        logits: dict[int, float] = {}
        for candidate in [entry, *(entry.get("top_logprobs") or [])]:
            token_id = self._token_id(candidate.get("token", ""))
            if token_id is not None and token_id not in logits:
                logits[token_id] = float(candidate["logprob"])
        return logits

    def _prefix_score(self, request: GenerationRequest) -> SoftScore:
        soft = self.config.soft_scoring
        assert soft is not None
        messages = (
            list(request.messages)
            if soft.prompt is None
            else [{"role": "user", "content": IMAGE_PLACEHOLDER + soft.prompt}]
        )
        messages.append({"role": "assistant", "content": soft.assistant_prefix})
        body = self._body(
            GenerationRequest(request.id, messages, request.image), messages, 1, soft.top_logprobs
        )
        body.update(continue_final_message=True, add_generation_prompt=False)
        content = (self._post(body)["choices"][0].get("logprobs") or {}).get("content") or []
        if not content:
            return SoftScore(None, None, "the server returned no log-probabilities")
        return soft_score(self._top(content[0]), self.anchors)
