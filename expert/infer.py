"""``python -m expert infer``: the expert's p(fake) per image, for collaborative decoding.

Reads a merged expert folder (``python -m expert swap``: CLIP weights + ``head.safetensors`` +
``expert.json`` with the training preprocessing) and an evaluation manifest; evaluation
preprocessing (resize, centre crop, normalisation, as Baselines_AIGI's test loader). Writes to
``--output-dir``:

- ``expert_probs.jsonl``: ``{"id", "p_fake"}`` per manifest row, the file
  ``harness.evaluation.collaborative_decoding.load_expert_probabilities`` reads;
- ``predictions.jsonl`` and ``metrics.json`` in the eval stage's schema (verdict fake when
  p(fake) > threshold, as validate.py's ``y_pred > 0.5``), so the report shows the expert alone
  beside the MLLM and the combination.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader

from common.atomic import write_text
from common.parse import to_mapping
from expert.config import ExpertInferConfig
from expert.data import ManifestImages
from expert.images import ImageTransform
from expert.model import load_merged, read_meta
from expert.scoring import prediction_rows, score
from harness.evaluation.manifest import read_manifest

__all__ = ["PROBS_FILE", "infer"]

PROBS_FILE = "expert_probs.jsonl"
SCHEMA = "aigi-repro/eval-metrics/1"


def _write_lines(path: Path, lines: list[str]) -> None:
    write_text(path, "".join(line + "\n" for line in lines))


def infer(
    expert_dir: str, manifest: str, output_dir: str, config: ExpertInferConfig, log: Any = print
) -> dict[str, Any]:
    """Score every manifest image; returns the metrics document it wrote."""
    meta = read_meta(expert_dir)
    pre = meta["preprocess"]
    if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()):
        device = torch.device("cuda")
    else:
        device = torch.device("cpu")
    model = load_merged(expert_dir).to(device)
    items = read_manifest(manifest)
    transform = ImageTransform(
        load_size=int(pre["load_size"]),
        crop_size=int(pre["crop_size"]),
        normalize=str(pre["normalize"]),
        train=False,
        noise=config.noise,
    )
    loader = DataLoader(
        ManifestImages(items, transform, seed=0),
        batch_size=config.batch_size,
        num_workers=config.num_workers,
        shuffle=False,
    )
    probabilities: list[float] = []
    with torch.no_grad():
        for pixels, _, _ in loader:
            probabilities += torch.sigmoid(model(pixels.to(device))).cpu().tolist()
            log(f"expert infer: {len(probabilities)}/{len(items)} images")
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    _write_lines(
        out / PROBS_FILE, [json.dumps({"id": i.id, "p_fake": p}) for i, p in zip(items, probabilities)]
    )
    rows = prediction_rows(items, probabilities, config.threshold)
    _write_lines(out / "predictions.jsonl", [row.to_json() for row in rows])
    document = {
        "schema": SCHEMA,
        "manifest": str(manifest),
        "model": str(expert_dir),
        "n_images": len(items),
        "n_predictions": len(rows),
        "complete": True,
        "config": {"expert_infer": to_mapping(config), "preprocess": pre},
        **score(items, probabilities, config.threshold, config.metrics),
        "soft_scoring": None,
    }
    _write_lines(out / "metrics.json", [json.dumps(document, indent=2, allow_nan=False)])
    return document
