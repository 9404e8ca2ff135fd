"""Blocked all-pairs similarity in NumPy: upper-triangle tiles, never an N x N matrix.

Internal similarity is higher = more alike: cosine similarity, or minus the euclidean
distance. A failed template (a NaN row) scores minus infinity against everything.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np


@dataclass
class Prepared:
    """Templates ready for tiling: float32, failed rows zeroed and flagged."""

    x: np.ndarray  # (N, d) float32
    sqnorm: np.ndarray  # (N,) float32, for euclidean
    failed: np.ndarray  # (N,) bool
    kind: str  # "cosine" | "euclidean"


def prepare(embeddings: np.ndarray, kind: str) -> Prepared:
    """Normalise for cosine, zero and flag failed (non-finite) rows."""
    x = np.array(embeddings, dtype=np.float32, copy=True)
    failed = ~np.all(np.isfinite(x), axis=1)
    x[failed] = 0.0
    if kind == "cosine":
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        zero = norms[:, 0] == 0
        failed |= zero
        norms[zero] = 1.0
        x /= norms
    elif kind != "euclidean":
        raise ValueError(f"unknown similarity {kind!r}")
    sq = np.einsum("ij,ij->i", x, x).astype(np.float32)
    return Prepared(np.ascontiguousarray(x), sq, failed, kind)


def tiles(n: int, block: int) -> Iterator[tuple[int, int, int, int]]:
    """Upper-triangle tiles (r0, r1, c0, c1) with c0 >= r0, covering every i < j once."""
    for r0 in range(0, n, block):
        r1 = min(n, r0 + block)
        for c0 in range(r0, n, block):
            yield r0, r1, c0, min(n, c0 + block)


def score_tile(p: Prepared, r0: int, r1: int, c0: int, c1: int) -> np.ndarray:
    """float32 similarity block for rows r0:r1 against columns c0:c1."""
    s = p.x[r0:r1] @ p.x[c0:c1].T
    if p.kind == "euclidean":
        d2 = p.sqnorm[r0:r1, None] + p.sqnorm[None, c0:c1] - 2.0 * s
        s = -np.sqrt(np.maximum(d2, 0.0, dtype=np.float32))
    s = s.astype(np.float32, copy=False)
    fr = p.failed[r0:r1]
    fc = p.failed[c0:c1]
    if fr.any():
        s[fr, :] = -np.inf
    if fc.any():
        s[:, fc] = -np.inf
    return s


def score_pairs(p: Prepared, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Scores of explicit pairs, computed like a tile (for references and small sets)."""
    s = np.einsum("ij,ij->i", p.x[i], p.x[j]).astype(np.float32)
    if p.kind == "euclidean":
        d2 = p.sqnorm[i] + p.sqnorm[j] - 2.0 * s
        s = -np.sqrt(np.maximum(d2, 0.0, dtype=np.float32))
    s = s.astype(np.float32)
    s[p.failed[i] | p.failed[j]] = -np.inf
    return s
