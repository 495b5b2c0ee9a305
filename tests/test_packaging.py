"""The install sets: the CPU set installed here is consistent, and the `gpu` extra resolves for a
linux x86_64 training node (no GPU machine installs it here, so the resolver proves it)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent


def test_installed_cpu_set_has_no_broken_requirements() -> None:
    proc = subprocess.run([sys.executable, "-m", "pip", "check"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_pinned_trainers_are_installed() -> None:
    assert version("ms-swift") == "4.6.0"
    assert version("verl") == "0.9.1"


def _constraints(package: str, dependency: str) -> list[Requirement]:
    found = []
    for text in requires(package) or []:
        req = Requirement(text)
        if req.name.lower() == dependency and (req.marker is None or req.marker.evaluate({"extra": ""})):
            found.append(req)
    return found


@pytest.mark.slow
def test_gpu_extra_resolves_for_linux_x86_64_and_satisfies_both_trainers(tmp_path: Path) -> None:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv, "uv is part of the dev extra"
    lock = tmp_path / "gpu.lock"
    proc = subprocess.run(
        [
            uv,
            "pip",
            "compile",
            str(REPO / "pyproject.toml"),
            "--extra",
            "gpu",
            "--python-version",
            "3.11",
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--quiet",
            "-o",
            str(lock),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", lock.read_text(), re.M))
    pins = {name.lower().replace("_", "-"): value for name, value in pins.items()}
    assert pins["ms-swift"] == "4.6.0" and pins["verl"] == "0.9.1"
    assert pins["vllm"] == "0.24.0"  # verl 0.9.1's own vllm extra
    assert pins["torch"] == "2.11.0" and pins["transformers"] == "5.9.0"
    assert "deepspeed" in pins and "flash-attn" in pins
    # The shared packages satisfy what both installed trainers declare.
    for shared in ("transformers", "peft", "trl", "datasets", "torch"):
        for trainer in ("ms-swift", "verl"):
            for req in _constraints(trainer, shared):
                assert req.specifier.contains(Version(pins[shared]), prereleases=True), (trainer, str(req))
