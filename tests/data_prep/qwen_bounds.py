"""Make ms-swift read the pixel bounds a test sets, whatever ran before it in the process."""

from __future__ import annotations

import os


def use_qwen_pixel_bounds(min_pixels: int, max_pixels: int) -> None:
    """Set MIN_PIXELS / MAX_PIXELS for ms-swift's Qwen template in this process.

    ms-swift moves the bounds into qwen_vl_utils once per process (patch_qwen_vl_utils marks the
    module `_patch`; compat_qwen_vl_utils sets IMAGE_*_TOKEN_NUM only when unset), so a Qwen
    processor loaded earlier in the process with other bounds (test_tiny_model's, under another
    test order or xdist worker) would leave its frame behind. The variables stay set: the callers
    are module fixtures or restore them with monkeypatch.
    """
    from data_prep import cpu_compat

    cpu_compat.apply()
    from qwen_vl_utils import vision_process

    os.environ["MAX_PIXELS"] = str(max_pixels)
    os.environ["MIN_PIXELS"] = str(min_pixels)
    for derived in ("IMAGE_MAX_TOKEN_NUM", "IMAGE_MIN_TOKEN_NUM"):
        os.environ.pop(derived, None)
    if hasattr(vision_process, "_patch"):
        del vision_process._patch
