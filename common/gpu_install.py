"""Installing the ``gpu`` extra from wheels only: the resolver flags `make gpu-lock` and `make
install-gpu` share, stdlib only (runs before any virtual environment exists).

Every package comes as a pre-built wheel for linux x86_64 (glibc >= 2.31: vLLM 0.24.0 needs
llguidance 1.7.x, whose x86_64 wheels are manylinux_2_31), except the pure-Python source
distributions below. They have no wheel on PyPI at the pinned versions but build into
``py3-none-any`` wheels with setuptools alone, no compiler (tests/test_packaging.py builds them
with ``CC=/bin/false``). Nothing in the set compiles CUDA code on the node: flash-attn, which
would, is an opt-in extra (``make install-flash-attn``, conf/attention/).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

# Where the gpu set must install. vLLM's own wheel is manylinux_2_28; its llguidance dependency
# raises the floor to 2.31 (Ubuntu 20.04+, Debian 11+, RHEL/Rocky 9+; not RHEL 8).
PLATFORM = "x86_64-manylinux_2_31"
PYTHON_VERSION = "3.11"

# Source-only distributions allowed in the gpu set: name -> (pinned version, why). Each builds into
# a py3-none-any wheel without a compiler.
PURE_PYTHON_SDISTS = {
    "antlr4-python3-runtime": ("4.9.3", "hydra-core 1.3's parser runtime (verl's config)"),
    "crcmod": ("1.7", "modelscope/oss2; without a compiler it installs its pure-Python CRC"),
    "oss2": ("2.19.1", "modelscope's object-storage client (ms-swift)"),
    "rouge-score": ("0.1.2", "this project's ROUGE-L metric"),
    "transformers-stream-generator": ("0.0.5", "an ms-swift requirement"),
    "deepspeed": (
        "0.19.8",
        "ms-swift's --deepspeed; no op is prebuilt (ZeRO with the trainer's AdamW needs none)",
    ),
}
PROJECT = "aigi-repro"  # the checkout itself, built from its source tree


def binary_args() -> list[str]:
    """uv's flags: wheels only for every package but the listed pure-Python sdists."""
    args = ["--only-binary", ":all:"]
    for name in sorted(PURE_PYTHON_SDISTS) + [PROJECT]:
        args += ["--no-binary", name]
    return args


def lock_argv(uv: str, pyproject: str, output: str) -> list[str]:
    return [
        uv,
        "pip",
        "compile",
        pyproject,
        "--extra",
        "gpu",
        "--python-version",
        PYTHON_VERSION,
        "--python-platform",
        PLATFORM,
        *binary_args(),
        "--quiet",
        "-o",
        output,
    ]


def install_argv(uv: str, python: str, repo: str, dry_run: bool = False) -> list[str]:
    argv = [uv, "pip", "install", "--python", python, *binary_args()]
    if dry_run:
        argv += ["--dry-run", "--python-platform", PLATFORM, "--python-version", PYTHON_VERSION]
    return [*argv, "-e", f"{repo}[gpu]"]


def flash_attn_argv(uv: str, python: str) -> list[str]:
    # flash-attn's setup.py imports torch: build it against the installed torch, not an isolated one.
    return [uv, "pip", "install", "--python", python, "--no-build-isolation", "flash-attn==2.8.3.post2"]


def find_uv(python: str | None = None) -> str:
    for candidate in (Path(python or sys.executable).parent / "uv", Path(sys.executable).parent / "uv"):
        if candidate.is_file():
            return str(candidate)
    found = shutil.which("uv")
    if not found:
        raise SystemExit("uv is not installed: `python -m pip install uv` (the Makefile does this)")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m common.gpu_install", description=__doc__.splitlines()[0]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    lock = sub.add_parser("lock", help="resolve the gpu extra with source builds forbidden")
    lock.add_argument("-o", "--output", default="requirements-gpu.lock")
    install = sub.add_parser("install", help="install the gpu extra into --python's environment")
    install.add_argument("--python", required=True)
    install.add_argument("--dry-run", action="store_true", help="resolve for linux x86_64, install nothing")
    flash = sub.add_parser(
        "flash-attn", help="build flash-attn (CUDA toolkit needed) into --python's environment"
    )
    flash.add_argument("--python", required=True)
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parent.parent
    if args.command == "lock":
        cmd = lock_argv(find_uv(), str(repo / "pyproject.toml"), args.output)
    elif args.command == "install":
        cmd = install_argv(find_uv(args.python), args.python, str(repo), dry_run=args.dry_run)
    else:
        cmd = flash_attn_argv(find_uv(args.python), args.python)
    print("+ " + " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, cwd=repo).returncode


if __name__ == "__main__":
    raise SystemExit(main())
