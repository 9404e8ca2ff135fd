"""The default interval of a group's FMR and FNMR: one that holds 95 % when people differ.

One person appears in many impostor pairs and all of their mated pairs, so a group's
comparisons are not independent trials: with person effects a binomial interval
(Clopper-Pearson) covers far less than 95 % (``fairbench bench coverage`` measured down to
11 %). This interval treats the rate as a U-statistic over the group's people: its
variance from the Hoeffding decomposition (the products of pairs that share a person,
without the jackknife's and bootstrap's double count of each pair's own term), on the
smoothed logit scale, with Student's t on the effective number of people carrying that
variance, (sum R^2)^2 / sum R^4, so a rate resting on the errors of two or three people
gets the wide interval it needs. Of the methods the coverage bench compares it is the one
closest to 95 % without falling under 93 % in its scenarios (the README has the table).

Inputs are per person: the errors and comparisons that involve them (an impostor pair
counts for both of its people), their group, and per group the sum over pairs of people
of the squared residual (``pair_sq``; 0 for mated pairs, which have one person each).
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit, logit, stdtrit

from fairbench.metrics.intervals import clopper_pearson

#: the name the tables record for this interval (``<rate>_ci_method``)
METHOD = "ustat-logit-edf"


def ustat_variance(k_tot: np.ndarray, n_tot: np.ndarray, k_sub: np.ndarray,
                   n_sub: np.ndarray, group: np.ndarray, pair_sq: np.ndarray) -> np.ndarray:
    """(G,) variance of K/N from the Hoeffding decomposition of a U-statistic.

    With residuals Z_ab = k_ab - p n_ab and R_i = sum_b Z_ib, Var(sum Z) is the sum over
    pairs of Z^2 plus the products of pairs that share one person: m/(m-1) sum_i R_i^2
    minus sum Z^2 (``pair_sq``), which sum_i R_i^2 counts twice. The jackknife and the
    subject bootstrap keep that double count (they overstate the variance when people
    barely matter); here it is removed, and the cross-products are not let below zero.
    For mated pairs (one person each), ``pair_sq`` is 0: a plain cluster variance.
    """
    G = len(k_tot)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k_tot / n_tot
        m = np.bincount(group, minlength=G).astype(float)
        rr = np.bincount(group, (k_sub - p[group] * n_sub) ** 2, G) * m / (m - 1)
        v = np.maximum(rr - pair_sq, pair_sq) / n_tot**2
    return np.where(m > 1, v, np.nan)


def cluster_df(k_tot: np.ndarray, n_tot: np.ndarray, k_sub: np.ndarray, n_sub: np.ndarray,
               group: np.ndarray) -> np.ndarray:
    """(G,) degrees of freedom of a variance summed over people: (sum R_i^2)^2 /
    sum R_i^4 (R_i the residual errors of person i), between 1 and m - 1 for m people.

    When a few people carry most errors the variance rests on those few, so its t
    quantile must be wider than the head count suggests (the effective number of
    clusters, as in cluster-robust inference). With no error: m - 1.
    """
    G = len(k_tot)
    with np.errstate(invalid="ignore", divide="ignore"):
        r2 = (k_sub - (k_tot / n_tot)[group] * n_sub) ** 2
        df = np.bincount(group, r2, G) ** 2 / np.bincount(group, r2 * r2, G)
    top = np.bincount(group, minlength=G) - 1.0
    return np.clip(np.where(np.isfinite(df), df, top), 1, np.maximum(top, 1))


def smoothed_logit(k_tot: np.ndarray, n_tot: np.ndarray, var: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(eta, se): the empirical logit log((K + 1/2) / (N - K + 1/2)) and its delta-method
    standard error, the variance kept at least binomial at (K + 1/2) / (N + 1), so both
    exist with no error at all (and a bootstrap-t never divides by zero)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        p = (k_tot + 0.5) / (n_tot + 1.0)
        v = np.where(np.isnan(var), np.nan, np.fmax(var, p * (1 - p) / n_tot))
        return logit(p), np.sqrt(v) / (p * (1 - p))


def logit_t(k_tot: np.ndarray, n_tot: np.ndarray, var: np.ndarray, df: np.ndarray,
            confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """eta +- t_df se on the smoothed logit, back-transformed; 0 below when there is no
    error."""
    eta, se = smoothed_logit(k_tot, n_tot, var)
    half = -stdtrit(np.maximum(df, 1), (1 - confidence) / 2) * se
    return np.where(k_tot > 0, expit(eta - half), 0.0), expit(eta + half)


def person_interval(k_tot: np.ndarray, n_tot: np.ndarray, k_sub: np.ndarray,
                    n_sub: np.ndarray, group: np.ndarray, pair_sq: np.ndarray,
                    confidence: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """(G,) bounds of each group's rate K/N (see the module docstring). Where it cannot be
    had (a group of one person, no comparison) it is Clopper-Pearson's, and so it is with
    no error at all: then the people's residuals are all zero and say nothing of their
    heterogeneity, and the exact binomial bound (near the rule of three) is the one to
    give (the coverage bench counts only scenarios with errors expected)."""
    var = ustat_variance(k_tot, n_tot, k_sub, n_sub, group, pair_sq)
    df = cluster_df(k_tot, n_tot, k_sub, n_sub, group)
    lo, hi = logit_t(k_tot, n_tot, var, df, confidence)
    cl, ch = clopper_pearson(k_tot, n_tot, confidence)
    ok = np.isfinite(lo) & np.isfinite(hi) & (n_tot > 0) & (k_tot > 0)
    return np.where(ok, lo, cl), np.where(ok, hi, ch)
