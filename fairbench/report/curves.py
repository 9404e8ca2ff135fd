"""Per-group error-rate curves from stored counts (no scores are recomputed).

FMR(t) for group g comes from the impostor histograms of the stratum-pair slots whose two
strata both map to g (same-group impostors), read at bin edges, where it is exact: a pair
scores >= the lower edge of bin b exactly when it lies in bin b or above. FNMR(t) comes
from the stored genuine scores of mated pairs whose two images are both in g.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairbench.core.codes import Plan
from fairbench.core.counts import VerificationCounts
from fairbench.metrics.groups import View


@dataclass
class GroupCurve:
    """Error rates of one group at every histogram bin edge (internal similarity)."""

    group: str
    thresholds: np.ndarray  # (B-1,) lower edges of bins 1..B-1, increasing
    fmr: np.ndarray
    fnmr: np.ndarray
    n_nonmated: int
    n_mated: int
    impostor_hist: np.ndarray  # (B,) same-group impostor histogram
    genuine: np.ndarray  # finite genuine scores (failed templates left out)


def group_curves(view: View, plan: Plan, counts: VerificationCounts) -> list[GroupCurve]:
    """One curve per group of ``view``; rates are NaN where a group has no comparisons."""
    b = counts.binning
    edges = np.array([b.lower_edge(i) for i in range(1, b.bins)])
    ga, gb = view.slot_groups(plan.n_strata)
    out = []
    for g, name in enumerate(view.groups):
        sel = (ga == g) & (gb == g)
        hist = counts.hist[sel].sum(axis=0)
        n = int(hist.sum())
        above = np.cumsum(hist[::-1])[::-1]  # above[k] = pairs in bins >= k
        with np.errstate(invalid="ignore", divide="ignore"):
            fmr = above[1:] / n if n else np.full(len(edges), np.nan)
        gen = np.sort(counts.mated_s[view.mated_group == g].astype(np.float64))
        m = len(gen)
        fnmr = (np.searchsorted(gen, edges, side="left") / m) if m else np.full(
            len(edges), np.nan)
        out.append(GroupCurve(name, edges, np.asarray(fmr, dtype=float), fnmr, n, m, hist,
                              gen[np.isfinite(gen)]))
    return out
