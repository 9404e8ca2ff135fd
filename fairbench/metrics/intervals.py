"""Binomial intervals for error rates: Clopper-Pearson, rule of three, imprecision flags."""

from __future__ import annotations

import numpy as np
from scipy.stats import beta


def clopper_pearson(
    k: np.ndarray | int, n: np.ndarray | int, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Clopper-Pearson) two-sided interval for k errors in n trials.

    Returns NaN bounds where n == 0.

    >>> lo, hi = clopper_pearson(0, 10)
    >>> float(lo), round(float(hi), 4)
    (0.0, 0.3085)
    """
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    a = (1 - confidence) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(k > 0, beta.ppf(a, k, n - k + 1), 0.0)
        hi = np.where(k < n, beta.ppf(1 - a, k + 1, n - k), 1.0)
    empty = n <= 0
    lo = np.where(empty, np.nan, lo)
    hi = np.where(empty, np.nan, hi)
    return lo, hi


def rule_of_three(n: np.ndarray | int) -> np.ndarray:
    """Approximate 95 % upper bound 3/n for a rate with zero errors in n trials."""
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore"):
        return np.where(n > 0, np.minimum(3.0 / n, 1.0), np.nan)


def rate(k: np.ndarray | int, n: np.ndarray | int) -> np.ndarray:
    """k / n, NaN where n == 0."""
    k = np.asarray(k, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, k / np.where(n > 0, n, 1), np.nan)
