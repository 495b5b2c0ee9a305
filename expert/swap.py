"""``python -m expert swap``: merge the expert's LoRA, then make it LLaVA's vision tower.

What the authors do (wyczzy/AIGI-Holmes bae30b9, Baselines_AIGI): ``convert_weight2hf_config.py``
copies the LoRA-merged q/k/v/out weights of each of the 24 blocks into a transformers
``CLIPVisionModel`` and saves it with ``proj.pth`` (the visual projection) and ``fc.pth`` (the
head) beside it; ``transform_vision_model_config.py`` loads LLaVA-1.6, sets
``llava_model.vision_tower = visual_encoder`` and saves the model with a processor rebuilt from
the CLIP folder (the README's ``llava-v1.6-mistral-7b-hf-ours``). Here:

1. ``<out>/expert/``: PEFT's ``merge_and_unload`` of the trained adapter into the base
   ``CLIPVisionModelWithProjection`` (projection included), the head (``head.safetensors``) and
   ``expert.json`` (preprocessing); ``python -m expert infer`` reads this folder.
2. The expert's vision config must equal LLaVA's ``vision_config`` on ``check_fields``
   (hidden size, patch size, image size, layers, ...); otherwise nothing is written and the
   error lists every difference.
3. ``<out>/llava/``: LLaVA's folder with every tensor of its ``vision_tower``
   replaced by the merged expert's (cast to LLaVA's dtype); the two sets of tower tensors must
   match name for name and shape for shape. Shards without tower tensors and every other file
   (config, tokenizer, processor, chat template, index) are copied byte for byte: LLaVA's own
   image processor stays (the authors' script replaces it with one built from the CLIP folder).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from common.atomic import atomic_folder
from common.errors import HarnessError
from expert.config import ExpertSwapConfig

__all__ = ["ExpertSwapError", "check_vision_configs", "merge_expert", "swap_into_llava", "tensor_hashes"]

# The tower's tensors: `vision_tower.vision_model.<name>` in llava-hf's published checkpoints,
# `vision_tower.<name>` as transformers 5 saves them (both load); `model.` may precede either.
TOWER_MARK = "vision_tower."
EXPERT_PREFIX = "vision_model."


class ExpertSwapError(HarnessError):
    """The expert cannot replace this LLaVA's vision tower; the message lists why."""


