"""Tiny random-weight vision-language models for the CPU smoke path, built locally with no hub access.

``build_tiny_qwen2_5_vl(out_dir)`` writes a complete Hugging Face model folder (about 40 MB:
config, safetensors, tokenizer, image processor, processor config, chat template, generation
config) that transformers loads as ``Qwen2_5_VLForConditionalGeneration`` and ms-swift 4.6 as
model_type ``qwen2_5_vl``. The weights are random: the model learns nothing useful; it exists so
that every training stage really runs a few steps on a CPU.

Design constraints:
- The tokenizer is a byte-level BPE trained here with the ``tokenizers`` library on a small
  corpus that contains the markup the responses use, so training sequences stay short: what every
  registered response format declares as its corpus (FakeXplain's ``<think>``, ``<tag>``,
  ``<verdict>``, ``{"bbox_2d": [...], "label": ...}`` and six tags, Fake-HR1's think block,
  free-text verdicts; a plugin's own), the texts of every registered synthetic layout (the
  FakeXplained chat templates and vocabulary), real/fake and digits.
- Qwen's special tokens keep their real ids (151643...151664): ms-swift hard-codes
  ``image_token_id = 151655`` (swift/template/templates/qwen.py). Unreachable filler tokens pad
  the trained vocabulary up to 151643; the embedding matrix has Qwen2.5-VL-3B's 151936 rows.
- The image processor's min/max pixels are small (56*56 .. 112*112 by default, from
  conf/data_prep/tiny_qwen2_5_vl.yaml) so an image costs a handful of visual tokens. Data prepared
  for this model must use the same bounds (the ``min_pixels``/``max_pixels`` converter options,
  and ``MAX_PIXELS`` for ms-swift); the smoke overlays take them from the same file.
- Everything is seeded: the same arguments give byte-identical weights and tokenizer files.

Building and loading need ``data_prep.cpu_compat`` on a machine without torchvision (it is applied
here; it is a no-op elsewhere).

``build_tiny_llava1_6(out_dir)`` builds a tiny LLaVA-NeXT (LLaVA-1.6, Mistral-style text model,
``<image>`` at id 32000 as in llava-hf/llava-v1.6-mistral-7b-hf) that ms-swift 4.6 loads as
``llava1_6_mistral_hf``; ``swift sft --tuner_type lora`` and ``swift rlhf --rlhf_type dpo`` run on
it on a CPU (tests/data_prep/test_tiny_model.py). LLaVA's processor has no video processor, so it
needs none of the cpu_compat patches (passing the plugin does no harm).

``build_tiny_llava1_5(out_dir)`` builds a tiny LLaVA-1.5 (llava-hf/llava-1.5-7b-hf's layout: CLIP vision
tower, MLP projector, Llama text model, the same tokenizer as the tiny LLaVA-1.6) that ms-swift 4.6
loads as ``llava1_5_hf``; ``swift sft --tuner_type full --freeze_vit true`` runs on it on a CPU.

Note for recipes: a local Qwen2.5-VL folder matches two ms-swift templates (qwen2_5_vl and
mimo_vl), so ``swift`` needs ``--template qwen2_5_vl`` next to ``--model_type qwen2_5_vl``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from data_prep import cpu_compat
from data_prep.conf_data import load_yaml
from data_prep.tiny_corpus import tokenizer_corpus

__all__ = [
    "QWEN_SPECIAL_TOKENS",
    "TINY_QWEN_MIN_PIXELS",
    "TINY_QWEN_MAX_PIXELS",
    "build_tiny_qwen2_5_vl",
    "build_tiny_llava1_6",
    "build_tiny_llava1_5",
    "LLAVA_SPECIAL_TOKENS",
    "tokenizer_corpus",
]

_FILES = Path(__file__).resolve().parent / "tiny_model_files"

# Qwen2.5-VL's added tokens and their ids (Qwen/Qwen2.5-VL-*-Instruct tokenizer_config.json).
QWEN_SPECIAL_TOKENS: dict[str, int] = {
    "<|endoftext|>": 151643,
    "<|im_start|>": 151644,
    "<|im_end|>": 151645,
    "<|object_ref_start|>": 151646,
    "<|object_ref_end|>": 151647,
    "<|box_start|>": 151648,
    "<|box_end|>": 151649,
    "<|quad_start|>": 151650,
    "<|quad_end|>": 151651,
    "<|vision_start|>": 151652,
    "<|vision_end|>": 151653,
    "<|vision_pad|>": 151654,
    "<|image_pad|>": 151655,
    "<|video_pad|>": 151656,
    "<tool_call>": 151657,
    "</tool_call>": 151658,
    "<|fim_prefix|>": 151659,
    "<|fim_middle|>": 151660,
    "<|fim_suffix|>": 151661,
    "<|fim_pad|>": 151662,
    "<|repo_name|>": 151663,
    "<|file_sep|>": 151664,
}
# Qwen2.5-VL-3B's embedding rows (config.json vocab_size); ids above the specials are padding.
_QWEN_VOCAB_ROWS = 151936
_QWEN_NON_SPECIAL = ("<tool_call>", "</tool_call>")  # added but not special in Qwen's tokenizer

# conf/data_prep/tiny_qwen2_5_vl.yaml: shared with the smoke overlays, which include it as their
# model's pixel bounds (data prep maps boxes into this frame; ms-swift reads MIN/MAX_PIXELS).
_TINY_QWEN_PIXELS = load_yaml("tiny_qwen2_5_vl.yaml")
TINY_QWEN_MIN_PIXELS: int = _TINY_QWEN_PIXELS["min_pixels"]
TINY_QWEN_MAX_PIXELS: int = _TINY_QWEN_PIXELS["max_pixels"]
# The text model's shape per size name (the same file's `text_sizes`).
TINY_QWEN_SIZES: dict[str, dict[str, float]] = _TINY_QWEN_PIXELS["text_sizes"]
_QWEN_HEAD_DIM = 16  # mrope_section [2, 3, 3] covers 8 rotary pairs
# The final norm's weight: lets the frozen tied embedding give logits up to about +-20 (_make_learnable).
TINY_QWEN_LOGIT_SCALE = 16.0

# Qwen2's pre-tokenizer split (transformers' Qwen2Tokenizer uses the same pattern).
_QWEN_PRETOKENIZE = (
    r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"""
    r"""\s*[\r\n]+|\s+(?!\S)|\s+"""
)


