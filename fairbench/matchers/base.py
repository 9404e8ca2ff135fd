"""The matcher protocol: a plugin implements ``embed_batch``; the base does the rest.

The base class reads images (an unreadable file is a recorded failure, not a crash),
batches them, isolates a failing image when a batch raises, and converts scores between
fairbench's internal similarity (higher = more alike) and the matcher's native scale.
Constructors only store and validate parameters; models load on first use.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from fairbench.core.codes import ImageRecord
from fairbench.core.scale import ScoreKind, Similarity
from fairbench.errors import MatcherError
from fairbench.matchers.images import MAX_PIXELS, UNREADABLE, Decoded, decode
from fairbench.provenance import file_sha256

#: Failure reasons a matcher may record for an image (free text after ``error:``).
NO_FACE = "no_face"
MISSING_EMBEDDING = "missing_embedding"
INVALID_EMBEDDING = "invalid_embedding"


class StrictParams(BaseModel):
    """Base for matcher parameter models: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass
class FaceResult:
    """What a matcher got from one image: an embedding, or the reason it got none."""

    embedding: np.ndarray | None = None
    failure_reason: str | None = None
    detector_score: float | None = None
    face_box: tuple[float, float, float, float] | None = None  # x, y, w, h in pixels
    n_faces: int | None = None

    @property
    def acquired(self) -> bool:
        return self.embedding is not None and self.failure_reason is None

    @classmethod
    def failed(cls, reason: str, **kw: Any) -> FaceResult:
        return cls(embedding=None, failure_reason=reason, **kw)


@dataclass(frozen=True)
class MatcherInfo:
    """What every run records about its matcher (provenance and score semantics)."""

    name: str
    version: str
    weights_sha256: dict[str, str]
    embedding_size: int
    similarity: ScoreKind  # how the native score reads (a template kernel: cosine|euclidean)
    native_score: str  # e.g. "euclidean distance", "cosine similarity"
    native_direction: Literal["lower_is_more_alike", "higher_is_more_alike"]
    providers: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _content_addressed(value: Any) -> Any:
    """Replace strings naming existing files by their sha256, recursively.

    A fingerprint then depends on what a model file holds, not where it lies, so the same
    weights reached through another path reuse the template cache.
    """
    if isinstance(value, dict):
        return {k: _content_addressed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_content_addressed(v) for v in value]
    if isinstance(value, str) and value and len(value) < 4096:
        try:
            p = Path(value)
            if p.is_file():
                return "sha256:" + file_sha256(p)
        except OSError:
            pass
    return value


def read_bytes(path: Path | None) -> bytes | None:
    """A file's bytes, or None when there is no path or it cannot be read."""
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError:
        return None


def decode_image(data: bytes, max_pixels: int = MAX_PIXELS) -> np.ndarray | None:
    """Decode image bytes to an RGB uint8 array, or None when they are not an image (or
    larger than ``max_pixels``)."""
    return decode(data, max_pixels).image


