"""The tiny random-weight models: built locally, loaded by the pinned ms-swift and transformers,
and trainable on CPU through ms-swift (real components, no mocks; no hub access)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from .conftest import REPO

pytestmark = pytest.mark.slow

SWIFT = str(Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "swift")
CPU_COMPAT = str(REPO / "data_prep" / "cpu_compat.py")
RESPONSE = (
    '<think>The image shows traces of AI generation. Suspicious regions: {"bbox_2d": [12, 30, 56, 78], '
    '"label": "a hand with six fingers"}.</think>\n<tag>Structure/attribute errors, Texture errors</tag>\n'
    "<verdict>fake</verdict>"
)


def _swift_exe() -> str:
    candidate = Path(SWIFT)
    if candidate.exists():
        return str(candidate)
    import shutil

    found = shutil.which("swift")
    assert found, "the ms-swift console script 'swift' is not installed"
    return found


def _digest(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()
    }


def _tiny_images(folder: Path, count: int = 4) -> list[str]:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"img{i}.png"
        Image.fromarray((np.random.default_rng(i).random((60 + 4 * i, 72, 3)) * 255).astype("uint8")).save(
            path
        )
        paths.append(str(path))
    return paths


def test_tiny_qwen_keeps_qwen_special_ids_and_compact_markup(tiny_qwen):
    from transformers import AutoConfig, AutoTokenizer

    from data_prep.tiny_model import QWEN_SPECIAL_TOKENS

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen)
    for token, expected in QWEN_SPECIAL_TOKENS.items():
        assert tokenizer.convert_tokens_to_ids(token) == expected, token
    config = AutoConfig.from_pretrained(tiny_qwen)
    assert config.model_type == "qwen2_5_vl"
    assert config.image_token_id == 151655 and config.video_token_id == 151656
    assert config.text_config.vocab_size >= max(QWEN_SPECIAL_TOKENS.values()) + 1
    # The markup was in the training corpus: each pre-tokenizer piece of it is one token.
    for piece in ["<think", "<tag", "verdict", "</", '{"', "bbox", '":', " [", "label", "Texture", " errors", "fake",
                  "real", "generated", "Structure"]:  # fmt: skip
        assert len(tokenizer.encode(piece, add_special_tokens=False)) == 1, piece
    ids = tokenizer.encode(RESPONSE, add_special_tokens=False)
    assert tokenizer.decode(ids) == RESPONSE
    assert len(ids) < len(RESPONSE) / 2.5
    size = sum(p.stat().st_size for p in tiny_qwen.iterdir())
    assert size < 60 * 2**20, f"tiny model is {size / 2**20:.0f} MiB"


def test_tiny_qwen_frame_is_the_one_the_smoke_profiles_use(tiny_qwen):
    """The built preprocessor resizes into conf/data_prep/tiny_qwen2_5_vl.yaml's pixel bounds, the
    same file the smoke overlays take their model.min_pixels / max_pixels from."""
    import yaml

    limits = yaml.safe_load((REPO / "conf" / "data_prep" / "tiny_qwen2_5_vl.yaml").read_text())
    saved = json.loads((tiny_qwen / "preprocessor_config.json").read_text())
    bounds = (saved.get("min_pixels"), saved.get("max_pixels"))
    if None in bounds:
        bounds = (saved["size"]["shortest_edge"], saved["size"]["longest_edge"])
    assert bounds == (limits["min_pixels"], limits["max_pixels"])


def test_tiny_qwen_build_is_deterministic(tiny_qwen, tmp_path):
    from data_prep.tiny_model import build_tiny_qwen2_5_vl

    again = build_tiny_qwen2_5_vl(tmp_path / "again")
    assert _digest(again) == _digest(tiny_qwen)
    other_seed = build_tiny_qwen2_5_vl(tmp_path / "other", seed=1)
    assert _digest(other_seed)["model.safetensors"] != _digest(tiny_qwen)["model.safetensors"]


def test_tiny_qwen_sizes_come_from_the_conf_file_and_an_unknown_one_is_refused(tiny_qwen, tmp_path):
    """`tiny-model --size learner` (the FakeXplain smoke's) builds the shape its conf entry names;
    the default build keeps the small one; a size the file lacks stops before anything is written."""
    import sys

    import yaml
    from transformers import AutoConfig

    sizes = yaml.safe_load((REPO / "conf" / "data_prep" / "tiny_qwen2_5_vl.yaml").read_text())["text_sizes"]
    out = tmp_path / "learner"
    cli = [sys.executable, "-m", "data_prep", "tiny-model", "--arch", "qwen2_5_vl", "--output-dir"]
    built = subprocess.run([*cli, str(out), "--size", "learner"], cwd=REPO, capture_output=True, text=True)
    assert built.returncode == 0, built.stderr[-2000:]
    for folder, size in ((out, "learner"), (tiny_qwen, "default")):
        text = AutoConfig.from_pretrained(folder).text_config
        assert (text.hidden_size, text.num_hidden_layers, text.rope_parameters["rope_theta"]) == (
            sizes[size]["hidden_size"], sizes[size]["num_hidden_layers"], sizes[size]["rope_theta"],
        ), size  # fmt: skip
        assert text.hidden_size // text.num_attention_heads == 16
    refused = subprocess.run(
        [*cli, str(tmp_path / "no"), "--size", "huge"], cwd=REPO, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "--size: invalid choice: 'huge'" in refused.stderr
    assert not (tmp_path / "no").exists()


def test_ms_swift_loads_tiny_qwen_as_qwen2_5_vl_and_transformers_generates(tiny_qwen, tmp_path):
    from data_prep import cpu_compat

    cpu_compat.apply()
    import torch
    from PIL import Image
    from swift.model import get_model_processor
    from swift.template import get_template

    model, processor = get_model_processor(str(tiny_qwen), torch_dtype=torch.float32, download_model=False)
    assert model.model_meta.model_type == "qwen2_5_vl"
    assert model.model_info.model_type == "qwen2_5_vl"
    assert type(model).__name__ == "Qwen2_5_VLForConditionalGeneration"

    # ms-swift's own Qwen2.5-VL template encodes an SFT row: image tokens are id 151655.
    image_path = _tiny_images(tmp_path, 1)[0]
    template = get_template(processor, template_type="qwen2_5_vl")
    template.set_mode("train")
    encoded = template.encode(
        {
            "messages": [
                {"role": "user", "content": "<image>Is this image real or AI-generated?"},
                {"role": "assistant", "content": RESPONSE},
            ],
            "images": [image_path],
        }
    )
    grid = encoded["image_grid_thw"][0].tolist()
    assert encoded["input_ids"].count(151655) == grid[0] * grid[1] * grid[2] // 4

    # transformers generates a few tokens from an image + text prompt.
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Real or fake?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[Image.open(image_path)], return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert output.shape[1] == inputs["input_ids"].shape[1] + 4


def _run_swift(args: list[str], log: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "MODELSCOPE_OFFLINE": "1", "MAX_PIXELS": str(112 * 112)}
    result = subprocess.run([_swift_exe(), *args], env=env, capture_output=True, text=True, timeout=600)
    log.write_text(result.stdout + result.stderr)
    return result


def _sft_dataset(tmp_path: Path) -> Path:
    rows = [
        {
            "messages": [
                {"role": "system", "content": "You detect AI-generated images."},
                {"role": "user", "content": "<image>Is this image real or fake?"},
                {"role": "assistant", "content": RESPONSE},
            ],
            "images": [path],
            "rejected_response": "<think>Nothing odd.</think>\n<tag></tag>\n<verdict>real</verdict>",
        }
        for path in _tiny_images(tmp_path / "images")
    ]
    dataset = tmp_path / "train.jsonl"
    dataset.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return dataset


def _common_train_args(model: Path, dataset: Path, out: Path) -> list[str]:
    return [
        "--model", str(model), "--dataset", str(dataset), "--tuner_type", "lora",
        "--max_steps", "2", "--per_device_train_batch_size", "2", "--fp16", "false", "--bf16", "false",
        "--check_model", "false", "--external_plugins", CPU_COMPAT, "--output_dir", str(out),
        "--save_steps", "2", "--logging_steps", "1", "--dataloader_num_workers", "0", "--report_to", "none",
        "--add_version", "false",
    ]  # fmt: skip


def _assert_trained(result: subprocess.CompletedProcess, out: Path, log: Path, steps: int) -> None:
    assert result.returncode == 0, f"swift failed, see {log}:\n{result.stderr[-3000:]}"
    assert (out / f"checkpoint-{steps}" / "adapter_model.safetensors").is_file()
    entries = [json.loads(line) for line in (out / "logging.jsonl").read_text().splitlines() if line.strip()]
    losses = [entry for entry in entries if "loss" in entry]
    assert losses and all(np.isfinite(float(entry["loss"])) for entry in losses)


def test_swift_sft_lora_runs_on_tiny_qwen(tiny_qwen, tmp_path):
    dataset, out = _sft_dataset(tmp_path), tmp_path / "out"
    # A local Qwen2.5-VL folder matches two ms-swift templates (qwen2_5_vl, mimo_vl): name it.
    args = [
        "sft",
        *_common_train_args(tiny_qwen, dataset, out),
        "--model_type",
        "qwen2_5_vl",
        "--template",
        "qwen2_5_vl",
    ]
    result = _run_swift(args, tmp_path / "swift.log")
    _assert_trained(result, out, tmp_path / "swift.log", 2)


def test_tiny_llava_loads_and_generates(tiny_llava, tmp_path):
    from PIL import Image
    from transformers import AutoProcessor, LlavaNextForConditionalGeneration

    from data_prep.tiny_model import LLAVA_SPECIAL_TOKENS

    processor = AutoProcessor.from_pretrained(tiny_llava)
    for token, expected in LLAVA_SPECIAL_TOKENS.items():
        assert processor.tokenizer.convert_tokens_to_ids(token) == expected, token
    model = LlavaNextForConditionalGeneration.from_pretrained(tiny_llava)
    assert model.config.image_token_id == 32000
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Real or fake?"}]}]
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=[text], images=[Image.open(_tiny_images(tmp_path, 1)[0])], return_tensors="pt")
    output = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    assert output.shape[1] == inputs["input_ids"].shape[1] + 4


def test_tiny_llava_tokenizer_splits_as_llamas_sentencepiece_does(tiny_llava):
    """No learned piece spans two words, a word and its punctuation, or two digits (as in Llama's and
    Mistral's sentencepiece models), so a stated verdict is the anchor token soft-scoring reads:
    a tokenizer that merged "▁This▁image▁is▁fake." into one piece gave the FakeScope smoke an AUC of 0."""
    from transformers import AutoTokenizer

    from harness.evaluation.soft_scoring import resolve_anchor_tokens

    tokenizer = AutoTokenizer.from_pretrained(tiny_llava)
    pieces = [t for t in tokenizer.get_vocab() if not t.startswith(("<0x", "<aigi_unused_"))]
    assert not [t for t in pieces if "\u2581" in t[1:]], "a piece spans a word boundary"
    assert not [t for t in pieces if any(c.isdigit() for c in t) and len(t.strip("\u2581")) > 1]
    assert tokenizer.tokenize("This image is fake.") == [
        "\u2581This",
        "\u2581image",
        "\u2581is",
        "\u2581fake",
        ".",
    ]
    assert tokenizer.tokenize("12, 340") == ["\u2581", "1", "2", ",", "\u2581", "3", "4", "0"]
    anchors = resolve_anchor_tokens(tokenizer, ["fake"], ["real"])
    verdict = tokenizer.encode("This image is real.", add_special_tokens=False)[3]
    assert verdict in anchors.real_ids and verdict not in anchors.fake_ids


def test_swift_sft_and_dpo_run_on_tiny_llava(tiny_llava, tmp_path):
    dataset = _sft_dataset(tmp_path)
    for kind in ("sft", "dpo"):
        out = tmp_path / f"out_{kind}"
        command = ["sft"] if kind == "sft" else ["rlhf", "--rlhf_type", "dpo", "--rpo_alpha", "1.0"]
        args = [
            *command,
            *_common_train_args(tiny_llava, dataset, out),
            "--model_type",
            "llava1_6_mistral_hf",
        ]
        log = tmp_path / f"swift_{kind}.log"
        _assert_trained(_run_swift(args, log), out, log, 2)
