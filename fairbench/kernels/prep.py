"""Templates prepared for scoring, and scores of explicit pairs (plain NumPy).

``prepare`` normalises cosine templates by their float32 norm and flags failed ones
(non-finite entries, or a zero norm for cosine), exactly as the tiled kernels do;
``score_pairs`` scores a list of pairs the same way a tile would. Internal similarity is
higher = more alike: cosine similarity, or minus the euclidean distance; a failed template
scores minus infinity against everything. The capture stage scores probes against their
enrolment template with it; tests use it as the straightforward per-pair path that the
tiled kernels must agree with.
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


def failed_rows(embeddings: np.ndarray, kind: str, chunk: int = 65536) -> np.ndarray:
    """Which templates cannot be scored: non-finite entries, or a zero norm for cosine (or
    a squared norm that overflows float32 for euclidean), read in chunks as the kernels
    read them."""
    x = np.asarray(embeddings)
    out = np.zeros(len(x), dtype=bool)
    with np.errstate(all="ignore"):
        for a in range(0, len(x), chunk):
            p = prepare(x[a : a + chunk], kind)
            out[a : a + chunk] = p.failed | ~np.isfinite(p.sqnorm)
    return out
