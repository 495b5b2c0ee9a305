"""Parameter counts: the closed form the CLI uses equals the model built on the meta device, to the
parameter, for every backbone in conf/model and for the tiny models the tests build; the tiny
models' counts also equal the tensors in their saved weights."""

from __future__ import annotations

import collections
import json
import struct
from pathlib import Path

import pytest

from harness.preflight.architecture import PARTS, architecture_of, max_image_tokens, parse_architecture

from .conftest import MODELS, gpu_smoke_config_json, model_config_json

# Hugging Face's safetensors totals of the published checkpoints (model cards: 8.29B, 3.75B params).
PUBLISHED_TOTALS = {"qwen2_5_vl_7b": 8_292_166_656, "qwen2_5_vl_3b": 3_754_622_976}
# Backbones transformers builds on the meta device. InternVL2.5 (model_type internvl_chat) is remote
# code transformers does not ship; its closed form is checked against the model cards' totals
# (tests/harness/test_internvl_groups.py).
META_MODELS = [name for name in MODELS if model_config_json(name)["model_type"] != "internvl_chat"]


def test_every_model_group_states_its_shape() -> None:
    for name in MODELS:
        arch = parse_architecture(model_config_json(name), f"conf/model/{name}")
        assert arch.total_params > 10**9, name


@pytest.mark.parametrize("name,total", sorted(PUBLISHED_TOTALS.items()))
def test_closed_form_matches_the_published_checkpoints(name: str, total: int) -> None:
    assert parse_architecture(model_config_json(name), name).total_params == total


def test_head_counts_that_vllm_checks() -> None:
    seven = parse_architecture(model_config_json("qwen2_5_vl_7b"), "7b")
    assert (seven.text.num_heads, seven.text.num_kv_heads, seven.vision.num_heads) == (28, 4, 16)
    assert seven.vision.intermediate_size == 3420
    assert parse_architecture(model_config_json("qwen2_5_vl_32b"), "32b").text.num_heads == 40
    assert parse_architecture(model_config_json("llava1_6_mistral_7b"), "l").text.num_kv_heads == 8


def test_image_token_bounds() -> None:
    qwen = parse_architecture(model_config_json("qwen2_5_vl_7b"), "q")
    assert max_image_tokens(qwen.vision, 12845056) == 16384  # 16384 x 28 x 28 pixels
    next_ = parse_architecture(model_config_json("llava1_6_mistral_7b"), "n")
    assert max_image_tokens(next_.vision, None) == 576 * 5 + 48  # base + 2x2 tiles + newline rows
    assert max_image_tokens(parse_architecture(model_config_json("llava1_5_7b"), "l").vision, None) == 576


@pytest.mark.slow
@pytest.mark.parametrize("name", META_MODELS)
def test_closed_form_equals_the_meta_device_model(name: str) -> None:
    from harness.preflight.meta_count import meta_counts

    config = model_config_json(name)
    arch = parse_architecture(config, name)
    counted = meta_counts(config)
    assert counted["total"] == arch.total_params
    assert counted["largest_layer"] == arch.largest_layer_params
    for part in (*PARTS, "lm_head"):
        assert counted["parts"].get(part, 0) == arch.part_params(part), part
    # Every nn.Linear the LoRA count walks over, part by part (lm_head is never a LoRA target; a
    # tied one shares the embedding's weight).
    for part, shapes in counted["linears"].items():
        if part == "lm_head":
            continue
        mine: collections.Counter = collections.Counter()
        for linear in arch.linears:
            if linear.part == part:
                mine[(linear.in_features, linear.out_features, int(linear.bias))] += linear.count
        assert collections.Counter(tuple(s) for s in shapes) == mine, part


def _safetensors_elements(folder: Path) -> int:
    """Elements of every tensor in the folder's safetensors files, read from their headers."""
    total = 0
    for path in folder.glob("*.safetensors"):
        with path.open("rb") as handle:
            (size,) = struct.unpack("<Q", handle.read(8))
            header = json.loads(handle.read(size))
        for key, entry in header.items():
            if key != "__metadata__":
                count = 1
                for dim in entry["shape"]:
                    count *= dim
                total += count
    return total


@pytest.mark.slow
@pytest.mark.parametrize("builder", ["build_tiny_qwen2_5_vl", "build_tiny_llava1_6", "build_tiny_llava1_5"])
def test_tiny_models_exact_counts(builder: str, tmp_path: Path) -> None:
    import data_prep.tiny_model as tiny
    from harness.preflight.meta_count import meta_counts

    folder = getattr(tiny, builder)(tmp_path / "model")
    arch = architecture_of(str(folder), None)
    assert arch.source == str(folder / "config.json")
    assert _safetensors_elements(folder) == arch.total_params
    assert meta_counts(arch.raw)["total"] == arch.total_params
    if builder == "build_tiny_qwen2_5_vl":
        # The gpu_smoke profile states this shape so that its checks run before the model exists.
        stated = parse_architecture(gpu_smoke_config_json(), "gpu_smoke")
        assert stated.total_params == arch.total_params
        assert stated.text == arch.text and stated.vision == arch.vision
