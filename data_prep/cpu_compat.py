"""CPU-only workarounds that let transformers 5.10 and ms-swift 4.6 run Qwen2.5-VL without torchvision.

These patches exist ONLY for the CPU smoke path (a machine where no working torchvision exists for
the installed CPU torch, see FACTS.md). They are a no-op wherever ``import torchvision`` succeeds,
so GPU nodes run the libraries unpatched.

What is patched, and why (research/libs.md section 4):

1. ``AutoVideoProcessor.from_pretrained`` returns ``None``. transformers 5.10's
   ``Qwen2_5_VLProcessor`` always loads a video processor, and every video processor requires
   torchvision. Images never touch it. The patch goes on the real module
   ``transformers.models.auto.video_processing_auto`` (``from transformers.models.auto import
   video_processing_auto`` yields a DummyObject when torchvision is missing).
2. ``ProcessorMixin.check_argument_for_proper_class`` accepts ``None`` for a video processor,
   so the processor can be built without one.
3. ``ProcessorMixin.save_pretrained`` skips sub-processors that are ``None``; otherwise it fails
   with ``'NoneType' object has no attribute '_auto_class'`` (tiny-model build, ``swift export
   --merge_lora``). Tokenizer, image processor, chat template and ``processor_config.json`` are
   written by transformers' own code.
4. ``qwen_vl_utils.vision_process`` imports torchvision at module level (only its video readers
   use it). It is imported once with a stub ``torchvision`` module in ``sys.modules``; the stub is
   removed right after, so no other library ever sees a fake torchvision. transformers'
   ``is_torchvision_available()`` is evaluated (and cached as False) before the stub appears.
   Any use of the stub (video decoding) raises an error that says why.

Use it either way:

- ``import data_prep.cpu_compat`` (applies on import), or ``data_prep.cpu_compat.apply()``;
- ``swift sft|rlhf|infer|export ... --external_plugins /abs/path/data_prep/cpu_compat.py``.
  ms-swift imports the file by path under another module name (and again in dataloader workers),
  so the "already applied" marks live on the patched objects, not in this module.

This file imports nothing from the rest of ``data_prep`` so that it works as a plugin file.
"""

from __future__ import annotations

import enum
import importlib
import importlib.util
import os
import sys
import types
from collections.abc import Callable
from typing import Any

if __name__ != "data_prep.cpu_compat":
    # Loaded by file path (ms-swift --external_plugins), which also put this file's folder first on
    # sys.path, where data_prep's modules could shadow a library of the same name in the trainer.
    _HERE = os.path.realpath(os.path.dirname(os.path.abspath(__file__)))
    sys.path[:] = [p for p in sys.path if os.path.realpath(os.path.abspath(p or ".")) != _HERE]

__all__ = ["apply", "torchvision_importable", "PATCH_NAMES", "APPLIED_ON_IMPORT"]

PATCH_NAMES = (
    "video_processor_none",
    "processor_accepts_no_video_processor",
    "processor_save_without_video_processor",
    "qwen_vl_utils_without_torchvision",
)

_MARK = "__aigi_cpu_compat__"
_STUB_VERSION = "0.0.0+aigi.cpu.stub"


def torchvision_importable() -> bool:
    """True when a working torchvision can be imported (then no patch is applied)."""
    if "torchvision" in sys.modules:
        return getattr(sys.modules["torchvision"], "__version__", "") != _STUB_VERSION
    if importlib.util.find_spec("torchvision") is None:
        return False
    try:
        importlib.import_module("torchvision")
    except Exception:  # a CUDA-only wheel on a CPU torch fails with RuntimeError, not ImportError
        for name in [m for m in sys.modules if m == "torchvision" or m.startswith("torchvision.")]:
            del sys.modules[name]
        return False
    return True


def _is_marked(obj: Any) -> bool:
    return bool(getattr(obj, _MARK, False))


def _marked(func: Callable) -> Callable:
    setattr(func, _MARK, True)
    return func


class _NoVideoProcessor:
    """Stands in for AutoVideoProcessor on a machine without torchvision: there is no video processor."""

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> None:
        return None

    @classmethod
    def register(cls, *args: Any, **kwargs: Any) -> None:
        return None


