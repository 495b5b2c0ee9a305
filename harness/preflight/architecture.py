"""A model's shape, read from its config.json (or the model group's copy of it) without torch.

The pre-flight check and the vLLM parallelism check need head counts, layer widths and the
parameter count of every part (language model, vision tower, aligner, LM head). They are read
from the model folder's ``config.json`` when it exists (through transformers' ``AutoConfig``, so
fields a checkpoint leaves at their defaults are filled in exactly as when the model loads),
else from ``model.config_json`` in ``conf/model/<name>.yaml``, a copy of the published
config.json's fields.

Parameter counts here are closed-form per architecture (Qwen2.5-VL, LLaVA-1.5, LLaVA-NeXT): the
CLI must stay fast. ``harness.preflight.meta_count`` instantiates the model on the meta device
(no weights) and the tests check both agree to the parameter on the tiny and the real configs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from common.errors import HarnessError

# The parts of a multimodal model, as ms-swift's model_arch names them (swift/model/model_arch.py):
# freeze_llm / freeze_vit / freeze_aligner and LoRA's all-linear select among them. lm_head and the
# token embeddings belong to the language model for freezing, but all-linear leaves lm_head out.
PARTS = ("language_model", "vision_tower", "aligner")


class ArchitectureError(HarnessError, ValueError):
    """A config.json this module cannot read; the message names the field."""


@dataclass(frozen=True)
class Linear:
    """`count` identical nn.Linear layers of one part."""

    name: str
    part: str
    in_features: int
    out_features: int
    bias: bool
    count: int = 1

    @property
    def params(self) -> int:
        return (self.in_features * self.out_features + (self.out_features if self.bias else 0)) * self.count

    @property
    def params_each(self) -> int:
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)


@dataclass(frozen=True)
class TextShape:
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_position_embeddings: int
    tie_word_embeddings: bool


@dataclass(frozen=True)
class VisionShape:
    kind: str  # qwen2_5_vl | clip | intern_vit
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    patch_size: int
    # Qwen2.5-VL: pixels per visual token after the 2x2 merge (28 x 28); CLIP: a fixed tile.
    spatial_merge_size: int = 1
    image_size: int | None = None
    max_tiles: int = 1  # LLaVA-NeXT any-resolution: the most image_size tiles beside the base image


def max_image_tokens(vision: VisionShape, max_pixels: int | None) -> int:
    """The most visual tokens one image becomes in the language model's sequence."""
    if vision.kind == "qwen2_5_vl":
        per_token = (vision.patch_size * vision.spatial_merge_size) ** 2  # 28 x 28 pixels
        return (max_pixels or 12845056) // per_token
    if vision.kind == "intern_vit":
        # InternVL: up to max_tiles 448 x 448 tiles plus a thumbnail, each (448 / 14 / 2)^2 = 256
        # tokens after the pixel shuffle (downsample_ratio 0.5); the pixel budget does not apply.
        per_tile = ((vision.image_size or 448) // vision.patch_size // vision.spatial_merge_size) ** 2
        return per_tile * (vision.max_tiles + (1 if vision.max_tiles > 1 else 0))
    side = (vision.image_size or 336) // vision.patch_size
    if vision.max_tiles <= 1:
        return side * side  # LLaVA-1.5: 576 for 336 / 14
    # LLaVA-NeXT: the base image, the tiles, one newline token per row of the tiled grid.
    rows = side * int(vision.max_tiles**0.5 + 0.5)
    return side * side * (1 + vision.max_tiles) + rows


@dataclass(frozen=True)
class Architecture:
    model_type: str
    text: TextShape
    vision: VisionShape
    linears: tuple[Linear, ...]
    other_params: Mapping[str, int]  # part -> parameters that are not in a Linear (norms, embeddings)
    source: str  # where the shape was read: a config.json path or conf/model
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def part_params(self, part: str) -> int:
        return sum(lin.params for lin in self.linears if lin.part == part) + int(
            self.other_params.get(part, 0)
        )

    @property
    def total_params(self) -> int:
        return sum(self.part_params(p) for p in (*PARTS, "lm_head"))

    @property
    def largest_layer_params(self) -> int:
        """The biggest single module (DeepSpeed's largest_layer_params: a ZeRO-3 gather unit)."""
        biggest = max(lin.params_each for lin in self.linears)
        embed = self.text.vocab_size * self.text.hidden_size
        return max(biggest, embed)

    def linear_layers(self, parts: set[str]) -> Iterator[Linear]:
        return (lin for lin in self.linears if lin.part in parts)


def read_config_json(model_dir: str | Path) -> dict[str, Any]:
    """config.json with every default filled in, as transformers loads it (imports transformers)."""
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(str(model_dir)).to_dict()


def architecture_of(
    model_path: str | None, fallback: Mapping[str, Any] | None, fallback_source: str = "conf/model"
) -> Architecture:
    """The shape of the model at `model_path` (its config.json) or of `fallback` (config.json fields)."""
    if model_path and (Path(model_path) / "config.json").is_file():
        config_file = Path(model_path) / "config.json"
        try:
            data = read_config_json(model_path)
        except Exception:  # transformers missing or the folder half-written: the raw file
            data = json.loads(config_file.read_text())
        return parse_architecture(data, str(config_file))
    if not fallback:
        raise ArchitectureError(
            f"{model_path or 'the model'} has no config.json yet and model.config_json is null "
            f"(known once the model exists; or copy its config.json fields there)"
        )
    return parse_architecture(dict(fallback), fallback_source)


def parse_architecture(config: Mapping[str, Any], source: str) -> Architecture:
    model_type = str(config.get("model_type") or "")
    if model_type == "qwen2_5_vl":
        return _qwen2_5_vl(config, source)
    if model_type in ("llava", "llava_next"):
        return _llava(config, source, next_=model_type == "llava_next")
    if model_type == "internvl_chat":
        return _internvl_chat(config, source)
    raise ArchitectureError(
        f"{source}: model_type {model_type!r} is not one the pre-flight knows "
        f"(qwen2_5_vl, llava, llava_next, internvl_chat); run with allow_oom_risk=true to skip the "
        f"memory check"
    )


def _get(config: Mapping[str, Any], key: str, source: str, default: Any = None) -> Any:
    value = config.get(key, default)
    if value is None:
        raise ArchitectureError(f"{source}: config.json has no {key}")
    return value


def _text_shape(text: Mapping[str, Any], source: str, tie: bool) -> TextShape:
    hidden = int(_get(text, "hidden_size", source))
    heads = int(_get(text, "num_attention_heads", source))
    kv = int(text.get("num_key_value_heads") or heads)
    head_dim = int(text.get("head_dim") or hidden // heads)
    return TextShape(
        hidden_size=hidden,
        intermediate_size=int(_get(text, "intermediate_size", source)),
        num_layers=int(_get(text, "num_hidden_layers", source)),
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        vocab_size=int(_get(text, "vocab_size", source)),
        max_position_embeddings=int(text.get("max_position_embeddings") or 0),
        tie_word_embeddings=tie,
    )


def _decoder_linears(text: TextShape, qkv_bias: bool, o_bias: bool) -> list[Linear]:
    h, n = text.hidden_size, text.num_layers
    q_out = text.num_heads * text.head_dim
    kv_out = text.num_kv_heads * text.head_dim
    part = "language_model"
    return [
        Linear("q_proj", part, h, q_out, qkv_bias, n),
        Linear("k_proj", part, h, kv_out, qkv_bias, n),
        Linear("v_proj", part, h, kv_out, qkv_bias, n),
        Linear("o_proj", part, q_out, h, o_bias, n),
        Linear("gate_proj", part, h, text.intermediate_size, False, n),
        Linear("up_proj", part, h, text.intermediate_size, False, n),
        Linear("down_proj", part, text.intermediate_size, h, False, n),
    ]


def _qwen2_5_vl(config: Mapping[str, Any], source: str) -> Architecture:
    # The hub's config.json is flat; transformers 5 writes the text fields under text_config.
    text_cfg = config.get("text_config") or config
    tie = bool(text_cfg.get("tie_word_embeddings", config.get("tie_word_embeddings", False)))
    text = _text_shape(text_cfg, source, tie)
    vision_cfg = _get(config, "vision_config", source)
    vh = int(_get(vision_cfg, "hidden_size", source))
    vi = int(_get(vision_cfg, "intermediate_size", source))
    depth = int(_get(vision_cfg, "depth", source))
    merge = int(vision_cfg.get("spatial_merge_size", 2))
    patch = int(vision_cfg.get("patch_size", 14))
    temporal = int(vision_cfg.get("temporal_patch_size", 2))
    channels = int(vision_cfg.get("in_channels") or vision_cfg.get("in_chans") or 3)
    out_hidden = int(vision_cfg.get("out_hidden_size") or text.hidden_size)
    vision = VisionShape(
        kind="qwen2_5_vl",
        hidden_size=vh,
        intermediate_size=vi,
        num_layers=depth,
        num_heads=int(_get(vision_cfg, "num_heads", source)),
        patch_size=patch,
        spatial_merge_size=merge,
    )
    # transformers models/qwen2_5_vl/modeling_qwen2_5_vl.py: biased q/k/v, o_proj without bias;
    # vision blocks: qkv and proj with bias, a gated MLP with bias, two RMSNorms (weight only);
    # the merger: RMSNorm, Linear(4 vh, 4 vh), GELU, Linear(4 vh, out).
    merged = vh * merge * merge
    linears = _decoder_linears(text, qkv_bias=True, o_bias=False) + [
        Linear("qkv", "vision_tower", vh, 3 * vh, True, depth),
        Linear("proj", "vision_tower", vh, vh, True, depth),
        Linear("gate_proj", "vision_tower", vh, vi, True, depth),
        Linear("up_proj", "vision_tower", vh, vi, True, depth),
        Linear("down_proj", "vision_tower", vi, vh, True, depth),
        Linear("mlp.0", "aligner", merged, merged, True),
        Linear("mlp.2", "aligner", merged, out_hidden, True),
    ]
    embed = text.vocab_size * text.hidden_size
    other = {
        # token embeddings, two RMSNorms per layer, the final norm
        "language_model": embed + 2 * text.hidden_size * text.num_layers + text.hidden_size,
        # Conv3d patch embedding without bias, two RMSNorms per block
        "vision_tower": channels * temporal * patch * patch * vh + 2 * vh * depth,
        "aligner": vh,  # ln_q
    }
    if not tie:
        linears.append(Linear("lm_head", "lm_head", text.hidden_size, text.vocab_size, False))
    return Architecture("qwen2_5_vl", text, vision, tuple(linears), other, source, dict(config))


def _llava(config: Mapping[str, Any], source: str, next_: bool) -> Architecture:
    text_cfg = _get(config, "text_config", source)
    tie = bool(config.get("tie_word_embeddings", text_cfg.get("tie_word_embeddings", False)))
    text = _text_shape(text_cfg, source, tie)
    vision_cfg = _get(config, "vision_config", source)
    vh = int(_get(vision_cfg, "hidden_size", source))
    vi = int(_get(vision_cfg, "intermediate_size", source))
    layers = int(_get(vision_cfg, "num_hidden_layers", source))
    patch = int(_get(vision_cfg, "patch_size", source))
    image = int(_get(vision_cfg, "image_size", source))
    channels = int(vision_cfg.get("num_channels") or 3)
    vision = VisionShape(
        kind="clip",
        hidden_size=vh,
        intermediate_size=vi,
        num_layers=layers,
        num_heads=int(_get(vision_cfg, "num_attention_heads", source)),
        patch_size=patch,
        image_size=image,
        max_tiles=_max_tiles(config, image) if next_ else 1,
    )
    feature_layer = config.get("vision_feature_layer", -2)
    projector_in = vh * (len(feature_layer) if isinstance(feature_layer, (list, tuple)) else 1)
    th = text.hidden_size
    # transformers models/clip/modeling_clip.py (q/k/v/out and fc1/fc2 with bias, LayerNorms with
    # bias) and models/llava/modeling_llava.py (LlavaMultiModalProjector: two biased Linears).
    # Llama and Mistral decoders have no attention bias (attention_bias false in both configs).
    attention_bias = bool(text_cfg.get("attention_bias", False))
    mlp_bias = bool(text_cfg.get("mlp_bias", False))
    linears = _decoder_linears(text, qkv_bias=attention_bias, o_bias=attention_bias)
    if mlp_bias:
        raise ArchitectureError(f"{source}: mlp_bias true is not supported by the pre-flight count")
    linears += [
        Linear("q_proj", "vision_tower", vh, vh, True, layers),
        Linear("k_proj", "vision_tower", vh, vh, True, layers),
        Linear("v_proj", "vision_tower", vh, vh, True, layers),
        Linear("out_proj", "vision_tower", vh, vh, True, layers),
        Linear("fc1", "vision_tower", vh, vi, True, layers),
        Linear("fc2", "vision_tower", vi, vh, True, layers),
        Linear("linear_1", "aligner", projector_in, th, True),
        Linear("linear_2", "aligner", th, th, True),
    ]
    positions = (image // patch) ** 2 + 1  # patches plus the class token
    other = {
        "language_model": text.vocab_size * th + 2 * th * text.num_layers + th,
        # class embedding, Conv2d patch embedding without bias, position embeddings, pre- and
        # post-LayerNorm, two LayerNorms per layer (weight and bias each)
        "vision_tower": vh
        + channels * patch * patch * vh
        + positions * vh
        + 2 * 2 * vh
        + 2 * 2 * vh * layers,
        "aligner": th if next_ else 0,  # LLaVA-NeXT's image_newline
    }
    if not tie:
        linears.append(Linear("lm_head", "lm_head", th, text.vocab_size, False))
    return Architecture(
        config.get("model_type", "llava"), text, vision, tuple(linears), other, source, dict(config)
    )


# transformers' LlavaNextConfig default (models/llava_next/configuration_llava_next.py).
_DEFAULT_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def _max_tiles(config: Mapping[str, Any], image: int) -> int:
    pinpoints = config.get("image_grid_pinpoints") or _DEFAULT_PINPOINTS
    return max((h // image) * (w // image) for h, w in pinpoints)


def _internvl_chat(config: Mapping[str, Any], source: str) -> Architecture:
    """InternVL 1.5-2.5 (remote code ``modeling_internvl_chat.py``: InternViT + mlp1 + InternLM2).

    Not in transformers, so no meta-device count checks this closed form; it is checked against
    the model cards' totals instead (tests/preflight/test_architecture.py). Parts as ms-swift's
    ``ModelArch.internvl`` names them: vision_model, mlp1, language_model.
    """
    text_cfg = _get(config, "llm_config", source)
    if str(text_cfg.get("model_type")) != "internlm2":
        raise ArchitectureError(
            f"{source}: llm_config.model_type {text_cfg.get('model_type')!r}: the pre-flight counts "
            f"InternVL with an InternLM2 language model only"
        )
    tie = bool(text_cfg.get("tie_word_embeddings", False))
    text = _text_shape(text_cfg, source, tie)
    vision_cfg = _get(config, "vision_config", source)
    vh = int(_get(vision_cfg, "hidden_size", source))
    vi = int(_get(vision_cfg, "intermediate_size", source))
    layers = int(_get(vision_cfg, "num_hidden_layers", source))
    patch = int(_get(vision_cfg, "patch_size", source))
    image = int(config.get("force_image_size") or _get(vision_cfg, "image_size", source))
    channels = int(vision_cfg.get("num_channels") or 3)
    ratio = float(config.get("downsample_ratio", 0.5))
    merge = int(round(1 / ratio))
    vision = VisionShape(
        kind="intern_vit",
        hidden_size=vh,
        intermediate_size=vi,
        num_layers=layers,
        num_heads=int(_get(vision_cfg, "num_attention_heads", source)),
        patch_size=patch,
        spatial_merge_size=merge,
        image_size=image,
        max_tiles=int(config.get("max_dynamic_patch", 12)),
    )
    h, n = text.hidden_size, text.num_layers
    bias = bool(text_cfg.get("bias", False))
    qkv_out = (text.num_heads + 2 * text.num_kv_heads) * text.head_dim
    # InternLM2 (modeling_internlm2.py): fused wqkv, wo, w1/w3 gate and up, w2 down, no bias by default.
    linears = [
        Linear("wqkv", "language_model", h, qkv_out, bias, n),
        Linear("wo", "language_model", text.num_heads * text.head_dim, h, bias, n),
        Linear("w1", "language_model", h, text.intermediate_size, False, n),
        Linear("w3", "language_model", h, text.intermediate_size, False, n),
        Linear("w2", "language_model", text.intermediate_size, h, False, n),
    ]
    # InternViT (modeling_intern_vit.py): fused qkv (bias per qkv_bias), proj and fc1/fc2 with bias;
    # per layer norm1/norm2 (LayerNorm with bias, or RMSNorm), layer scales ls1/ls2, optional q/k
    # RMSNorms over the full width.
    qkv_bias = bool(vision_cfg.get("qkv_bias", True))
    linears += [
        Linear("qkv", "vision_tower", vh, 3 * vh, qkv_bias, layers),
        Linear("proj", "vision_tower", vh, vh, True, layers),
        Linear("fc1", "vision_tower", vh, vi, True, layers),
        Linear("fc2", "vision_tower", vi, vh, True, layers),
    ]
    # mlp1: LayerNorm(vh * merge^2), Linear(vh * merge^2, h), GELU, Linear(h, h).
    shuffled = vh * merge * merge
    linears += [
        Linear("mlp1.1", "aligner", shuffled, h, True),
        Linear("mlp1.3", "aligner", h, h, True),
    ]
    norm = 1 if str(vision_cfg.get("norm_type", "layer_norm")) == "rms_norm" else 2
    qk_norms = 2 * vh if vision_cfg.get("qk_normalization") else 0
    positions = (image // patch) ** 2 + 1  # patches plus the class token
    other = {
        "language_model": text.vocab_size * h + 2 * h * n + h,  # tok_embeddings, two RMSNorms per layer, norm
        # class embedding, Conv2d patch embedding with bias, position embeddings; per layer two
        # norms, two layer scales and the q/k norms
        "vision_tower": vh
        + channels * patch * patch * vh
        + vh
        + positions * vh
        + layers * (2 * norm * vh + 2 * vh + qk_norms),
        "aligner": 2 * shuffled,  # mlp1.0 LayerNorm
    }
    if not tie:
        linears.append(Linear("output", "lm_head", h, text.vocab_size, False))
    return Architecture("internvl_chat", text, vision, tuple(linears), other, source, dict(config))
