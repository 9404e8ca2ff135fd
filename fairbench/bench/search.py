"""``fairbench bench search``: the streaming 1:N top-k kernel against its limits.

In one process, on simulated templates (random normal gallery; half the probes are noisy
copies of gallery rows, so they have a mate), it measures:

- the matrix-product rate on the same tiles and threads, loading and normalising the
  gallery blocks as the kernel does but without the top-k fold (the limit here);
- the kernel: every probe against every gallery row, a running top-k per probe;
  both timed per gallery segment (best of ``repeats`` each, alternating, summed), then
  once more as one whole call each;
- whether its top-k equals a brute-force search (scores and indices, bit for bit) for a
  subsample of probes against the whole gallery, computed in gallery chunks;
- faiss's exact flat index (search only, index built beforehand), when faiss is installed;
- memory: the peak resident size while the kernel runs, gallery included.

Baseline and kernel alternate and each keeps its best time (noise only ever adds time).
It prints one JSON object; ratios, not seconds, are the figures to compare across machines.
"""

from __future__ import annotations

import gc
import os
import time
import warnings
from typing import Any

import numpy as np

from fairbench.bench.allpairs import _peak_mb, _reset_peak, _rss_mb
from fairbench.core.cpus import cores
from fairbench.kernels.faiss_search import faiss_available, faiss_index, faiss_query
from fairbench.kernels.search import (
    merge_topk,
    search_topk_bruteforce,
    stream_search,
    warm_up,
)


