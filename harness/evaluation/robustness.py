"""Test-set perturbations of seed 002 Table 5 (App. D), selected by ``eval.robustness``.

Registered transforms:

- ``jpeg80``, ``jpeg30``: JPEG compression at quality 80 / 30 (002 Table 5 "JPEG Compression (80% /
  30% Quality)"), encoded and decoded with Pillow (default 4:2:0 chroma subsampling);
- ``random_crop``: a window of 80% of the width and of the height at a random position (002 App. D
  does not state the crop size: 0.8 is this project's choice);
- ``downsample_0.5``: both sides scaled to 50% (002 App. D "scaled the input images to 50% of their
  original width and height"), bicubic resampling (not stated in the paper).

Every transform is deterministic: the randomness of an image comes from ``(seed, image id)``, so a
resumed or re-ordered evaluation perturbs each image the same way. A transform also reports the
affine map of pixel coordinates it applied, so annotated boxes can follow the image
(``map_boxes``); boxes cropped away entirely are dropped with their descriptions.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.registry import Registry

if TYPE_CHECKING:  # PIL loads in the transforms: a dry run checks names only (~0.05 s saved)
    from PIL import Image

__all__ = ["ROBUSTNESS_TRANSFORMS", "Transformed", "apply_transform", "map_boxes", "scale_boxes"]

Box = tuple[float, float, float, float]
CROP_FRACTION = 0.8  # not in 002: the crop size of "Random Cropping" is unstated


@dataclass(frozen=True)
class Transformed:
    image: Image.Image
    # x' = scale_x * x + offset_x (same for y), in pixels of the source and the result.
    scale_x: float = 1.0
    scale_y: float = 1.0
    offset_x: float = 0.0
    offset_y: float = 0.0


Transform = Callable[["Image.Image", random.Random], Transformed]
ROBUSTNESS_TRANSFORMS: Registry[Transform] = Registry("robustness transform")


def _jpeg(quality: int) -> Transform:
    def compress(image: Image.Image, rng: random.Random) -> Transformed:
        from PIL import Image

        buffer = io.BytesIO()
        image.convert("RGB").save(buffer, format="JPEG", quality=quality)
        buffer.seek(0)
        decoded = Image.open(buffer)
        decoded.load()
        return Transformed(decoded.convert("RGB"))

    return compress


ROBUSTNESS_TRANSFORMS.register("jpeg80")(_jpeg(80))  # 002 Table 5
ROBUSTNESS_TRANSFORMS.register("jpeg30")(_jpeg(30))  # 002 Table 5


@ROBUSTNESS_TRANSFORMS.register("random_crop")
def _random_crop(image: Image.Image, rng: random.Random) -> Transformed:
    width, height = image.size
    crop_w = max(1, round(width * CROP_FRACTION))
    crop_h = max(1, round(height * CROP_FRACTION))
    left = rng.randint(0, width - crop_w)
    top = rng.randint(0, height - crop_h)
    cropped = image.crop((left, top, left + crop_w, top + crop_h))
    return Transformed(cropped, offset_x=-float(left), offset_y=-float(top))


@ROBUSTNESS_TRANSFORMS.register("downsample_0.5")
def _downsample_half(image: Image.Image, rng: random.Random) -> Transformed:
    from PIL import Image

    width, height = image.size
    new_w, new_h = max(1, round(width * 0.5)), max(1, round(height * 0.5))  # 002 App. D: 50% per side
    resized = image.resize((new_w, new_h), Image.Resampling.BICUBIC)
    return Transformed(resized, scale_x=new_w / width, scale_y=new_h / height)


def apply_transform(name: str, image: Image.Image, seed: int, image_id: str) -> Transformed:
    """Apply the registered transform ``name``; the same (seed, id) always gives the same result."""
    rng = random.Random(f"{seed}:{image_id}")
    return ROBUSTNESS_TRANSFORMS.get(name)(image, rng)


def scale_boxes(
    boxes: Sequence[Box], from_size: tuple[float, float], to_size: tuple[float, float]
) -> list[Box]:
    """Rescale boxes between two frames of the same picture ((width, height) each)."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    return [(x1 * sx, y1 * sy, x2 * sx, y2 * sy) for x1, y1, x2, y2 in boxes]


def map_boxes(
    boxes: Sequence[Box], labels: Sequence[str], result: Transformed
) -> tuple[list[Box], list[str]]:
    """Boxes (source pixels) carried through a transform and clipped to the result; empty ones dropped."""
    width, height = result.image.size
    kept: list[Box] = []
    kept_labels: list[str] = []
    padded = list(labels) + [""] * (len(boxes) - len(labels))
    for (x1, y1, x2, y2), label in zip(boxes, padded):
        nx1 = min(max(result.scale_x * x1 + result.offset_x, 0.0), width)
        nx2 = min(max(result.scale_x * x2 + result.offset_x, 0.0), width)
        ny1 = min(max(result.scale_y * y1 + result.offset_y, 0.0), height)
        ny2 = min(max(result.scale_y * y2 + result.offset_y, 0.0), height)
        if nx2 > nx1 and ny2 > ny1:
            kept.append((nx1, ny1, nx2, ny2))
            kept_labels.append(label)
    return kept, kept_labels
