"""Summary measures of demographic differentials, vectorised over replicates.

Each function takes rates with groups on the last axis, so the same code serves point
estimates (shape ``(G,)``) and bootstrap replicates (shape ``(R, G)``). NaN rates (groups
without data in a replicate) are ignored.
"""

from __future__ import annotations

import warnings

import numpy as np

EPS = 1e-5


def max_geomean(rates: np.ndarray, eps: float = EPS) -> np.ndarray:
    """NIST FRTE Max/GeoMean: the largest rate over the geometric mean of all rates.

    When any rate is 0, ``eps`` is added to every rate, in the numerator and the
    denominator alike, so the measure is >= 1 and equals 1 when all rates are equal (all
    zero included). Computed in logs; rounding below 1 is clipped to exactly 1.
    """
    x = np.asarray(rates, dtype=float)
    valid = np.isfinite(x)
    n = valid.sum(axis=-1)
    any_zero = np.any(valid & (x <= 0), axis=-1)
    shifted = np.where(valid, x + np.where(any_zero, eps, 0.0)[..., None], np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.where(valid, shifted, 1.0))
        mean_log = np.where(valid, logs, 0.0).sum(axis=-1) / n
        max_log = np.max(np.where(valid, logs, -np.inf), axis=-1)
        out = np.exp(np.maximum(max_log - mean_log, 0.0))
    return np.where(n >= 2, out, np.nan)


def max_abs_diff(rates: np.ndarray) -> np.ndarray:
    """Largest difference between any two groups' rates."""
    x = np.asarray(rates, dtype=float)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # groups without data: NaN
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


def _interval(values: np.ndarray | None, confidence: float) -> tuple[float, float]:
    """Percentile interval of replicate values of one measure (NaN without replicates)."""
    if values is None:
        return (np.nan, np.nan)
    from fairbench.metrics.bootstrap import percentile_interval

    lo, hi = percentile_interval(np.asarray(values, dtype=float)[:, None], confidence)
    return float(lo[0]), float(hi[0])


def summary_rows(groups: list[str], fmr: np.ndarray, fnmr: np.ndarray,
                 reps_fmr: np.ndarray | None, reps_fnmr: np.ndarray | None,
                 alpha: float, confidence: float, names: tuple[str, str] = ("fmr", "fnmr")
                 ) -> list[dict[str, object]]:
    """Max/GeoMean and largest difference of each rate, FDR and GARBE, with bootstrap
    intervals, over the given (known) groups; one dict per measure."""
    out: list[dict[str, object]] = []
    for name, x, reps in ((names[0], fmr, reps_fmr), (names[1], fnmr, reps_fnmr)):
        ok = np.isfinite(x)
        worst = groups[int(np.nanargmax(x))] if ok.any() else ""
        best = groups[int(np.nanargmin(x))] if ok.any() else ""
        for measure, fn in (("max_geomean", max_geomean), ("max_difference", max_abs_diff)):
            value = float(fn(x)) if ok.any() else np.nan
            lo, hi = _interval(None if reps is None else fn(reps), confidence)
            out.append({"measure": f"{name}_{measure}", "value": value, "ci_low": lo,
                        "ci_high": hi, "worst_group": worst, "best_group": best})
    both = reps_fmr is not None and reps_fnmr is not None
    for measure, fn in (("fdr", fdr), ("garbe", garbe)):
        lo, hi = _interval(fn(reps_fmr, reps_fnmr, alpha) if both else None, confidence)
        out.append({"measure": measure, "value": float(fn(fmr, fnmr, alpha)), "ci_low": lo,
                    "ci_high": hi, "worst_group": "", "best_group": "", "alpha": alpha})
    return out
