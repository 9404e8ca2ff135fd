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


def threads() -> int:
    import numba

    return int(numba.get_num_threads())


@njit(cache=True)
def _fill_codes(ki, kj, ks, subject_pos, image_group, ts, bits, out, idx
                ):  # pragma: no cover - compiled
    """The loop behind ``kept_codes``: writes codes to ``out`` (and each one's record to
    ``idx`` where it is not empty); returns how many."""
    T = len(ts)
    which = len(idx) > 0
    m = 0
    for k in range(len(ki)):
        s = ks[k]
        i, j = ki[k], kj[k]
        g = np.int64(image_group[i])
        lev = np.int64(0)
        for t in range(T):
            lev += s >= ts[t]
        a, b = np.int64(subject_pos[i]), np.int64(subject_pos[j])
        out[m] = ((g * (T + 1) + lev) << (2 * bits)) | (min(a, b) << bits) | max(a, b)
        if which:
            idx[m] = k
        m += (s >= ts[0]) & (g == image_group[j])
    return m


def kept_codes(ki, kj, ks, subject_pos, image_group, ts, bits, which=False):
    """Codes ((group * (T + 1) + level) << 2 bits) | (lo << bits) | hi of the kept
    impostor pairs of images i, j whose groups agree and whose score meets the lowest
    threshold: level is how many of the sorted thresholds ``ts`` it meets, lo <= hi the
    two subjects' positions (below 2**bits). One compiled pass instead of a mask, four
    gathers and the arithmetic in numpy; without branches (a pair is written, then kept
    or overwritten), as whether a pair counts is unpredictable. ``which``: also return
    the index of each code's record."""
    out = np.empty(len(ki), np.int64)
    idx = np.empty(len(ki) if which else 0, np.int64)
    m = _fill_codes(ki, kj, ks, subject_pos, image_group, ts, bits, out, idx)
    return (out[:m], idx[:m]) if which else out[:m]


@njit(cache=True)
def decode_runs(codes, bits, w):  # pragma: no cover - compiled
    """(a, b, bucket, count) of each run of equal codes in sorted ``codes`` (see
    ``kept_codes``): the merged pairs, in (bucket, a, b) order, a, b and bucket in int32;
    the count is the run's length, or the sum of its codes' weights ``w`` (the pairs each
    record stands for) where ``w`` is not empty, in float64."""
    n = len(codes)
    unit = len(w) == 0
    a, b = np.empty(n, np.int32), np.empty(n, np.int32)
    bucket, c = np.empty(n, np.int32), np.zeros(n, np.float64)
    mask = (np.int64(1) << bits) - 1
    m = -1
    prev = np.int64(-1)
    for k in range(n):
        x = codes[k]
        if x != prev:
            m += 1
            a[m], b[m], bucket[m] = (x >> bits) & mask, x & mask, x >> (2 * bits)
            prev = x
        c[m] += 1.0 if unit else np.float64(w[k])
    return a[: m + 1], b[: m + 1], bucket[: m + 1], c[: m + 1]


@njit(nogil=True, cache=True)
def count_block(draws, offset, r0, wt):  # pragma: no cover - compiled
    """wt[offset + d, r0 + r] += 1 for every draw d of replicate r: one block's counts of
    one group's m subjects, laid out subjects x replicates. Returns False if a count did
    not fit ``wt``'s type: it then wrapped (or, in float32 past 2**24, stuck), and the
    group's counts no longer add up to its m draws (the caller counts again, wider)."""
    R, m = draws.shape
    for r in range(R):
        c = r0 + r
        for k in range(m):
            wt[offset + draws[r, k], c] += 1
    tot = np.zeros(R, np.int64)
    for j in range(offset, offset + m):
        row = wt[j]
        for r in range(R):
            tot[r] += np.int64(row[r0 + r])
    return bool(np.all(tot == m))


@njit(nogil=True, cache=True)
def bucket_sums_int(wt, a, b, bucket, c, wmax, out):  # pragma: no cover - compiled
    """out[bucket_k, r] += c_k * w[a_k, r] * w[b_k, r] for pairs sorted by bucket, with
    products and partial sums in int32 (8 replicates a vector instruction).

    Exact: weights and counts are integers (``c`` int32), each term is below 2**31 (the
    caller checks c_k * wmax**2), and a bucket's int32 sum is moved into float64 before
    the most it could hold (the sum of c_k * wmax**2 since the last move) passes 2**31.
    """
    rows = wt.shape[1]
    acc = np.zeros(rows, np.int32)
    w2 = np.int64(wmax) * np.int64(wmax)
    used = np.int64(0)
    cur = -1
    for k in range(len(a)):
        step = np.int64(c[k]) * w2
        if bucket[k] != cur or used + step >= 2147483647:
            if cur >= 0:
                row = out[cur]
                for r in range(rows):
                    row[r] += np.float64(acc[r])
            acc[:] = 0
            used = 0
            cur = bucket[k]
        used += step
        wa = wt[a[k]]
        wb = wt[b[k]]
        ck = np.int32(c[k])
        for r in range(rows):
            acc[r] += ck * (np.int32(wa[r]) * np.int32(wb[r]))
    if cur >= 0:
        row = out[cur]
        for r in range(rows):
            row[r] += np.float64(acc[r])


@njit(nogil=True, cache=True)
def pair_sums(wt, a, b, bucket, c, out):  # pragma: no cover - compiled
    """out[bucket_k, r] += c_k * w[a_k, r] * w[b_k, r], every pair in float64: the path
    for counts that are not small integers."""
    rows = wt.shape[1]
    for k in range(len(a)):
        wa = wt[a[k]]
        wb = wt[b[k]]
        ck = c[k]
        row = out[bucket[k]]
        for r in range(rows):
            row[r] += ck * np.float64(wa[r]) * np.float64(wb[r])


@njit(nogil=True, cache=True)
def subject_sums(wt, ptr, col, val, power, out):  # pragma: no cover - compiled
    """out[col, r] += val * w[s, r] ** power (1 or 2) over the nonzero (s, col, val) of
    a per-subject table in compressed rows (``ptr``): the weighted image, mated-pair and
    miss totals of a block, and the squares the FMR denominator subtracts, in float64
    (exact on integers), every subject's weights read once."""
    rows = wt.shape[1]
    for s in range(wt.shape[0]):
        ws = wt[s]
        for q in range(ptr[s], ptr[s + 1]):
            o = out[col[q]]
            v = val[q]
            if power[q] == 2:
                for r in range(rows):
                    x = np.float64(ws[r])
                    o[r] += v * x * x
            else:
                for r in range(rows):
                    o[r] += v * np.float64(ws[r])


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
