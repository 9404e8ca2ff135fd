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
