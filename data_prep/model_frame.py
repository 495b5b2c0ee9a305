"""The pixel frame a Qwen2.5-VL model sees, and mapping annotation boxes into it.

Qwen2.5-VL's image processor (and qwen_vl_utils, which ms-swift and verl use to load images)
resizes every image with ``smart_resize``: both sides become multiples of 28 (patch 14 x merge 2),
the area lands in [min_pixels, max_pixels], the aspect ratio is kept as far as possible. Grounding
boxes in Qwen2.5-VL's answers are absolute pixels of that resized image, so the converters map
annotation boxes (original pixels) into it.

``smart_resize`` below follows transformers 5.10's rule
(``transformers.models.qwen2_vl.image_processing_pil_qwen2_vl.smart_resize``); it is re-stated here
because importing transformers costs seconds per worker process. tests/data_prep/test_model_frame.py
checks it equals the installed transformers and qwen_vl_utils functions.
"""

from __future__ import annotations

import math

__all__ = [
    "QWEN_FACTOR",
    "QWEN_DEFAULT_MIN_PIXELS",
    "QWEN_DEFAULT_MAX_PIXELS",
    "smart_resize",
    "model_frame",
    "map_box",
]

QWEN_FACTOR = 28  # patch_size 14 x spatial merge 2 (Qwen2.5-VL preprocessor_config.json)
QWEN_DEFAULT_MIN_PIXELS = 4 * 28 * 28  # qwen_vl_utils IMAGE_MIN_TOKEN_NUM * 28^2
QWEN_DEFAULT_MAX_PIXELS = 16384 * 28 * 28  # qwen_vl_utils IMAGE_MAX_TOKEN_NUM * 28^2
_MAX_ASPECT_RATIO = 200


def smart_resize(
    height: int,
    width: int,
    factor: int = QWEN_FACTOR,
    min_pixels: int = QWEN_DEFAULT_MIN_PIXELS,
    max_pixels: int = QWEN_DEFAULT_MAX_PIXELS,
) -> tuple[int, int]:
    """Return (resized_height, resized_width) exactly as Qwen2.5-VL's processor computes them."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got height={height} width={width}")
    if max(height, width) / min(height, width) > _MAX_ASPECT_RATIO:
        raise ValueError(
            f"absolute aspect ratio must be smaller than {_MAX_ASPECT_RATIO}, "
            f"got {max(height, width) / min(height, width)}"
        )
    h_bar = round(height / factor) * factor
    w_bar = round(width / factor) * factor
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def _qwen_vl_utils_resize(height: int, width: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    # qwen_vl_utils 0.0.14's variant (ms-swift and verl load images through it): it clamps the
    # rounded sides to 28 before the area checks and does not clamp after shrinking.
    factor = QWEN_FACTOR
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt((height * width) / max_pixels)
        h_bar = math.floor(height / beta / factor) * factor
        w_bar = math.floor(width / beta / factor) * factor
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


def model_frame(width: int, height: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """(width, height) of the image as Qwen2.5-VL sees it (note: width first, unlike smart_resize).

    ms-swift and verl resize with qwen_vl_utils and then with transformers' processor; the two
    rules agree except for degenerate images (a side under 14 pixels, or so elongated that
    qwen_vl_utils shrinks a side to 0). For those this raises ValueError instead of guessing,
    as it does for an aspect ratio above 200.
    """
    resized = smart_resize(height, width, QWEN_FACTOR, min_pixels, max_pixels)
    loaded = _qwen_vl_utils_resize(height, width, min_pixels, max_pixels)
    if loaded != resized or min(loaded) < QWEN_FACTOR:
        raise ValueError(
            f"a {width}x{height} image has no well-defined Qwen2.5-VL frame for min_pixels={min_pixels}, "
            f"max_pixels={max_pixels} (transformers resizes it to {resized[1]}x{resized[0]}, "
            f"qwen_vl_utils to {loaded[1]}x{loaded[0]}): it is too small or too elongated"
        )
    return resized[1], resized[0]


def _round_half_up(value: float) -> int:
    return math.floor(value + 0.5)


def map_box(
    box: tuple[float, float, float, float] | list[float],
    original_size: tuple[int, int],
    frame_size: tuple[int, int],
) -> list[int]:
    """Map ``[x1, y1, x2, y2]`` (pixel edges in the original image) into the model frame.

    Each edge is scaled by the resize factor of its axis and rounded to the nearest pixel edge,
    then clamped to the frame. A box that would collapse (a sliver narrower than one frame pixel)
    keeps one pixel, so x1 < x2 and y1 < y2 always hold.
    """
    orig_w, orig_h = original_size
    frame_w, frame_h = frame_size
    sx, sy = frame_w / orig_w, frame_h / orig_h
    x1, y1, x2, y2 = (float(v) for v in box)
    mx1 = min(max(_round_half_up(x1 * sx), 0), frame_w)
    mx2 = min(max(_round_half_up(x2 * sx), 0), frame_w)
    my1 = min(max(_round_half_up(y1 * sy), 0), frame_h)
    my2 = min(max(_round_half_up(y2 * sy), 0), frame_h)
    if mx2 <= mx1:
        mx1, mx2 = (mx1, mx1 + 1) if mx1 < frame_w else (frame_w - 1, frame_w)
    if my2 <= my1:
        my1, my2 = (my1, my1 + 1) if my1 < frame_h else (frame_h - 1, frame_h)
    return [mx1, my1, mx2, my2]
