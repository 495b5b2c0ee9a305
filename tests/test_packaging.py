"""The install sets: the CPU set installed here is consistent, and the `gpu` extra resolves for a
linux x86_64 training node from wheels only (no GPU machine installs it here, so the resolver proves
it with source builds forbidden)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from importlib.metadata import requires, version
from pathlib import Path

import pytest
import tomllib
from packaging.requirements import Requirement
from packaging.version import Version

from common.gpu_install import PLATFORM, PURE_PYTHON_SDISTS, PYTHON_VERSION

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


def _pins(lock: Path) -> dict[str, str]:
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s;]+)", lock.read_text(), re.M))
    return {name.lower().replace("_", "-"): value for name, value in pins.items()}


def _uv() -> str:
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    assert uv, "uv is part of the dev extra"
    return uv


def test_the_gpu_extra_leaves_flash_attn_out_and_deepspeed_is_in_the_default_install() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    assert not any(Requirement(r).name == "flash-attn" for r in extras["gpu"])
    assert [Requirement(r).name for r in extras["flash-attn"]] == ["flash-attn"]  # the opt-in
    assert "deepspeed==0.19.8" in extras["dev"] and version("deepspeed") == "0.19.8"
    # `make gpu-lock` and `make install-gpu` use the same policy module.
    makefile = (REPO / "Makefile").read_text()
    assert "-m common.gpu_install lock" in makefile and "-m common.gpu_install install" in makefile


@pytest.mark.slow
def test_gpu_extra_resolves_from_wheels_only_for_linux_x86_64_and_satisfies_both_trainers(
    tmp_path: Path,
) -> None:
    """`make gpu-lock`: every package a wheel for manylinux_2_31 x86_64, but for the listed
    pure-Python sdists; source builds of anything else are forbidden to the resolver."""
    lock = tmp_path / "gpu.lock"
    proc = subprocess.run(
        [sys.executable, "-m", "common.gpu_install", "lock", "-o", str(lock)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "--only-binary :all:" in proc.stderr  # the command it ran
    pins = _pins(lock)
    assert pins["ms-swift"] == "4.6.0" and pins["verl"] == "0.9.1"
    assert pins["vllm"] == "0.24.0"  # verl 0.9.1's own vllm extra
    assert pins["torch"] == "2.11.0" and pins["transformers"] == "5.9.0"
    assert pins["deepspeed"] == "0.19.8" and "flash-attn" not in pins
    for name, (pinned, _) in PURE_PYTHON_SDISTS.items():
        assert pins.get(name) == pinned, name  # the allow-list is exactly what the set needs
    # The shared packages satisfy what both installed trainers declare.
    for shared in ("transformers", "peft", "trl", "datasets", "torch"):
        for trainer in ("ms-swift", "verl"):
            for req in _constraints(trainer, shared):
                assert req.specifier.contains(Version(pins[shared]), prereleases=True), (trainer, str(req))


@pytest.mark.slow
def test_forbidding_every_source_build_stops_at_an_sdist_only_package(tmp_path: Path) -> None:
    """Proof the flag is in force: without the allow-list, resolution fails on one of its packages."""
    proc = subprocess.run(
        [_uv(), "pip", "compile", str(REPO / "pyproject.toml"), "--extra", "gpu", "--python-version",
         PYTHON_VERSION, "--python-platform", PLATFORM, "--only-binary", ":all:", "-o", str(tmp_path / "x")],
        cwd=REPO, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "has no usable wheels" in proc.stderr
    assert any(name in proc.stderr for name in PURE_PYTHON_SDISTS), proc.stderr[-2000:]


@pytest.mark.slow
def test_the_allowed_sdists_build_without_a_compiler(tmp_path: Path) -> None:
    """Each allowed sdist becomes a py3-none-any wheel with every compiler replaced by /bin/false."""
    specs = [f"{name}=={pinned}" for name, (pinned, _) in sorted(PURE_PYTHON_SDISTS.items())]
    env = {
        **os.environ,
        "CC": "/bin/false",
        "CXX": "/bin/false",
        "LDSHARED": "/bin/false",
        "NVCC": "/bin/false",
    }
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-binary", ":all:", "--no-cache-dir",
         "--quiet", "-w", str(tmp_path), *specs],
        env=env, capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheels = sorted(p.name for p in tmp_path.glob("*.whl"))
    assert len(wheels) == len(specs), wheels
    assert all(w.endswith("-py3-none-any.whl") for w in wheels), wheels


@pytest.mark.slow
def test_install_gpu_resolves_the_same_set_for_a_fresh_environment(tmp_path: Path) -> None:
    """`make install-gpu`'s own command, as a dry run for linux x86_64 (nothing is downloaded)."""
    subprocess.run([sys.executable, "-m", "venv", str(tmp_path / "venv")], check=True, timeout=300)
    python = tmp_path / "venv" / "bin" / "python"
    proc = subprocess.run(
        [sys.executable, "-m", "common.gpu_install", "install", "--python", str(python), "--dry-run"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Would install" in proc.stderr
    assert " + vllm==0.24.0" in proc.stderr and " + torch==2.11.0" in proc.stderr
    assert "flash-attn" not in proc.stderr.split("Would install", 1)[1]


def test_install_policy_forbids_source_builds_but_for_the_listed_sdists() -> None:
    from common.gpu_install import binary_args, install_argv, lock_argv

    args = binary_args()
    assert args[:2] == ["--only-binary", ":all:"]
    allowed = {args[i + 1] for i, a in enumerate(args) if a == "--no-binary"}
    assert allowed == set(PURE_PYTHON_SDISTS) | {"aigi-repro"}  # the checkout itself is a source tree
    lock = lock_argv("uv", "pyproject.toml", "out.lock")
    assert lock[:4] == ["uv", "pip", "compile", "pyproject.toml"] and "--extra" in lock
    assert lock[lock.index("--python-platform") + 1] == "x86_64-manylinux_2_31"
    install = install_argv("uv", "/venv/bin/python", "/repo")
    assert install[-2:] == ["-e", "/repo[gpu]"] and "--dry-run" not in install