class Matcher(ABC):
    """Base class for face matchers.

    Subclasses set ``name``, a ``Params`` model (strict pydantic), ``similarity`` and
    implement :meth:`embed_batch` and :meth:`info`. Matchers that do not read images
    (precomputed embeddings) set ``needs_images = False`` and override :meth:`embed_records`.
    """

    name: ClassVar[str] = "base"
    Params: ClassVar[type[StrictParams]] = StrictParams
    similarity: ClassVar[Similarity] = "cosine"
    needs_images: ClassVar[bool] = True
    #: how template extraction puts many cores to work with this matcher: "processes"
    #: (one matcher per worker process; the default, safe for any plugin), "threads" (one
    #: matcher in this process, whose libraries run their own threads, sized to the
    #: machine: ONNX Runtime's intra-op pool) or "serial" (one matcher in this process,
    #: one call at a time: a client of a server that sets its own concurrency)
    parallelism: ClassVar[Literal["processes", "threads", "serial"]] = "processes"

    def __init__(self, **params: Any) -> None:
        try:
            self.params = self.Params(**params)
        except ValidationError as exc:
            problems = [
                f"matcher.params{''.join('.' + str(p) for p in e['loc'])}: "
                f"{e['msg'].removeprefix('Value error, ')}" for e in exc.errors()
            ]
            raise MatcherError(f"invalid parameters for matcher {self.name!r}", problems) from None
        chosen = getattr(self.params, "similarity", None)
        if chosen in ("cosine", "euclidean"):  # a configurable score: per instance
            self.similarity = chosen  # type: ignore[misc]

    # --- what a plugin implements -------------------------------------------------------
    @abstractmethod
    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        """Embed RGB uint8 images (H x W x 3); one :class:`FaceResult` per image."""

    @abstractmethod
    def info(self) -> MatcherInfo:
        """Name, version, weight checksums, embedding size and score semantics."""

    # --- provided -----------------------------------------------------------------------
    def fingerprint(self) -> str:
        """Stable id of this matcher's behaviour: everything that changes its embeddings."""
        info = self.info()
        payload = {
            "name": info.name,
            "version": info.version,
            "weights": info.weights_sha256,
            "params": _content_addressed(self.params.model_dump(mode="json")),
        }
        blob = json.dumps(payload, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()

    def cache_key(self, record: ImageRecord, data: bytes | None) -> str:
        """Key of one image's template in the cache: the sha256 of its bytes."""
        if data is None:
            return "id:" + record.image_id
        return hashlib.sha256(data).hexdigest()

    def embed_records(self, records: Sequence[ImageRecord]) -> list[FaceResult]:
        """Read and embed the images of ``records``; unreadable ones become failures."""
        return self.embed_bytes([read_bytes(r.path) for r in records])

    def embed_bytes(self, blobs: Sequence[bytes | Decoded | None],
                    max_pixels: int = MAX_PIXELS) -> list[FaceResult]:
        """Decode (one at a time, each within ``max_pixels``) and embed encoded images;
        undecodable or too large ones become recorded failures. Decoded images are handed
        to :meth:`embed_batch` in groups of at most ``max_pixels`` pixels in all, so memory
        stays bounded whatever the batch size. An entry may come already decoded (a
        :class:`~fairbench.matchers.images.Decoded`, by a reader thread that decodes ahead
        with the same ``max_pixels``): the outcome is the same."""
        results: list[FaceResult | None] = [None] * len(blobs)
        images: list[np.ndarray] = []
        where: list[int] = []
        pixels = 0

        def flush() -> None:
            nonlocal pixels
            for k, res in zip(where, self.safe_embed_batch(images)):
                results[k] = res
            images.clear()
            where.clear()
            pixels = 0

        for k, data in enumerate(blobs):
            d = data if isinstance(data, Decoded) else decode(data, max_pixels)
            if d.image is None:
                results[k] = FaceResult.failed(d.failure or UNREADABLE)
                continue
            if images and pixels + d.image.shape[0] * d.image.shape[1] > max_pixels:
                flush()
            images.append(d.image)
            where.append(k)
            pixels += d.image.shape[0] * d.image.shape[1]
        flush()
        return [r if r is not None else FaceResult.failed("error: no result") for r in results]

    def safe_embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        """``embed_batch`` with checks; a batch that raises is retried image by image."""
        if not images:
            return []
        try:
            out = self.embed_batch(images)
            if len(out) != len(images):
                raise RuntimeError(f"embed_batch returned {len(out)} results for {len(images)}")
        except MatcherError:
            raise
        except Exception:  # isolate the image that raised; each becomes its own outcome
            return [self._embed_one(img) for img in images]
        return [self.checked(r) for r in out]

    def _embed_one(self, img: np.ndarray) -> FaceResult:
        try:
            return self.checked(self.embed_batch([img])[0])
        except MatcherError:
            raise
        except Exception as exc:  # recorded as this image's outcome, never a crash
            return FaceResult.failed(f"error: {type(exc).__name__}: {exc}")

    def checked(self, res: FaceResult) -> FaceResult:
        """A result whose embedding can be scored, or a recorded ``invalid_embedding``:
        real finite numbers (no complex, no overflow in float32), at least one value, and
        for cosine a non-zero vector (cosine of a zero vector is undefined)."""
        if res.embedding is None:
            return res
        raw = np.asarray(res.embedding)
        why = None
        if raw.dtype.kind not in "fiu":
            why = f"not real numbers (dtype {raw.dtype})"
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                emb = raw.astype(np.float32).reshape(-1)
                sq = np.float32(np.dot(emb, emb)) if emb.size else np.float32(0)
            if emb.size == 0:
                why = "empty"
            elif not np.all(np.isfinite(emb)):
                why = "non-finite values (or values beyond float32)"
            elif not np.isfinite(sq):
                why = "its squared norm overflows float32"
            elif self.similarity == "cosine" and not np.any(emb):
                why = "all zero (cosine similarity is undefined)"
        if why is not None:
            return FaceResult.failed(f"{INVALID_EMBEDDING}: {why}", detector_score=
                                     res.detector_score, face_box=res.face_box,
                                     n_faces=res.n_faces)
        res.embedding = emb
        return res


def build_matcher(name: str, params: dict[str, Any] | None = None) -> Matcher:
    """Instantiate a registered matcher by name with its (validated) parameters."""
    from fairbench.registry import matchers

    cls = matchers.get(name)
    if not (isinstance(cls, type) and issubclass(cls, Matcher)):
        raise MatcherError(f"plugin {name!r} is not a fairbench Matcher subclass")
    return cls(**(params or {}))
