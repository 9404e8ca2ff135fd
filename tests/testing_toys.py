"""Toy matcher plugins for the conformance checks: one that keeps every promise, and one
per broken promise, each failing exactly one check.

They embed synthetic images (noise of a few sizes, made here, no dataset needed) as a
16-value vector of block means; a near-uniform image is ``no_face``.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

from fairbench.matchers.base import (
    NO_FACE,
    FaceResult,
    Matcher,
    MatcherInfo,
    StrictParams,
)
from fairbench.matchers.images import MAX_PIXELS

#: Heights x widths of the synthetic images; heights 65 and 72 are the "odd" ones below.
SIZES = [(64, 64), (65, 64), (64, 80), (72, 64)]


def synthetic_images(folder: Any = None) -> list[bytes]:
    """PNG bytes of seeded noise images (written to ``folder`` too when given)."""
    out = []
    for k, (h, w) in enumerate(SIZES):
        img = np.random.default_rng(k).integers(0, 256, (h, w, 3), dtype=np.uint8)
        ok, buf = cv2.imencode(".png", img)
        assert ok
        out.append(buf.tobytes())
        if folder is not None:
            (folder / f"img{k}.png").write_bytes(buf.tobytes())
    return out


def feature(img: np.ndarray) -> np.ndarray:
    """16 block means of the grey image (4 x 4 blocks), plus an offset: never all zero."""
    grey = np.asarray(img, dtype=np.float64).mean(axis=2)
    h, w = (grey.shape[0] // 4) * 4, (grey.shape[1] // 4) * 4
    blocks = grey[:h, :w].reshape(4, h // 4, 4, w // 4).mean(axis=(1, 3))
    return (blocks.reshape(-1) / 255.0 + 0.01).astype(np.float32)


class ToyParams(StrictParams):
    scale: float = 1.0


class Toy(Matcher):
    """Keeps every promise."""

    name = "toy"
    Params = ToyParams

    def embed_one(self, img: np.ndarray) -> FaceResult:
        if float(np.asarray(img).std()) < 1.0:
            return FaceResult.failed(NO_FACE, n_faces=0)
        return FaceResult(embedding=feature(img) * self.params.scale)  # type: ignore[attr-defined]

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        return [self.embed_one(img) for img in images]

    def info(self) -> MatcherInfo:
        return MatcherInfo(self.name, "1.0", {}, 16, "cosine", "cosine similarity",
                           "higher_is_more_alike")


class Reversed(Toy):
    """Results in reverse order."""

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        return super().embed_batch(images)[::-1]


class VaryingSize(Toy):
    """17 values for images of odd height, 16 otherwise."""

    def embed_one(self, img: np.ndarray) -> FaceResult:
        res = super().embed_one(img)
        if res.embedding is not None and img.shape[0] % 2:
            res.embedding = np.append(res.embedding, np.float32(0.5))
        return res


class NaNs(Toy):
    """A NaN in the embeddings of images taller than 64 px."""

    def embed_one(self, img: np.ndarray) -> FaceResult:
        res = super().embed_one(img)
        if res.embedding is not None and img.shape[0] > 64:
            res.embedding[3] = np.nan
        return res


class Noisy(Toy):
    """Random noise on every embedding (dropout left on, say)."""

    def embed_one(self, img: np.ndarray) -> FaceResult:
        res = super().embed_one(img)
        if res.embedding is not None:
            res.embedding = res.embedding + np.random.default_rng().normal(0, 1e-3, 16)
        return res


class Unsafe(Toy):
    """Shared mutable state: the image is parked on the instance while 'working'."""

    def embed_one(self, img: np.ndarray) -> FaceResult:
        self._current = img
        time.sleep(0.01)  # another thread overwrites _current meanwhile
        return super().embed_one(self._current)


class Phones(Toy):
    """Looks a name up on the network while embedding (telemetry, a licence server)."""

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        with contextlib.suppress(OSError):  # a plugin that shrugs off a failed call leaks
            socket.getaddrinfo("example.invalid", 80)
        return super().embed_batch(images)


class BatchLeaks(Toy):
    """Each embedding mixes in the batch's mean: results depend on the batch."""

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        out = super().embed_batch(images)
        embs = [r.embedding for r in out if r.embedding is not None]
        mean = np.mean(embs, axis=0) if embs else 0.0
        for r in out:
            if r.embedding is not None:
                r.embedding = (r.embedding + 0.5 * mean).astype(np.float32)
        return out


class RaisesOnJunk(Toy):
    """Decodes bytes itself and raises on bytes that are not an image."""

    def embed_bytes(self, blobs: Sequence[bytes | None], max_pixels: int = MAX_PIXELS
                    ) -> list[FaceResult]:
        images = []
        for b in blobs:
            bgr = cv2.imdecode(np.frombuffer(b or b"", np.uint8), cv2.IMREAD_COLOR)
            if bgr is None:
                raise ValueError("cannot decode image")
            images.append(bgr[:, :, ::-1])
        return self.embed_batch(images)


class DropsOne(Toy):
    """One result too few for a batch of more than one."""

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        out = super().embed_batch(images)
        return out[:-1] if len(out) > 1 else out


class StaleFingerprint(Toy):
    """A fingerprint that ignores the params (scale changes the embeddings)."""

    def fingerprint(self) -> str:
        return "toy-fingerprint"


class Backwards(Toy):
    """Says a cosine similarity is lower-is-more-alike."""

    def info(self) -> MatcherInfo:
        return MatcherInfo(self.name, "1.0", {}, 16, "cosine", "cosine similarity",
                           "lower_is_more_alike")


class LocalServer(Toy):
    """Talks to a server on 127.0.0.1 (like the http matcher): local, allowed."""

    port = 0

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5):
            pass
        return super().embed_batch(images)


#: broken plugin -> the one check it fails
BROKEN: dict[type[Toy], str] = {
    Reversed: "result_order",
    VaryingSize: "embedding_size",
    NaNs: "finite_values",
    Noisy: "deterministic",
    Unsafe: "thread_safe",
    Phones: "no_network",
    BatchLeaks: "batch_size_invariant",
    RaisesOnJunk: "failures_reported",
    DropsOne: "one_result_per_image",
    StaleFingerprint: "fingerprint_tracks_params",
    Backwards: "info_complete",
}
