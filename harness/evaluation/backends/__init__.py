"""Inference backends, registered by name (``eval.backend``).

- ``transformers``: Hugging Face generation on CPU or one GPU (the smoke profile and the tests);
- ``vllm``: vLLM offline batch inference (``vllm.LLM``) on GPUs;
- ``openai``: an OpenAI-compatible server such as ``vllm serve`` (AIGI-Holmes' README way), queried
  over HTTP.

Each module imports its heavy dependencies (torch, transformers, vllm) only when a backend is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.registry import Registry

__all__ = ["BACKENDS", "build_backend"]

BACKENDS: Registry[Callable[..., Any]] = Registry("backend")


@BACKENDS.register("transformers")
def _transformers(model: str, config: Any) -> Any:
    from harness.evaluation.backends.transformers_backend import TransformersBackend

    return TransformersBackend(model, config)


@BACKENDS.register("vllm")
def _vllm(model: str, config: Any) -> Any:
    from harness.evaluation.backends.vllm_backend import VllmBackend

    return VllmBackend(model, config)


@BACKENDS.register("openai")
def _openai(model: str, config: Any) -> Any:
    from harness.evaluation.backends.openai_backend import OpenAIBackend

    return OpenAIBackend(model, config)


def build_backend(name: str, model: str, config: Any) -> Any:
    """Construct the backend registered as ``name`` for the model at ``model``."""
    return BACKENDS.get(name)(model, config)