def _train_qwen_tokenizer(extra_texts: Iterable[str], trained_vocab_size: int):
    from tokenizers import (
        Regex,
        Tokenizer,
        decoders,
        normalizers,
        pre_tokenizers,
        trainers,
    )
    from tokenizers.models import BPE
    from transformers.models.qwen2.tokenization_qwen2 import Qwen2Tokenizer

    bpe = Tokenizer(BPE())
    bpe.normalizer = normalizers.NFC()
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN_PRETOKENIZE), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=trained_vocab_size,
        min_frequency=1,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    bpe.train_from_iterator(tokenizer_corpus(extra_texts), trainer)
    model = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(model["vocab"])
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    first_special = min(QWEN_SPECIAL_TOKENS.values())
    if len(vocab) >= first_special:
        raise ValueError(f"trained vocabulary ({len(vocab)}) would overlap Qwen's special ids")
    # No merge produces these strings, so the BPE never emits them; they only move the
    # specials to Qwen's ids.
    for filler_id in range(len(vocab), first_special):
        vocab[f"<|aigi_unused_{filler_id}|>"] = filler_id
    # The constructor adds its eos/pad/unk first; <|endoftext|> must be that first added token.
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges)
    from tokenizers import AddedToken

    ordered = sorted(QWEN_SPECIAL_TOKENS.items(), key=lambda item: item[1])
    tokenizer.add_tokens(
        [AddedToken(token, special=token not in _QWEN_NON_SPECIAL, normalized=False) for token, _ in ordered]
    )
    # Qwen2.5-VL-Instruct ends a turn with <|im_end|> and pads with <|endoftext|>.
    tokenizer.eos_token = "<|im_end|>"
    tokenizer.pad_token = "<|endoftext|>"
    for token, expected_id in QWEN_SPECIAL_TOKENS.items():
        actual = tokenizer.convert_tokens_to_ids(token)
        if actual != expected_id:
            raise RuntimeError(f"tiny tokenizer put {token} at id {actual}, Qwen2.5-VL uses {expected_id}")
    return tokenizer