def simulated_search(gallery: int, probes: int, dim: int, seed: int = 0,
                     chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Random normal gallery (written in chunks: no second copy) and half-mated probes."""
    rng = np.random.default_rng(seed)
    g = np.empty((gallery, dim), np.float32)
    for a in range(0, gallery, chunk):
        rng.standard_normal(out=g[a : a + chunk], dtype=np.float32)
    p = rng.standard_normal((probes, dim), dtype=np.float32)
    mated = probes // 2 if gallery else 0
    if mated:
        p[:mated] = g[rng.choice(gallery, mated, replace=False)] + 0.5 * p[:mated]
    return g, p


def bruteforce_chunked(probes: np.ndarray, gallery: np.ndarray, k: int, kind: str,
                       chunk: int = 65536) -> tuple[np.ndarray, np.ndarray]:
    """Brute-force top-k against the whole gallery, one full-matrix chunk at a time."""
    best_s = np.full((len(probes), 0), -np.inf, np.float32)
    best_i = np.zeros((len(probes), 0), np.int64)
    for a in range(0, len(gallery), chunk):
        s, i = search_topk_bruteforce(probes, gallery[a : a + chunk], k, kind)
        i = np.where(i >= 0, i + a, -1)
        best_s, best_i = merge_topk(np.c_[best_s, s], np.c_[best_i, i], k)
    return best_s, best_i


def _faiss_blas() -> str | None:
    """The BLAS faiss's wheel brings, as detected: an old bundled OpenBLAS may not know a
    new CPU and fall back to a generic core (e.g. "Prescott"), which makes faiss slow."""
    from threadpoolctl import threadpool_info

    for lib in threadpool_info():
        if "faiss" in lib.get("filepath", "") and lib.get("internal_api") != "openmp":
            return f"{lib['internal_api']} {lib.get('version')} {lib.get('architecture')}"
    return None


def run_search_bench(
    gallery: int = 1_000_000,
    probes: int = 1000,
    dim: int = 512,
    k: int = 20,
    kind: str = "cosine",
    block: int = 4096,
    probe_block: int = 256,
    threads: int | None = None,
    check_probes: int = 32,
    repeats: int = 3,
    segments: int = 8,
    faiss: bool = True,
    seed: int = 0,
) -> dict[str, Any]:
    """Measure everything in one process; returns the JSON-able result."""
    if gallery < 1 or probes < 1:
        raise ValueError("the benchmark needs at least one gallery row and one probe")
    out: dict[str, Any] = {"gallery": gallery, "probes": probes, "dim": dim, "k": k,
                           "kind": kind, "simulated": True}
    if os.environ.get("OPENBLAS_CORETYPE"):
        msg = f"OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']} is set: timings may suffer"
        warnings.warn(msg, stacklevel=2)
        out["warning"] = msg
    threads = threads or cores()
    out.update(threads=threads, block=block, probe_block=probe_block)
    warm_up()
    g, p = simulated_search(gallery, probes, dim, seed)
    out["gallery_mb"] = round(g.nbytes / 2**20, 1)
    opts = {"block": block, "probe_block": probe_block, "threads": threads}

    # alternate baseline and kernel on one gallery segment at a time, keeping each side's
    # best time per segment: bursts of load from other processes then spoil one short run,
    # not a whole measurement. The kernel's segment lists are merged as its threads' are.
    step = block * threads
    seg = max(step, -(-gallery // max(1, segments) // step) * step)
    gemm_s = kernel_s = 0.0
    top_s = np.full((probes, 0), -np.inf, np.float32)
    top_i = np.zeros((probes, 0), np.int64)
    gc.collect()
    base = _rss_mb()
    _reset_peak()
    for a in range(0, gallery, seg):
        gs = g[a : a + seg]
        best_g = best_k = np.inf
        for _ in range(max(1, repeats)):
            t0 = time.perf_counter()
            stream_search(p, gs, k, kind, fold=False, **opts)
            best_g = min(best_g, time.perf_counter() - t0)
            t0 = time.perf_counter()
            s, i = stream_search(p, gs, k, kind, **opts)
            best_k = min(best_k, time.perf_counter() - t0)
        t0 = time.perf_counter()
        top_s, top_i = merge_topk(np.c_[top_s, s], np.c_[top_i, np.where(i >= 0, i + a, -1)], k)
        gemm_s += best_g
        kernel_s += best_k + time.perf_counter() - t0
    out["segments"] = -(-gallery // seg)
    out["repeats"] = max(1, repeats)
    t0 = time.perf_counter()  # one whole call each, for the latency (noisy here)
    stream_search(p, g, k, kind, fold=False, **opts)
    out["gemm_one_call_s"] = round(time.perf_counter() - t0, 3)
    t0 = time.perf_counter()
    whole = stream_search(p, g, k, kind, **opts)
    out["kernel_one_call_s"] = round(time.perf_counter() - t0, 3)
    out["one_call_equals_segments"] = bool(np.array_equal(whole[1], top_i)
                                           and np.array_equal(whole[0], top_s))
    out["peak_rss_mb"] = round(_peak_mb(), 1)
    out["kernel_extra_mb"] = round(_peak_mb() - base, 1)
    result = whole
    cmp = float(gallery) * probes
    out["gemm_s"] = round(gemm_s, 3)
    out["gemm_gflops"] = round(2.0 * cmp * dim / gemm_s / 1e9, 1)
    out["kernel_s"] = round(kernel_s, 3)
    out["kernel_cmp_per_s"] = round(cmp / kernel_s)
    out["ratio_to_gemm"] = round(gemm_s / kernel_s, 3)

    rows = np.unique(np.linspace(0, probes - 1, min(check_probes, probes)).astype(np.int64))
    t0 = time.perf_counter()
    bs, bi = bruteforce_chunked(p[rows], g, k, kind)
    out["bruteforce_check_s"] = round(time.perf_counter() - t0, 3)
    out["topk_checked_probes"] = len(rows)
    out["topk_identical"] = bool(np.array_equal(result[1][rows], bi)
                                 and np.array_equal(result[0][rows], bs))
    fin = np.isfinite(bs)
    # BLAS may round a tile and the full product differently in the last bits
    out["topk_max_score_diff"] = float(np.max(np.abs(result[0][rows][fin] - bs[fin]))) \
        if fin.any() else 0.0

    out["faiss_cmp_per_s"] = None
    if faiss and faiss_available():
        import faiss as faiss_mod

        faiss_mod.omp_set_num_threads(threads)
        index, ids = faiss_index(g, kind)
        faiss_s = np.inf
        for _ in range(max(1, min(repeats, 2))):
            t0 = time.perf_counter()
            fs, fi = faiss_query(index, ids, p, k, kind)
            faiss_s = min(faiss_s, time.perf_counter() - t0)
        out["faiss_version"] = faiss_mod.__version__
        out["faiss_blas"] = _faiss_blas()
        out["faiss_s"] = round(faiss_s, 3)
        out["faiss_cmp_per_s"] = round(cmp / faiss_s)
        out["kernel_over_faiss_s"] = round(kernel_s / faiss_s, 3)
        out["faiss_top1_agree"] = round(float(np.mean(fi[:, 0] == result[1][:, 0])), 4)
        out["faiss_peak_rss_mb"] = round(_peak_mb(), 1)
        del index
    return out
