"""All-pairs counts on a device: tile products and the histogram fold, never N x N.

The input is the CPU kernel's :class:`~fairbench.kernels.stream.StreamInput` (visiting
order, codes, float32 norms) and the output its :class:`~fairbench.kernels.stream.StreamResult`,
so the engine reads either the same way. Templates are gathered on the host exactly as the
CPU kernel gathers them (float32, divided by their float32 norm for cosine, failed rows NaN)
and uploaded once. Each upper-triangle tile is one product (:mod:`.gemm`), then folded on
the device with the CPU kernel's rules:

- score: the product, or ``-sqrt(max(sq_i + sq_j - 2 s, 0))`` in float32 for euclidean;
- bin: ``(float64(s) - lo) * scale`` truncated, below 0 (also -inf and NaN: failed
  templates) into bin 0, at or past the top into the top bin;
- the histogram cell ``slot * bins + bin`` (slot = the stratum pair) of every impostor
  pair counted on the device: on CUDA an atomic add in the same fused elementwise kernel
  that scores and bins (each product is read once), elsewhere one ``bincount`` per tile;
- genuine scores (mated pairs, -inf for a failed template) at their offsets, and the
  impostor pairs at or above ``floor_bin`` with their scores.

What is bit-identical. With ``xp = numpy`` everything is: histograms, genuine scores and
the kept pairs equal the CPU kernel's (tests check it). On CUDA the gathered inputs, the
euclidean transform, the binning and the counting are the same IEEE operations, so given
the same float32 products every count is the same; only the products differ, because
cuBLAS sums the d terms of a dot product in another order than OpenBLAS (TF32 or float16
inputs round them first). A pair whose score lies within that rounding of a bin edge may
fall in the neighbouring bin; counts are exact on the scores the device computed.
``benchmarks/gpu_check.py`` checks both statements on a GPU.
"""

from __future__ import annotations

import time
from types import ModuleType
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from fairbench.kernels.device import PRECISIONS, array_module, to_host
from fairbench.kernels.device.gemm import product, round_inputs
from fairbench.kernels.stream import NEG_INF, StreamInput, StreamResult, tile_list

CUDA_FOLD = r"""
float s = S;
if (euclid) {
    float d2 = __fsub_rn(__fadd_rn(rsq, csq), __fmul_rn(2.0f, S));
    if (d2 < 0.0f) d2 = 0.0f;
    s = -__fsqrt_rn(d2);
}
keep = false;
if (cpos >= rend) {
    double x = __dmul_rn(__dsub_rn((double)s, lo), scale);
    int b;
    if (!(x > 0.0)) b = 0; else if (x >= (double)top) b = top; else b = (int)x;
    atomicAdd(&hist[(long long)pidx[rst * nstrata + cst] * nbins + b], 1ULL);
    keep = b >= floor_bin;
}
"""


def _euclid(xp: ModuleType, S: Any, rsq: Any, csq: Any, genuine: bool = False) -> Any:
    """Minus the euclidean distance from products, as the CPU fold computes it (float32)."""
    d2 = (rsq + csq) - np.float32(2.0) * S
    # the fold's two spellings differ only for NaN: impostors keep it, genuine pairs zero it
    d2 = xp.where(d2 > 0, d2, np.float32(0)) if genuine else xp.where(d2 < 0, np.float32(0), d2)
    return -xp.sqrt(d2)


class _Fold:
    """Adds one tile's impostor pairs to ``hist`` (slot * bins + bin) and returns which of
    them reach ``floor_bin``.

    On CUDA one fused elementwise kernel reads each product once: score, bin, an atomic
    add to the histogram, the keep flag. The generic path (numpy; CUDA with
    ``fused=False``) computes the same codes with array operations and one ``bincount``.
    """

    def __init__(self, xp: ModuleType, fused: bool) -> None:
        self.xp, self.kernel = xp, None
        if fused and xp is not np:  # pragma: no cover - needs a GPU
            self.kernel = xp.ElementwiseKernel(
                "float32 S, float32 rsq, float32 csq, int32 rst, int32 cst, int64 rend, "
                "int64 cpos, raw int32 pidx, int32 nstrata, float64 lo, float64 scale, "
                "int32 top, int32 nbins, int32 floor_bin, bool euclid",
                "bool keep, raw uint64 hist", CUDA_FOLD, "fairbench_allpairs_fold")

    def __call__(self, hist, S, rsq, csq, rst, cst, rend, cpos, pidx, nstrata, lo, scale,
                 nbins, floor_bin, euclid):
        xp = self.xp
        if self.kernel is not None:  # pragma: no cover - needs a GPU
            keep = xp.empty(S.shape, dtype=xp.bool_)
            self.kernel(S, rsq, csq, rst, cst, rend, cpos, pidx, np.int32(nstrata), lo, scale,
                        np.int32(nbins - 1), np.int32(nbins), np.int32(floor_bin),
                        bool(euclid), keep, hist)
            return keep
        s = _euclid(xp, S, rsq, csq) if euclid else S
        x = (s.astype(xp.float64) - lo) * scale
        top = nbins - 1
        b = xp.where(x > 0, xp.where(x >= top, top, x), 0).astype(xp.int32)
        imp = cpos >= rend  # mated pairs (and the lower triangle) are not impostors
        dump = len(hist)
        code = xp.where(imp, pidx[rst * nstrata + cst] * nbins + b, dump).astype(xp.int64)
        hist += xp.bincount(code.ravel(), minlength=dump + 1)[:dump].astype(hist.dtype)
        return imp & (b >= floor_bin)


