"""The per-image work of template extraction, the same in every place it runs.

A *chunk* is one batch of the manifest: a list of ``(index, ImageRecord)``. Its images are
read, looked up in the template cache, and the rest embedded in one call and written to
the cache, by :func:`read_chunk` then :func:`embed_chunk`. The sequential path, the
pipelined one in this process, worker processes and Ray actors all run these two
functions on the same chunks, so the matcher sees the same batches everywhere and the
results are identical, bit for bit.

:class:`ExtractWorker` is the picklable unit a worker process (or a Ray actor) holds: it
builds the matcher by name once, checks it is the run's matcher (same fingerprint), and
answers chunks with ``(index, FaceResult, cache_hit)`` tuples; ``cache_hit`` is None for
a file that could not be read (the matcher never saw it).

The cache: one folder per matcher fingerprint, one ``.npz`` per image key (the sha256 of
its bytes), written atomically (temp file, then rename) by whichever process embedded the
image, so a rerun or an interrupted run resumes without recomputing. A damaged entry is
deleted and recomputed.
"""

from __future__ import annotations

import contextlib
import json
import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fairbench.core.codes import ImageRecord
from fairbench.core.cpus import cores
from fairbench.errors import FairbenchError, MatcherError
from fairbench.matchers.base import UNREADABLE, FaceResult, Matcher, build_matcher, read_bytes
from fairbench.matchers.images import MAX_PIXELS, decode
from fairbench.results.folder import atomic_write

Chunk = list[tuple[int, ImageRecord]]
Outcome = tuple[int, FaceResult, "bool | None"]


class TemplateCache:
    """One folder per matcher fingerprint; one ``.npz`` per image key."""

    def __init__(self, root: Path, fingerprint: str, dim: int | None = None) -> None:
        self.root = Path(root)
        self.dir = self.root / fingerprint[:24]
        self.dim = dim  # the matcher's embedding size: other entries are damaged
        self.repaired = 0

    def _path(self, key: str) -> Path:
        safe = key.replace(":", "_").replace("/", "_")
        return self.dir / safe[:2] / f"{safe}.npz"

    def get(self, key: str) -> FaceResult | None:
        """The cached result, or None (absent, or damaged: then the entry is deleted)."""
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                emb = np.asarray(z["embedding"], dtype=np.float32) if meta["acquired"] \
                    else None
            if emb is not None and (emb.ndim != 1 or emb.size == 0 or
                                    (self.dim is not None and emb.size != self.dim) or
                                    not np.all(np.isfinite(emb))):
                raise ValueError("not an embedding of this matcher")
            box = tuple(float(x) for x in meta["face_box"]) if meta.get("face_box") else None
            res = FaceResult(embedding=emb, failure_reason=meta.get("failure_reason"),
                             detector_score=meta.get("detector_score"),
                             face_box=box,  # type: ignore[arg-type]
                             n_faces=meta.get("n_faces"))
        except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile,
                zlib.error, json.JSONDecodeError):
            p.unlink(missing_ok=True)  # damaged: recomputed now, rewritten below
            self.repaired += 1
            return None
        return res

    def put(self, key: str, res: FaceResult) -> None:
        """Store atomically (temp file, then rename); transient errors are not cached.

        A cache that cannot be written (a full disk, no permission) is a clear error, and
        leaves no partial file behind.
        """
        if res.failure_reason and res.failure_reason.startswith("error:"):
            return
        p = self._path(key)
        meta = {
            "acquired": res.acquired,
            "failure_reason": res.failure_reason,
            "detector_score": None if res.detector_score is None else float(res.detector_score),
            "face_box": None if res.face_box is None else [float(x) for x in res.face_box],
            "n_faces": res.n_faces,
        }
        emb = res.embedding if res.acquired else np.zeros(0, np.float32)
        try:
            p.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(p, lambda f: np.savez(f, embedding=emb,
                                               meta=np.array(json.dumps(meta))))
        except OSError as exc:
            raise FairbenchError(
                f"cannot write the template cache under {self.dir} ({exc.strerror}); free "
                "space, set FAIRBENCH_CACHE elsewhere, or run with cache: {enabled: false}"
            ) from None


