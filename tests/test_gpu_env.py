"""The CPU/GPU install sets: detection, the one-line description, the refusal, and what `make`
does on a GPU machine (read with `make -n`: nothing is installed here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common import gpu_env

REPO = Path(__file__).resolve().parent.parent


def test_gpu_detection_looks_for_nvidia_devices(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert gpu_env.gpu_available(tmp_path) is False
    (tmp_path / "dev").mkdir()
    (tmp_path / "dev" / "nvidia0").touch()
    assert gpu_env.gpu_available(tmp_path) is True
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # devices hidden from this process
    assert gpu_env.gpu_available(tmp_path) is False
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    (tmp_path / "dev" / "nvidia0").unlink()
    (tmp_path / "proc" / "driver" / "nvidia" / "gpus").mkdir(parents=True)
    assert gpu_env.gpu_available(tmp_path) is True


def test_this_machine_has_the_cpu_set() -> None:
    assert gpu_env.torch_is_cuda_build() is False  # the CPU build of torch 2.13
    assert gpu_env.has_module("vllm") is False
    assert gpu_env.environment_set() == "cpu"
    line = gpu_env.describe()
    assert line.startswith("environment: cpu set in ") and "(CPU build)" in line and "no vllm" in line


def test_check_names_what_is_missing() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "common.gpu_env", "check", "vllm", "json"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert (
        "lacks vllm, a CUDA build of torch" in proc.stderr
        and "json" not in proc.stderr.split("lacks")[1].split(";")[0]
    )


def _make_n(*args: str, env: dict[str, str] | None = None) -> str:
    # -n prints what make would run; GPU is given explicitly so the test does not depend on devices.
    proc = subprocess.run(
        ["make", "-n", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env or {**os.environ},
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_make_reproduce_on_a_gpu_machine_builds_and_uses_the_gpu_set() -> None:
    out = _make_n("reproduce", "GPU=1", "PAPER=fakexplain")
    assert "python3 -m venv .venv-gpu" in out
    assert ".venv-gpu/bin/python -m common.gpu_install install --python .venv-gpu/bin/python" in out
    assert ".venv-gpu/bin/python -m common.gpu_env describe" in out  # the one line saying which set
    assert ".venv-gpu/bin/python -m harness.make_entry" in out and "AIGI_MAKE_PAPER='fakexplain'" in out
    assert "torch==2.13.0" not in out  # the CPU build is not installed into it


def test_make_reproduce_without_a_gpu_uses_the_cpu_set() -> None:
    out = _make_n("reproduce", "GPU=0", "PAPER=fakexplain")
    assert ".venv/bin/python -m harness.make_entry" in out and ".venv-gpu" not in out
    # Without GPU=..., the Makefile asks common.gpu_env; this machine has no GPU.
    assert ".venv/bin/python -m harness.make_entry" in _make_n("reproduce")


def test_make_reproduce_picks_the_set_the_detector_finds_without_gpu_given(tmp_path: Path) -> None:
    """No GPU=...: the Makefile's `GPU ?= $(shell python3 -m common.gpu_env detect ...)` decides.

    The real detector runs (in make's subprocess) against a fake device root with /dev/nvidia0,
    then against an empty one. Both directions are asserted, so a broken detection line fails one:
    a constant 0 (or a detect command that errors and falls back to 0) fails the GPU case, a
    constant 1 or a test of the wrong value fails the CPU case."""
    env = {k: v for k, v in os.environ.items() if k not in ("GPU", "CUDA_VISIBLE_DEVICES", "MAKEFLAGS")}
    gpu_root, cpu_root = tmp_path / "gpu", tmp_path / "cpu"
    (gpu_root / "dev").mkdir(parents=True)
    (gpu_root / "dev" / "nvidia0").touch()
    cpu_root.mkdir()

    gpu_env_vars = {**env, gpu_env.DEVICE_ROOT_ENV: str(gpu_root)}
    detect = subprocess.run(
        ["python3", "-m", "common.gpu_env", "detect"],  # what the Makefile runs, as it runs it
        cwd=REPO,
        env=gpu_env_vars,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert detect.stdout.strip() == "1", detect.stderr

    out = _make_n("reproduce", "PAPER=fakexplain", env=gpu_env_vars)
    assert ".venv-gpu/bin/python -m common.gpu_install install --python .venv-gpu/bin/python" in out
    assert "touch .venv-gpu/.installed" in out  # GPU_STAMP is the prerequisite that runs
    assert ".venv-gpu/bin/python -m common.gpu_env describe" in out
    assert ".venv-gpu/bin/python -m harness.make_entry" in out

    out = _make_n("reproduce", "PAPER=fakexplain", env={**env, gpu_env.DEVICE_ROOT_ENV: str(cpu_root)})
    assert ".venv/bin/python -m harness.make_entry" in out and ".venv-gpu" not in out


def test_make_gpu_smoke_refuses_a_machine_without_gpu() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/gpu_smoke.py"], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 1
    assert proc.stdout.startswith("FAIL  NVIDIA GPU") and "runs on a GPU machine" in proc.stdout


@pytest.mark.parametrize("target", ["install-flash-attn", "gpu-lock"])
def test_make_targets_use_the_shared_install_policy(target: str) -> None:
    out = _make_n(target, "GPU=1")
    assert "-m common.gpu_install" in out
