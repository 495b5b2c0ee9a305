"""The model frame: our smart_resize equals the installed transformers and qwen_vl_utils functions,
and a box drawn on an image covers the same pixels after Qwen2.5-VL's own image processor resized it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from data_prep.model_frame import map_box, model_frame, smart_resize

PIXEL_BOUNDS = [(3136, 12544), (3136, 50176), (56 * 56, 28 * 28 * 1280), (3136, 12845056), (200704, 1003520)]


@pytest.fixture(scope="module")
def installed_smart_resizes():
    from data_prep import cpu_compat

    cpu_compat.apply()
    from qwen_vl_utils.vision_process import smart_resize as qwen_vl_utils_resize
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        smart_resize as transformers_resize,
    )

    return transformers_resize, qwen_vl_utils_resize


@settings(max_examples=600, deadline=None, derandomize=True)
@given(
    height=st.integers(1, 6000),
    width=st.integers(1, 6000),
    bounds=st.sampled_from(PIXEL_BOUNDS),
)
def test_smart_resize_equals_installed_functions(installed_smart_resizes, height, width, bounds):
    transformers_resize, qwen_vl_utils_resize = installed_smart_resizes
    min_pixels, max_pixels = bounds
    if max(height, width) / min(height, width) > 200:
        with pytest.raises(ValueError):
            smart_resize(height, width, 28, min_pixels, max_pixels)
        return
    ours = smart_resize(height, width, 28, min_pixels, max_pixels)
    assert ours == tuple(transformers_resize(height, width, 28, min_pixels, max_pixels))
    # ms-swift and verl load images with qwen_vl_utils, whose rule differs from transformers' for
    # degenerate images; model_frame answers exactly when both agree, and refuses otherwise.
    theirs = tuple(qwen_vl_utils_resize(height, width, 28, min_pixels, max_pixels))
    if theirs == ours and min(theirs) >= 28:
        assert model_frame(width, height, min_pixels, max_pixels) == (ours[1], ours[0])
    else:
        with pytest.raises(ValueError, match="too small or too elongated"):
            model_frame(width, height, min_pixels, max_pixels)


def _resized_by_processor(image, min_pixels: int, max_pixels: int) -> np.ndarray:
    """The resized image as Qwen2.5-VL's installed image processor feeds it to the model (HxWx3, 0..255)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    out = processor(images=[image], return_tensors="np")
    t, gh, gw = (int(v) for v in out["image_grid_thw"][0])
    p, m, tp = processor.patch_size, processor.merge_size, processor.temporal_patch_size
    # Undo the processor's patch flattening: (t, h/m, w/m, m, m, c, tp, p, p) -> (t*tp, c, H, W).
    patches = out["pixel_values"].reshape(t, gh // m, gw // m, m, m, 3, tp, p, p)
    frames = patches.transpose(0, 6, 5, 1, 3, 7, 2, 4, 8).reshape(t * tp, 3, gh * p, gw * p)
    mean = np.array(processor.image_mean)[:, None, None]
    std = np.array(processor.image_std)[:, None, None]
    return ((frames[0] * std + mean) * 255).transpose(1, 2, 0)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(
    width=st.integers(40, 900),
    height=st.integers(40, 900),
    bounds=st.sampled_from([(3136, 12544), (3136, 50176), (100000, 400000)]),
    fractions=st.tuples(*[st.floats(0.0, 1.0)] * 4),
)
def test_box_covers_the_same_pixels_after_the_processor_resize(
    installed_smart_resizes, width, height, bounds, fractions
):
    from PIL import Image

    min_pixels, max_pixels = bounds
    fx1, fy1, fx2, fy2 = fractions
    try:
        frame = model_frame(width, height, min_pixels, max_pixels)
    except ValueError:  # degenerate shapes have no frame (test_smart_resize_equals_installed_functions)
        assume(False)
    # A box of at least 8x8 original pixels and 3 frame pixels per side, so it survives the resize.
    min_w = max(8, int(np.ceil(3 * width / frame[0])))
    min_h = max(8, int(np.ceil(3 * height / frame[1])))
    if min_w >= width or min_h >= height:
        return
    x1 = int(fx1 * (width - min_w))
    y1 = int(fy1 * (height - min_h))
    x2 = x1 + min_w + int(fx2 * (width - min_w - x1))
    y2 = y1 + min_h + int(fy2 * (height - min_h - y1))
    pixels = np.full((height, width, 3), 20, dtype=np.uint8)
    pixels[y1:y2, x1:x2] = 235
    resized = _resized_by_processor(Image.fromarray(pixels), min_pixels, max_pixels)
    assert (resized.shape[1], resized.shape[0]) == frame

    mx1, my1, mx2, my2 = map_box([x1, y1, x2, y2], (width, height), frame)
    inside = resized[..., 0] > 127.5  # the box colour vs the background, thresholded halfway
    ys, xs = np.nonzero(inside)
    # The pixels the processor painted with the box colour are exactly the mapped box, up to the
    # one-pixel blur at each edge that any resampling filter produces.
    assert abs(xs.min() - mx1) <= 1 and abs(xs.max() + 1 - mx2) <= 1
    assert abs(ys.min() - my1) <= 1 and abs(ys.max() + 1 - my2) <= 1
    # Upscaling blurs an edge over about one original pixel, i.e. `scale` frame pixels.
    margin = max(1, int(np.ceil(max(frame[0] / width, frame[1] / height))))
    core = inside[my1 + margin : my2 - margin, mx1 + margin : mx2 - margin]
    assert core.all(), "pixels well inside the mapped box must carry the box colour"
    outside = np.ones_like(inside)
    outside[max(0, my1 - margin) : my2 + margin, max(0, mx1 - margin) : mx2 + margin] = False
    assert not inside[outside].any(), "pixels well outside the mapped box must keep the background"


def test_map_box_keeps_order_and_bounds():
    assert map_box([0, 0, 10, 10], (100, 100), (56, 56)) == [0, 0, 6, 6]
    assert map_box([99.6, 10, 100, 11], (100, 100), (56, 56)) == [55, 6, 56, 7]  # slivers keep a pixel
    assert map_box([0, 0, 100, 100], (100, 100), (56, 56)) == [0, 0, 56, 56]
    assert model_frame(1000, 500, 3136, 12845056) == (1008, 504)
