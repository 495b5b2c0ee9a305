"""AIGI-Holmes collaborative decoding: the bias math, the one-shot state machine on a hand-built scores
tensor, its replay for soft scores, the expert file, and how vLLM gets the processor.

vLLM itself is not available on this CPU machine (it needs a GPU and is not installed): the spawn
test runs our processor class under a stand-in of vLLM 0.24's logits-processor module
(tests/evaluation/stand_in_vllm), so what is checked is our subclass, its name and its pickling,
not vLLM.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import pickle
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from harness.evaluation import vllm_logits_processor as vlp
from harness.evaluation.collaborative_decoding import (
    AnswerBias,
    ExpertProbabilityError,
    OneShotAnswerBias,
    bias_at_step,
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


def test_processor_module_needs_vllm_and_the_rest_does_not(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # vLLM is not installed on the CPU machines anyway
    module, _, name = vlp.PROCESSOR_FQCN.partition(":")
    assert (
        module == "harness.evaluation.vllm_collab_processor"
        and name == "CollaborativeDecodingLogitsProcessor"
    )
    monkeypatch.delitem(sys.modules, module, raising=False)
    with pytest.raises(ImportError):
        importlib.import_module(module)
    importlib.reload(vlp)  # the helpers and the name import without vLLM


def test_engine_config_names_the_processor_and_pickles() -> None:
    from harness.evaluation.backends.vllm_backend import engine_kwargs
    from harness.evaluation.config import parse_eval_config

    config = parse_eval_config({"backend": "vllm", "collaborative_decoding": {"expert_probs": "/e.jsonl"}})
    kwargs = engine_kwargs("/models/m", config)
    assert kwargs["logits_processors"] == [vlp.PROCESSOR_FQCN]  # a name, not a class
    assert pickle.loads(pickle.dumps(kwargs)) == kwargs
    without = engine_kwargs("/models/m", parse_eval_config({"backend": "vllm"}))
    assert "logits_processors" not in without


def test_a_class_built_inside_a_function_cannot_cross_a_spawn() -> None:
    """Why the processor is a module-level class passed by name: the former processor_class()
    built it inside a function, and vLLM's spawn pickles the config holding it."""

    def build() -> type:
        class Local:
            pass

        return Local

    with pytest.raises((AttributeError, pickle.PicklingError), match="local"):
        pickle.dumps({"logits_processors": [build()]})


@pytest.mark.slow
def test_spawned_worker_loads_the_processor_by_name_and_applies_it() -> None:
    """vLLM 0.24's spawn path, reproduced: the engine kwargs are pickled into a process started with
    spawn, which loads the processor by its qualified name (with a stand-in of vLLM's
    logits_processor module: vLLM does not install here, tests/evaluation/stand_in_vllm/README.md)."""
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent / "stand_in_vllm")}
    proc = subprocess.run(
        [sys.executable, "-m", "tests.evaluation.vllm_spawn_worker"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen["exitcode"] == 0 and seen["class"] == vlp.PROCESSOR_FQCN
    assert (seen["real"], seen["fake"]) == (-1.0, 0.5)  # the bias after the target sequence 5, 6
    assert seen["after"] == 0.0 and seen["argmax_invariant"] is False and seen["class_pickles"] is True


@pytest.mark.parametrize("force", [False, True])
def test_bias_replayed_from_the_ids_matches_the_state_machine(force: bool) -> None:
    """Soft scores add the bias back after generation (vLLM's raw logits are taken before the
    processor): the replay must name the step the machine fired at, and no other."""
    rng = random.Random(0)
    for _ in range(200):
        ids = list(TARGET) if force else []
        ids += [rng.choice([11, 12, 13, 3, 4, 7]) for _ in range(rng.randint(0, 12))]
        machine = OneShotAnswerBias(spec(force=force))
        for step in range(len(ids) + 1):
            machine(ids[:step], torch.zeros(20))
        for step in range(len(ids) + 1):
            expected = {REAL: -1.0, FAKE: 2.0} if machine.triggered_at == step else {}
            assert bias_at_step(spec(force=force), ids, step) == expected, (ids, step)
