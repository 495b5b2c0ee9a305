"""Image pipeline of the expert: the authors' augmentation, resize, crop, flip, normalisation.

What Baselines_AIGI (wyczzy/AIGI-Holmes bae30b9) does, in ``data/datasets.py`` ``binary_dataset``:

    training:   [noise] -> albumentations Compose(...) -> Resize((384, 384)) -> RandomCrop(336)
                -> RandomHorizontalFlip -> ToTensor -> Normalize(ImageNet mean/std)
    evaluation: [noise] -> Resize((384, 384)) -> CenterCrop(336) -> ToTensor -> Normalize(ImageNet)

(images are opened with ImageFolder's loader: ``convert("RGB")``; the resize ignores the aspect
ratio). The augmentation is applied only when ``data_aug`` is set, which train_with_config.py
does for training (config.yaml ``data_aug: true``) and TestOptions never does:

    Compose([ImageCompression(quality_lower=60, quality_upper=100, p=0.5), GaussNoise(p=0.2),
             MotionBlur(p=0.2), GaussianBlur(blur_limit=3, p=0.5),
             Downscale(scale_min=0.25, scale_max=0.75, interpolation=cv2.INTER_LINEAR, p=0.5)])

The seed README installs albumentations 1.4.0; it is not a dependency here (it pulls opencv-python,
which needs libGL, and scikit-image). ``authors_augment`` re-implements those five transforms at
albumentations 1.4.0's defaults with NumPy, SciPy, Pillow and torch: JPEG through cv2 on an RGB
array (cv2 takes it for BGR, so the chroma planes are computed from swapped channels, which is
kept here), Gaussian noise of variance U(10, 50) per pixel and channel, truncated to uint8;
motion blur with a random 8-connected line kernel of size 3, 5 or 7 (``allow_shifted``);
OpenCV's fixed 3-tap Gaussian [1/4, 1/2, 1/4] (ksize 3 with sigma 0); downscale by U(0.25, 0.75)
and back, bilinear without antialiasing, in float. Borders reflect without repeating the edge
pixel (OpenCV's BORDER_REFLECT_101). The random draws come from one NumPy generator per image
and epoch, seeded from (seed, epoch, image index), so the stream does not depend on the number of
dataloader workers or on a resume.

No torchvision: the CPU build of torch 2.13 has no working torchvision (FACTS.md).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from scipy import ndimage

from expert.config import NORMALIZATIONS, EvalNoise

__all__ = [
    "ImageTransform",
    "apply_noise",
    "authors_augment",
    "center_crop",
    "load_rgb",
    "motion_blur_kernel",
    "sample_rng",
    "to_normalized_tensor",
]


def load_rgb(path: str) -> Image.Image:
    with Image.open(path) as opened:
        return opened.convert("RGB")


def sample_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The generator of one image's random draws in one epoch."""
    return np.random.default_rng([seed, epoch, index])


# ----- test-time noise (Baselines_AIGI data/datasets.py ImageProcessor.data_augment) -----------


def apply_noise(image: Image.Image, noise: EvalNoise | None) -> Image.Image:
    if noise is None:
        return image
    if noise.type == "resize":
        width, height = image.size
        return image.resize((int(width / noise.ratio), int(height / noise.ratio)), Image.BILINEAR)
    if noise.type == "jpg":
        return _pil_jpeg(np.asarray(image), int(noise.ratio))
    if noise.type == "blur":
        array = np.asarray(image).copy()
        for channel in range(array.shape[2]):
            ndimage.gaussian_filter(array[:, :, channel], output=array[:, :, channel], sigma=noise.ratio)
        return Image.fromarray(array)
    raise ValueError(f"unknown noise type {noise.type!r}")


def _pil_jpeg(array: np.ndarray, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="JPEG", quality=quality)
    buffer.seek(0)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


# ----- the training augmentation (albumentations 1.4.0 semantics) --------------------------------

_GAUSS_3 = np.array([0.25, 0.5, 0.25], dtype=np.float32)  # cv2.getGaussianKernel(3, 0)


def _jpeg_as_cv2_on_rgb(array: np.ndarray, quality: int) -> np.ndarray:
    # cv2.imencode reads the array as BGR: encode the channel-swapped image, swap back after.
    swapped = np.ascontiguousarray(array[:, :, ::-1])
    decoded = np.asarray(_pil_jpeg(swapped, quality))
    return np.ascontiguousarray(decoded[:, :, ::-1])


