"""Exact parameter counts: the model built from its config on the meta device (no weights, no RAM).

``python -m harness.preflight.meta_count <config.json or model dir>`` prints the counts as JSON.
Imports torch and transformers (seconds), so the CLI uses the closed-form counts of
``harness.preflight.architecture`` and ``preflight=true`` checks them against these.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Module-name prefixes of each part in transformers 5's multimodal models (longest first wins).
_PART_PREFIXES = (
    ("model.visual.merger.", "aligner"),
    ("model.visual.", "vision_tower"),
    ("model.vision_tower.", "vision_tower"),
    ("model.multi_modal_projector.", "aligner"),
    ("model.image_newline", "aligner"),
    ("model.language_model.", "language_model"),
    ("lm_head.", "lm_head"),
)


def part_of(name: str) -> str:
    for prefix, part in _PART_PREFIXES:
        if name.startswith(prefix):
            return part
    return "other"


def build_on_meta(config: Mapping[str, Any]) -> Any:
    """The transformers model for `config` (a config.json dict), its tensors on the meta device."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    data = dict(config)
    model_type = data.pop("model_type")
    hf_config = AutoConfig.for_model(model_type, **data)
    with torch.device("meta"):
        return AutoModelForImageTextToText.from_config(hf_config)


def meta_counts(config: Mapping[str, Any]) -> dict[str, Any]:
    """{"total", "parts": {part: n}, "linears": {part: [[in, out, bias], ...]}, "largest_layer"}."""
    import torch

    model = build_on_meta(config)
    parts: dict[str, int] = {}
    seen: set[int] = set()
    for name, param in model.named_parameters():  # tied weights are listed once
        if id(param) in seen:
            continue
        seen.add(id(param))
        parts[part_of(name)] = parts.get(part_of(name), 0) + param.numel()
    linears: dict[str, list[list[int]]] = {}
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            linears.setdefault(part_of(name + "."), []).append(
                [module.in_features, module.out_features, int(module.bias is not None)]
            )
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in model.modules())
    return {"total": sum(parts.values()), "parts": parts, "linears": linears, "largest_layer": largest}


def _load(path: str) -> dict[str, Any]:
    target = Path(path)
    if target.is_dir():
        from harness.preflight.architecture import read_config_json

        return read_config_json(target)
    return json.loads(target.read_text())


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m harness.preflight.meta_count <config.json | model dir>", file=sys.stderr)
        return 2
    print(json.dumps(meta_counts(_load(args[0])), sort_keys=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
