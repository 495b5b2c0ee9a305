"""Where data_prep's configuration files live (``conf/data_prep/`` of the checkout) and how they are read."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["CONF_DATA_DIR", "load_yaml"]

CONF_DATA_DIR = Path(__file__).resolve().parents[1] / "conf" / "data_prep"


@lru_cache(maxsize=32)
def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        try:
            return yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ValueError(f"{path} is not valid YAML: {error}") from None


def load_yaml(name_or_path: str | Path) -> Any:
    """Load ``conf/data_prep/<name>`` or an explicit path; the error names the file that is missing."""
    path = Path(name_or_path)
    if not path.is_absolute() and not path.exists():
        path = CONF_DATA_DIR / path
    if not path.is_file():
        raise FileNotFoundError(f"data_prep config file not found: {path}")
    return _load(str(path.resolve()))
