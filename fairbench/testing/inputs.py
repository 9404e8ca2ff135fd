"""What a check feeds a matcher: a few face images (or image ids), a blank image and bytes
that are not an image.

Images come from a folder (its first ``max_images`` JPEG/PNG files, sorted by name) or a
list of files or encoded bytes. A matcher that reads no images (precomputed embeddings) is
fed image records instead: given ones, or, for the precomputed matcher, the first ids of its
own embeddings file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fairbench.core.codes import ImageRecord
from fairbench.errors import FairbenchError
from fairbench.matchers.base import Matcher
from fairbench.matchers.images import decode
from fairbench.matchers.precomputed import PrecomputedMatcher, load_embeddings

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
MAX_IMAGES = 8
#: Bytes no decoder takes for an image.
NOT_AN_IMAGE = b"fairbench check: these bytes are not an image\n" * 8
#: An image with no face in it: uniform mid grey.
BLANK = np.full((240, 320, 3), 128, dtype=np.uint8)
#: An image id no matcher knows.
UNKNOWN_ID = "fairbench-check-no-such-image-id"

ImagesArg = str | Path | Sequence[str | Path | bytes]


@dataclass
class Inputs:
    """The inputs of one check run: items for the matcher and a label for each."""

    items: list[Any]  # RGB uint8 arrays, or ImageRecords for a matcher reading no images
    labels: list[str]
    blobs: list[bytes] = field(default_factory=list)  # encoded images, when it reads them
    source: str = ""


def image_files(folder: Path, max_images: int = MAX_IMAGES) -> list[Path]:
    """The first ``max_images`` JPEG/PNG files of ``folder``, sorted by name."""
    if not folder.is_dir():
        raise FairbenchError(f"images: no folder at {folder}")
    files = sorted(p for p in folder.iterdir()
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FairbenchError(f"images: no .jpg, .jpeg or .png files in {folder}")
    return files[:max_images]


def image_inputs(images: ImagesArg, max_images: int = MAX_IMAGES) -> Inputs:
    """Decode the images to check with; an unreadable one is an error naming it."""
    if isinstance(images, (str, Path)):
        folder = Path(images).expanduser()
        entries: list[str | Path | bytes] = list(image_files(folder, max_images))
        source = f"{len(entries)} images from {folder}"
    else:
        entries = list(images)[:max_images]
        source = f"{len(entries)} images"
    if not entries:
        raise FairbenchError("images: none given; a check needs at least one face image")
    items, labels, blobs = [], [], []
    for k, entry in enumerate(entries):
        if isinstance(entry, bytes):
            data, label = entry, f"image {k}"
        else:
            path = Path(entry).expanduser()
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise FairbenchError(f"images: cannot read {path} ({exc.strerror})") from None
            label = path.name
        img = decode(data).image
        if img is None:
            raise FairbenchError(f"images: {label} is not an image fairbench can decode")
        items.append(img)
        labels.append(label)
        blobs.append(data)
    names = ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")
    return Inputs(items, labels, blobs, f"{source} ({names})")


def record_inputs(matcher: Matcher, records: Sequence[ImageRecord] | None,
                  images: ImagesArg | None, max_images: int = MAX_IMAGES) -> Inputs:
    """Image records for a matcher that reads no images: given, named by image files (the
    file name without suffix as the id), or the first ids of a precomputed matcher's file."""
    if records is not None:
        recs = list(records)[:max_images]
        source = f"{len(recs)} given image records"
    elif images is not None:
        paths = image_files(Path(images), max_images) if isinstance(images, (str, Path)) \
            else [Path(p) for p in images if not isinstance(p, bytes)][:max_images]
        recs = [ImageRecord(image_id=p.stem, path=p, subject_id=p.stem) for p in paths]
        source = f"{len(recs)} image ids from file names"
    elif isinstance(matcher, PrecomputedMatcher):
        path = Path(matcher.params.path)  # type: ignore[attr-defined]
        ids = load_embeddings(path)[0][:max_images]
        recs = [ImageRecord(image_id=i, path=None, subject_id=i) for i in ids]
        source = f"the first {len(recs)} image ids of {path.name}"
    else:
        raise FairbenchError(f"matcher {matcher.name!r} reads no images: give the image ids "
                             "it knows (records= in Python, or --images DIR whose file "
                             "names are those ids)")
    if not recs:
        raise FairbenchError("no image records to check with")
    labels = [r.image_id for r in recs]
    names = ", ".join(labels[:3]) + (", ..." if len(labels) > 3 else "")
    return Inputs(recs, labels, [], f"{source} ({names})")


def unknown_record() -> ImageRecord:
    return ImageRecord(image_id=UNKNOWN_ID, path=None, subject_id=UNKNOWN_ID)
