"""The same exact search with faiss's flat index, when the optional ``faiss`` is installed;
``fairbench bench search`` compares it with fairbench's own kernel in the same run."""

from __future__ import annotations

from typing import Any

import numpy as np

from fairbench.core.cpus import cores
from fairbench.kernels.search import NEG_INF, _buffers, _check, _load_block, _prepare_probes


def faiss_index(gallery: np.ndarray, kind: str = "cosine", block: int = 65536
                ) -> tuple[Any, np.ndarray]:
    """A faiss exact flat index of the valid gallery rows, and their gallery indices.

    Rows are loaded as :func:`search_topk` loads them (normalised for cosine, failed rows
    left out). The index holds its own float32 copy of the gallery.
    """
    import faiss  # optional: ImportError when absent

    d = gallery.shape[1]
    index = faiss.IndexFlatIP(d) if kind == "cosine" else faiss.IndexFlatL2(d)
    ids = []
    bufs = _buffers(block, d, "float32")
    for a in range(0, len(gallery), block):
        b = min(len(gallery), a + block)
        x, _, failed = _load_block(gallery, a, b, kind, bufs)
        index.add(np.ascontiguousarray(x[~failed]))
        ids.append(np.flatnonzero(~failed) + a)
    return index, (np.concatenate(ids) if ids else np.zeros(0, np.int64))


def faiss_query(index: Any, rows: np.ndarray, probes: np.ndarray, k: int,
                kind: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """Top-k from a :func:`faiss_index`, in :func:`search_topk`'s output convention."""
    px, _, pfailed = _prepare_probes(probes, kind)
    dist, lab = index.search(np.ascontiguousarray(px), k)
    found = (lab >= 0) & ~pfailed[:, None]
    s = dist if kind == "cosine" else -np.sqrt(np.maximum(dist, 0))
    s = np.where(found, s, NEG_INF).astype(np.float32)
    i = np.where(found, rows[np.where(found, lab, 0)], -1).astype(np.int64)
    return s, i


def search_topk_faiss(
    probes: np.ndarray, gallery: np.ndarray, k: int, kind: str = "cosine", *,
    block: int = 65536, threads: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The same search with faiss's exact flat index (only when ``faiss`` is installed).

    Failed rows are handled as in :func:`search_topk`; scores are faiss's own float32
    arithmetic and its order among exact ties is its own, so results may differ in the
    last bits.
    """
    import faiss  # optional: ImportError when absent

    probes, gallery = np.asarray(probes), np.asarray(gallery)
    _check(probes, gallery, k, kind, "float32")
    faiss.omp_set_num_threads(threads or cores())
    index, rows = faiss_index(gallery, kind, block)
    return faiss_query(index, rows, probes, k, kind)


def faiss_available() -> bool:
    """Whether the optional faiss backend can be used here."""
    try:
        import faiss  # noqa: F401  (probe only)
    except ImportError:
        return False
    return True
