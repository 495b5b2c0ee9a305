"""The eval stage's options: one typed schema, parsed from the ``--config-json`` the harness renders.

The dataclasses below are the one place the keys, their types and their defaults live: they are
also the Hydra schema of the ``eval`` group (harness/config_schemas.py registers ``eval/_schema``).
``conf/eval/_base.yaml`` states what every paper's evaluation changes from these defaults and
``conf/eval/<paper>.yaml`` only what that paper changes from the base, each value with a comment
on where it comes from. Unknown keys are rejected with a "did you mean"; all problems of a config
are reported together.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from common.errors import ConfigError, Problem
from common.gpu_share import GPU_SHARE_RULE, is_gpu_share
from common.parse import from_mapping

__all__ = [
    "CollaborativeDecodingConfig",
    "EvalConfig",
    "ModelFrameConfig",
    "OpenAIConfig",
    "SamplingConfig",
    "SoftScoringConfig",
    "VllmConfig",
    "parse_eval_config",
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
    top_logprobs: OpenAI backend only: log-probabilities requested per position (the vLLM backend asks
      for exactly the anchor tokens with SamplingParams.logprob_token_ids).
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
    min_pixels: int | None = 3136
    max_pixels: int | None = 12845056
    # Boxes in fixed units of the image instead (InternVL: 0-1000, model.box_norm): a transformed
    # image's frame is normalized x normalized again.
    normalized: int | None = None


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
    backend: str = "transformers"  # transformers | vllm | openai (harness/evaluation/backends/)
    response_format: str = "free_text_verdict"  # the answer parser (harness/evaluation/response_formats.py)
    metrics: tuple[str, ...] = ("accuracy",)  # harness/evaluation/metrics/
    batch_size: int = 8  # images per generate call
    limit: int | None = None  # evaluate only the first N manifest rows
    max_new_tokens: int = 1024
    dtype: str = "auto"  # transformers backend: bfloat16 on GPU, float32 on CPU
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    system_prompt: str | None = None  # null: the manifest's own system message, if any
    response_prefix: str = ""  # text the answer starts with (the model continues after it)
    robustness: str | None = (
        None  # jpeg80 | jpeg30 | random_crop | downsample_0.5 (harness/evaluation/robustness.py)
    )
    robustness_seed: int = 0  # random crop positions come from (seed, image id)
    # Set for models whose boxes are pixels of a resized frame (Qwen2.5-VL), so boxes follow a
    # robustness transform that changes the image size; null: the answers carry no boxes.
    model_frame: ModelFrameConfig | None = None
    soft_scoring: SoftScoringConfig | None = None  # null: no probability of fake (no AP/AUC, no ROC)
    collaborative_decoding: CollaborativeDecodingConfig | None = None
    vllm: VllmConfig = field(default_factory=VllmConfig)  # backend vllm
    openai: OpenAIConfig = field(default_factory=OpenAIConfig)  # backend openai


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
    if config.limit is not None and config.limit < 1:
        # 0 evaluated no image and wrote metrics of nothing: an empty cell in the report
        problems.append(Problem("eval.limit", f"must be null (every row) or at least 1, got {config.limit}"))
    if config.sampling.temperature < 0:
        problems.append(Problem("eval.sampling.temperature", "must be >= 0 (0 = greedy)"))
    if config.sampling.top_k is not None and config.sampling.top_k < 1:
        # transformers raises on a negative top_k at the first batch; vLLM's 0 and -1 mean "off"
        # and transformers' 0 too: null says that once for every backend
        problems.append(
            Problem(
                "eval.sampling.top_k", f"must be null (no top-k) or at least 1, got {config.sampling.top_k}"
            )
        )
    return problems + _check_ranges(config)


def _check_ranges(config: EvalConfig) -> list[Problem]:
    """Values the backends refuse only once the model is loaded (vLLM's SamplingParams and engine
    arguments), or take without complaint and answer nothing (max_new_tokens 0: every answer empty)."""
    sampling, vllm, openai = config.sampling, config.vllm, config.openai
    checks = [  # (key, value, within range, what the range is)
        (
            "eval.max_new_tokens",
            config.max_new_tokens,
            config.max_new_tokens >= 1,
            "must be at least 1 (0 generates no answer)",
        ),
        ("eval.sampling.top_p", sampling.top_p, 0 < sampling.top_p <= 1, "must be more than 0 and at most 1"),
        (
            "eval.sampling.repetition_penalty",
            sampling.repetition_penalty,
            sampling.repetition_penalty is None or sampling.repetition_penalty > 0,
            "must be null or more than 0 (1 = none)",
        ),
        (
            "eval.vllm.tensor_parallel_size",
            vllm.tensor_parallel_size,
            vllm.tensor_parallel_size >= 1,
            "must be at least 1",
        ),
        (
            "eval.vllm.gpu_memory_utilization",
            vllm.gpu_memory_utilization,
            is_gpu_share(vllm.gpu_memory_utilization),
            GPU_SHARE_RULE,
        ),
        (
            "eval.vllm.max_model_len",
            vllm.max_model_len,
            vllm.max_model_len is None or vllm.max_model_len >= 1,
            "must be null or at least 1",
        ),
        ("eval.openai.timeout_s", openai.timeout_s, openai.timeout_s > 0, "must be more than 0"),
        ("eval.openai.max_retries", openai.max_retries, openai.max_retries >= 0, "must be 0 or more"),
        (
            "eval.openai.startup_timeout_s",
            openai.startup_timeout_s,
            openai.startup_timeout_s > 0,
            "must be more than 0",
        ),
    ]
    problems = [Problem(key, f"{message}, got {value!r}") for key, value, ok, message in checks if not ok]
    frame = config.model_frame
    if frame is not None:
        if frame.factor < 1:
            problems.append(Problem("eval.model_frame.factor", f"must be at least 1, got {frame.factor!r}"))
        if (
            frame.min_pixels is not None
            and frame.max_pixels is not None
            and frame.min_pixels > frame.max_pixels
        ):
            problems.append(
                Problem(
                    "eval.model_frame.min_pixels",
                    f"must not be more than model_frame.max_pixels ({frame.min_pixels} > {frame.max_pixels})",
                )
            )
    return problems
