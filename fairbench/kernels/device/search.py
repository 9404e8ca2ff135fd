"""1:N top-k on a device: gallery blocks multiplied against the probes, top-k kept on it.

Returns what :func:`fairbench.kernels.search.search_topk` returns: scores (P, k) float32,
descending, and gallery indices (P, k) int64, ties to the lower index, ``(-inf, -1)`` where
fewer than k valid. Only scores above minus infinity are candidates; a failed probe gets
an empty list. Templates given as numpy arrays are prepared on the host exactly as the CPU
kernel prepares them (float16 storage rounded first, float32 norms) and uploaded block by
block; arrays already on the device (a benchmark's gallery) are prepared there with the
same formulas (their norms then follow the device's summation order).

Ordering is exact without a sort per tie: each score becomes one int64 key, its float32
bits made monotonic (``-0.0`` counted as ``+0.0``, as the CPU comparison does) in the high
half and ``2**32 - 1 - index`` in the low half, so a larger key is a higher score, then a
lower index. The keys pick the entries; the scores returned are the computed ones.
With ``xp = numpy`` the lists equal the CPU kernel's bit for bit (same blocks, same BLAS
calls); on CUDA the products may differ in their last bits (see :mod:`.gemm`).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from fairbench.kernels.device import PRECISIONS, array_module, to_host
from fairbench.kernels.device.gemm import product, round_inputs

NEG_INF = np.float32(-np.inf)
NO_KEY = np.iinfo(np.int64).min
LOW = np.int64(0xFFFFFFFF)


def prepare_rows(xp: ModuleType, x: Any, kind: str, storage: str = "float32"
                 ) -> tuple[Any, Any, Any]:
    """float32 rows as ``prep.prepare`` makes them, squared norms, failed flags.

    Failed: non-finite entries, a zero norm (cosine), a squared norm that overflows."""
    with np.errstate(all="ignore"):
        if storage == "float16":
            x = x.astype(xp.float16)
        x = x.astype(xp.float32)  # a copy
        failed = ~xp.all(xp.isfinite(x), axis=1)
        x[failed] = 0
        if kind == "cosine":
            norms = xp.sqrt(xp.sum(x * x, axis=1, keepdims=True))
            zero = norms[:, 0] == 0
            failed |= zero
            norms[zero] = 1
            x /= norms
        sq = xp.einsum("ij,ij->i", x, x).astype(xp.float32)
    return x, sq, failed | ~xp.isfinite(sq)


def _keys(xp: ModuleType, s: Any, gidx: Any) -> Any:
    """int64 sort keys: monotonic score bits (high half), then the lower index (low half)."""
    bits = (s + np.float32(0)).view(xp.int32).astype(xp.int64)  # -0.0 + 0.0 = +0.0
    mono = xp.where(bits >= 0, bits, bits ^ np.int64(0x7FFFFFFF))
    key = (mono << np.int64(32)) | (LOW - gidx[None, :])
    return xp.where(s > NEG_INF, key, NO_KEY)  # NaN and -inf are never candidates


def _best(xp: ModuleType, key: Any, s: Any, idx: Any, k: int) -> tuple[Any, Any, Any]:
    """The k largest keys of each row (unordered) with their scores and indices."""
    w = key.shape[1]
    if w > k:
        part = xp.argpartition(key, w - k, axis=1)[:, w - k :]
        key = xp.take_along_axis(key, part, axis=1)
        s = xp.take_along_axis(s, part, axis=1)
        idx = xp.take_along_axis(idx, part, axis=1)
    return key, s, idx


def device_search_topk(
    probes: Any, gallery: Any, k: int, kind: str = "cosine", *, device: str = "cuda",
    block: int | None = None, probe_block: int | None = None, storage: str = "float32",
    precision: str = "float32",
) -> tuple[np.ndarray, np.ndarray]:
    """Top-k gallery entries per probe on ``device`` (see the module docstring)."""
    if kind not in ("cosine", "euclidean"):
        raise ValueError(f"unknown similarity {kind!r}")
    if storage not in ("float32", "float16"):
        raise ValueError(f"unknown storage {storage!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if probes.ndim != 2 or gallery.ndim != 2 or probes.shape[1] != gallery.shape[1]:
        raise ValueError(f"shapes do not match: probes {probes.shape}, gallery {gallery.shape}")
    xp = array_module(device)
    numpy = xp is np
    block = block or (4096 if numpy else 65536)  # numpy: the CPU kernel's own blocks
    probe_block = probe_block or (256 if numpy else 4096)
    if numpy:
        with threadpool_limits(limits=1, user_api="blas"):
            return _search(np, probes, gallery, k, kind, block, probe_block, storage, precision)
    return _search(xp, probes, gallery, k, kind, block, probe_block, storage,
                   precision)  # pragma: no cover - needs a GPU


def _on_device(xp: ModuleType, x: Any, kind: str, storage: str) -> tuple[Any, Any, Any]:
    """Rows prepared where they are (host numpy rows on the host), then on the device."""
    if isinstance(x, np.ndarray):
        return tuple(xp.asarray(a) for a in prepare_rows(np, x, kind, storage))
    return prepare_rows(xp, x, kind, storage)


def _search(xp, probes, gallery, k, kind, block, probe_block, storage, precision):
    n_p, n_g = len(probes), len(gallery)
    out_s = np.full((n_p, k), NEG_INF, dtype=np.float32)
    out_i = np.full((n_p, k), -1, dtype=np.int64)
    if not n_p or not n_g:
        return out_s, out_i
    euclid = kind == "euclidean"
    px, psq, pfailed = _on_device(xp, probes, kind, "float32")  # probes as the CPU reads them
    px = round_inputs(xp, px, precision)
    run_key = xp.full((n_p, 0), NO_KEY, dtype=xp.int64)
    run_s = xp.zeros((n_p, 0), dtype=xp.float32)
    run_i = xp.zeros((n_p, 0), dtype=xp.int64)
    sbuf = xp.empty(probe_block * block, dtype=xp.float32)
    for g0 in range(0, n_g, block):
        g1 = min(n_g, g0 + block)
        gx, gsq, gfailed = _on_device(xp, gallery[g0:g1], kind, storage)
        gx = round_inputs(xp, gx, precision)
        gidx = xp.arange(g0, g1, dtype=xp.int64)
        keys, ss, ii = [], [], []
        for p0 in range(0, n_p, probe_block):
            p1 = min(n_p, p0 + probe_block)
            S = sbuf[: (p1 - p0) * (g1 - g0)].reshape(p1 - p0, g1 - g0)
            product(xp, px[p0:p1], gx, S, precision)
            s = S
            if euclid:
                d2 = (psq[p0:p1, None] + gsq[None, :]) - np.float32(2.0) * S
                s = -xp.sqrt(xp.where(d2 < 0, np.float32(0), d2))
            s = xp.where(pfailed[p0:p1, None] | gfailed[None, :], NEG_INF, s)
            key = _keys(xp, s, gidx)
            b = _best(xp, key, s, xp.broadcast_to(gidx, s.shape), k)
            keys.append(b[0])
            ss.append(b[1])
            ii.append(b[2])
        run_key, run_s, run_i = _best(
            xp, xp.concatenate([run_key, xp.concatenate(keys)], axis=1),
            xp.concatenate([run_s, xp.concatenate(ss)], axis=1),
            xp.concatenate([run_i, xp.concatenate(ii)], axis=1), k)
    order = xp.argsort(run_key, axis=1)[:, ::-1]
    key = xp.take_along_axis(run_key, order, axis=1)
    ok = key != NO_KEY
    s = xp.where(ok, xp.take_along_axis(run_s, order, axis=1), NEG_INF)
    i = xp.where(ok, xp.take_along_axis(run_i, order, axis=1), -1)
    m = key.shape[1]
    out_s[:, :m], out_i[:, :m] = to_host(s), to_host(i)
    return out_s, out_i
