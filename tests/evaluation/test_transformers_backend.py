"""The CPU backend with a real (tiny, random-weight) Qwen2.5-VL: soft scores equal an independent forward
pass, and collaborative decoding steers real generation. Slow: builds the model (about 10 s)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image

from harness.evaluation.backends.base import GenerationRequest
from harness.evaluation.collaborative_decoding import AnswerBias, expert_biases
from harness.evaluation.config import parse_eval_config
from harness.evaluation.runner import evaluate
from harness.evaluation.soft_scoring import eq2_probability_fake, logsumexp_probability_fake
from tests.evaluation.conftest import write_image

pytestmark = pytest.mark.slow

QUESTION = [
    {"role": "system", "content": "You detect AI-generated images."},
    {"role": "user", "content": "<image>Is this image real or fake?"},
]


@pytest.fixture(scope="module")
def model_and_processor(tiny_qwen: Path) -> tuple[Any, Any]:
    from data_prep import cpu_compat

    cpu_compat.apply()
    from transformers import AutoModelForImageTextToText, AutoProcessor

    processor = AutoProcessor.from_pretrained(tiny_qwen)
    model = AutoModelForImageTextToText.from_pretrained(tiny_qwen, dtype=torch.float32).eval()
    return model, processor


def next_token_logits(
    model: Any, processor: Any, messages: list[dict], assistant_text: str, image: Image.Image
) -> torch.Tensor:
    """The reference: one plain forward pass over the chat prompt + assistant text."""
    from harness.evaluation.prompts import structured_messages

    structured, _ = structured_messages(messages)
    text = (
        processor.apply_chat_template(structured, add_generation_prompt=True, tokenize=False) + assistant_text
    )
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.no_grad():
        return model(**inputs).logits[0, -1].float()


def images(tmp_path: Path, n: int) -> list[Image.Image]:
    return [Image.open(write_image(tmp_path / f"i{k}.png", seed=k)).convert("RGB") for k in range(n)]


def test_prefix_soft_score_equals_a_forward_pass(
    tiny_qwen: Path, model_and_processor, tmp_path: Path
) -> None:
    from harness.evaluation.backends.transformers_backend import TransformersBackend

    model, processor = model_and_processor
    config = parse_eval_config(
        {
            "max_new_tokens": 4,
            "soft_scoring": {
                "position": "prefix",
                "prompt": "What is the authenticity of this image?",
                "assistant_prefix": "This image is",
                "fake_words": ["fake"],
                "real_words": ["real"],
            },
        }
    )
    backend = TransformersBackend(str(tiny_qwen), config)
    pictures = images(tmp_path, 3)
    results = backend.generate(
        [GenerationRequest(str(k), list(QUESTION), image) for k, image in enumerate(pictures)]
    )
    anchors = backend.anchors
    assert anchors is not None
    for image, result in zip(pictures, results):
        prompt = [{"role": "user", "content": "<image>What is the authenticity of this image?"}]
        logits = next_token_logits(model, processor, prompt, "This image is", image)
        fake = [logits[i].item() for i in anchors.fake_ids]
        real = [logits[i].item() for i in anchors.real_ids]
        assert result.soft_score is not None
        assert result.soft_score.p_fake == pytest.approx(eq2_probability_fake(fake, real), abs=1e-5)
        assert result.soft_score.p_fake_logsumexp == pytest.approx(
            logsumexp_probability_fake(fake, real), abs=1e-5
        )
    # a batch of three is left-padded; the first image alone must score the same
    [alone] = backend.generate([GenerationRequest("0", list(QUESTION), pictures[0])])
    assert alone.soft_score.p_fake == pytest.approx(results[0].soft_score.p_fake, abs=1e-5)


def test_collaborative_decoding_steers_generation_and_the_answer_score(
    tiny_qwen: Path, model_and_processor, tmp_path: Path
) -> None:
    """force_prefix makes the answer "This image is <real|fake>"; the expert's bias picks the word, and the
    answer-position soft score is the forward-pass logits plus the bias."""
    from harness.evaluation.backends.transformers_backend import TransformersBackend
    from harness.evaluation.runner import _next_token_id

    model, processor = model_and_processor
    config = parse_eval_config(
        {
            "max_new_tokens": 6,
            "response_format": "free_text_verdict",
            "soft_scoring": {"fake_words": ["fake"], "real_words": ["real"]},
        }
    )
    backend = TransformersBackend(str(tiny_qwen), config)
    tokenizer = backend.tokenizer
    target = tuple(tokenizer.encode("This image is", add_special_tokens=False))
    real_id = _next_token_id(tokenizer, "This image is", "real")
    fake_id = _next_token_id(tokenizer, "This image is", "fake")
    pictures = images(tmp_path, 2)
    requests = []
    for k, (image, p_expert) in enumerate(zip(pictures, (0.999, 0.001))):
        bias_real, bias_fake = expert_biases(p_expert, weight=50.0)
        requests.append(
            GenerationRequest(
                str(k),
                list(QUESTION),
                image,
                AnswerBias(target, real_id, fake_id, bias_real, bias_fake, force_prefix=True),
            )
        )
    results = backend.generate(requests)
    assert results[0].text.startswith("This image is fake") and results[1].text.startswith(
        "This image is real"
    )
    for request, result in zip(requests, results):
        logits = next_token_logits(model, processor, list(QUESTION), "This image is", request.image)
        bias = request.answer_bias
        fake = [
            logits[i].item() + (bias.bias_fake if i == fake_id else 0.0) for i in backend.anchors.fake_ids
        ]
        real = [
            logits[i].item() + (bias.bias_real if i == real_id else 0.0) for i in backend.anchors.real_ids
        ]
        assert result.soft_score.p_fake == pytest.approx(eq2_probability_fake(fake, real), abs=1e-4)
    assert results[0].soft_score.p_fake > 0.99 and results[1].soft_score.p_fake < 0.01


def test_expert_file_drives_accuracy_end_to_end(tiny_qwen: Path, tmp_path: Path, make_manifest) -> None:
    """The runner reads the expert file: a correct expert gives accuracy 1, an inverted one 0."""
    manifest = make_manifest(4)
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    for name, correct in (("right", True), ("wrong", False)):
        expert = tmp_path / f"{name}.jsonl"
        expert.write_text(
            "".join(
                json.dumps({"id": r["id"], "p_fake": 0.99 if (r["label"] == "fake") == correct else 0.01})
                + "\n"
                for r in rows
            )
        )
        config = parse_eval_config(
            {
                "response_format": "free_text_verdict",
                "max_new_tokens": 5,
                "batch_size": 2,
                "metrics": ["accuracy", "auc"],
                "soft_scoring": {"fake_words": ["fake"], "real_words": ["real"]},
                "collaborative_decoding": {"expert_probs": str(expert), "weight": 50.0, "force_prefix": True},
            }
        )
        document = evaluate(str(manifest), str(tiny_qwen), str(tmp_path / name), config, log=lambda m: None)
        assert document["values"]["accuracy"] == (1.0 if correct else 0.0)
        assert document["values"]["auc"] == (1.0 if correct else 0.0)
        written = {
            json.loads(line)["id"]: json.loads(line)["p_fake"] for line in expert.read_text().splitlines()
        }
        lines = [
            json.loads(line) for line in (tmp_path / name / "predictions.jsonl").read_text().splitlines()
        ]
        assert {line["id"]: line["expert_p_fake"] for line in lines} == written


def _prefix_backend(tiny_qwen: Path) -> Any:
    from harness.evaluation.backends.transformers_backend import TransformersBackend

    config = parse_eval_config(
        {
            "max_new_tokens": 1,
            "soft_scoring": {
                "position": "prefix",
                "assistant_prefix": "This image is",
                "fake_words": ["fake"],
                "real_words": ["real"],
            },
        }
    )
    return TransformersBackend(str(tiny_qwen), config)


class _NoLogitsToKeep(torch.nn.Module):
    """A model whose forward does not take ``logits_to_keep`` (the fallback path)."""

    def __init__(self, model: Any):
        super().__init__()
        self.inner = model

    def forward(self, **inputs: Any) -> Any:
        assert "logits_to_keep" not in inputs
        return self.inner(**inputs)


def test_prefix_pass_computes_only_the_last_positions_logits(tiny_qwen: Path, tmp_path: Path) -> None:
    """The prefix pass asks for one position's logits (not prompt length x vocabulary per image), and the
    soft scores equal those of the full-logits pass (and of a model without logits_to_keep)."""
    backend = _prefix_backend(tiny_qwen)
    pictures = images(tmp_path, 3)
    requests = [GenerationRequest(str(k), list(QUESTION), image) for k, image in enumerate(pictures)]
    shapes: list[tuple[int, ...]] = []
    hook = backend.model.register_forward_hook(lambda m, a, out: shapes.append(tuple(out.logits.shape)))
    try:
        kept = backend._prefix_scores(requests)
    finally:
        hook.remove()
    assert [s[1] for s in shapes] == [1], shapes  # one forward pass, one position
    full_model = backend.model
    backend.model, backend._keeps_logits = _NoLogitsToKeep(full_model), None
    full = backend._prefix_scores(requests)
    assert backend._keeps_logits is False
    for a, b in zip(kept, full):
        assert a.p_fake == pytest.approx(b.p_fake, abs=1e-5)
        assert a.p_fake_logsumexp == pytest.approx(b.p_fake_logsumexp, abs=1e-5)
