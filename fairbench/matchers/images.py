"""Decoding images within a pixel budget: the size is read from the file's header before
any pixel is decoded, so a decompression bomb (a small file claiming a huge image) is a
recorded failure ``image_too_large``, never an out-of-memory crash.

Headers are read with Pillow (PNG, JPEG, TIFF, WebP, BMP, GIF, ...), which decodes nothing
until asked; a file whose header Pillow cannot read is ``unreadable_image``. Pixels are then
decoded by OpenCV, as every matcher expects them (RGB, uint8, EXIF orientation applied).
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np

UNREADABLE = "unreadable_image"
TOO_LARGE = "image_too_large"

#: Default pixel budget per image (about 50 megapixels: 150 MB decoded as RGB).
MAX_PIXELS = 50_000_000


@dataclass(frozen=True)
class Decoded:
    """An RGB image, or why there is none."""

    image: np.ndarray | None
    failure: str | None = None


def header_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the image header alone; None when it is not a readable image."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # only the header is read; the budget is checked below
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except Exception:  # not an image Pillow knows, a truncated header, ...
        return None
    finally:
        Image.MAX_IMAGE_PIXELS = limit
    return int(w), int(h)


def decode(data: bytes | None, max_pixels: int = MAX_PIXELS) -> Decoded:
    """Decode encoded image bytes to RGB uint8, checking the size from the header first."""
    import cv2

    if not data:
        return Decoded(None, UNREADABLE)
    size = header_size(data)
    if size is None:
        return Decoded(None, UNREADABLE)
    w, h = size
    if w <= 0 or h <= 0:
        return Decoded(None, UNREADABLE)
    if w * h > max_pixels:
        return Decoded(None, f"{TOO_LARGE}: {w:,} x {h:,} pixels, more than the budget of "
                             f"{max_pixels:,} (dataset.max_image_pixels)")
    bgr = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if bgr is None or bgr.size == 0 or bgr.shape[0] * bgr.shape[1] > max_pixels:
        return Decoded(None, UNREADABLE)
    return Decoded(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
