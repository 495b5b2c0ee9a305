"""The eval stage's options: one typed schema, parsed from the ``--config-json`` the harness renders.

``conf/eval/<paper>.yaml`` (Hydra group ``eval``) sets every key below with a comment on where its
value comes from; this module holds the defaults (for running the CLI by hand) and rejects unknown
keys with a "did you mean". All problems of a config are reported together.
"""

from __future__ import annotations

import collections.abc
import dataclasses
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Union

from common.errors import ConfigError, Problem, did_you_mean

__all__ = [
    "CollaborativeDecodingConfig",
    "EvalConfig",
    "ModelFrameConfig",
    "OpenAIConfig",
    "SamplingConfig",
    "SoftScoringConfig",
    "VllmConfig",
    "from_mapping",
    "parse_eval_config",
    "to_mapping",
]


@dataclass(frozen=True)
class SamplingConfig:
    """Decoding settings shared by all backends. temperature 0 = greedy decoding."""

    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int | None = None
    repetition_penalty: float | None = None
    seed: int = 0


@dataclass(frozen=True)
class SoftScoringConfig:
    """Probability of ``fake`` from the logits of anchor tokens (seed 003 eq. 2).

    position:
      ``answer``: the position where the generated answer states its verdict: the first generated
        anchor token (after ``answer_after`` when set);
      ``prefix``: a separate forward pass over ``prompt`` (or the row's own messages when null)
        followed by the assistant text ``assistant_prefix``; the next-token logits (003 §IV-B:
        "ASSISTANT: This image is [auth_token]").
    fake_words / real_words: the anchor words and their case variants (003 eq. 2 sums their logits).
    multi_token_variants: a variant the tokenizer splits into several tokens has no single logit:
      ``skip`` it (default) or use its ``first_token``.
    top_logprobs: vLLM/OpenAI backends only: log-probabilities requested per position.
    """

    enabled: bool = True
    position: str = "answer"
    fake_words: tuple[str, ...] = ("fake", "Fake", "FAKE")
    real_words: tuple[str, ...] = ("real", "Real", "REAL")
    answer_after: str | None = None
    prompt: str | None = None
    assistant_prefix: str = "This image is"
    multi_token_variants: str = "skip"
    top_logprobs: int = 20


@dataclass(frozen=True)
class CollaborativeDecodingConfig:
    """Mix a visual expert's probability of ``fake`` into the answer token's logits (seeds.md §4).

    After the generated text ends with ``target_text`` (once per answer), ``weight * log(p)`` is added
    to the logit of ``fake_word`` and ``weight * log(1 - p)`` to that of ``real_word``, p being the
    expert's probability for the image from ``expert_probs`` (jsonl ``{"id", "p_fake"}`` or csv
    ``id,p_fake``). ``force_prefix`` makes the answer start with ``target_text`` followed by one of
    the two verdict words (AIGI-Holmes' ForceLogitsProcessor). ``on_missing``: an image without an
    expert probability is an ``error`` or decoded ``unbiased``.
    """

    expert_probs: str | None = None
    weight: float = 1.0
    target_text: str = "This image is"
    real_word: str = "real"
    fake_word: str = "fake"
    force_prefix: bool = False
    on_missing: str = "error"


@dataclass(frozen=True)
class ModelFrameConfig:
    """How the model resizes an image; its boxes are pixels of that frame (Qwen2.5-VL smart_resize).

    Only needed when a robustness transform changes the image size: the transformed image gets a
    new frame and the annotated boxes are mapped into it.
    """

    factor: int = 28
    min_pixels: int = 3136
    max_pixels: int = 12845056


@dataclass(frozen=True)
class VllmConfig:
    """Engine arguments of the vLLM offline backend (vllm.LLM)."""

    tensor_parallel_size: int = 1
    gpu_memory_utilization: float = 0.9
    max_model_len: int | None = None
    dtype: str = "auto"
    enforce_eager: bool = False
    # The soft score needs logits (003 eq. 2 sums logits); vLLM returns log-probs unless asked.
    logprobs_mode: str = "raw_logits"
    engine_kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OpenAIConfig:
    """An OpenAI-compatible server (``vllm serve`` / ``python -m vllm.entrypoints.openai.api_server``).

    The API key is read from the environment variable named by ``api_key_env``; never put a key here.
    With ``launch_server`` the eval stage starts the server itself (``server_command`` + ``--model``,
    ``--served-model-name``, ``--host``, ``--port`` from ``base_url``, ``--logprobs-mode``, the
    collaborative-decoding ``--logits-processors`` when configured, then ``server_args``), waits up to
    ``startup_timeout_s`` for ``GET {base_url}/models`` and stops it when the evaluation ends.
    """

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 600.0
    max_retries: int = 3
    launch_server: bool = False
    server_command: tuple[str, ...] = ("python3", "-m", "vllm.entrypoints.openai.api_server")
    server_args: tuple[str, ...] = ()
    startup_timeout_s: float = 1800.0


@dataclass(frozen=True)
class EvalConfig:
    backend: str = "transformers"
    response_format: str = "free_text_verdict"
    metrics: tuple[str, ...] = ("accuracy",)
    batch_size: int = 8
    limit: int | None = None
    max_new_tokens: int = 1024
    dtype: str = "auto"
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    system_prompt: str | None = None
    response_prefix: str = ""
    robustness: str | None = None
    robustness_seed: int = 0
    model_frame: ModelFrameConfig | None = None
    soft_scoring: SoftScoringConfig | None = None
    collaborative_decoding: CollaborativeDecodingConfig | None = None
    vllm: VllmConfig = field(default_factory=VllmConfig)
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)