def build_tiny_qwen2_5_vl(
    out_dir: str | Path,
    *,
    seed: int = 0,
    min_pixels: int = TINY_QWEN_MIN_PIXELS,
    max_pixels: int = TINY_QWEN_MAX_PIXELS,
    trained_vocab_size: int = 2000,
    extra_corpus: Iterable[str] = (),
    overwrite: bool = True,
    logit_scale: float = TINY_QWEN_LOGIT_SCALE,
    size: str = "default",
) -> Path:
    """Write a tiny random-weight Qwen2.5-VL folder to ``out_dir`` and return its path.

    ``size`` names the text model's shape in conf/data_prep/tiny_qwen2_5_vl.yaml (``text_sizes``):
    width, layers and rotary base; heads are 16 wide, the MLP twice the width.

    The folder holds config.json, model.safetensors, generation_config.json, tokenizer files,
    preprocessor_config.json, processor_config.json and chat_template.jinja; load it with
    ``transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained`` /
    ``AutoProcessor.from_pretrained`` or ``swift ... --model <dir> --model_type qwen2_5_vl``.
    """
    cpu_compat.apply()
    import torch
    from transformers import (
        GenerationConfig,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
    )
    from transformers.models.qwen2_5_vl.processing_qwen2_5_vl import Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    if size not in TINY_QWEN_SIZES:
        raise ValueError(f"tiny Qwen2.5-VL size {size!r}: known sizes are {', '.join(TINY_QWEN_SIZES)}")
    shape = TINY_QWEN_SIZES[size]
    width = int(shape["hidden_size"])
    out = _fresh_dir(out_dir, overwrite)
    tokenizer = _train_qwen_tokenizer(extra_corpus, trained_vocab_size)
    specials = QWEN_SPECIAL_TOKENS
    config = Qwen2_5_VLConfig(
        text_config={
            "vocab_size": _QWEN_VOCAB_ROWS,
            "hidden_size": width,
            "intermediate_size": 2 * width,
            "num_hidden_layers": int(shape["num_hidden_layers"]),
            "num_attention_heads": width // _QWEN_HEAD_DIM,
            "num_key_value_heads": width // (2 * _QWEN_HEAD_DIM),
            "max_position_embeddings": 8192,
            # mrope_section sums to head_dim / 2 = 8 (temporal, height, width).
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": float(shape["rope_theta"]),
                "mrope_section": [2, 3, 3],
            },
            "tie_word_embeddings": True,
            "bos_token_id": specials["<|endoftext|>"],
            "eos_token_id": specials["<|im_end|>"],
            "pad_token_id": specials["<|endoftext|>"],
        },
        vision_config={
            "depth": 2,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_heads": 2,
            "out_hidden_size": width,
            "fullatt_block_indexes": [1],
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 112,
        },
        image_token_id=specials["<|image_pad|>"],
        video_token_id=specials["<|video_pad|>"],
        vision_start_token_id=specials["<|vision_start|>"],
        vision_end_token_id=specials["<|vision_end|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config).to(torch.float32)
    _make_learnable(model, tokenizer, logit_scale)
    model.generation_config = GenerationConfig(
        bos_token_id=specials["<|endoftext|>"],
        eos_token_id=[specials["<|im_end|>"], specials["<|endoftext|>"]],
        pad_token_id=specials["<|endoftext|>"],
        do_sample=False,
    )
    model.save_pretrained(out)

    image_processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    chat_template = (_FILES / "qwen2_5_vl_chat_template.jinja").read_text(encoding="utf-8")
    tokenizer.chat_template = chat_template
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=None,
        chat_template=chat_template,
    )
    processor.save_pretrained(out)
    # Readers other than transformers' AutoProcessor (vLLM, older loaders) look for this file.
    image_processor.save_pretrained(out)
    (out / "model.safetensors").chmod(0o644)
    return out


