"""Shared helpers of the pre-flight tests: the real conf/ tree, plans, and model shapes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from harness.config import CONF_DIR

MODELS = sorted(p.stem for p in (CONF_DIR / "model").glob("*.yaml"))


def model_config_json(name: str) -> dict[str, Any]:
    """conf/model/<name>.yaml's config_json: the published config.json's fields."""
    return dict(yaml.safe_load((CONF_DIR / "model" / f"{name}.yaml").read_text())["config_json"])


def gpu_smoke_config_json() -> dict[str, Any]:
    path = Path(CONF_DIR) / "profile_paper" / "gpu_smoke_fakexplain.yaml"
    return dict(yaml.safe_load(path.read_text())["model"]["config_json"])
