"""Streaming 1:N search kernel: a running top-k per probe, never a probes x gallery matrix.

Worker threads take gallery blocks in turn (one thread per core). Each block is converted
to float32 into a preallocated buffer (float16 storage is rounded there, per block) and
normalised for cosine; failed rows become NaN, so their products are NaN and never pass a
comparison. Every (probe block x gallery block) tile is one single-threaded BLAS product
into a preallocated buffer, folded at once by a compiled loop (numba, GIL released) into
the worker's own top-k per probe. The workers' lists are merged at the end with the same
rule: higher score first, then lower gallery index.

Only scores above minus infinity are candidates: failed gallery rows never are, and a
failed probe (or one whose squared norm overflows) gets all ``-inf`` and index ``-1``.
"""

from __future__ import annotations

import threading

import numpy as np
from numba import njit

from fairbench.core.cpus import cores
from fairbench.kernels.prep import prepare
from fairbench.kernels.workers import run_workers

NEG_INF = np.float32(-np.inf)


CHUNK = 64  # columns tested at once, without branches, before the exact scalar pass


@njit(nogil=True, cache=True)
def _score(s, sqi, sqj, euclid):  # pragma: no cover - compiled
    """Similarity from a product: itself, or -sqrt(max(sq_i + sq_j - 2 s, 0)) in float32."""
    if euclid:
        d2 = sqi + sqj - np.float32(2.0) * s
        if d2 < np.float32(0.0):  # NaN (failed rows) stays NaN
            d2 = np.float32(0.0)
        return -np.sqrt(d2)
    return s


@njit(nogil=True, cache=True)
def _d2_bound(thr):  # pragma: no cover - compiled
    """A float32 D with: -sqrt(max(d2, 0)) >= thr implies d2 <= D (a little generous).

    float32 sqrt is correctly rounded, so sqrt32(d2) <= t implies d2 <= t^2 (1 + 2^-22);
    the margin and an absolute 2e-45 absorb rounding D itself to float32, denormals too.
    """
    t = -np.float64(thr)
    if t < 0.0:
        return np.float32(-np.inf)
    return np.float32(t * t * (1.0 + 2.0**-18) + 2e-45)


@njit(nogil=True, cache=True)
def fold_topk(S, p0, g0, pfailed, psq, gsq, euclid, top_s, top_i):  # pragma: no cover
    """Fold tile ``S`` (probes p0.., gallery g0..) into the sorted lists ``top_s/top_i``.

    Lists are kept descending by score, ascending by index on ties. A score enters when it
    beats the k-th entry; NaN never does, and ``-inf`` never beats the empty slot's
    ``(-inf, -1)``. Each chunk of columns is first only tested against the k-th score (a
    loop the compiler vectorises); the rare chunk with a hit is walked element by element.
    """
    h, w = S.shape
    k = top_s.shape[1]
    two = np.float32(2.0)
    for a in range(h):
        i = p0 + a
        if pfailed[i]:
            continue
        ts = top_s[i]
        ti = top_i[i]
        thr = ts[k - 1]
        bound = _d2_bound(thr)
        sqi = psq[i]
        for c0 in range(0, w, CHUNK):
            c1 = min(w, c0 + CHUNK)
            hit = False
            if euclid:  # in squared distances: no square root per element
                for c in range(c0, c1):
                    hit |= sqi + gsq[c] - two * S[a, c] <= bound
            else:
                for c in range(c0, c1):
                    hit |= S[a, c] >= thr
            if not hit:
                continue
            for c in range(c0, c1):
                s = _score(S[a, c], sqi, gsq[c], euclid)
                if not s >= thr:
                    continue
                j = g0 + c
                if s == thr and (ti[k - 1] < 0 or j >= ti[k - 1]):
                    continue
                pos = k - 1
                while pos > 0 and (ts[pos - 1] < s or (ts[pos - 1] == s and ti[pos - 1] > j)):
                    ts[pos] = ts[pos - 1]
                    ti[pos] = ti[pos - 1]
                    pos -= 1
                ts[pos] = s
                ti[pos] = j
                thr = ts[k - 1]
                bound = _d2_bound(thr)


