"""Where the harness keeps what it can rebuild: ``$XDG_CACHE_HOME/aigi-repro`` (default ``~/.cache``)."""

from __future__ import annotations

import os
from pathlib import Path

APP = "aigi-repro"


def user_cache_dir(*parts: str) -> Path:
    """``$XDG_CACHE_HOME/aigi-repro/<parts>`` (``~/.cache/...`` when XDG_CACHE_HOME is unset or
    not absolute, as the XDG base directory spec says); not created here."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"
    return root.joinpath(APP, *parts)