@dataclass
class ReadChunk:
    """A chunk after reading: what is settled (unreadable files, cache hits) and what the
    matcher must embed, ``(index, record, cache key, bytes or an already decoded image)``."""

    done: list[Outcome] = field(default_factory=list)
    todo: list[tuple[int, ImageRecord, str, Any]] = field(default_factory=list)


def decodes_in_base(matcher: Matcher) -> bool:
    """Whether the matcher decodes images the base class's way (so a reader thread may
    decode them ahead); a matcher with its own ``embed_bytes`` gets the file's bytes."""
    return type(matcher).embed_bytes is Matcher.embed_bytes


def read_chunk(matcher: Matcher, cache: TemplateCache | None, chunk: Chunk,
               max_pixels: int = MAX_PIXELS, decode_ahead: int = 0) -> ReadChunk:
    """Read each image, key it, take what the cache holds. With ``decode_ahead`` pixels,
    also decode the images left to embed (up to about that many pixels in all, so memory
    stays bounded), exactly as the matcher would (``max_pixels``): it then gets them
    decoded, with the same outcome."""
    out = ReadChunk()
    use_cache = cache is not None and matcher.needs_images
    for k, rec in chunk:
        data = read_bytes(rec.path) if matcher.needs_images else None
        if matcher.needs_images and data is None:
            out.done.append((k, FaceResult.failed(UNREADABLE), None))
            continue
        key = matcher.cache_key(rec, data)
        cached = cache.get(key) if use_cache and cache is not None else None
        if cached is not None:
            out.done.append((k, cached, True))
        else:
            out.todo.append((k, rec, key, data))
    if decode_ahead > 0 and matcher.needs_images and decodes_in_base(matcher):
        pixels = 0
        for j, (k, rec, key, data) in enumerate(out.todo):
            if pixels >= decode_ahead:
                break  # the rest are decoded by the matcher, one group at a time
            d = decode(data, max_pixels)
            if d.image is not None:
                pixels += d.image.shape[0] * d.image.shape[1]
            out.todo[j] = (k, rec, key, d)
    return out


def embed_chunk(matcher: Matcher, cache: TemplateCache | None, read: ReadChunk,
                max_pixels: int = MAX_PIXELS) -> list[Outcome]:
    """Embed what :func:`read_chunk` left, in one call, and cache each result."""
    outcomes = list(read.done)
    if read.todo:
        if matcher.needs_images:
            res = matcher.embed_bytes([d for *_, d in read.todo], max_pixels)
        else:
            res = [matcher.checked(r) for r in matcher.embed_records([r for _, r, _, _ in
                                                                      read.todo])]
        use_cache = cache is not None and matcher.needs_images
        for (k, _, key, _), r in zip(read.todo, res):
            if use_cache and cache is not None:
                cache.put(key, r)
            outcomes.append((k, r, False))
    return outcomes


def process_chunk(matcher: Matcher, cache: TemplateCache | None, chunk: Chunk,
                  max_pixels: int = MAX_PIXELS) -> list[Outcome]:
    """Read, look up and embed one chunk: the sequential path's unit of work."""
    return embed_chunk(matcher, cache, read_chunk(matcher, cache, chunk, max_pixels),
                       max_pixels)


def set_threads(n: int) -> dict[str, int]:
    """Size the thread pools of the libraries a matcher runs on to ``n``: OpenCV's, ONNX
    Runtime's intra-op pool (sessions opened from now on) and BLAS's. Returns what was
    set before, for :func:`thread_budget` to restore."""
    from fairbench import onnxrt

    before = {"onnxruntime": onnxrt.intra_op_threads()}
    onnxrt.set_intra_op_threads(n)
    with contextlib.suppress(ImportError):
        import cv2

        before["opencv"] = int(cv2.getNumThreads())
        cv2.setNumThreads(n)
    return before