setattr(_NoVideoProcessor, _MARK, True)


def _patch_video_processor() -> bool:
    module = importlib.import_module("transformers.models.auto.video_processing_auto")
    if _is_marked(module.AutoVideoProcessor):
        return False
    module.AutoVideoProcessor = _NoVideoProcessor
    return True


def _patch_processor_class_check() -> bool:
    from transformers.processing_utils import ProcessorMixin

    original = ProcessorMixin.check_argument_for_proper_class
    if _is_marked(original):
        return False

    @_marked
    def check_argument_for_proper_class(self: Any, argument_name: str, argument: Any) -> Any:
        if argument is None and "video_processor" in argument_name:
            return None
        return original(self, argument_name, argument)

    ProcessorMixin.check_argument_for_proper_class = check_argument_for_proper_class
    return True


def _patch_processor_save() -> bool:
    from transformers.processing_utils import ProcessorMixin

    original = ProcessorMixin.save_pretrained
    if _is_marked(original):
        return False

    @_marked
    def save_pretrained(self: Any, save_directory: Any, *args: Any, **kwargs: Any) -> Any:
        attributes = type(self).get_attributes()
        present = [name for name in attributes if getattr(self, name, None) is not None]
        if present == list(attributes):
            return original(self, save_directory, *args, **kwargs)
        # An instance attribute shadows the classmethod only for this call, so transformers' own
        # save logic runs over the sub-processors that exist.
        self.get_attributes = lambda: list(present)
        try:
            return original(self, save_directory, *args, **kwargs)
        finally:
            del self.get_attributes

    ProcessorMixin.save_pretrained = save_pretrained
    return True


class _StubInterpolationMode(enum.Enum):
    NEAREST = "nearest"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"


def _unavailable(what: str) -> Callable[..., Any]:
    def fail(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            f"{what} needs torchvision, which is not installed on this CPU machine; "
            "data_prep.cpu_compat only lets qwen_vl_utils import for images. "
            "Videos are not supported on the CPU smoke path."
        )

    return fail


def _torchvision_stub() -> dict[str, types.ModuleType]:
    root = types.ModuleType("torchvision")
    root.__version__ = _STUB_VERSION
    io = types.ModuleType("torchvision.io")
    io.read_video = _unavailable("torchvision.io.read_video")
    transforms = types.ModuleType("torchvision.transforms")
    functional = types.ModuleType("torchvision.transforms.functional")
    functional.resize = _unavailable("torchvision.transforms.functional.resize")
    functional.InterpolationMode = _StubInterpolationMode
    transforms.functional = functional
    transforms.InterpolationMode = _StubInterpolationMode
    root.io = io
    root.transforms = transforms
    return {
        "torchvision": root,
        "torchvision.io": io,
        "torchvision.transforms": transforms,
        "torchvision.transforms.functional": functional,
    }


def _patch_qwen_vl_utils() -> bool:
    if "qwen_vl_utils.vision_process" in sys.modules:
        return False
    if importlib.util.find_spec("qwen_vl_utils") is None:
        return False
    from transformers.utils import import_utils

    # Cache the honest answer (False) before any stub is visible.
    import_utils.is_torchvision_available()
    importlib.import_module("torch")
    stub = _torchvision_stub()
    saved = {name: sys.modules.get(name) for name in stub}
    sys.modules.update(stub)
    try:
        importlib.import_module("qwen_vl_utils.vision_process")
        importlib.import_module("qwen_vl_utils")
    finally:
        for name, previous in saved.items():
            if previous is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = previous
    return True


def apply() -> list[str]:
    """Apply the CPU workarounds once; return the names of the patches applied by this call.

    Returns an empty list when torchvision is importable (nothing to work around) or when every
    patch is already in place.
    """
    if torchvision_importable():
        return []
    steps = (
        (PATCH_NAMES[0], _patch_video_processor),
        (PATCH_NAMES[1], _patch_processor_class_check),
        (PATCH_NAMES[2], _patch_processor_save),
        (PATCH_NAMES[3], _patch_qwen_vl_utils),
    )
    return [name for name, step in steps if step()]


# What the import of this file patched (empty where torchvision works or another copy already did).
APPLIED_ON_IMPORT: list[str] = apply()
