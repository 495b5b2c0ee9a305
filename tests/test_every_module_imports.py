"""Every module of the project imports: a renamed helper breaks here, not in a subprocess of a stage.

Modules that need a GPU-only package (vLLM, not installed on CPU machines) may fail on exactly
that package and nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

import pytest

PACKAGES = ("common", "harness", "launch", "rewards", "data_prep", "expert")
GPU_ONLY = ("vllm",)


def _modules() -> list[str]:
    names = []
    for package in PACKAGES:
        root = importlib.import_module(package)
        names += [m.name for m in pkgutil.walk_packages(root.__path__, f"{package}.")]
    return sorted(n for n in names if not n.endswith("__main__"))


@pytest.mark.parametrize("name", _modules())
def test_the_module_imports(name: str) -> None:
    try:
        importlib.import_module(name)
    except ModuleNotFoundError as error:
        if (error.name or "").split(".")[0] not in GPU_ONLY:
            raise
