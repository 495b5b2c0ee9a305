"""The expert network: CLIP vision tower + visual projection (frozen), LoRA (PEFT), linear head.

Baselines_AIGI (wyczzy/AIGI-Holmes bae30b9): ``models/clip_models.py`` CLIPModel.forward is
``self.fc(self.model.encode_image(x))`` with ``fc = nn.Linear(768, 1)`` for ViT-L/14@336px, and
``encode_image`` returns ``ln_post(x[:, 0, :]) @ proj`` (``models/clip/model.py``
VisionTransformer.forward): the head reads the *projected* class embedding (768-d for ViT-L/14),
which is transformers' ``CLIPVisionModelWithProjection(...).image_embeds``. The projection stays
frozen (``networks/trainer.py`` trains only ``lora_*`` and ``fc*``); the authors save it apart
(``proj.pth``) because LLaVA's tower has none. The head's weight starts from N(0, 0.02)
(``init_gain``), its bias from PyTorch's default.

LoRA: ``loratorch.MultiheadAttention(d_model, n_head, r=4, lora_alpha=8)`` in every residual
attention block, on q, k, v (one A/B pair over the fused in_proj_weight) and the output
projection. Here PEFT puts rank-4, alpha-8 adapters on each of transformers' ``q_proj``,
``k_proj``, ``v_proj`` and ``out_proj``: the same layers, rank and scale (alpha / r = 2); the
fused q/k/v adapter of loratorch shares its down-projection A across q, k and v, PEFT's do not.
Biases are not adapted in either.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = [
    "HEAD_FILE",
    "META_FILE",
    "ExpertClassifier",
    "build_trainable",
    "load_head",
    "load_merged",
    "load_unmerged",
    "save_head",
]

HEAD_FILE = "head.safetensors"
META_FILE = "expert.json"


class ExpertClassifier(nn.Module):
    """backbone (CLIPVisionModelWithProjection, possibly PEFT-wrapped) -> image_embeds -> head."""

    def __init__(self, backbone: nn.Module, head: nn.Linear) -> None:
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        embeds = self.backbone(pixel_values=pixel_values).image_embeds
        return self.head(embeds).squeeze(-1)


def _clip(path: str | Path) -> nn.Module:
    from transformers import CLIPVisionModelWithProjection

    model = CLIPVisionModelWithProjection.from_pretrained(str(path), dtype=torch.float32)
    return model


def build_trainable(
    base: str | Path,
    *,
    rank: int,
    alpha: int,
    dropout: float,
    targets: tuple[str, ...],
    head_init_std: float,
) -> ExpertClassifier:
    """The base CLIP with fresh LoRA adapters and a fresh head; only those two train."""
    from peft import LoraConfig, get_peft_model

    clip = _clip(base)
    for parameter in clip.parameters():
        parameter.requires_grad_(False)
    lora = LoraConfig(
        r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets), bias="none"
    )
    backbone = get_peft_model(clip, lora)
    head = nn.Linear(clip.config.projection_dim, 1)
    nn.init.normal_(head.weight, 0.0, head_init_std)
    return ExpertClassifier(backbone, head)


def save_head(head: nn.Linear, folder: Path) -> None:
    from safetensors.torch import save_file

    save_file(
        {"weight": head.weight.detach().contiguous(), "bias": head.bias.detach().contiguous()},
        str(folder / HEAD_FILE),
    )


def load_head(folder: str | Path) -> nn.Linear:
    from safetensors.torch import load_file

    tensors = load_file(str(Path(folder) / HEAD_FILE))
    weight = tensors["weight"]
    head = nn.Linear(weight.shape[1], weight.shape[0])
    head.load_state_dict(tensors)
    return head


def read_meta(folder: str | Path) -> dict[str, Any]:
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"{folder} holds no {META_FILE}: not an expert folder written by `python -m expert`"
        )
    return json.loads(path.read_text(encoding="utf-8"))


def load_unmerged(adapter_dir: str | Path, base: str | Path) -> ExpertClassifier:
    """Base CLIP + the saved LoRA adapter (not merged) + head: the model as it trained."""
    from peft import PeftModel

    backbone = PeftModel.from_pretrained(_clip(base), str(adapter_dir))
    return ExpertClassifier(backbone, load_head(adapter_dir)).eval()


def load_merged(folder: str | Path) -> ExpertClassifier:
    """A merged expert folder (``python -m expert swap`` output): plain CLIP weights + head."""
    return ExpertClassifier(_clip(folder), load_head(folder)).eval()
