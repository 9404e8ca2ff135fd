"""Embeddings computed elsewhere (a vendor's own pipeline), read from .npz or Parquet.

``.npz``: arrays ``image_ids`` (strings) and ``embeddings`` (N x d); no pickles.
Parquet: an ``image_id`` column and either an ``embedding`` list column or numeric columns
``e0 .. e{d-1}``. A row of NaN is a failure to enrol; an image id absent from the file is
recorded as ``missing_embedding``. Image files need not exist.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fairbench._version import __version__
from fairbench.errors import MatcherError
from fairbench.matchers.base import (
    MISSING_EMBEDDING,
    FaceResult,
    ImageRecord,
    Matcher,
    MatcherInfo,
    Similarity,
    StrictParams,
)
from fairbench.provenance import sha256_file


class PrecomputedParams(StrictParams):
    path: Path
    similarity: Similarity = "cosine"
    sha256: str | None = None


def _matrix(emb: np.ndarray, path: Path, what: str) -> np.ndarray:
    """An (N, d) float32 matrix of real numbers, or a MatcherError saying what it is."""
    if emb.dtype.kind not in "fiu":
        raise MatcherError(f"{path}: {what} are not real numbers (dtype {emb.dtype})")
    if emb.ndim != 2 or emb.shape[1] == 0:
        raise MatcherError(f"{path}: {what} have shape {emb.shape}; expected (images, d) "
                           "with d >= 1")
    with np.errstate(over="ignore"):
        return emb.astype(np.float32)  # values beyond float32 become inf: failed templates


def _parquet_embeddings(path: Path) -> tuple[list[str], np.ndarray]:
    import pandas as pd

    df = pd.read_parquet(path)
    if "image_id" not in df.columns:
        raise MatcherError(f"{path}: no image_id column")
    ids = df["image_id"].astype(str).tolist()
    if "embedding" in df.columns:
        rows = []
        for k, v in enumerate(df["embedding"]):
            a = np.asarray(v) if v is not None else np.zeros(0)
            if a.ndim != 1 or a.dtype.kind not in "fiu":
                raise MatcherError(f"{path}: embedding of row {k} ({ids[k]}) is not a list "
                                   f"of numbers (got {type(v).__name__})")
            rows.append(a)
        sizes = {len(r) for r in rows}
        if len(sizes) > 1:
            raise MatcherError(f"{path}: embeddings have different lengths {sorted(sizes)}")
        return ids, _matrix(np.stack(rows) if rows else np.zeros((0, 0)), path, "embeddings")
    cols = sorted((c for c in df.columns if str(c).startswith("e") and str(c)[1:].isdigit()),
                  key=lambda c: int(str(c)[1:]))
    if not cols:
        raise MatcherError(f"{path}: no embedding column and no e0..eN columns")
    return ids, _matrix(df[cols].to_numpy(), path, "embeddings")


def load_embeddings(path: Path) -> tuple[list[str], np.ndarray]:
    """Read image ids and embeddings; a clear error naming the file on any problem."""
    if not path.is_file():
        raise MatcherError(f"matcher.params.path: embeddings file not found: {path}")
    try:
        if path.suffix.lower() == ".npz":
            with np.load(path, allow_pickle=False) as z:
                missing = {"image_ids", "embeddings"} - set(z.files)
                if missing:
                    raise MatcherError(f"{path}: lacks array(s) {', '.join(sorted(missing))}")
                ids = [str(x) for x in z["image_ids"]]
                emb = _matrix(np.asarray(z["embeddings"]), path, "embeddings")
        else:
            ids, emb = _parquet_embeddings(path)
    except MatcherError:
        raise
    except Exception as exc:  # a damaged file: zip, Parquet and NumPy each raise their own
        raise MatcherError(f"{path}: cannot read embeddings ({type(exc).__name__}: {exc})") \
            from None
    if emb.shape[0] != len(ids):
        raise MatcherError(f"{path}: embeddings shape {emb.shape} does not match {len(ids)} ids")
    if len(set(ids)) != len(ids):
        raise MatcherError(f"{path}: duplicate image ids")
    return ids, emb


class PrecomputedMatcher(Matcher):
    """Looks embeddings up by image id instead of computing them."""

    name = "precomputed"
    Params = PrecomputedParams
    needs_images = False

    def __init__(self, **params: object) -> None:
        super().__init__(**params)
        self._ids: dict[str, int] | None = None
        self._emb: np.ndarray | None = None
        self._sha: str | None = None

    def _load(self) -> None:
        if self._emb is not None:
            return
        path = Path(self.params.path)
        self._sha = sha256_file(path) if path.is_file() else None
        if self._sha and self.params.sha256 and self._sha != self.params.sha256.lower():
            raise MatcherError(
                f"{path}: sha256 {self._sha} differs from matcher.params.sha256 "
                f"{self.params.sha256}; refusing to run on a different file"
            )
        ids, emb = load_embeddings(path)
        self._ids = {k: n for n, k in enumerate(ids)}
        self._emb = emb

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        raise MatcherError("the precomputed matcher looks embeddings up by image id")

    def embed_records(self, records: Sequence[ImageRecord]) -> list[FaceResult]:
        self._load()
        assert self._ids is not None and self._emb is not None
        out = []
        for r in records:
            k = self._ids.get(r.image_id)
            if k is None:
                out.append(FaceResult.failed(MISSING_EMBEDDING))
            elif not np.all(np.isfinite(self._emb[k])):
                out.append(FaceResult.failed("failure_to_enrol"))
            else:
                out.append(FaceResult(embedding=self._emb[k].copy()))
        return out

    def info(self) -> MatcherInfo:
        self._load()
        assert self._emb is not None
        path = Path(self.params.path)
        return MatcherInfo(
            name="precomputed",
            version=f"fairbench {__version__}",
            weights_sha256={path.name: self._sha or ""},
            embedding_size=int(self._emb.shape[1]),
            similarity=self.similarity,
            native_score="cosine similarity" if self.similarity == "cosine"
            else "euclidean distance",
            native_direction="higher_is_more_alike" if self.similarity == "cosine"
            else "lower_is_more_alike",
            details={"path": str(path)},
        )


class InMemoryMatcher(Matcher):
    """Embeddings handed over in memory (simulated data); never built from a config file."""

    name = "simulated"
    needs_images = False

    def __init__(self, image_ids: list[str], embeddings: np.ndarray, similarity: Similarity,
                 label: str = "simulated", details: dict | None = None) -> None:
        super().__init__()
        self.similarity = similarity  # type: ignore[misc]
        self._ids = {k: n for n, k in enumerate(image_ids)}
        self._emb = embeddings
        self._label = label
        self._details = details or {}

    def embed_batch(self, images: Sequence[np.ndarray]) -> list[FaceResult]:
        raise MatcherError("the in-memory matcher looks embeddings up by image id")

    def embed_records(self, records: Sequence[ImageRecord]) -> list[FaceResult]:
        out = []
        for r in records:
            k = self._ids.get(r.image_id)
            emb = None if k is None else np.asarray(self._emb[k], dtype=np.float32)
            if emb is None or not np.all(np.isfinite(emb)):
                out.append(FaceResult.failed(MISSING_EMBEDDING if k is None
                                             else "failure_to_enrol"))
            else:
                out.append(FaceResult(embedding=emb))
        return out

    def info(self) -> MatcherInfo:
        return MatcherInfo(
            name=self._label, version=f"fairbench {__version__}", weights_sha256={},
            embedding_size=int(self._emb.shape[1]), similarity=self.similarity,
            native_score="cosine similarity", native_direction="higher_is_more_alike",
            details=self._details,
        )
