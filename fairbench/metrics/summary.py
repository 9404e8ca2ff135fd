"""Summary measures of demographic differentials, vectorised over replicates.

Each function takes rates with groups on the last axis, so the same code serves point
estimates (shape ``(G,)``) and bootstrap replicates (shape ``(R, G)``). NaN rates (groups
without data in a replicate) are ignored.
"""

from __future__ import annotations

import numpy as np

EPS = 1e-5


def max_geomean(rates: np.ndarray, eps: float = EPS) -> np.ndarray:
    """NIST FRTE Max/GeoMean: the largest rate over the geometric mean of all rates.

    When any rate is 0, ``eps`` is added to every rate before taking logs.
    """
    x = np.asarray(rates, dtype=float)
    valid = np.isfinite(x)
    n = valid.sum(axis=-1)
    xz = np.where(valid, x, np.nan)
    any_zero = np.nanmin(np.where(valid, xz, np.inf), axis=-1) <= 0
    shift = np.where(any_zero, eps, 0.0)[..., None]
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.where(valid, np.log(np.where(valid, xz, 1.0) + shift), 0.0)
        gm = np.exp(logs.sum(axis=-1) / n)
        mx = np.nanmax(np.where(valid, xz, -np.inf), axis=-1)
        out = mx / gm
    return np.where(n >= 2, out, np.nan)


def max_abs_diff(rates: np.ndarray) -> np.ndarray:
    """Largest difference between any two groups' rates."""
    x = np.asarray(rates, dtype=float)
    with np.errstate(invalid="ignore"):
        return np.nanmax(x, axis=-1) - np.nanmin(x, axis=-1)


def fdr(fmr: np.ndarray, fnmr: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """Fairness Discrepancy Rate (de Freitas Pereira and Marcel): 1 = no differential."""
    return 1.0 - (alpha * max_abs_diff(fmr) + (1 - alpha) * max_abs_diff(fnmr))


def gini(rates: np.ndarray) -> np.ndarray:
    """The Gini-style inequality G_x of ISO/IEC 19795-10 (Howard et al.), 0 when all equal.

    G_x = n/(n-1) * sum_i sum_j |x_i - x_j| / (2 n^2 mean(x)); 0 when the mean is 0.
    """
    x = np.asarray(rates, dtype=float)
    valid = np.isfinite(x)
    n = valid.sum(axis=-1)
    xv = np.where(valid, x, 0.0)
    diffs = np.abs(xv[..., :, None] - xv[..., None, :])
    both = valid[..., :, None] & valid[..., None, :]
    total = np.where(both, diffs, 0.0).sum(axis=(-1, -2))
    mean = xv.sum(axis=-1) / np.maximum(n, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        g = n / (n - 1) * total / (2 * n**2 * mean)
    g = np.where(mean > 0, g, 0.0)
    return np.where(n >= 2, g, np.nan)


def garbe(fmr: np.ndarray, fnmr: np.ndarray, alpha: float = 0.5) -> np.ndarray:
    """GARBE = alpha * G_FMR + (1 - alpha) * G_FNMR; 0 = no differential."""
    return alpha * gini(fmr) + (1 - alpha) * gini(fnmr)