def merge_topk(scores: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``k`` per row of candidate lists (P, m): higher score, then lower index first.

    Empty slots are ``(-inf, -1)`` and sort last; rows with fewer than ``k`` come out padded.
    """
    p, m = scores.shape
    out_s = np.full((p, k), NEG_INF, dtype=np.float32)
    out_i = np.full((p, k), -1, dtype=np.int64)
    if m == 0 or p == 0:
        return out_s, out_i
    valid = (index >= 0) & (scores > NEG_INF)
    key_s = np.where(valid, -scores, np.inf)
    key_i = np.where(valid, index, np.iinfo(np.int64).max)
    order = np.lexsort((key_i, key_s), axis=-1)[:, :k]
    s = np.take_along_axis(scores, order, axis=1)
    i = np.take_along_axis(index, order, axis=1)
    ok = np.take_along_axis(valid, order, axis=1)
    out_s[:, : order.shape[1]] = np.where(ok, s, NEG_INF)
    out_i[:, : order.shape[1]] = np.where(ok, i, -1)
    return out_s, out_i


def _prepare_probes(probes: np.ndarray, kind: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float32 probes as ``prep.prepare`` makes them, squared norms, failed flags."""
    p = prepare(probes, kind)
    failed = p.failed | ~np.isfinite(p.sqnorm)
    return p.x, p.sqnorm, failed


def _load_block(gallery: np.ndarray, a: int, b: int, kind: str, bufs: dict[str, np.ndarray],
                sub: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gallery rows a:b as float32 (normalised for cosine), squared norms, failed flags.

    Written into the preallocated ``bufs`` in cache-sized strips. Norms are those of
    ``prep.prepare`` (``sqrt(add.reduce(x * x))``, bit for bit). Failed rows become NaN:
    non-finite entries or a zero norm (cosine); for euclidean also a squared norm that
    overflows, whose scores would be ``-inf`` or NaN anyway. Huge finite cosine rows
    normalise to zeros there and here alike.
    """
    x, s2, tmp, half = bufs["x"][: b - a], bufs["sq"][: b - a], bufs["tmp"], bufs.get("half")
    failed = np.zeros(b - a, dtype=bool)
    with np.errstate(all="ignore"):
        for c0 in range(0, b - a, sub):
            c1 = min(b - a, c0 + sub)
            xc, sc = x[c0:c1], s2[c0:c1]
            if half is not None:  # float16 storage: round, then compute in float32
                np.copyto(half[: c1 - c0], gallery[a + c0 : a + c1], casting="unsafe")
                np.copyto(xc, half[: c1 - c0])
            else:
                np.copyto(xc, gallery[a + c0 : a + c1], casting="unsafe")
            if kind == "euclidean":
                np.einsum("ij,ij->i", xc, xc, out=sc)
                failed[c0:c1] = ~np.isfinite(sc)
                continue
            t = tmp[: c1 - c0]
            np.multiply(xc, xc, out=t)
            np.add.reduce(t, axis=1, out=sc)
            np.sqrt(sc, out=sc)
            zero = sc == 0
            sc[zero] = 1
            xc /= sc[:, None]
            bad = ~np.isfinite(sc)  # NaN or inf entries (now NaN), or huge finite (now 0)
            if bad.any():
                zero[bad] = ~np.isfinite(xc[bad]).all(axis=1)
            failed[c0:c1] = zero
    if failed.any():
        x[failed] = np.nan
        s2[failed] = 0
    return x, s2, failed


def _buffers(block: int, d: int, storage: str, sub: int = 128) -> dict[str, np.ndarray]:
    """One worker's preallocated gallery buffers."""
    bufs = {"x": np.empty((block, d), np.float32), "sq": np.empty(block, np.float32),
            "tmp": np.empty((sub, d), np.float32)}
    if storage == "float16":
        bufs["half"] = np.empty((sub, d), np.float16)
    return bufs


def _check(probes: np.ndarray, gallery: np.ndarray, k: int, kind: str, storage: str) -> None:
    if kind not in ("cosine", "euclidean"):
        raise ValueError(f"unknown similarity {kind!r}")
    if storage not in ("float32", "float16"):
        raise ValueError(f"unknown storage {storage!r}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if probes.ndim != 2 or gallery.ndim != 2 or probes.shape[1] != gallery.shape[1]:
        raise ValueError(f"shapes do not match: probes {probes.shape}, gallery {gallery.shape}")


def stream_search(
    probes: np.ndarray, gallery: np.ndarray, k: int, kind: str = "cosine", *,
    block: int = 4096, probe_block: int = 256, threads: int | None = None,
    storage: str = "float32", fold: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`search_topk`; ``fold=False`` only loads and multiplies (the GEMM baseline)."""
    probes, gallery = np.asarray(probes), np.asarray(gallery)
    _check(probes, gallery, k, kind, storage)
    px, psq, pfailed = _prepare_probes(probes, kind)
    n_p, d = px.shape
    n_g = len(gallery)
    block = max(1, min(block, n_g)) if n_g else 1
    probe_block = max(1, min(probe_block, n_p)) if n_p else 1
    starts = list(range(0, n_g, block))
    threads = max(1, min(threads or cores(), len(starts)))
    lock = threading.Lock()
    cursor = [0]
    states: list[tuple[np.ndarray, np.ndarray]] = []
    euclid = kind == "euclidean"

    def scan() -> None:
        top_s = np.full((n_p, k), NEG_INF, dtype=np.float32)
        top_i = np.full((n_p, k), -1, dtype=np.int64)
        bufs = _buffers(block, d, storage)
        sbuf = np.empty(probe_block * block, np.float32)
        while True:
            with lock:
                if cursor[0] >= len(starts):
                    break
                g0 = starts[cursor[0]]
                cursor[0] += 1
            g1 = min(n_g, g0 + block)
            x, s2, _ = _load_block(gallery, g0, g1, kind, bufs)
            w = g1 - g0
            for p0 in range(0, n_p, probe_block):
                p1 = min(n_p, p0 + probe_block)
                S = sbuf[: (p1 - p0) * w].reshape(p1 - p0, w)
                np.matmul(px[p0:p1], x.T, out=S)
                if fold:
                    fold_topk(S, p0, g0, pfailed, psq, s2, euclid, top_s, top_i)
        with lock:
            states.append((top_s, top_i))

    if n_p and n_g:
        run_workers(scan, threads)
    if not states:
        return merge_topk(np.zeros((n_p, 0), np.float32), np.zeros((n_p, 0), np.int64), k)
    if len(states) == 1:
        return states[0]
    return merge_topk(np.concatenate([s for s, _ in states], axis=1),
                      np.concatenate([i for _, i in states], axis=1), k)


def search_topk(
    probes: np.ndarray, gallery: np.ndarray, k: int, kind: str = "cosine", *,
    block: int = 4096, probe_block: int = 256, threads: int | None = None,
    storage: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """(scores (P, k) float32, descending; index (P, k) int64 into gallery rows, -1 where
    fewer than k valid).

    Scores are cosine similarity or minus the euclidean distance, computed exactly as
    :mod:`fairbench.kernels.prep` does; ties go to the lower gallery index. Memory
    beyond the inputs: float32 probes, and per thread one gallery block, one tile and a
    (P, k) list. ``storage="float16"`` rounds the gallery to float16 (per block) first.

    >>> g = np.eye(4, dtype=np.float32)
    >>> s, i = search_topk(g[:1], g, 2, threads=1)
    >>> s.tolist(), i.tolist()
    ([[1.0, 0.0]], [[0, 1]])
    """
    return stream_search(probes, gallery, k, kind, block=block, probe_block=probe_block,
                         threads=threads, storage=storage)


def search_topk_bruteforce(
    probes: np.ndarray, gallery: np.ndarray, k: int, kind: str = "cosine",
) -> tuple[np.ndarray, np.ndarray]:
    """Reference top-k from the full score matrix in plain NumPy (tests and checks only)."""
    _check(np.asarray(probes), np.asarray(gallery), k, kind, "float32")
    p = prepare(probes, kind)
    g = prepare(gallery, kind)
    s = p.x @ g.x.T
    if kind == "euclidean":
        d2 = p.sqnorm[:, None] + g.sqnorm[None, :] - np.float32(2.0) * s
        s = -np.sqrt(np.maximum(d2, 0.0, dtype=np.float32))
    s = s.astype(np.float32)
    s[p.failed | ~np.isfinite(p.sqnorm)] = NEG_INF
    s[:, g.failed] = NEG_INF
    s[np.isnan(s)] = NEG_INF
    idx = np.broadcast_to(np.arange(len(g.x), dtype=np.int64), s.shape)
    return merge_topk(s, np.ascontiguousarray(idx), k)


def warm_up() -> None:
    """Compile the fold once (cached on disk by numba) on a tiny input."""
    x = np.eye(3, dtype=np.float32)
    stream_search(x, x, 2, "cosine", block=2, threads=1)
    stream_search(x, x, 2, "euclidean", block=2, threads=1)
