"""Which machine and which install set: GPU detection and the CPU/GPU environment, stdlib only.

The Makefile runs this with the system python3 before any virtual environment exists
(``python3 -m common.gpu_env detect`` prints 1 on a machine with NVIDIA GPUs), the harness uses it
to refuse GPU stages from the CPU set, and sbatch scripts use it to check the environment a job
runs in. Nothing here imports torch: looking at files is enough and keeps the CLI fast.

The two sets (pyproject.toml):
- cpu: ``make install`` -> ``.venv``: the CPU build of torch 2.13, no vLLM, DeepSpeed only for tests;
- gpu: ``make install-gpu`` -> ``.venv-gpu``: the ``gpu`` extra (torch 2.11 as vLLM 0.24 pins it,
  vLLM, DeepSpeed), from wheels only (common/gpu_install.py).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

CPU_VENV = ".venv"
GPU_VENV = ".venv-gpu"
# What a GPU stage may need, by import name -> distribution name.
GPU_MODULES = {"vllm": "vllm", "deepspeed": "deepspeed", "flash_attn": "flash-attn"}


# The filesystem root device files are looked up under; tests point it at a folder so that
# `make` (which runs `detect` in a subprocess) can be shown choosing the GPU set without a GPU.
DEVICE_ROOT_ENV = "AIGI_DEVICE_ROOT"


def gpu_available(root: Path | None = None) -> bool:
    """A CUDA GPU is visible to this process (GPU=1 in the Makefile overrides the detection).

    `root` is the filesystem root the device files are looked up under: $AIGI_DEVICE_ROOT, else /."""
    if root is None:
        root = Path(os.environ.get(DEVICE_ROOT_ENV) or "/")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return (
        (root / "dev/nvidia0").exists()
        or (root / "proc/driver/nvidia/gpus").is_dir()
        or (shutil.which("nvidia-smi") is not None and (root / "dev/nvidiactl").exists())
    )


def has_module(name: str) -> bool:
    """The module is installed in this interpreter (found, not imported)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def torch_is_cuda_build() -> bool | None:
    """True for a CUDA build of torch, False for a CPU build, None without torch (no import)."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return None
    lib = Path(spec.origin).parent / "lib"
    return any(lib.glob("libtorch_cuda*.so*")) or any(lib.glob("libc10_cuda*.so*"))


def environment_set() -> str:
    """'gpu' when this interpreter has the gpu extra (CUDA torch and vLLM), else 'cpu'."""
    return "gpu" if torch_is_cuda_build() and has_module("vllm") else "cpu"


def _version(distribution: str) -> str | None:
    from importlib import metadata  # here: importing it costs every dry run ~0.05 s

    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def describe() -> str:
    """One line: which set this interpreter is and what it has."""
    which = environment_set()
    torch = _version("torch")
    build = {True: "CUDA", False: "CPU", None: "missing"}[torch_is_cuda_build()]
    parts = [f"torch {torch} ({build} build)" if torch else "no torch"]
    for module, dist in GPU_MODULES.items():
        version = _version(dist)
        parts.append(f"{dist} {version}" if version and has_module(module) else f"no {dist}")
    where = Path(sys.prefix).name
    return f"environment: {which} set in {where} ({', '.join(parts)})"


def fix_command(paper: str | None = None) -> str:
    """The command that gives a GPU machine the gpu set and runs the pipeline in it."""
    target = f" PAPER={paper}" if paper else ""
    return f"make reproduce GPU=1{target} (builds {GPU_VENV} from the gpu extra; or make install-gpu)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "describe"
    if command == "detect":
        print("1" if gpu_available() else "0")
        return 0
    if command == "describe":
        print(describe())
        return 0
    if command == "check":
        # check <module>...: exit 1 naming what is missing (sbatch scripts call this on the node)
        missing = [m for m in args[1:] if not has_module(m)]
        cuda = torch_is_cuda_build()
        if missing or not cuda:
            what = ", ".join(missing + ([] if cuda else ["a CUDA build of torch"]))
            print(f"[env] {sys.executable} lacks {what}; {describe()}", file=sys.stderr)
            return 1
        return 0
    print("usage: python3 -m common.gpu_env detect | describe | check <module>...", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
