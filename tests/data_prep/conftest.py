"""Shared fixtures of the data_prep tests: a synthetic FakeXplained set, the tiny models, a CLI runner."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def run_cli(*args: str, env: dict | None = None, timeout: int = 600) -> subprocess.CompletedProcess:
    """Run ``python -m data_prep ...`` from the checkout, as the pipeline does."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [PYTHON, "-m", "data_prep", *args],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def synth_raw(tmp_path_factory) -> Path:
    """24 fake + 24 real synthetic FakeXplained images in the raw layout."""
    from data_prep.synth_fakexplained import generate_fakexplained

    root = tmp_path_factory.mktemp("synth_raw")
    generate_fakexplained(root, num_fake=24, num_real=24, seed=7)
    return root


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory) -> Path:
    from data_prep.tiny_model import build_tiny_qwen2_5_vl

    return build_tiny_qwen2_5_vl(tmp_path_factory.mktemp("tiny_qwen") / "model")


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory) -> Path:
    from data_prep.tiny_model import build_tiny_llava1_6

    return build_tiny_llava1_6(tmp_path_factory.mktemp("tiny_llava") / "model")
