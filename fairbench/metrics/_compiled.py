"""Compiled loops of the subject bootstrap (numba). Imported only when a bootstrap is
computed, so reading a stored run never loads numba."""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def pair_weight_sums(w, a, b, g, c, n_groups):  # pragma: no cover - compiled
    """out[r, g_k] += c_k * w[r, a_k] * w[r, b_k]: the replicate numerators, no R x K temp."""
    R = w.shape[0]
    out = np.zeros((R, n_groups))
    for r in prange(R):
        wr = w[r]
        for k in range(len(a)):
            out[r, g[k]] += c[k] * wr[a[k]] * wr[b[k]]
    return out


@njit(parallel=True, cache=True)
def level_sums_t(wt, a, b, g, lev, c, n_groups, n_levels, n_parts):  # pragma: no cover
    """(G, L, R) sums of c_k * w[a_k] * w[b_k] by group and level, replicates innermost."""
    R = wt.shape[1]
    K = len(a)
    part = np.zeros((n_parts, n_groups, n_levels, R))
    step = (K + n_parts - 1) // n_parts
    for t in prange(n_parts):
        acc = part[t]
        for k in range(t * step, min(K, (t + 1) * step)):
            wa = wt[a[k]]
            wb = wt[b[k]]
            ck = c[k]
            row = acc[g[k], lev[k]]
            for r in range(R):  # contiguous over replicates: vectorises
                row[r] += ck * wa[r] * wb[r]
    return part.sum(axis=0)


def threads() -> int:
    import numba

    return int(numba.get_num_threads())


@njit(cache=True)
def count_draws(draws, offset, out, cap):  # pragma: no cover - compiled
    """out[r, offset + d] += 1 for every draw d of replicate r: bincount without the
    (R x m) index temporary. Returns False, leaving ``out`` partly counted, as soon as a
    count would pass ``cap`` (the caller then counts again in a wider type)."""
    R, m = draws.shape
    for r in range(R):
        row = out[r]
        for k in range(m):
            j = offset + draws[r, k]
            if row[j] >= cap:
                return False
            row[j] += 1
    return True


@njit(parallel=True, cache=True)
def level_sums_runs(wt, a, b, c, starts, run_bucket, n_buckets, n_parts):  # pragma: no cover
    """(n_buckets, R) sums of w[a] * sum_b(c * w[b]) over runs of one (bucket, a).

    ``wt`` (n_subjects, R) weights (uint8 or float32), replicates innermost; run k covers pairs
    starts[k]:starts[k+1], all with one subject a and one bucket. The inner sum is a
    float32 axpy over contiguous replicates, exact because every term is a small integer
    (the caller checks the bound); the outer product is added in float64, also exactly.
    """
    R = wt.shape[1]
    K = len(starts) - 1
    part = np.zeros((n_parts, n_buckets, R))
    step = (K + n_parts - 1) // n_parts
    for t in prange(n_parts):
        acc = part[t]
        tmp = np.empty(R, np.float32)
        for k in range(t * step, min(K, (t + 1) * step)):
            tmp[:] = 0
            for p in range(starts[k], starts[k + 1]):
                wb = wt[b[p]]
                cp = c[p]
                for r in range(R):
                    tmp[r] += cp * np.float32(wb[r])
            wa = wt[a[starts[k]]]
            row = acc[run_bucket[k]]
            for r in range(R):
                row[r] += np.float64(wa[r]) * np.float64(tmp[r])
    return part.sum(axis=0)


@njit(parallel=True, cache=True)
def label_counts(L, a, b, w, n_groups, pairs):  # pragma: no cover - compiled
    """(P, G) per labelling p: the sum of w_k over items whose label L[p, a_k] is known
    (>= 0) and, when ``pairs``, equal to L[p, b_k]; w of length 0 counts each item once.

    The permutation tests' counts without (P, K) temporaries; within a (p, g) cell the
    terms are added in item order, as ``np.bincount`` adds them."""
    P = L.shape[0]
    K = len(a)
    weighted = len(w) > 0
    out = np.zeros((P, n_groups))
    for p in prange(P):
        row = L[p]
        o = out[p]
        for k in range(K):
            la = row[a[k]]
            if la < 0:
                continue
            if pairs and row[b[k]] != la:
                continue
            o[la] += w[k] if weighted else 1.0
    return out


@njit(parallel=True, cache=True)
def label_pair_counts(codes, a, b, w, K):  # pragma: no cover - compiled
    """(P, K, K): the sum of w_k (1 where w is empty) by the pair of label codes
    (codes[p, a_k], codes[p, b_k]) per labelling p, in item order as ``np.bincount``."""
    P = codes.shape[0]
    weighted = len(w) > 0
    out = np.zeros((P, K, K))
    for p in prange(P):
        row = codes[p]
        o = out[p]
        for k in range(len(a)):
            o[row[a[k]], row[b[k]]] += w[k] if weighted else 1.0
    return out
