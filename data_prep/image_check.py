"""Check that an image file exists and decodes, and read its size."""

from __future__ import annotations

import warnings
from pathlib import Path

from data_prep.records import RecordRejected

__all__ = ["image_size"]


def image_size(path: Path, *, verify: bool) -> tuple[int, int]:
    """(width, height) of the image at ``path``.

    ``verify=False`` reads only the header (cheap; a truncated file passes). ``verify=True``
    decodes every pixel, which catches truncated and corrupt files. Rejects with image_missing or
    image_corrupt, naming the file.
    """
    from PIL import Image

    if not path.is_file():
        raise RecordRejected("image_missing", f"{path} does not exist")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                size = image.size
                if verify:
                    image.load()
    except RecordRejected:
        raise
    except Exception as error:  # PIL raises OSError, SyntaxError, ValueError, struct.error... on bad files
        raise RecordRejected("image_corrupt", f"{path}: {type(error).__name__}: {error}") from None
    width, height = size
    if width <= 0 or height <= 0:
        raise RecordRejected("image_corrupt", f"{path}: zero-sized image {width}x{height}")
    return int(width), int(height)
