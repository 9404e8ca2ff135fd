"""Templates: embeddings for every image, extracted in batches and cached on disk.

The cache is keyed by (matcher fingerprint, sha256 of the image bytes), one small file per
image written atomically, so a rerun or an interrupted run resumes without recomputing.
An unreadable image or a face not found is a recorded outcome, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from fairbench.core.codes import ImageRecord
from fairbench.matchers.base import UNREADABLE, FaceResult, Matcher, read_bytes
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

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.dir = Path(root) / fingerprint[:24]

    def _path(self, key: str) -> Path:
        safe = key.replace(":", "_").replace("/", "_")
        return self.dir / safe[:2] / f"{safe}.npz"

    def get(self, key: str) -> FaceResult | None:
        p = self._path(key)
        if not p.is_file():
            return None
        try:
            with np.load(p, allow_pickle=False) as z:
                meta = json.loads(str(z["meta"]))
                emb = z["embedding"] if meta.get("acquired") else None
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is recomputed
        box = tuple(meta["face_box"]) if meta.get("face_box") else None
        return FaceResult(
            embedding=None if emb is None else np.asarray(emb, dtype=np.float32),
            failure_reason=meta.get("failure_reason"),
            detector_score=meta.get("detector_score"),
            face_box=box,  # type: ignore[arg-type]
            n_faces=meta.get("n_faces"),
        )

    def put(self, key: str, res: FaceResult) -> None:
        """Store atomically (temp file, then rename); transient errors are not cached."""
        if res.failure_reason and res.failure_reason.startswith("error:"):
            return
        p = self._path(key)
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "acquired": res.acquired,
            "failure_reason": res.failure_reason,
            "detector_score": None if res.detector_score is None else float(res.detector_score),
            "face_box": None if res.face_box is None else [float(x) for x in res.face_box],
            "n_faces": res.n_faces,
        }
        emb = res.embedding if res.acquired else np.zeros(0, np.float32)
        atomic_write(p, lambda f: np.savez(f, embedding=emb, meta=np.array(json.dumps(meta))))


def extract_templates(
    matcher: Matcher,
    records: Sequence[ImageRecord],
    cache: TemplateCache | None = None,
    batch_size: int = 16,
    progress: bool = True,
) -> Templates:
    """Embed every record (cached where possible), in manifest order."""
    n = len(records)
    results: list[FaceResult | None] = [None] * n
    pending: list[tuple[int, str, bytes | None]] = []
    hits = 0
    use_cache = cache is not None and matcher.needs_images
    for k, rec in enumerate(records):
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
            pending.append((k, key, data))

    bar = tqdm(total=len(pending), desc="templates", unit="img", disable=not progress)
    for start in range(0, len(pending), batch_size):
        chunk = pending[start : start + batch_size]
        if matcher.needs_images:
            out = matcher.embed_bytes([data for _, _, data in chunk])
        else:
            out = matcher.embed_records([records[k] for k, _, _ in chunk])
        for (k, key, _), res in zip(chunk, out):
            results[k] = res
            if use_cache and cache is not None:
                cache.put(key, res)
        bar.update(len(chunk))
    bar.close()
    return _assemble(matcher, results, hits, len(pending))


def _assemble(
    matcher: Matcher, results: list[FaceResult | None], hits: int, computed: int
) -> Templates:
    dims = {r.embedding.shape[0] for r in results if r is not None and r.acquired}
    if len(dims) > 1:
        raise ValueError(f"matcher returned embeddings of different sizes: {sorted(dims)}")
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
