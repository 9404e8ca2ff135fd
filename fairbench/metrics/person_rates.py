"""Each group's FMR and FNMR decomposed by person, for the default interval
(:mod:`fairbench.metrics.ustat`).

A unit is a person within a group (a person whose images fall in several groups of a
per-image breakdown is a unit in each). For FMR a unit's comparisons are the group's
same-group impostor pairs that involve its images, and its errors those pairs' false
matches (each pair counts for both of its people); for FNMR its mated pairs in the group.
"""

from __future__ import annotations

import numpy as np

from fairbench.core.codes import Plan
from fairbench.core.counts import VerificationCounts
from fairbench.metrics.ustat import person_interval


def _units(n_img: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(person, group) of every unit with images there, and a (people, G) index to them."""
    a, g = np.nonzero(n_img)
    index = np.full(n_img.shape, -1, dtype=np.int64)
    index[a, g] = np.arange(len(a))
    return a, g, index


def fmr_interval(plan: Plan, counts: VerificationCounts, n_img: np.ndarray,
                 hit: np.ndarray, kept_group: np.ndarray, errors: np.ndarray,
                 n_nonmated: np.ndarray, den_pairs: tuple[np.ndarray, ...] | None,
                 confidence: float) -> tuple[np.ndarray, np.ndarray]:
    """(G,) default interval of each group's same-group FMR at one threshold.

    ``n_img`` (people, G): images per person and group; ``hit``: the kept impostor pairs
    that are same-group false matches at the threshold (the mask the group's errors were
    counted with), ``kept_group`` the group of each kept pair's first image; ``errors``,
    ``n_nonmated`` (G,): the group's false matches and impostor pairs; ``den_pairs``: a
    comparison list's same-group impostor comparisons per pair of people (a, b, group,
    count), None in an all-pairs design (where a pair of people holds n_a * n_b)."""
    G = n_img.shape[1]
    ua, ug, index = _units(n_img)
    sa, sb = plan.subject[counts.kept_i[hit]], plan.subject[counts.kept_j[hit]]
    g = kept_group[hit]
    w = counts.weights(hit)
    k_sub = (np.bincount(index[sa, g], w, len(ua))
             + np.bincount(index[sb, g], w, len(ua))).astype(np.float64)
    lo_s, hi_s = np.minimum(sa, sb), np.maximum(sa, sb)
    nsub = plan.n_subjects
    key = (lo_s * nsub + hi_s) * G + g
    pairs, inv = np.unique(key, return_inverse=True)
    k_ab = np.bincount(inv.ravel(), w, len(pairs))  # records may stand for several each
    pg = pairs % G
    pa, pb = (pairs // G) // nsub, (pairs // G) % nsub
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(n_nonmated > 0, errors / np.where(n_nonmated > 0, n_nonmated, 1), 0.0)
    if den_pairs is None:
        n = n_img.astype(np.float64)
        s1 = n.sum(axis=0)
        n_sub = n[ua, ug] * (s1[ug] - n[ua, ug])
        n_ab = n[pa, pg] * n[pb, pg]
        sum_n2 = ((n**2).sum(axis=0) ** 2 - (n**4).sum(axis=0)) / 2
    else:
        da, db, dg, dc = den_pairs
        dc = dc.astype(np.float64)
        n_sub = (np.bincount(index[da, dg], weights=dc, minlength=len(ua))
                 + np.bincount(index[db, dg], weights=dc, minlength=len(ua)))
        dkey = (np.minimum(da, db) * nsub + np.maximum(da, db)) * G + dg
        order = np.argsort(dkey)
        at = np.searchsorted(dkey[order], pairs)
        n_ab = dc[order][np.minimum(at, len(order) - 1)] if len(order) else np.zeros(len(pairs))
        sum_n2 = np.bincount(dg, weights=dc**2, minlength=G)
    # sum over pairs of people of (k_ab - p n_ab)^2, the pairs without an error included
    pair_sq = (np.bincount(pg, weights=k_ab.astype(np.float64) ** 2, minlength=G)
               - 2 * p * np.bincount(pg, weights=k_ab * n_ab, minlength=G)
               + p**2 * sum_n2)
    return person_interval(errors.astype(np.float64), n_nonmated.astype(np.float64), k_sub,
                           n_sub, ug, np.maximum(pair_sq, 0.0), confidence)


def fnmr_interval(plan: Plan, mated_group: np.ndarray, miss: np.ndarray,
                  errors: np.ndarray, n_mated: np.ndarray, confidence: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(G,) default interval of each group's FNMR (a mated pair has one person); ``miss``
    marks the mated pairs counted as false non-matches at the threshold."""
    G = len(n_mated)
    nsub = plan.n_subjects
    keep = mated_group >= 0
    s = plan.subject[plan.mated_i[keep]]
    g = mated_group[keep]
    miss = miss[keep]
    n_pg = np.bincount(s * G + g, minlength=nsub * G).reshape(nsub, G)
    ua, ug, index = _units(n_pg)
    k_sub = np.bincount(index[s[miss], g[miss]], minlength=len(ua)).astype(np.float64)
    n_sub = n_pg[ua, ug].astype(np.float64)
    return person_interval(errors.astype(np.float64), n_mated.astype(np.float64), k_sub,
                           n_sub, ug, np.zeros(G), confidence)
