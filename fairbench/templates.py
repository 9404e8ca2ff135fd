"""Templates: embeddings for every image, extracted in batches and cached on disk.

The cache is keyed by (matcher fingerprint, sha256 of the image bytes), one small file per
image written atomically, so a rerun or an interrupted run resumes without recomputing.
A damaged entry (truncated, empty, not the matcher's embedding size) is deleted and
recomputed. Images are read batch by batch, never all at once. An unreadable image, one too
large, or a face not found is a recorded outcome, never a crash.
"""

from __future__ import annotations

import json
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fairbench.core.codes import ImageRecord
from fairbench.errors import FairbenchError
from fairbench.matchers.base import UNREADABLE, FaceResult, Matcher, read_bytes
from fairbench.matchers.images import MAX_PIXELS
from fairbench.results.folder import atomic_write


@dataclass
class Templates:
    """Per-image outcomes in manifest order; failed rows of ``embeddings`` are NaN."""

    embeddings: np.ndarray
    acquired: np.ndarray
    failure_reason: list[str]
    detector_score: np.ndarray
    n_faces: np.ndarray
    cache_hits: int = 0
    computed: int = 0

    def __len__(self) -> int:
        return len(self.acquired)


class TemplateCache:
    """One folder per matcher fingerprint; one ``.npz`` per image key."""

    def __init__(self, root: Path, fingerprint: str, dim: int | None = None) -> None:
        self.dir = Path(root) / fingerprint[:24]
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


def _embed(matcher: Matcher, records: Sequence[ImageRecord],
           blobs: Sequence[bytes | None], max_pixels: int) -> list[FaceResult]:
    if matcher.needs_images:
        return matcher.embed_bytes(list(blobs), max_pixels)
    return [matcher.checked(r) for r in matcher.embed_records(records)]


def extract_templates(
    matcher: Matcher,
    records: Sequence[ImageRecord],
    cache: TemplateCache | None = None,
    batch_size: int = 16,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
) -> Templates:
    """Embed every record (cached where possible), in manifest order, one batch at a time."""
    n = len(records)
    results: list[FaceResult | None] = [None] * n
    hits = computed = 0
    use_cache = cache is not None and matcher.needs_images
    bar = tqdm(total=n, desc="templates", unit="img", disable=not progress)
    for start in range(0, n, batch_size):
        todo: list[tuple[int, str, bytes | None]] = []
        for k in range(start, min(n, start + batch_size)):
            rec = records[k]
            data = read_bytes(rec.path) if matcher.needs_images else None
            if matcher.needs_images and data is None:
                results[k] = FaceResult.failed(UNREADABLE)
                continue
            key = matcher.cache_key(rec, data)
            cached = cache.get(key) if use_cache and cache is not None else None
            if cached is not None:
                results[k] = cached
                hits += 1
            else:
                todo.append((k, key, data))
        if todo:
            out = _embed(matcher, [records[k] for k, _, _ in todo], [d for _, _, d in todo],
                         max_pixels)
            for (k, key, _), res in zip(todo, out):
                results[k] = res
                if use_cache and cache is not None:
                    cache.put(key, res)
            computed += len(todo)
        bar.update(min(n, start + batch_size) - start)
    bar.close()
    return _assemble(matcher, results, hits, computed)


def _assemble(
    matcher: Matcher, results: list[FaceResult | None], hits: int, computed: int
) -> Templates:
    dims = {r.embedding.shape[0] for r in results if r is not None and r.acquired}
    if len(dims) > 1:
        raise FairbenchError(f"matcher {matcher.name!r} returned embeddings of different "
                             f"sizes: {sorted(dims)}; a matcher must give one size")
    d = dims.pop() if dims else int(matcher.info().embedding_size)
    n = len(results)
    emb = np.full((n, d), np.nan, dtype=np.float32)
    acquired = np.zeros(n, dtype=bool)
    reasons = [""] * n
    score = np.full(n, np.nan)
    faces = np.full(n, -1, dtype=np.int64)
    for k, r in enumerate(results):
        assert r is not None
        if r.acquired and r.embedding is not None:
            emb[k] = r.embedding
            acquired[k] = True
        else:
            reasons[k] = r.failure_reason or "error: unknown"
        if r.detector_score is not None:
            score[k] = r.detector_score
        if r.n_faces is not None:
            faces[k] = r.n_faces
    return Templates(emb, acquired, reasons, score, faces, hits, computed)


class PairScoreCache:
    """Scores of image pairs from a compare-only matcher, one folder per fingerprint.

    One append-only file of JSON lines (pair key, score, reason), flushed after every
    batch, so an interrupted run resumes without repeating a call that succeeded; a torn
    last line (a kill mid-write) is ignored. Transient failures (``error: ...``) are never
    stored, so they are retried.
    """

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.path = Path(root) / fingerprint[:24] / "scores.jsonl"
        self.known: dict[str, tuple[float | None, str | None]] = {}
        if self.path.is_file():
            with open(self.path, encoding="utf-8", errors="replace") as f:
                for line in f:
                    try:
                        key, score, reason = json.loads(line)
                    except (ValueError, TypeError):
                        continue  # torn or damaged: recomputed
                    if isinstance(key, str):
                        self.known[key] = (None if score is None else float(score), reason)

    @staticmethod
    def key(sha_a: str, sha_b: str) -> str:
        return f"{sha_a}:{sha_b}"

    def put_many(self, items: Sequence[tuple[str, float | None, str | None]]) -> None:
        keep = [(k, s, r) for k, s, r in items if not (r and r.startswith("error:"))]
        if not keep:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            torn = self.path.is_file() and self.path.stat().st_size > 0 and \
                self.path.read_bytes()[-1:] != b"\n"
            with open(self.path, "a", encoding="utf-8") as f:
                if torn:  # a kill mid-line: start a fresh one
                    f.write("\n")
                for k, s, r in keep:
                    f.write(json.dumps([k, s, r]) + "\n")
                    self.known[k] = (s, r)
                f.flush()
        except OSError as exc:
            raise FairbenchError(
                f"cannot write the score cache {self.path} ({exc.strerror}); free space, set "
                "FAIRBENCH_CACHE elsewhere, or run with cache: {enabled: false}") from None
