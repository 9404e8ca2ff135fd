"""Reference scoring in plain NumPy, for tests and small checks (not the production kernel).

The streaming kernel (``stream.py``) must produce exactly these scores on inputs whose
arithmetic is exact. Internal similarity is higher = more alike: cosine similarity, or
minus the euclidean distance. A failed template (a NaN row) scores minus infinity against
everything.
"""

from __future__ import annotations

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


def score_pairs(p: Prepared, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Scores of explicit pairs, computed like a tile (for references and small sets)."""
    s = np.einsum("ij,ij->i", p.x[i], p.x[j]).astype(np.float32)
    if p.kind == "euclidean":
        d2 = p.sqnorm[i] + p.sqnorm[j] - 2.0 * s
        s = -np.sqrt(np.maximum(d2, 0.0, dtype=np.float32))
    s = s.astype(np.float32)
    s[p.failed[i] | p.failed[j]] = -np.inf
    return s
