"""Facts about the installed, pinned trainers, used to validate rendered commands fast.

`ms-swift-<version>.json` is generated from the installed ms-swift's own argument parser by
`python -m harness.trainer_specs.generate` (importing ms-swift takes ~12 s, so the CLI reads
this snapshot instead; a slow test regenerates it and fails when it is stale).
`verl-<version>.yaml` records what composing verl's config cannot tell: keys that compose but
are never read by `main_ppo`.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).resolve().parent
SWIFT_VERSION = "4.6.0"
VERL_VERSION = "0.9.1"


def swift_spec_path(version: str = SWIFT_VERSION) -> Path:
    return SPEC_DIR / f"ms-swift-{version}.json"


@lru_cache(maxsize=4)
def load_swift_spec(version: str = SWIFT_VERSION) -> dict[str, Any]:
    path = swift_spec_path(version)
    if not path.exists():
        raise FileNotFoundError(
            f"{path} is missing; generate it with `python -m harness.trainer_specs.generate`"
        )
    return json.loads(path.read_text())


def verl_spec_path(version: str = VERL_VERSION) -> Path:
    return SPEC_DIR / f"verl-{version}.yaml"