def _upload(xp: ModuleType, inp: StreamInput, chunk: int = 65536) -> tuple[Any, Any]:
    """Templates in visiting order, float32, gathered as the CPU kernel gathers them."""
    n, d = inp.x.shape
    X = xp.empty((n, d), dtype=xp.float32)
    for a in range(0, n, chunk):
        rows = inp.order[a : a + chunk]
        buf = np.asarray(inp.x[rows], dtype=np.float32)
        if inp.kind == "cosine":
            buf /= inp.norm[rows, None]
        if inp.any_failed:
            buf[inp.failed_orig[rows]] = np.nan
        X[a : a + len(rows)] = xp.asarray(buf)
    return X, xp.asarray(inp.sq)


def device_stream(
    inp: StreamInput, pidx: np.ndarray, n_slots: int, lo: float, hi: float, nbins: int,
    floor_bin: int, block: int = 8192, device: str = "cuda", precision: str = "float32",
    fused: bool = True, stats: dict[str, float] | None = None,
) -> StreamResult:
    """:func:`fairbench.kernels.stream.stream` on a device (see the module docstring).

    ``fused=False`` runs the generic array-module fold on CUDA too (a cross-check of the
    fused elementwise kernel); numpy always runs it. ``stats``, when given, receives the
    seconds spent gathering and uploading (``upload_s``) and on the tiles (``tiles_s``).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; one of {', '.join(PRECISIONS)}")
    xp = array_module(device)
    if xp is np:
        with threadpool_limits(limits=1, user_api="blas"):  # the CPU kernel's BLAS calls
            return _run(np, inp, pidx, n_slots, lo, hi, nbins, floor_bin, block, precision,
                        False, stats)
    return _run(xp, inp, pidx, n_slots, lo, hi, nbins, floor_bin, block, precision,
                fused, stats)  # pragma: no cover - needs a GPU


def _run(xp, inp, pidx, n_slots, lo, hi, nbins, floor_bin, block, precision, fused, stats):
    t0 = time.perf_counter()
    n, d = inp.x.shape
    block = max(1, min(block, n)) if n else 1
    scale = nbins / (hi - lo)
    S_ = int(np.asarray(pidx).shape[0])
    dump = n_slots * nbins  # histogram cells; the generic path's dump code for non-impostors
    euclid = inp.kind == "euclidean"
    X, sq = _upload(xp, inp)
    Xr = round_inputs(xp, X, precision)
    t1 = time.perf_counter()
    st = xp.asarray(inp.stratum.astype(np.int32))
    pos = xp.arange(n, dtype=xp.int64)
    mate_end = xp.asarray(inp.mate_end)
    pflat = xp.asarray(np.ascontiguousarray(pidx, dtype=np.int32).ravel())
    fold = _Fold(xp, fused)
    hist = xp.zeros(dump, dtype=xp.uint64)  # CUDA's 64-bit atomicAdd is unsigned
    gen = np.full(inp.n_genuine, NEG_INF, dtype=np.float32)
    failed = xp.asarray(inp.failed)
    kept: list[tuple[np.ndarray, ...]] = []
    sbuf = xp.empty(block * block, dtype=xp.float32)
    todo = tile_list(n, block)
    for r0, r1, c0, c1 in todo:
        h, w = r1 - r0, c1 - c0
        S = sbuf[: h * w].reshape(h, w)
        A = Xr[r0:r1]
        product(xp, A, A if c0 == r0 else Xr[c0:c1], S, precision)
        rsq, csq = sq[r0:r1, None], sq[None, c0:c1]
        rend, cpos = mate_end[r0:r1, None], pos[None, c0:c1]
        keep = fold(hist, S, rsq, csq, st[r0:r1, None], st[None, c0:c1], rend, cpos, pflat,
                    S_, lo, scale, nbins, floor_bin, euclid)
        if int(inp.mate_end[r0:r1].max()) > c0:  # tiles near the diagonal hold mated pairs
            _genuine(xp, S, rsq, csq, r0, c0, pos, rend, cpos, failed, euclid, inp, gen)
        if floor_bin < nbins:
            flat = xp.flatnonzero(keep)
            if len(flat):
                a, b = flat // w, flat % w
                s = S[a, b]
                if euclid:  # as the CPU kernel stores a kept pair's score
                    s = _euclid(xp, s, rsq[a, 0], csq[0, b], genuine=True)
                s = xp.where(failed[a + r0] | failed[b + c0], NEG_INF, s)
                kept.append(((to_host(a) + r0).astype(np.int32),
                             (to_host(b) + c0).astype(np.int32), to_host(s)))
    ki, kj, ks = (np.concatenate([k[m] for k in kept]) if kept else np.zeros(0, dt)
                  for m, dt in ((0, np.int32), (1, np.int32), (2, np.float32)))
    h_all = to_host(hist).astype(np.int64).reshape(n_slots, nbins)  # waits for the device
    if stats is not None:
        stats.update(upload_s=t1 - t0, tiles_s=time.perf_counter() - t1)
    return StreamResult(h_all, gen, ki, kj, ks, len(todo), 0)


def _genuine(xp, S, rsq, csq, r0, c0, pos, rend, cpos, failed, euclid, inp, gen) -> None:
    """Mated pairs of a tile (row < column < the row's mate end) into ``gen`` (host)."""
    rpos = pos[r0 : r0 + S.shape[0], None]
    a, b = xp.nonzero((cpos > rpos) & (cpos < rend))
    if not len(a):
        return
    s = S[a, b]
    if euclid:
        s = _euclid(xp, s, rsq[a, 0], csq[0, b], genuine=True)
    s = to_host(xp.where(failed[a + r0] | failed[b + c0], NEG_INF, s))
    i, j = to_host(a) + r0, to_host(b) + c0
    gen[inp.gen_off[i] + j - i - 1] = s
