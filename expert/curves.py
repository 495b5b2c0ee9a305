"""The expert training stage's curves for the report (no torch).

``log.jsonl``: ``{"step", "epoch", "loss", "lr", "images_per_s"}`` every ``log_every_steps``;
``metrics.jsonl``: one line per epoch, ``{"epoch", "step", "val": {metric: value}, ...}``. A
resumed run appends again; a later line for the same step replaces an earlier one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

__all__ = ["read_expert_stage"]

Curves = dict[str, dict[float, float]]


def _lines(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line torn by a kill
        if isinstance(value, dict):
            out.append(value)
    return out


def _put(curves: Curves, key: str, step: float, value: object) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
        curves.setdefault(key, {})[step] = float(value)


def read_expert_stage(stage_dir: str | Path, log: str | Path | None = None) -> Curves:
    """metric -> step -> value: ``loss``, ``learning_rate``, ``val/<metric>`` (accuracy, ap, ...)."""
    stage_dir = Path(stage_dir)
    curves: Curves = {}
    for record in _lines(stage_dir / "log.jsonl"):
        step = record.get("step")
        if isinstance(step, int):
            _put(curves, "loss", step, record.get("loss"))
            _put(curves, "learning_rate", step, record.get("lr"))
    for record in _lines(stage_dir / "metrics.jsonl"):
        step = record.get("step")
        if isinstance(step, int):
            for key, value in (record.get("val") or {}).items():
                if "/generator/" not in key:
                    _put(curves, f"val/{key}", step, value)
    return curves
