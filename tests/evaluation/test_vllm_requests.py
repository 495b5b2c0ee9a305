"""What the vLLM backend asks vLLM 0.24 for, checked without vLLM (it does not install here).

The keyword names are checked against the fields of vLLM 0.24.0's SamplingParams (vllm/sampling_params.py,
read from the vllm-0.24.0 sdist), and the soft score the backend computes from vLLM's per-step
values is checked by hand, including the collaborative bias that vLLM's raw logits do not contain.
"""

from __future__ import annotations

import pytest

from harness.evaluation.backends.base import GenerationRequest
from harness.evaluation.backends.vllm_backend import sampling_kwargs
from harness.evaluation.collaborative_decoding import AnswerBias
from harness.evaluation.config import parse_eval_config
from harness.evaluation.soft_scoring import AnchorTokens, answer_soft_score, eq2_probability_fake

# vllm 0.24.0 vllm/sampling_params.py: the fields of SamplingParams this backend may set.
SAMPLING_PARAMS_FIELDS_0_24 = {
    "temperature", "top_p", "top_k", "repetition_penalty", "seed", "max_tokens", "logprobs",
    "logprob_token_ids", "extra_args", "stop", "min_tokens", "n",
}  # fmt: skip
ANCHORS = AnchorTokens(fake_ids=(7, 8), real_ids=(9,))


def test_soft_scoring_asks_for_exactly_the_anchor_tokens() -> None:
    config = parse_eval_config({"backend": "vllm", "max_new_tokens": 16})
    kwargs = sampling_kwargs(config, None, 16, ANCHORS.all_ids)
    assert set(kwargs) <= SAMPLING_PARAMS_FIELDS_0_24
    assert kwargs["logprob_token_ids"] == [7, 8, 9]
    # vLLM rejects logprobs != len(logprob_token_ids) when both are set: only the ids are sent.
    assert "logprobs" not in kwargs
    assert "logprob_token_ids" not in sampling_kwargs(config, None, 16, None)


def test_collaborative_arguments_travel_in_extra_args() -> None:
    config = parse_eval_config({"backend": "vllm", "collaborative_decoding": {"expert_probs": "/e.jsonl"}})
    bias = AnswerBias(target_ids=(1, 2), real_id=9, fake_id=7, bias_real=-1.0, bias_fake=0.5)
    request = GenerationRequest(id="a", messages=[], image=None, answer_bias=bias)
    kwargs = sampling_kwargs(config, request, 8, ANCHORS.all_ids)
    assert kwargs["extra_args"]["collaborative_decoding"]["target_ids"] == [1, 2]


def test_answer_score_adds_the_bias_back_at_the_step_it_fired() -> None:
    ids = [1, 2, 7, 5]  # "This image is" (1, 2) then the verdict token 7 (fake)
    steps = [{1: 0.0}, {2: 0.0}, {7: 1.0, 8: -2.0, 9: 0.5}, {5: 0.0}]
    bias = AnswerBias(target_ids=(1, 2), real_id=9, fake_id=7, bias_real=-1.0, bias_fake=0.5)
    plain = answer_soft_score(ANCHORS, ids, steps, lambda t: "", "", None)
    assert plain.p_fake == pytest.approx(eq2_probability_fake([1.0, -2.0], [0.5]))
    biased = answer_soft_score(ANCHORS, ids, steps, lambda t: "", "", None, bias)
    assert biased.p_fake == pytest.approx(eq2_probability_fake([1.5, -2.0], [-0.5]))
    # A bias that fired elsewhere (its target never precedes the verdict) changes nothing.
    elsewhere = AnswerBias(target_ids=(5,), real_id=9, fake_id=7, bias_real=-1.0, bias_fake=0.5)
    assert answer_soft_score(ANCHORS, ids, steps, lambda t: "", "", None, elsewhere).p_fake == plain.p_fake