def parse_eval_config(data: Mapping[str, Any] | None) -> EvalConfig:
    """Build an EvalConfig and check every registry name in it; raises ConfigError listing all problems."""
    problems: list[Problem] = []
    config = from_mapping(EvalConfig, data or {}, "eval", problems)
    if not problems:
        problems += _check_names(config)
    if problems:
        raise ConfigError(problems)
    return config


def _check_names(config: EvalConfig) -> list[Problem]:
    from common.registry import UnknownNameError
    from harness.evaluation.backends import BACKENDS
    from harness.evaluation.metrics import METRICS
    from harness.evaluation.response_formats import RESPONSE_FORMATS
    from harness.evaluation.robustness import ROBUSTNESS_TRANSFORMS

    problems: list[Problem] = []
    checks: list[tuple[str, Any, Any]] = [
        ("eval.backend", BACKENDS, config.backend),
        ("eval.response_format", RESPONSE_FORMATS, config.response_format),
    ]
    checks += [(f"eval.metrics[{i}]", METRICS, name) for i, name in enumerate(config.metrics)]
    if config.robustness is not None:
        checks.append(("eval.robustness", ROBUSTNESS_TRANSFORMS, config.robustness))
    for key, registry, name in checks:  # by name: nothing is imported (a backend loads torch)
        known = registry.names()
        if name not in known:
            problems.append(Problem(key, str(UnknownNameError(registry.kind, name, known))))
    soft = config.soft_scoring
    if soft is not None:
        if soft.position not in ("answer", "prefix"):
            problems.append(
                Problem("eval.soft_scoring.position", f"must be answer or prefix, got {soft.position!r}")
            )
        if soft.multi_token_variants not in ("skip", "first_token"):
            problems.append(
                Problem(
                    "eval.soft_scoring.multi_token_variants",
                    f"must be skip or first_token, got {soft.multi_token_variants!r}",
                )
            )
        if not soft.fake_words or not soft.real_words:
            problems.append(Problem("eval.soft_scoring", "fake_words and real_words must not be empty"))
    collab = config.collaborative_decoding
    if collab is not None:
        # expert_probs may come later (python -m harness.evaluation --expert-probs); the
        # evaluation refuses to start without it.
        if collab.weight < 0:
            problems.append(Problem("eval.collaborative_decoding.weight", "must be >= 0 (0 switches it off)"))
        if collab.on_missing not in ("error", "unbiased"):
            problems.append(
                Problem(
                    "eval.collaborative_decoding.on_missing",
                    f"must be error or unbiased, got {collab.on_missing!r}",
                )
            )
    if config.batch_size < 1:
        problems.append(Problem("eval.batch_size", "must be at least 1"))
    if config.limit is not None and config.limit < 0:
        problems.append(Problem("eval.limit", "must be null or >= 0"))
    if config.sampling.temperature < 0:
        problems.append(Problem("eval.sampling.temperature", "must be >= 0 (0 = greedy)"))
    return problems


# --- generic dataclass <-> mapping -------------------------------------------------------------


def from_mapping(cls: type, data: Any, where: str, problems: list[Problem]) -> Any:
    """Build dataclass ``cls`` from a mapping; unknown keys and wrong types go to ``problems``."""
    if not isinstance(data, Mapping):
        problems.append(Problem(where, f"must be a mapping, got {type(data).__name__}"))
        return cls()
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            problems.append(
                Problem(
                    f"{where}.{key}",
                    f"unknown key{did_you_mean(str(key), fields)}; known: {', '.join(fields)}",
                )
            )
            continue
        kwargs[key] = _convert(hints[key], value, f"{where}.{key}", problems)
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a converted value that failed above stays out of kwargs
        problems.append(Problem(where, str(exc)))
        return cls()


def _convert(hint: Any, value: Any, where: str, problems: list[Problem]) -> Any:
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        non_none = [o for o in options if o is not type(None)]
        if len(non_none) == 1:
            return _convert(non_none[0], value, where, problems)
    if dataclasses.is_dataclass(hint):
        return from_mapping(hint, value, where, problems)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            problems.append(Problem(where, f"must be a list, got {value!r}"))
            return ()
        (item_type, *_rest) = typing.get_args(hint)
        return tuple(_convert(item_type, v, f"{where}[{i}]", problems) for i, v in enumerate(value))
    if origin in (collections.abc.Mapping, dict) or hint in (Mapping, dict):
        if not isinstance(value, Mapping):
            problems.append(Problem(where, f"must be a mapping, got {value!r}"))
            return {}
        return dict(value)
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            problems.append(Problem(where, f"must be true or false, got {value!r}"))
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(Problem(where, f"must be an integer, got {value!r}"))
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(Problem(where, f"must be a number, got {value!r}"))
            return value
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            problems.append(Problem(where, f"must be a string, got {value!r}"))
        return value
    return value


def to_mapping(obj: Any) -> Any:
    """A dataclass tree as plain JSON-able data (recorded next to the predictions)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_mapping(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_mapping(v) for v in obj]
    if isinstance(obj, Mapping):
        return {str(k): to_mapping(v) for k, v in obj.items()}
    return obj
