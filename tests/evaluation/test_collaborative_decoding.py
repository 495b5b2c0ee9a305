"""AIGI-Holmes collaborative decoding: the bias math, the one-shot state machine on a hand-built scores
tensor, the expert file, and the vLLM wrapper's wiring.

vLLM itself is not available on this CPU machine (it needs a GPU and is not installed): the vLLM test
below replaces vLLM's ``AdapterLogitsProcessor`` with a minimal stand-in that follows its documented
interface (``new_req_logits_processor(params)`` -> per-request callable applied to each logits row),
so what is checked is our subclass's wiring, not vLLM.
"""

from __future__ import annotations

import json
import math
import sys
import types
from pathlib import Path

import pytest
import torch

from harness.evaluation import vllm_logits_processor as vlp
from harness.evaluation.collaborative_decoding import (
    AnswerBias,
    ExpertProbabilityError,
    OneShotAnswerBias,
    expert_biases,
    load_expert_probabilities,
)

TARGET = (11, 12, 13)  # "This image is"
REAL, FAKE = 3, 4


def spec(bias_real: float = -1.0, bias_fake: float = 2.0, force: bool = False) -> AnswerBias:
    return AnswerBias(
        target_ids=TARGET,
        real_id=REAL,
        fake_id=FAKE,
        bias_real=bias_real,
        bias_fake=bias_fake,
        force_prefix=force,
    )


def test_expert_biases_by_hand() -> None:
    bias_real, bias_fake = expert_biases(0.8, weight=1.0)
    assert bias_real == pytest.approx(math.log(0.2)) and bias_fake == pytest.approx(math.log(0.8))
    assert expert_biases(0.8, weight=0.0) == (0.0, 0.0)
    assert expert_biases(0.8, weight=2.5)[1] == pytest.approx(2.5 * math.log(0.8))
    assert expert_biases(1.0)[0] == pytest.approx(math.log(1e-6))  # clipped, not -inf
    with pytest.raises(ValueError):
        expert_biases(1.2)


@pytest.mark.parametrize("p_expert, weight", [(0.9, 1.0), (0.2, 2.0), (0.5, 3.0)])
def test_bias_is_a_product_of_experts_over_the_two_answers(p_expert: float, weight: float) -> None:
    z_real, z_fake = 0.3, -0.4
    bias_real, bias_fake = expert_biases(p_expert, weight)
    logits = torch.tensor([z_real + bias_real, z_fake + bias_fake])
    p_fake = torch.softmax(logits, 0)[1].item()
    odds_mllm = math.exp(z_fake - z_real)
    assert p_fake / (1 - p_fake) == pytest.approx(odds_mllm * (p_expert / (1 - p_expert)) ** weight)


def test_one_shot_bias_fires_once_right_after_the_target() -> None:
    machine = OneShotAnswerBias(spec())
    scores = torch.zeros(20)
    assert torch.equal(machine([11, 12], scores.clone()), scores)  # target not complete yet
    out = machine([5, 11, 12, 13], scores.clone())  # ends with the target
    assert out[REAL] == -1.0 and out[FAKE] == 2.0 and out.sum() == 1.0
    assert machine.triggered_at == 4
    again = machine([11, 12, 13, 4, 11, 12, 13], scores.clone())  # target again: no second bias
    assert torch.equal(again, scores)


def test_force_prefix_spells_the_target_then_restricts_the_verdict() -> None:
    machine = OneShotAnswerBias(spec(force=True))
    scores = torch.arange(20, dtype=torch.float32)
    for step, token in enumerate(TARGET):
        out = machine(list(TARGET[:step]), scores.clone())
        assert torch.isfinite(out).sum() == 1 and out.argmax().item() == token
    out = machine(list(TARGET), scores.clone())
    assert torch.isfinite(out).sum() == 2  # only "real" and "fake" remain
    assert out[REAL] == pytest.approx(REAL - 1.0) and out[FAKE] == pytest.approx(FAKE + 2.0)


