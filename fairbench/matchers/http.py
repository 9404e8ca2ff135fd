"""A face-recognition system that runs on a server: POST an image, receive a template.

``mode: embed`` (the default contract; every name is configurable)::

    request   {"image": "<base64 of the image file's bytes>", "image_id": "<sha256>"}
    response  {"embedding": [numbers]}           a template
              {"embedding": null, "reason": ...}  or status 422: no face found

The image id sent is the sha256 of the file's bytes (also the template cache's key), so no
file name or subject id reaches the server. Images are checked locally first, as by every
matcher (a file that is not an image, or too large, is never sent). ``embedding_size`` is
required, so info() is complete before the first call and every answer is checked. Answers
(templates and ``no_face``) are cached per image by the template cache, so a rerun repeats
only calls that failed; a failure marked ``error:`` (5xx, 429, other 4xx, timeouts, no
connection, malformed answers) is never cached. 401/403 stop the run (MatcherError).
``mode: compare`` (``{"image_a": ..., "image_b": ...}`` -> ``{"score": x}``) gives scores of
an explicit list of pairs (:mod:`fairbench.pipeline.compared`), not templates. The client
pieces live in :mod:`fairbench.matchers.http_client` and :mod:`~.http_guard`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from pydantic import Field, PositiveInt

from fairbench._version import __version__
from fairbench.errors import MatcherError
from fairbench.matchers.base import (
    INVALID_EMBEDDING,
    NO_FACE,
    FaceResult,
    Matcher,
    MatcherInfo,
    Similarity,
    StrictParams,
)
from fairbench.matchers.http_client import (
    MISSING,
    HttpTransport,
    Reply,
    TransportParams,
    dig,
    map_ordered,
    mime_of,
    rejected_request,
    suffix_of,
)
from fairbench.matchers.http_guard import check_names, check_transport, read_api_key
from fairbench.matchers.images import MAX_PIXELS, UNREADABLE, decode

COMPARE_PLANNED = ("matcher.params.mode: compare (two images in, a score out) gives scores "
                   "of image pairs, not templates; for templates use mode: embed")


class HttpFields(StrictParams):
    """Field names of the server's contract; dotted paths reach nested response fields."""

    image: str = "image"  # embed: the image (base64 in JSON, the file part in multipart)
    image_id: str | None = "image_id"  # the image's sha256; null: not sent
    embedding: str = "embedding"  # response: the template, e.g. "result.embedding"
    reason: list[str] = Field(default_factory=lambda: ["reason", "detail"])  # why no face
    image_a: str = "image_a"  # compare: the two images
    image_b: str = "image_b"
    score: str = "score"  # compare: the response's score


class HttpParams(TransportParams):
    """Parameters of :class:`HttpMatcher` (plus the transport's: url, retries, ...)."""

    mode: Literal["embed", "compare"] = "embed"
    model: str = Field(min_length=1)  # the vendor model / version the server runs (a label)
    upload: Literal["json", "multipart"] = "json"
    fields: HttpFields = HttpFields()
    extra_fields: dict[str, str | int | float | bool] = Field(default_factory=dict)
    embedding_size: PositiveInt | None = None  # required for embed; other sizes: invalid
    similarity: Similarity = "cosine"
    score_direction: Literal["similarity", "distance"] = "similarity"  # compare's scores


#: Params that change what the server returns (the fingerprint); pacing, retries and the
#: key's source do not, so changing them keeps the template cache.
_BEHAVIOUR = ("mode", "url", "model", "upload", "fields", "extra_fields", "headers",
              "embedding_size", "similarity", "score_direction")