def _make_learnable(model: Any, tokenizer: Any, logit_scale: float) -> None:
    """Let LoRA (which leaves the tied embedding and the norms frozen) reach confident logits.

    Output logits are the final RMSNorm's output (length ``sqrt(hidden) * weight``) times the tied
    embedding rows (length ``sqrt(hidden) * 0.02`` at the default init): with weight 1 no logit
    can exceed about 1.3, so over 151,936 rows every next token stays nearly uniform and sampled
    GRPO answers are noise whatever SFT taught. The final norm's weight is set to ``logit_scale``
    instead, and the rows no text can reach (the filler tokens between the trained vocabulary and
    Qwen's specials, the padding rows after them) are zero, so their logits stay at 0 and 150,000
    of them cannot outweigh the answer.
    """
    import torch

    vocab = tokenizer.get_vocab()
    unreachable = [i for token, i in vocab.items() if token.startswith("<|aigi_unused_")]
    unreachable += range(max(QWEN_SPECIAL_TOKENS.values()) + 1, _QWEN_VOCAB_ROWS)
    with torch.no_grad():
        model.get_input_embeddings().weight[torch.tensor(unreachable)] = 0.0
        model.model.language_model.norm.weight.fill_(logit_scale)


# llava-hf/llava-v1.6-mistral-7b-hf: <unk>/<s>/</s> at 0/1/2, byte-fallback tokens <0x00>..<0xFF> at
# 3..258 (Mistral's sentencepiece layout), <image> at 32000, <pad> at 32001, 32064 embedding rows.
LLAVA_SPECIAL_TOKENS: dict[str, int] = {"<unk>": 0, "<s>": 1, "</s>": 2, "<image>": 32000, "<pad>": 32001}
_LLAVA_VOCAB_ROWS = 32064
TINY_LLAVA_IMAGE_SIZE = 56


def _train_llava_tokenizer(extra_texts: Iterable[str], trained_vocab_size: int):
    from tokenizers import AddedToken, Tokenizer, pre_tokenizers, trainers
    from tokenizers.models import BPE
    from transformers.models.llama.tokenization_llama import LlamaTokenizer

    bpe = Tokenizer(BPE())
    # Trained as sentencepiece trains Llama's and Mistral's (split by whitespace, by script, each
    # digit alone): no learned piece spans two words or a word and its full stop, so the verdict
    # is its own token ("▁fake") and token soft-scoring (003 eq. 2) finds it. Loaded with
    # transformers' own Llama pre-tokenizer, as the real tokenizers are.
    bpe.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first", split=True),
            pre_tokenizers.Punctuation(),
            pre_tokenizers.Digits(individual_digits=True),
        ]
    )
    trainer = trainers.BpeTrainer(vocab_size=trained_vocab_size, min_frequency=1, show_progress=False)
    bpe.train_from_iterator(tokenizer_corpus(extra_texts), trainer)
    model = json.loads(bpe.to_str())["model"]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in model["merges"]]
    vocab: dict[str, int] = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for byte in range(256):
        vocab[f"<0x{byte:02X}>"] = len(vocab)
    for token in sorted(model["vocab"], key=model["vocab"].get):
        vocab.setdefault(token, len(vocab))
    first_added = LLAVA_SPECIAL_TOKENS["<image>"]
    if len(vocab) >= first_added:
        raise ValueError(f"trained vocabulary ({len(vocab)}) would overlap LLaVA's <image> id {first_added}")
    for filler_id in range(len(vocab), first_added):
        vocab[f"<aigi_unused_{filler_id}>"] = filler_id
    tokenizer = LlamaTokenizer(vocab=vocab, merges=merges)
    tokenizer.add_tokens([AddedToken("<image>", special=True, normalized=False)], special_tokens=True)
    tokenizer.add_special_tokens({"pad_token": "<pad>"})
    for token, expected_id in LLAVA_SPECIAL_TOKENS.items():
        actual = tokenizer.convert_tokens_to_ids(token)
        if actual != expected_id:
            raise RuntimeError(
                f"tiny LLaVA tokenizer put {token} at id {actual}, llava-v1.6-mistral uses {expected_id}"
            )
    return tokenizer


