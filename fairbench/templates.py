"""Templates: embeddings for every image, extracted in batches and cached on disk.

The cache (:class:`TemplateCache`, in :mod:`fairbench.extraction`) is keyed by (matcher
fingerprint, sha256 of the image bytes), one small file per image written atomically, so a
rerun or an interrupted run resumes without recomputing. A damaged entry (truncated, empty,
not the matcher's embedding size) is deleted and recomputed. Images are read batch by batch,
never all at once; batches run on every core (:mod:`fairbench.parallel`). An unreadable
image, one too large, or a face not found is a recorded outcome, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from fairbench.core.codes import ImageRecord
from fairbench.errors import FairbenchError
from fairbench.extraction import TemplateCache, chunks_of
from fairbench.matchers.base import FaceResult, Matcher
from fairbench.matchers.images import MAX_PIXELS


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
    #: how extraction ran: workers, threads per worker, where (see fairbench.parallel)
    execution: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.acquired)


def extract_templates(
    matcher: Matcher,
    records: Sequence[ImageRecord],
    cache: TemplateCache | None = None,
    batch_size: int = 16,
    progress: bool = True,
    max_pixels: int = MAX_PIXELS,
    workers: int | None = None,
    executor: Any = None,
    build: tuple[str, dict[str, Any]] | None = None,
) -> Templates:
    """Embed every record (cached where possible), in manifest order, batch by batch.

    ``workers`` (None: every core; 1: sequential, in this process) and the matcher decide
    how (see :mod:`fairbench.parallel`): worker processes for a matcher that ``build``
    names (``(name, params)``: each worker builds its own), otherwise this process, with a
    reader thread that reads, looks up and decodes the next batch while this one is
    embedded. A remote ``executor`` (one with ``remote = True``, e.g. Ray) runs the
    batches on its workers instead. Every path embeds the same batches: the outcomes are
    identical to the sequential ones.
    """
    from fairbench.parallel import run_extraction

    chunks = chunks_of(records, batch_size)
    n = len(records)
    results: list[FaceResult | None] = [None] * n
    hits = computed = 0
    bar = tqdm(total=n, desc="templates", unit="img", disable=not progress)
    plan = run_extraction(matcher, chunks, cache, max_pixels, workers, executor, build)
    try:
        for outcomes in plan.results:
            for k, res, hit in outcomes:
                results[k] = res
                hits += hit is True
                computed += hit is False
            bar.update(len(outcomes))
    finally:  # an interrupt here stops the workers and the reader at once
        bar.close()
        close = getattr(plan.results, "close", None)
        if close is not None:
            close()
    return _assemble(matcher, results, hits, computed, plan.record)


def _assemble(
    matcher: Matcher, results: list[FaceResult | None], hits: int, computed: int,
    execution: dict[str, Any] | None = None,
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
    return Templates(emb, acquired, reasons, score, faces, hits, computed, execution or {})


__all__ = ["PairScoreCache", "TemplateCache", "Templates", "extract_templates"]


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