def _gauss_noise(array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    sigma = rng.uniform(10.0, 50.0) ** 0.5
    noisy = array.astype(np.float32) + rng.normal(0.0, sigma, array.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _line(kernel: np.ndarray, x1: int, y1: int, x2: int, y2: int) -> None:
    """An 8-connected line from (x1, y1) to (x2, y2), as cv2.line(..., thickness=1) draws it."""
    dx, dy = abs(x2 - x1), abs(y2 - y1)
    steps = max(dx, dy)
    for step in range(steps + 1):
        t = step / steps if steps else 0.0
        kernel[int(round(y1 + (y2 - y1) * t)), int(round(x1 + (x2 - x1) * t))] = 1


def motion_blur_kernel(rng: np.random.Generator) -> np.ndarray:
    """albumentations 1.4.0 MotionBlur.get_params with blur_limit (3, 7), allow_shifted=True."""
    ksize = int(rng.choice([3, 5, 7]))
    kernel = np.zeros((ksize, ksize), dtype=np.float32)
    x1, x2 = int(rng.integers(0, ksize)), int(rng.integers(0, ksize))
    if x1 == x2:
        y1, y2 = (int(v) for v in rng.choice(ksize, size=2, replace=False))
    else:
        y1, y2 = int(rng.integers(0, ksize)), int(rng.integers(0, ksize))
    _line(kernel, x1, y1, x2, y2)
    return kernel / kernel.sum()


def _filter(array: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    # cv2.filter2D correlates (no kernel flip); BORDER_REFLECT_101 is scipy's "mirror".
    out = np.empty(array.shape, dtype=np.float32)
    for channel in range(array.shape[2]):
        out[:, :, channel] = ndimage.correlate(array[:, :, channel].astype(np.float32), kernel, mode="mirror")
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _gaussian_blur_3(array: np.ndarray) -> np.ndarray:
    return _filter(array, np.outer(_GAUSS_3, _GAUSS_3))


def _downscale(array: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    scale = rng.uniform(0.25, 0.75)
    height, width = array.shape[:2]
    tensor = torch.from_numpy(array.astype(np.float32) / 255.0).permute(2, 0, 1)[None]
    small = (max(1, int(round(height * scale))), max(1, int(round(width * scale))))
    down = torch.nn.functional.interpolate(tensor, size=small, mode="bilinear", align_corners=False)
    up = torch.nn.functional.interpolate(down, size=(height, width), mode="bilinear", align_corners=False)
    result = up[0].permute(1, 2, 0).clamp(0, 1).numpy()
    return (result * 255).astype(np.uint8)  # albumentations from_float truncates


def authors_augment(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """The Compose of Baselines_AIGI's binary_dataset, in its order and with its probabilities."""
    array = np.asarray(image)
    if rng.random() < 0.5:  # ImageCompression(quality_lower=60, quality_upper=100, p=0.5)
        array = _jpeg_as_cv2_on_rgb(array, int(rng.integers(60, 101)))
    if rng.random() < 0.2:  # GaussNoise(p=0.2): var_limit (10, 50), per channel
        array = _gauss_noise(array, rng)
    if rng.random() < 0.2:  # MotionBlur(p=0.2): blur_limit 7 -> kernel 3, 5 or 7
        array = _filter(array, motion_blur_kernel(rng))
    if rng.random() < 0.5:  # GaussianBlur(blur_limit=3, p=0.5): ksize 3, sigma 0 (-> 0.8)
        array = _gaussian_blur_3(array)
    if rng.random() < 0.5:  # Downscale(0.25, 0.75, INTER_LINEAR, p=0.5)
        array = _downscale(array, rng)
    return Image.fromarray(array)


# ----- geometry and tensors ----------------------------------------------------------------------


def center_crop(image: Image.Image, size: int) -> Image.Image:
    """torchvision CenterCrop on a PIL image (top/left rounded as it rounds them)."""
    width, height = image.size
    top = int(round((height - size) / 2.0))
    left = int(round((width - size) / 2.0))
    return image.crop((left, top, left + size, top + size))


def to_normalized_tensor(image: Image.Image, normalize: str) -> torch.Tensor:
    mean, std = NORMALIZATIONS[normalize]
    tensor = torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1)
    mean_t = torch.tensor(mean, dtype=torch.float32)[:, None, None]
    std_t = torch.tensor(std, dtype=torch.float32)[:, None, None]
    return (tensor - mean_t) / std_t


@dataclass(frozen=True)
class ImageTransform:
    """path -> normalised tensor; ``train`` adds augmentation, random crop and flip."""

    load_size: int
    crop_size: int
    normalize: str
    train: bool
    augment: str = "none"
    flip: bool = True
    noise: EvalNoise | None = None

    def __call__(self, path: str, rng: np.random.Generator | None = None) -> torch.Tensor:
        image = apply_noise(load_rgb(path), self.noise)
        if self.train:
            assert rng is not None, "training transforms need the image's generator"
            if self.augment == "authors":
                image = authors_augment(image, rng)
        # transforms.Resize((load, load)) on a PIL image: PIL's bilinear resize
        image = image.resize((self.load_size, self.load_size), Image.BILINEAR)
        if self.train:
            top = int(rng.integers(0, self.load_size - self.crop_size + 1))
            left = int(rng.integers(0, self.load_size - self.crop_size + 1))
            image = image.crop((left, top, left + self.crop_size, top + self.crop_size))
            if self.flip and rng.random() < 0.5:
                image = image.transpose(Image.FLIP_LEFT_RIGHT)
        else:
            image = center_crop(image, self.crop_size)
        return to_normalized_tensor(image, self.normalize)