def build_tiny_llava1_6(
    out_dir: str | Path,
    *,
    seed: int = 0,
    trained_vocab_size: int = 2000,
    extra_corpus: Iterable[str] = (),
    overwrite: bool = True,
) -> Path:
    """Write a tiny random-weight LLaVA-1.6 (LLaVA-NeXT, Mistral text model) folder and return its path.

    Same layout as llava-hf/llava-v1.6-mistral-7b-hf (LlavaNextForConditionalGeneration, CLIP
    vision tower, <image> at id 32000), shrunk: CLIP 56x56 input with 14-pixel patches, 2 layers of
    width 32; Mistral text model width 64, 2 layers; any-resolution grid of 56-pixel tiles up to
    112x112. ms-swift loads it as ``llava1_6_mistral_hf``.
    """
    cpu_compat.apply()
    from transformers import LlavaNextConfig, LlavaNextForConditionalGeneration
    from transformers.models.llava_next.image_processing_pil_llava_next import (
        LlavaNextImageProcessorPil,
    )
    from transformers.models.llava_next.processing_llava_next import LlavaNextProcessor

    out = _fresh_dir(out_dir, overwrite)
    tokenizer = _train_llava_tokenizer(extra_corpus, trained_vocab_size)
    side = TINY_LLAVA_IMAGE_SIZE
    pinpoints = [[side, 2 * side], [2 * side, side], [2 * side, 2 * side]]
    config = LlavaNextConfig(
        vision_config=_tiny_clip_vision_config(side),
        text_config=_tiny_llava_text_config("mistral", num_key_value_heads=2),
        image_token_index=LLAVA_SPECIAL_TOKENS["<image>"],
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        pad_token_id=LLAVA_SPECIAL_TOKENS["<pad>"],
        tie_word_embeddings=False,
    )
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": side},
        crop_size={"height": side, "width": side},
        image_grid_pinpoints=pinpoints,
    )
    _save_tiny_llava(
        out,
        LlavaNextForConditionalGeneration,
        config,
        seed,
        tokenizer,
        image_processor,
        LlavaNextProcessor,
        "llava1_6_mistral_chat_template.jinja",
    )
    return out


def build_tiny_llava1_5(
    out_dir: str | Path,
    *,
    seed: int = 0,
    trained_vocab_size: int = 2000,
    extra_corpus: Iterable[str] = (),
    overwrite: bool = True,
) -> Path:
    """Write a tiny random-weight LLaVA-1.5 folder (llava-hf/llava-1.5-7b-hf's layout) and return its path.

    LlavaForConditionalGeneration with a CLIP vision tower (56x56 input, 14-pixel patches, 2 layers
    of width 32: 16 image tokens after the class token is dropped), a two-layer GELU projector and a
    Llama text model (width 64, 2 layers); the tokenizer is the tiny LLaVA-1.6 one (llava-1.5-7b-hf
    also has <image> at 32000, <pad> at 32001 and 32064 embedding rows). The chat template is
    llava-hf's ``USER: <image>\\n... ASSISTANT:``. ms-swift 4.6 loads it as ``llava1_5_hf``
    (template ``llava1_5_hf``).
    """
    cpu_compat.apply()
    from transformers import LlavaConfig, LlavaForConditionalGeneration
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil
    from transformers.models.llava.processing_llava import LlavaProcessor

    out = _fresh_dir(out_dir, overwrite)
    tokenizer = _train_llava_tokenizer(extra_corpus, trained_vocab_size)
    side = TINY_LLAVA_IMAGE_SIZE
    config = LlavaConfig(
        vision_config=_tiny_clip_vision_config(side),
        text_config=_tiny_llava_text_config("llama", num_key_value_heads=4),
        image_token_index=LLAVA_SPECIAL_TOKENS["<image>"],
        projector_hidden_act="gelu",
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        pad_token_id=LLAVA_SPECIAL_TOKENS["<pad>"],
        tie_word_embeddings=False,
    )
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
    )
    _save_tiny_llava(
        out,
        LlavaForConditionalGeneration,
        config,
        seed,
        tokenizer,
        image_processor,
        LlavaProcessor,
        "llava1_5_chat_template.jinja",
    )
    return out