def merge_expert(adapter_dir: str | Path, out_dir: str | Path, base: str | Path | None = None) -> Path:
    """Base CLIP + adapter merged, saved with the head and expert.json; returns ``out_dir``."""
    from expert.model import META_FILE, load_unmerged, read_meta, save_head

    meta = read_meta(adapter_dir)
    base_path = Path(base or meta["base_model"])
    model = load_unmerged(adapter_dir, base_path)
    merged = model.backbone.merge_and_unload()
    out = Path(out_dir)
    with atomic_folder(out, sole_writer=True) as tmp:
        merged.save_pretrained(str(tmp))
        save_head(model.head, tmp)
        for name in ("preprocessor_config.json",):
            if (base_path / name).is_file():
                shutil.copyfile(base_path / name, tmp / name)
        meta = {
            **meta,
            "merged_from": str(Path(adapter_dir).resolve()),
            "base_model": str(base_path.resolve()),
        }
        (tmp / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out


def _vision_config(folder: Path, llava: bool) -> Any:
    from transformers import AutoConfig, CLIPVisionConfig

    if llava:
        config = AutoConfig.from_pretrained(str(folder))
        vision = getattr(config, "vision_config", None)
        if vision is None:
            raise ExpertSwapError(f"{folder}/config.json has no vision_config: not a LLaVA model folder")
        return vision
    return CLIPVisionConfig.from_pretrained(str(folder))


def check_vision_configs(expert_dir: str | Path, llava_dir: str | Path, fields: Iterable[str]) -> None:
    """Raise ExpertSwapError listing every field where the expert's config differs from LLaVA's tower."""
    expert = _vision_config(Path(expert_dir), llava=False)
    tower = _vision_config(Path(llava_dir), llava=True)
    differences = [
        f"{name}: expert {getattr(expert, name, None)!r} vs LLaVA {getattr(tower, name, None)!r}"
        for name in fields
        if getattr(expert, name, None) != getattr(tower, name, None)
    ]
    if differences:
        raise ExpertSwapError(
            f"the expert ({expert_dir}) does not fit the vision tower of {llava_dir}: "
            + "; ".join(differences)
            + ". Train the expert from the CLIP model LLaVA's tower was built from"
        )


def _shards(folder: Path) -> list[str]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        weight_map = json.loads(index.read_text(encoding="utf-8"))["weight_map"]
        return sorted(set(weight_map.values()))
    if (folder / "model.safetensors").is_file():
        return ["model.safetensors"]
    raise ExpertSwapError(
        f"{folder} has no model.safetensors(.index.json): only safetensors folders are swapped"
    )


def _tower_keys(keys: Iterable[str]) -> dict[str, str]:
    """LLaVA key -> the expert's key for every vision-tower tensor."""
    mapping = {}
    for key in keys:
        position = key.find(TOWER_MARK)
        if position >= 0:
            rest = key[position + len(TOWER_MARK) :]
            rest = rest[len(EXPERT_PREFIX) :] if rest.startswith(EXPERT_PREFIX) else rest
            mapping[key] = EXPERT_PREFIX + rest
    return mapping


def swap_into_llava(
    expert_dir: str | Path, llava_dir: str | Path, out_dir: str | Path, config: ExpertSwapConfig
) -> Path:
    """Write ``out_dir``: LLaVA with the expert as vision tower; returns ``out_dir``."""
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    expert, llava, out = Path(expert_dir), Path(llava_dir), Path(out_dir)
    check_vision_configs(expert, llava, config.check_fields)
    expert_tensors = {
        k: v for k, v in load_file(str(expert / "model.safetensors")).items() if k.startswith(EXPERT_PREFIX)
    }
    shards = _shards(llava)
    all_keys: dict[str, str] = {}
    for shard in shards:
        with safe_open(str(llava / shard), framework="pt") as handle:
            all_keys.update({k: shard for k in handle.keys()})
    mapping = _tower_keys(all_keys)
    if not mapping:
        raise ExpertSwapError(f"{llava} has no tensor under '{TOWER_MARK}': not a LLaVA with a CLIP tower")
    wanted, have = set(mapping.values()), set(expert_tensors)
    if wanted != have:
        raise ExpertSwapError(
            f"the tower tensors differ: only in LLaVA {sorted(wanted - have)[:8]}, "
            f"only in the expert {sorted(have - wanted)[:8]}"
        )
    with atomic_folder(out, sole_writer=True) as tmp:
        for item in sorted(llava.iterdir()):
            if item.name in shards:
                continue
            if item.is_dir():
                shutil.copytree(item, tmp / item.name)
            else:
                shutil.copyfile(item, tmp / item.name)
        for shard in shards:
            touched = [k for k, s in all_keys.items() if s == shard and k in mapping]
            if not touched:
                shutil.copyfile(llava / shard, tmp / shard)
                continue
            with safe_open(str(llava / shard), framework="pt") as handle:
                metadata = handle.metadata()
                tensors = {k: handle.get_tensor(k) for k in handle.keys()}
            for key in touched:
                new = expert_tensors[mapping[key]]
                if tuple(new.shape) != tuple(tensors[key].shape):
                    raise ExpertSwapError(
                        f"{key}: LLaVA shape {tuple(tensors[key].shape)} vs expert {tuple(new.shape)}"
                    )
                tensors[key] = new.to(tensors[key].dtype).contiguous()
            save_file(tensors, str(tmp / shard), metadata=metadata)
    return out


def tensor_hashes(folder: str | Path) -> dict[str, str]:
    """sha256 of every tensor's bytes (with dtype and shape) in a safetensors model folder."""
    import torch
    from safetensors import safe_open

    folder = Path(folder)
    hashes = {}
    for shard in _shards(folder):
        with safe_open(str(folder / shard), framework="pt") as handle:
            for key in handle.keys():
                tensor = handle.get_tensor(key).contiguous()
                digest = hashlib.sha256(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
                digest.update(tensor.view(-1).view(dtype=torch.uint8).numpy().tobytes())
                hashes[key] = digest.hexdigest()
    return hashes
