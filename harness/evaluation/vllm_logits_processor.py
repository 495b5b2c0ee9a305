"""Collaborative decoding as a vLLM (V1 engine) logits processor.

vLLM >= 0.10 takes batch-level logits-processor classes at engine start
(``vllm.LLM(logits_processors=[CollaborativeDecodingLogitsProcessor])`` or ``vllm serve
--logits-processors harness.evaluation.vllm_logits_processor:CollaborativeDecodingLogitsProcessor``);
per-request arguments travel in ``SamplingParams.extra_args`` (offline) or, as one JSON string, in
the request body's ``vllm_xargs`` (server: its values must be scalars). vLLM's
``AdapterLogitsProcessor`` turns a per-request callable into that interface; the callable here is
``OneShotAnswerBias`` from ``collaborative_decoding`` - the same code the CPU tests run.
Per-request argument (key ``EXTRA_ARGS_KEY``)::

    {"target_ids": [...], "real_id": int, "fake_id": int, "bias_real": float, "bias_fake": float,
     "force_prefix": bool}

vLLM is imported only when the class is first needed (``processor_class()``), so this module
imports on machines without vLLM; there is no vLLM on the CPU test machine.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.evaluation.collaborative_decoding import AnswerBias, OneShotAnswerBias

__all__ = ["EXTRA_ARGS_KEY", "answer_bias_from_args", "answer_bias_to_args", "processor_class"]

EXTRA_ARGS_KEY = "collaborative_decoding"
_CLASS: Any = None


def answer_bias_to_args(spec: AnswerBias) -> dict[str, Any]:
    """The JSON-able per-request argument for ``spec``."""
    return {
        "target_ids": list(spec.target_ids),
        "real_id": spec.real_id,
        "fake_id": spec.fake_id,
        "bias_real": spec.bias_real,
        "bias_fake": spec.bias_fake,
        "force_prefix": spec.force_prefix,
    }


def answer_bias_from_args(extra_args: Mapping[str, Any] | None) -> AnswerBias | None:
    """The request's AnswerBias, or None when the request does not ask for collaborative decoding."""
    if not extra_args or EXTRA_ARGS_KEY not in extra_args:
        return None
    args = extra_args[EXTRA_ARGS_KEY]
    try:
        if isinstance(args, str):  # the server's vllm_xargs carry scalars only: JSON text
            args = json.loads(args)
        return AnswerBias(
            target_ids=tuple(int(i) for i in args["target_ids"]),
            real_id=int(args["real_id"]),
            fake_id=int(args["fake_id"]),
            bias_real=float(args["bias_real"]),
            bias_fake=float(args["bias_fake"]),
            force_prefix=bool(args.get("force_prefix", False)),
        )
    except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
        raise ValueError(f"invalid {EXTRA_ARGS_KEY} request argument {args!r}: {exc}") from None


def processor_class() -> type:
    """The vLLM logits-processor class (built on first use; needs vLLM installed)."""
    global _CLASS
    if _CLASS is None:
        from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

        class CollaborativeDecodingLogitsProcessor(AdapterLogitsProcessor):
            """One-shot verdict bias after a target sequence; per request via extra_args."""

            @classmethod
            def validate_params(cls, params: Any) -> None:
                answer_bias_from_args(getattr(params, "extra_args", None))

            def is_argmax_invariant(self) -> bool:
                return False  # it can change which token is greedy-decoded

            def new_req_logits_processor(self, params: Any) -> Any:
                spec = answer_bias_from_args(getattr(params, "extra_args", None))
                return OneShotAnswerBias(spec) if spec is not None else None

        _CLASS = CollaborativeDecodingLogitsProcessor
    return _CLASS


def __getattr__(name: str) -> Any:
    # `--logits-processors harness.evaluation.vllm_logits_processor:CollaborativeDecodingLogitsProcessor`
    # looks the class up as a module attribute; build it then.
    if name == "CollaborativeDecodingLogitsProcessor":
        return processor_class()
    raise AttributeError(name)
