"""The collaborative-decoding logits processor class, defined at module level for vLLM.

vLLM loads it by its fully qualified name, ``harness.evaluation.vllm_logits_processor.PROCESSOR_FQCN``
(``vllm.LLM(logits_processors=[PROCESSOR_FQCN])`` and ``vllm serve --logits-processors
PROCESSOR_FQCN``), in whichever process builds the sampler: vLLM 0.24 imports the module and walks
the qualified name (``_load_logitsprocs_by_fqcns``, vllm/v1/sample/logits_processor/__init__.py).
Passing a name rather than a class keeps the engine config picklable when vLLM starts its workers
with spawn (CUDA already initialised, inside a Ray actor, ``VLLM_WORKER_MULTIPROC_METHOD=spawn``),
and a module-level class pickles by reference where a class built inside a function cannot.

This module imports vLLM; nothing else in the project imports it, so the rest runs without vLLM.
"""

from __future__ import annotations

from typing import Any

from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

from harness.evaluation.collaborative_decoding import OneShotAnswerBias
from harness.evaluation.vllm_logits_processor import answer_bias_from_args

__all__ = ["CollaborativeDecodingLogitsProcessor"]


class CollaborativeDecodingLogitsProcessor(AdapterLogitsProcessor):
    """One-shot verdict bias after a target sequence; per request via ``extra_args``."""

    @classmethod
    def validate_params(cls, params: Any) -> None:
        answer_bias_from_args(getattr(params, "extra_args", None))

    def is_argmax_invariant(self) -> bool:
        return False  # it can change which token is greedy-decoded

    def new_req_logits_processor(self, params: Any) -> Any:
        spec = answer_bias_from_args(getattr(params, "extra_args", None))
        return OneShotAnswerBias(spec) if spec is not None else None
