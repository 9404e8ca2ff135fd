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


def subject_weights(
    subject_group: np.ndarray, replicates: int, rng: np.random.Generator
) -> np.ndarray:
    """(R, n_subjects) draw counts, resampling subjects with replacement within groups."""
    n = len(subject_group)
    w = np.zeros((replicates, n), dtype=np.float64)
    for g in np.unique(subject_group):
        idx = np.flatnonzero(subject_group == g)
        m = len(idx)
        w[:, idx] = rng.multinomial(m, np.full(m, 1.0 / m), size=replicates)
    return w


def impostor_rates(
    w: np.ndarray,
    n_img: np.ndarray,
    err_a: np.ndarray,
    err_b: np.ndarray,
    err_group: np.ndarray,
    n_groups: int,
) -> np.ndarray:
    """(R, G) same-group FMR per replicate.

    ``n_img`` (n_subjects, G): images of each subject in each group; ``err_a``, ``err_b``:
    subject codes of the impostor pairs at or above the threshold, ``err_group`` their group.
    """
    tot = w @ n_img
    den = (tot**2 - (w**2) @ (n_img**2)) / 2.0
    num = np.zeros_like(den)
    if len(err_a):
        prod = w[:, err_a] * w[:, err_b]
        onehot = np.zeros((len(err_a), n_groups))
        onehot[np.arange(len(err_a)), err_group] = 1.0
        num = prod @ onehot
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
