"""Collaborative decoding in vLLM (V1 engine): the processor's name and its per-request arguments.

vLLM >= 0.10 takes batch-level logits-processor classes at engine start; this project always
passes the class by its fully qualified name ``PROCESSOR_FQCN`` (``vllm.LLM(logits_processors=
[PROCESSOR_FQCN])``, ``vllm serve --logits-processors PROCESSOR_FQCN``), so the engine config stays
picklable under spawn (harness/evaluation/vllm_collab_processor.py, where the class lives and
vLLM is imported). Per-request arguments travel in ``SamplingParams.extra_args`` (offline) or, as
one JSON string, in the request body's ``vllm_xargs`` (server: its values must be scalars). vLLM's
``AdapterLogitsProcessor`` turns a per-request callable into that interface; the callable is
``OneShotAnswerBias`` from ``collaborative_decoding``, the same code the CPU tests run.
Per-request argument (key ``EXTRA_ARGS_KEY``)::

    {"target_ids": [...], "real_id": int, "fake_id": int, "bias_real": float, "bias_fake": float,
     "force_prefix": bool}

This module does not import vLLM (there is none on the CPU test machine).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from harness.evaluation.collaborative_decoding import AnswerBias

__all__ = ["EXTRA_ARGS_KEY", "PROCESSOR_FQCN", "answer_bias_from_args", "answer_bias_to_args"]

EXTRA_ARGS_KEY = "collaborative_decoding"
PROCESSOR_FQCN = "harness.evaluation.vllm_collab_processor:CollaborativeDecodingLogitsProcessor"


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