@contextlib.contextmanager
def thread_budget(n: int) -> Iterator[None]:
    """:func:`set_threads` for the ``with`` block only (sessions opened inside keep it)."""
    before = set_threads(n)
    try:
        yield
    finally:
        from fairbench import onnxrt

        onnxrt.set_intra_op_threads(before["onnxruntime"])
        if "opencv" in before:
            import cv2

            cv2.setNumThreads(before["opencv"])


class ExtractWorker:
    """One worker's share of template extraction: ``worker(chunk) -> [(index, FaceResult,
    cache_hit), ...]``.

    Picklable: it holds only the matcher's name and parameters and where the cache lies;
    the matcher is built by name (:func:`~fairbench.matchers.base.build_matcher`) on the
    first call, once per worker, and must have the run's ``fingerprint`` (the same model
    files and parameters), else a :class:`MatcherError`. ``cache_dir`` is the cache's root
    (None: no cache); ``dim`` the embedding size a cache entry must have. ``threads``
    sizes the libraries' thread pools in this worker (one per worker process by default:
    the processes are the parallelism).
    """

    def __init__(self, matcher_name: str, params: dict[str, Any], cache_dir: str | Path | None,
                 fingerprint: str, dim: int | None, max_pixels: int = MAX_PIXELS,
                 threads: int = 1) -> None:
        self.matcher_name = matcher_name
        self.params = dict(params)
        self.cache_dir = None if cache_dir is None else str(cache_dir)
        self.fingerprint = fingerprint
        self.dim = dim
        self.max_pixels = max_pixels
        self.threads = threads
        self._matcher: Matcher | None = None
        self._cache: TemplateCache | None = None

    @classmethod
    def around(cls, matcher: Matcher, cache: TemplateCache | None,
               max_pixels: int = MAX_PIXELS) -> ExtractWorker:
        """A worker on a matcher this process has built (and loaded) already: the main
        process's share of the work, next to its worker processes."""
        w = cls(matcher.name, matcher.params.model_dump(mode="json"),
                None if cache is None else cache.root, matcher.fingerprint(),
                None if cache is None else cache.dim, max_pixels)
        w._matcher, w._cache = matcher, cache
        return w

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_matcher": None, "_cache": None}

    def load(self) -> Matcher:
        """Build the matcher (once) and check it is the run's."""
        if self._matcher is None:
            set_threads(self.threads)
            with contextlib.suppress(ImportError):
                from threadpoolctl import threadpool_limits

                threadpool_limits(self.threads)
            m = build_matcher(self.matcher_name, self.params)
            got = m.fingerprint()
            if got != self.fingerprint:
                raise MatcherError(
                    f"an extraction worker's matcher {self.matcher_name!r} is not the run's "
                    f"(fingerprint {got[:12]}, the run's {self.fingerprint[:12]})",
                    ["its model files differ where the worker runs; every worker must see "
                     "the same files (shared storage, pinned sha256)"])
            if self.cache_dir is not None:
                self._cache = TemplateCache(Path(self.cache_dir), self.fingerprint, self.dim)
            self._matcher = m
        return self._matcher

    def __call__(self, chunk: Chunk) -> list[Outcome]:
        m = self.load()
        return process_chunk(m, self._cache, chunk, self.max_pixels)


def run_chunk(worker: ExtractWorker, chunk: Chunk) -> list[Outcome]:
    """``worker(chunk)``: the module-level call an executor sends to its workers."""
    return worker(chunk)


def chunks_of(records: Sequence[ImageRecord], size: int) -> list[Chunk]:
    """The manifest in batches of ``size``, each image with its index."""
    return [[(k, records[k]) for k in range(a, min(len(records), a + size))]
            for a in range(0, len(records), size)]


__all__ = ["Chunk", "ExtractWorker", "Outcome", "ReadChunk", "TemplateCache",
           "chunks_of", "cores", "embed_chunk", "process_chunk", "read_chunk", "run_chunk",
           "set_threads", "thread_budget"]
