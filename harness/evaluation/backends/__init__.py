"""Inference backends, registered by name (``eval.backend``).

- ``transformers``: Hugging Face generation on CPU or one GPU (the smoke profile and the tests);
- ``vllm``: vLLM offline batch inference (``vllm.LLM``) on GPUs;
- ``openai``: an OpenAI-compatible server such as ``vllm serve`` (AIGI-Holmes' README way), queried
  over HTTP.

Entries are ``module:class`` targets imported when a backend is built, so naming them imports no
backend (their heavy dependencies, torch, transformers, vllm, load only then), and the backends'
modules may import ``harness.evaluation.config`` while the config checks names here: no cycle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from common.registry import Registry

__all__ = ["BACKENDS", "build_backend"]

BACKENDS: Registry[Callable[..., Any]] = Registry("backend")
BACKENDS.add_target("transformers", "harness.evaluation.backends.transformers_backend:TransformersBackend")
BACKENDS.add_target("vllm", "harness.evaluation.backends.vllm_backend:VllmBackend")
BACKENDS.add_target("openai", "harness.evaluation.backends.openai_backend:OpenAIBackend")


def build_backend(name: str, model: str, config: Any) -> Any:
    """Construct the backend registered as ``name`` for the model at ``model``."""
    return BACKENDS.get(name)(model, config)
