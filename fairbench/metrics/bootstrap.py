"""Subject-level bootstrap without rescoring.

People, not comparisons, are resampled (one person appears in many impostor pairs), within
each group so every replicate keeps the group sizes. A replicate is a vector of subject
weights w (how often each person was drawn); an impostor pair of persons a and b counts
w_a * w_b times, a mated pair of person a counts w_a times. Numerators use only the pairs
at or above the threshold (kept by the counting pass); denominators come from per-subject
image counts, so no score is recomputed.
"""

from __future__ import annotations

import warnings

import numpy as np
from numba import njit, prange


def subject_weights(
    subject_group: np.ndarray, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """(R, n_subjects) float32 draw counts, resampling subjects within their groups.

    Counts are small integers, exact in float32 (half the memory traffic of float64).
    Fastest when ``subject_group`` is sorted, so each group's columns are one slice.
    """
    n = len(subject_group)
    w = np.zeros((replicates, n), dtype=np.float32)
    base = (np.arange(replicates, dtype=np.int64))[:, None]
    sorted_groups = bool(np.all(subject_group[1:] >= subject_group[:-1])) if n else True
    for g in np.unique(subject_group):
        idx = np.flatnonzero(subject_group == g)
        m = len(idx)
        draws = rng.integers(0, m, size=(replicates, m)) + base * m
        counts = np.bincount(draws.ravel(), minlength=replicates * m).reshape(replicates, m)
        if sorted_groups:
            w[:, idx[0] : idx[-1] + 1] = counts
        else:
            w[:, idx] = counts
    return w


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
def _level_sums_t(wt, a, b, g, lev, c, n_groups, n_levels, n_parts):  # pragma: no cover
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


def level_weight_sums(
    w: np.ndarray, a: np.ndarray, b: np.ndarray, g: np.ndarray, lev: np.ndarray,
    c: np.ndarray, n_groups: int, n_levels: int,
) -> np.ndarray:
    """(R, G, L): sum of c_k * w[r, a_k] * w[r, b_k] by group and level.

    The level of a pair is how many thresholds it meets, so one pass over the pairs serves
    every threshold. Subjects' weights are laid out along replicates (a transposed copy) so
    the inner loop runs over contiguous memory.
    """
    import numba

    wt = np.ascontiguousarray(w.T)
    parts = max(1, min(numba.get_num_threads(), len(a)))
    out = _level_sums_t(wt, a, b, g, lev, c, n_groups, n_levels, parts)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def compress_pairs(
    a: np.ndarray, b: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge repeated (subject a, subject b, group) triples into one with a count."""
    if len(a) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), e.copy(), np.zeros(0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys, counts = np.unique(np.stack([lo, hi, g]), axis=1, return_counts=True)
    return keys[0], keys[1], keys[2], counts.astype(np.float64)


def impostor_rates(
    w: np.ndarray,
    n_img: np.ndarray,
    err_a: np.ndarray,
    err_b: np.ndarray,
    err_group: np.ndarray,
    n_groups: int,
) -> np.ndarray:
    """(R, G) same-group FMR per replicate, one threshold at a time.

    The straightforward form, kept as the reference the tables' one-pass, all-thresholds
    computation (``level_weight_sums``) is tested against.

    ``n_img`` (n_subjects, G): images of each subject in each group; ``err_a``, ``err_b``:
    subject codes of the impostor pairs at or above the threshold, ``err_group`` their group.
    """
    tot = w @ n_img
    den = (tot**2 - (w**2) @ (n_img**2)) / 2.0
    a, b, g, c = compress_pairs(err_a, err_b, err_group)
    num = pair_weight_sums(np.ascontiguousarray(w), a, b, g, c, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def mated_rates(w: np.ndarray, pairs: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """(R, G) FNMR per replicate from per-subject mated pair and error counts (n_sub, G)."""
    den = w @ pairs
    num = w @ errors
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def percentile_interval(
    reps: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over replicates (axis 0), ignoring undefined replicates."""
    a = (1 - confidence) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no interval
        lo = np.nanpercentile(reps, a, axis=0)
        hi = np.nanpercentile(reps, 100 - a, axis=0)
    return lo, hi