class HttpMatcher(Matcher):
    """Templates from a face-recognition server (see the module docstring)."""

    name = "http"
    Params = HttpParams
    parallelism = "serial"  # the server sets the pace: `concurrency` calls at a time

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        p: HttpParams = self.params  # type: ignore[assignment]
        self.host, self.remote = check_transport(p)
        check_names(p.extra_fields, "matcher.params.extra_fields")
        if p.mode == "embed" and p.embedding_size is None:
            raise MatcherError(
                "matcher.params.embedding_size: required for mode: embed (the number of values "
                "in the server's templates, e.g. 512); it is recorded before the first call "
                "and every answer is checked against it")
        self._transport = HttpTransport(p, read_api_key(p))
        self._check_lock = threading.Lock()

    @property
    def gives_scores(self) -> bool:
        """``mode: compare`` hands over scored pairs (see the module docstring)."""
        return self.params.mode == "compare"  # type: ignore[attr-defined]

    # --- the protocol -------------------------------------------------------------------
    def embed_bytes(self, blobs: Sequence[bytes | None], max_pixels: int = MAX_PIXELS
                    ) -> list[FaceResult]:
        """Check each image locally, then POST the file's own bytes, ``concurrency`` at a
        time; results in input order, every failure a recorded outcome."""
        self._embed_mode()
        return map_ordered(lambda b: self._one(b, max_pixels), list(blobs),
                           self.params.concurrency)  # type: ignore[attr-defined]

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        """Arrays (e.g. the capture stage's degraded images) are sent as lossless PNGs."""
        import cv2

        self._embed_mode()
        blobs = []
        for img in images:
            ok, buf = cv2.imencode(".png", cv2.cvtColor(np.ascontiguousarray(img),
                                                        cv2.COLOR_RGB2BGR))
            blobs.append(buf.tobytes() if ok else None)
        return map_ordered(self._post_embed, blobs,
                           self.params.concurrency)  # type: ignore[attr-defined]

    def _one(self, data: bytes | None, max_pixels: int) -> FaceResult:
        with self._check_lock:  # one decoded image at a time, whatever the concurrency
            failure = decode(data, max_pixels).failure  # the same check as every matcher
        if failure is not None or data is None:
            return FaceResult.failed(failure or UNREADABLE)
        return self._post_embed(data)

    def _post_embed(self, data: bytes | None) -> FaceResult:
        if data is None:
            return FaceResult.failed(UNREADABLE)
        p: HttpParams = self.params  # type: ignore[assignment]
        try:
            reply = self._transport.post(**self._request({p.fields.image: data},
                                                         hashlib.sha256(data).hexdigest()))
            return self.checked(self._parse_embedding(reply))
        except MatcherError:
            raise
        except Exception as exc:  # a bug or an odd answer: this image's outcome, not a crash
            return FaceResult.failed(f"error: {type(exc).__name__}: "
                                     f"{self._transport.safe(str(exc))}")

    def _request(self, images: dict[str, bytes], image_id: str | None) -> dict[str, Any]:
        """httpx keyword arguments for JSON (base64) or multipart upload."""
        p: HttpParams = self.params  # type: ignore[assignment]
        extra: dict[str, Any] = dict(p.extra_fields)
        if p.fields.image_id is not None and image_id is not None:
            extra[p.fields.image_id] = image_id
        if p.upload == "json":
            body = {k: base64.b64encode(v).decode("ascii") for k, v in images.items()}
            return {"content": json.dumps({**body, **extra}).encode(),
                    "headers": {"Content-Type": "application/json"}}
        files = {k: (f"{k}{suffix_of(v)}", v, mime_of(v)) for k, v in images.items()}
        data = {k: json.dumps(v) if isinstance(v, bool) else str(v) for k, v in extra.items()}
        return {"files": files, "data": data}

    def _parse_embedding(self, reply: Reply) -> FaceResult:
        """A template, ``no_face`` (null or 422, with the server's reason), or a failure."""
        p: HttpParams = self.params  # type: ignore[assignment]
        bad = self._failure(reply)
        if bad is not None:
            return bad
        value = dig(reply.body, p.fields.embedding)
        if value is MISSING:
            return FaceResult.failed(f"error: the server's answer (status {reply.status}) has "
                                     f"no field {p.fields.embedding!r}")
        if value is None:
            return self._no_face(reply)
        try:
            emb = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return FaceResult.failed(f"{INVALID_EMBEDDING}: not a list of numbers")
        if emb.ndim == 2 and emb.shape[0] == 1:
            emb = emb[0]
        if emb.ndim != 1:
            return FaceResult.failed(f"{INVALID_EMBEDDING}: shape {emb.shape}, not a list")
        if emb.size != p.embedding_size:
            return FaceResult.failed(f"{INVALID_EMBEDDING}: {emb.size} values, "
                                     f"matcher.params.embedding_size is {p.embedding_size}")
        return FaceResult(embedding=emb)

    def _failure(self, reply: Reply) -> FaceResult | None:
        """The outcome of a reply that carries no usable answer, else None."""
        if reply.error is not None:
            return FaceResult.failed(f"error: {reply.error}")
        if reply.status == 422 and not rejected_request(reply.body):
            return self._no_face(reply)
        if reply.status is not None and 300 <= reply.status < 400:
            return FaceResult.failed(f"error: http {reply.status} (redirects are not followed:"
                                     " images go only to matcher.params.url)")
        if reply.status is None or not 200 <= reply.status < 300:
            why = self._transport.reason(reply.body, self.params.fields.reason)  # type: ignore
            return FaceResult.failed(f"error: http {reply.status}" + (f": {why}" if why else ""))
        if not isinstance(reply.body, dict):
            return FaceResult.failed(f"error: the server's answer (status {reply.status}) is "
                                     "not a JSON object")
        return None

    def _no_face(self, reply: Reply) -> FaceResult:
        why = self._transport.reason(reply.body, self.params.fields.reason)  # type: ignore
        return FaceResult.failed(NO_FACE + (f": {why}" if why else ""), n_faces=0)

    # --- the seam for mode: compare -----------------------------------------------------
    def compare_bytes(self, a: bytes, b: bytes) -> tuple[float | None, str | None]:
        """POST two encoded images, return (score on the native scale, None) or (None, the
        reason: ``no_face...`` or ``error: ...``). For the score-list engine."""
        p: HttpParams = self.params  # type: ignore[assignment]
        if p.mode != "compare":
            raise MatcherError("matcher.params.mode: compare_bytes needs mode: compare")
        reply = self._transport.post(**self._request({p.fields.image_a: a,
                                                      p.fields.image_b: b}, None))
        bad = self._failure(reply)
        if bad is not None:
            return None, bad.failure_reason
        value = dig(reply.body, p.fields.score)
        if value is MISSING:
            return None, f"error: the server's answer has no field {p.fields.score!r}"
        if value is None:
            return None, self._no_face(reply).failure_reason
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            return None, "invalid_score: not a number"
        return float(value), None

    def compare_pairs(self, pairs: Sequence[tuple[bytes | None, bytes | None]],
                      max_pixels: int = MAX_PIXELS) -> list[tuple[float | None, str | None]]:
        """:meth:`compare_bytes` over many pairs, ``concurrency`` at a time, in order; an
        image that is not one (or too large) is a recorded failure, never sent."""
        def one(pair: tuple[bytes | None, bytes | None]) -> tuple[float | None, str | None]:
            for data in pair:
                with self._check_lock:
                    failure = decode(data, max_pixels).failure
                if failure is not None or data is None:
                    return None, failure or UNREADABLE
            return self.compare_bytes(pair[0], pair[1])  # type: ignore[arg-type]

        return map_ordered(one, list(pairs), self.params.concurrency)  # type: ignore

    def _embed_mode(self) -> None:
        if self.params.mode != "embed":  # type: ignore[attr-defined]
            raise MatcherError(COMPARE_PLANNED)

    # --- provenance ---------------------------------------------------------------------
    def fingerprint(self) -> str:
        """What changes the server's answers: URL, model label, contract, size, score."""
        dump = self.params.model_dump(mode="json")
        payload = {"name": self.name, **{k: dump[k] for k in _BEHAVIOUR}}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()

    def info(self) -> MatcherInfo:
        """The model label, where images are sent, the configured template size and the
        score semantics; no network."""
        p: HttpParams = self.params  # type: ignore[assignment]
        compare = p.mode == "compare"
        kind = p.score_direction if compare else self.similarity
        lower = kind in ("euclidean", "distance")
        import httpx

        return MatcherInfo(
            name=self.name,
            version=f"{p.model} (server-side) via fairbench {__version__}, "
            f"httpx {httpx.__version__}",
            weights_sha256={},
            embedding_size=0 if compare else int(p.embedding_size or 0),
            similarity=kind,  # type: ignore[arg-type]
            native_score=f"the server's {kind} of two images" if compare else
            "euclidean distance" if lower else "cosine similarity",
            native_direction="lower_is_more_alike" if lower else "higher_is_more_alike",
            details={
                "mode": p.mode, "model": p.model, "url": p.url,
                "images_sent_to": self.host, "remote": self.remote,
                "encrypted": p.url.lower().startswith("https://"),
                "upload": p.upload, "image_id_sent": "sha256 of the image file's bytes"
                if p.fields.image_id else None,
                "api_key": f"from ${p.api_key_env} in header {p.api_key_header}"
                if p.api_key_env else None,
            },
        )

    def close(self) -> None:
        """Close the shared HTTP client (reopened on the next call)."""
        self._transport.close()