def test_expert_probability_files(tmp_path: Path) -> None:
    jsonl = tmp_path / "expert.jsonl"
    jsonl.write_text('{"id": "a", "p_fake": 0.25}\n\n{"id": "b", "p_fake": 1}\n')
    assert load_expert_probabilities(jsonl) == {"a": 0.25, "b": 1.0}
    csv_file = tmp_path / "expert.csv"
    csv_file.write_text("id,p_fake\na,0.5\nc,0.75\n")
    assert load_expert_probabilities(csv_file) == {"a": 0.5, "c": 0.75}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "p_fake": 3}\n')
    with pytest.raises(ExpertProbabilityError, match=r"bad.jsonl:1: p_fake must lie in \[0, 1\]"):
        load_expert_probabilities(bad)
    with pytest.raises(ExpertProbabilityError, match="no expert probability file"):
        load_expert_probabilities(tmp_path / "missing.jsonl")


def test_request_arguments_round_trip_as_dict_and_as_json_text() -> None:
    args = vlp.answer_bias_to_args(spec(force=True))
    assert vlp.answer_bias_from_args({vlp.EXTRA_ARGS_KEY: args}) == spec(force=True)
    # an OpenAI-compatible server's vllm_xargs carry scalars only: the same arguments as JSON text
    assert vlp.answer_bias_from_args({vlp.EXTRA_ARGS_KEY: json.dumps(args)}) == spec(force=True)
    assert vlp.answer_bias_from_args(None) is None and vlp.answer_bias_from_args({"other": 1}) is None
    with pytest.raises(ValueError, match="invalid collaborative_decoding"):
        vlp.answer_bias_from_args({vlp.EXTRA_ARGS_KEY: {"target_ids": [1]}})


def test_module_imports_without_vllm_and_says_so_when_the_class_is_needed(monkeypatch) -> None:
    monkeypatch.setattr(vlp, "_CLASS", None)
    monkeypatch.setitem(sys.modules, "vllm", None)  # vLLM is not installed on the CPU machines anyway
    with pytest.raises(ImportError):
        vlp.processor_class()


def test_vllm_processor_wiring_with_a_stand_in_adapter(monkeypatch) -> None:
    """A stand-in for vllm.v1.sample.logits_processor.AdapterLogitsProcessor (vLLM is not installable here)."""

    class StandInAdapter:
        def __init__(self, vllm_config=None, device=None, is_pin_memory=False):
            self.req_info = {}

        def add_request(self, index, params, output_ids):  # what vLLM's update_state does per new request
            processor = self.new_req_logits_processor(params)
            if processor is not None:
                self.req_info[index] = lambda logits: processor(output_ids, logits)

        def apply(self, logits):
            for index, processor in self.req_info.items():
                logits[index] = processor(logits[index])
            return logits

    module = types.ModuleType("vllm.v1.sample.logits_processor")
    module.AdapterLogitsProcessor = StandInAdapter
    for name in ("vllm", "vllm.v1", "vllm.v1.sample"):
        monkeypatch.setitem(sys.modules, name, types.ModuleType(name))
    monkeypatch.setitem(sys.modules, "vllm.v1.sample.logits_processor", module)
    monkeypatch.setattr(vlp, "_CLASS", None)

    cls = vlp.CollaborativeDecodingLogitsProcessor  # module attribute, as --logits-processors looks it up
    processor = cls()
    assert processor.is_argmax_invariant() is False
    with_bias = types.SimpleNamespace(extra_args={vlp.EXTRA_ARGS_KEY: vlp.answer_bias_to_args(spec())})
    without = types.SimpleNamespace(extra_args=None)
    outputs_0, outputs_1 = [7, 11, 12, 13], [11, 12, 13]
    processor.add_request(0, with_bias, outputs_0)
    processor.add_request(1, without, outputs_1)
    assert set(processor.req_info) == {0}  # no bias asked, no per-request processor
    logits = torch.zeros(2, 20)
    out = processor.apply(logits)
    assert out[0, REAL] == -1.0 and out[0, FAKE] == 2.0 and out[1].abs().sum() == 0
    outputs_0.append(FAKE)  # the list vLLM keeps growing
    assert processor.apply(torch.zeros(2, 20)).abs().sum() == 0  # one-shot
    cls.validate_params(with_bias)
    with pytest.raises(ValueError):
        cls.validate_params(types.SimpleNamespace(extra_args={vlp.EXTRA_ARGS_KEY: "{not json"}))