def build_tiny_clip_vision(out_dir: str | Path, *, seed: int = 0, overwrite: bool = True) -> Path:
    """Write a tiny random-weight CLIP vision model with its projection and return its path.

    The stand-in for openai/clip-vit-large-patch14-336 (the tower of LLaVA-1.6) that the
    AIGI-Holmes visual expert trains on: ``CLIPVisionModelWithProjection`` with the vision config
    of both tiny LLaVAs (``_tiny_clip_vision_config``), so the trained expert fits their tower,
    and a CLIP image processor for its 56-pixel input.
    """
    cpu_compat.apply()
    import torch
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    out = _fresh_dir(out_dir, overwrite)
    side = TINY_LLAVA_IMAGE_SIZE
    vision = dict(_tiny_clip_vision_config(side))
    vision.pop("model_type")
    torch.manual_seed(seed)
    model = CLIPVisionModelWithProjection(CLIPVisionConfig(**vision)).to(torch.float32)
    model.save_pretrained(out)
    CLIPImageProcessorPil(
        size={"shortest_edge": side}, crop_size={"height": side, "width": side}
    ).save_pretrained(out)
    return out


def _tiny_clip_vision_config(side: int) -> dict[str, Any]:
    """The CLIP vision tower both tiny LLaVAs share: 14-pixel patches, 2 layers of width 32."""
    return {
        "model_type": "clip_vision_model",
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "image_size": side,
        "patch_size": 14,
        "projection_dim": 32,
    }


def _tiny_llava_text_config(model_type: str, num_key_value_heads: int) -> dict[str, Any]:
    """A width-64, 2-layer text model over the tiny LLaVA tokenizer's embedding rows."""
    return {
        "model_type": model_type,
        "vocab_size": _LLAVA_VOCAB_ROWS,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": num_key_value_heads,
        "max_position_embeddings": 4096,
        "bos_token_id": LLAVA_SPECIAL_TOKENS["<s>"],
        "eos_token_id": LLAVA_SPECIAL_TOKENS["</s>"],
        "pad_token_id": LLAVA_SPECIAL_TOKENS["<pad>"],
        "tie_word_embeddings": False,
    }


def _save_tiny_llava(
    out: Path,
    model_cls: Any,
    config: Any,
    seed: int,
    tokenizer: Any,
    image_processor: Any,
    processor_cls: Any,
    template_file: str,
) -> None:
    """Build a tiny LLaVA with seeded random float32 weights; save it, its tokenizer and processor."""
    import torch
    from transformers import GenerationConfig

    torch.manual_seed(seed)
    model = model_cls(config).to(torch.float32)
    model.generation_config = GenerationConfig(
        bos_token_id=LLAVA_SPECIAL_TOKENS["<s>"],
        eos_token_id=LLAVA_SPECIAL_TOKENS["</s>"],
        pad_token_id=LLAVA_SPECIAL_TOKENS["<pad>"],
        do_sample=False,
    )
    model.save_pretrained(out)
    chat_template = (_FILES / template_file).read_text(encoding="utf-8")
    tokenizer.chat_template = chat_template
    processor = processor_cls(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        chat_template=chat_template,
        # the CLIP class token, as in llava-hf's processor_config.json
        num_additional_image_tokens=1,
    )
    processor.save_pretrained(out)
    image_processor.save_pretrained(out)
    (out / "model.safetensors").chmod(0o644)


def _fresh_dir(out_dir: str | Path, overwrite: bool) -> Path:
    out = Path(out_dir).resolve()
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{out} is not empty; pass overwrite=True or choose another --output-dir")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    return out
