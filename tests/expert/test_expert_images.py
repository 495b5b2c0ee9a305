"""The expert's image pipeline: the authors' augmentation (albumentations 1.4.0 semantics) and the
resize / crop / flip / normalisation of Baselines_AIGI's loader. Fast."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from expert.config import EvalNoise
from expert.images import (
    ImageTransform,
    _gaussian_blur_3,
    _jpeg_as_cv2_on_rgb,
    apply_noise,
    authors_augment,
    motion_blur_kernel,
    sample_rng,
    to_normalized_tensor,
)


def _image(path, width=90, height=70, seed=0) -> str:
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(path)
    return str(path)


def test_augmentation_is_a_function_of_seed_epoch_and_index(tmp_path) -> None:
    image = Image.open(_image(tmp_path / "a.png")).convert("RGB")
    once = np.asarray(authors_augment(image, sample_rng(100, 3, 7)))
    again = np.asarray(authors_augment(image, sample_rng(100, 3, 7)))
    assert once.shape == (70, 90, 3) and once.dtype == np.uint8
    assert np.array_equal(once, again)
    others = [np.asarray(authors_augment(image, sample_rng(100, e, 7))) for e in range(4, 12)]
    assert any(not np.array_equal(once, o) for o in others)


def test_each_transform_fires_at_its_probability(monkeypatch) -> None:
    import expert.images as images

    calls = {"jpeg": 0, "noise": 0, "filter": 0, "blur": 0, "down": 0}

    def counting(name):
        def record(array, *args):
            calls[name] += 1
            return array

        return record

    monkeypatch.setattr(images, "_jpeg_as_cv2_on_rgb", counting("jpeg"))
    monkeypatch.setattr(images, "_gauss_noise", counting("noise"))
    monkeypatch.setattr(images, "_filter", counting("filter"))  # the motion blur
    monkeypatch.setattr(images, "_gaussian_blur_3", counting("blur"))
    monkeypatch.setattr(images, "_downscale", counting("down"))
    image = Image.new("RGB", (8, 8))
    n = 3000
    for index in range(n):
        images.authors_augment(image, sample_rng(0, 0, index))
    # ImageCompression 0.5, GaussNoise 0.2, MotionBlur 0.2, GaussianBlur 0.5, Downscale 0.5
    for name, p in (("jpeg", 0.5), ("noise", 0.2), ("filter", 0.2), ("blur", 0.5), ("down", 0.5)):
        assert abs(calls[name] / n - p) < 0.04, (name, calls[name] / n)


def test_motion_blur_kernel_is_a_normalised_line() -> None:
    for index in range(50):
        kernel = motion_blur_kernel(sample_rng(1, 0, index))
        size = kernel.shape[0]
        assert size in (3, 5, 7) and kernel.shape == (size, size)
        assert kernel.sum() == pytest.approx(1.0)
        nonzero = np.count_nonzero(kernel)
        assert 2 <= nonzero <= size  # an 8-connected segment of at least two pixels
        assert np.allclose(kernel[kernel > 0], 1.0 / nonzero)


def test_gaussian_blur_is_opencvs_3_tap_kernel_with_reflect_101_borders() -> None:
    impulse = np.zeros((5, 5, 3), dtype=np.uint8)
    impulse[2, 2] = 160
    blurred = _gaussian_blur_3(impulse)[:, :, 0]
    assert blurred[2, 2] == 40 and blurred[2, 1] == 20 and blurred[1, 1] == 10 and blurred[0, 0] == 0
    edge = np.zeros((4, 4, 3), dtype=np.uint8)
    edge[0, :] = 200  # reflect-101 mirrors row 1 above row 0: 0.25*0 + 0.5*200 + 0.25*0 = 100
    assert _gaussian_blur_3(edge)[0, 1, 0] == 100


def test_jpeg_compresses_the_channel_swapped_image_like_cv2_on_rgb() -> None:
    rng = np.random.default_rng(0)
    array = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    swapped = _jpeg_as_cv2_on_rgb(array, 60)
    assert swapped.shape == array.shape and not np.array_equal(swapped, array)
    # the same as encoding the reversed channels and reversing back
    from expert.images import _pil_jpeg

    expected = np.asarray(_pil_jpeg(np.ascontiguousarray(array[:, :, ::-1]), 60))[:, :, ::-1]
    assert np.array_equal(swapped, expected)


def test_eval_transform_resizes_square_then_centre_crops(tmp_path) -> None:
    path = _image(tmp_path / "b.png", width=120, height=40)
    transform = ImageTransform(load_size=64, crop_size=56, normalize="imagenet", train=False)
    tensor = transform(path)
    assert tensor.shape == (3, 56, 56)
    resized = Image.open(path).convert("RGB").resize((64, 64), Image.BILINEAR).crop((4, 4, 60, 60))
    assert torch.allclose(tensor, to_normalized_tensor(resized, "imagenet"))
    # ImageNet statistics, not CLIP's: a mid-grey pixel maps to (0.5 - mean) / std
    grey = to_normalized_tensor(Image.new("RGB", (2, 2), (128, 128, 128)), "imagenet")
    assert grey[0, 0, 0].item() == pytest.approx((128 / 255 - 0.485) / 0.229, abs=1e-6)


def test_train_transform_crops_and_flips_from_the_images_generator(tmp_path) -> None:
    path = _image(tmp_path / "c.png")
    transform = ImageTransform(load_size=64, crop_size=56, normalize="clip", train=True, augment="none")
    first = transform(path, sample_rng(5, 0, 0))
    assert first.shape == (3, 56, 56) and torch.equal(first, transform(path, sample_rng(5, 0, 0)))
    outputs = {transform(path, sample_rng(5, 0, i)).sum().item() for i in range(10)}
    assert len(outputs) > 1  # different crops/flips for different images


def test_test_time_noise(tmp_path) -> None:
    image = Image.open(_image(tmp_path / "d.png", width=80, height=60)).convert("RGB")
    assert apply_noise(image, EvalNoise("resize", 2.0)).size == (40, 30)
    assert apply_noise(image, None) is image
    assert not np.array_equal(np.asarray(apply_noise(image, EvalNoise("jpg", 30))), np.asarray(image))
    assert not np.array_equal(np.asarray(apply_noise(image, EvalNoise("blur", 1.0))), np.asarray(image))
