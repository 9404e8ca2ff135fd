"""Equal error rate per group, exact, from histograms and the bins kept whole.

Convention (:data:`CONVENTION`): over the thresholds t at the group's observed scores,
FMR(t) = #{impostor scores >= t} / n_nonmated and FNMR(t) = #{genuine scores < t} / n_mated
(failed comparisons stay in both denominators, as everywhere in fairbench); the EER
threshold is the t where |FMR - FNMR| is smallest (ties: the higher t), and the EER is
(FMR + FNMR) / 2 there. This is bob.measure's ``eer_threshold`` read with its ``farfrr``,
and pyeer's EER, up to which observed score names the threshold.

Exactness without every impostor score: with bins by score, FMR and FNMR are known exactly
between bins, FMR - FNMR only falls as t rises, so the best threshold lies in the bin
where the sign changes or at the nearest observed score on either side of it. Those bins
(:func:`eer_windows`) are kept whole by the list engine; :func:`eer_table` reads the EER
from them and says where they were not kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan
from fairbench.core.counts import Binning, VerificationCounts
from fairbench.core.scale import to_native
from fairbench.metrics.groups import View
from fairbench.metrics.intervals import clopper_pearson

CONVENTION = ("min |FMR - FNMR| over observed scores (higher t on ties), EER = mean of "
              "the two; as bob.measure eer_threshold + farfrr")


def _group(view: View, g: int, n_strata: int, hist: np.ndarray, mated_s: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The group's same-group slots, its impostor histogram, its genuine scores."""
    ga, gb = view.slot_groups(n_strata)
    slots = np.flatnonzero((ga == g) & (gb == g))
    return slots, hist[slots].sum(axis=0), mated_s[view.mated_group == g]


def crossing_bins(h: np.ndarray, genuine: np.ndarray, binning: Binning
                  ) -> tuple[int, int] | None:
    """The bins [lo, hi] that hold the group's best EER threshold (see the module
    docstring), or None without impostor or genuine scores."""
    n_imp, n_gen = int(h.sum()), len(genuine)
    if n_imp == 0 or n_gen == 0:
        return None
    B = binning.bins
    gb = binning.index(genuine)
    gcount = np.bincount(gb, minlength=B)
    above = np.cumsum(h[::-1])[::-1].astype(np.int64)  # impostors in bins >= b
    below = np.r_[0, np.cumsum(gcount)[:-1]].astype(np.int64)  # genuine in bins < b
    # FMR - FNMR between bin b - 1 and bin b, in integers (FMR >= FNMR exactly)
    k = int(np.flatnonzero(above * n_gen >= below * n_imp).max())  # true at b = 0
    busy = np.flatnonzero((h > 0) | (gcount > 0))
    lower, upper = busy[busy < k], busy[busy > k]
    return (int(lower.max()) if len(lower) else k, int(upper.min()) if len(upper) else k)


def eer_windows(plan: Plan, hist: np.ndarray, binning: Binning, mated_s: np.ndarray,
                views: Sequence[View]) -> tuple[np.ndarray, np.ndarray]:
    """Per stratum-pair slot, the bins (inclusive) to keep whole so every group's EER of
    every breakdown is exact; lo > hi where none is needed."""
    P = hist.shape[0]
    lo = np.full(P, binning.bins, dtype=np.int64)
    hi = np.full(P, -1, dtype=np.int64)
    for view in views:
        for g in range(view.n_groups):
            slots, h, gen = _group(view, g, plan.n_strata, hist, mated_s)
            w = crossing_bins(h, gen, binning)
            if w is not None:
                lo[slots] = np.minimum(lo[slots], w[0])
                hi[slots] = np.maximum(hi[slots], w[1])
    return lo, hi


def group_eer(counts: VerificationCounts, slots: np.ndarray, genuine: np.ndarray,
              kept_slot: np.ndarray) -> tuple[float, float, float, float, str]:
    """(eer, threshold, fmr, fnmr, note) of one group; NaNs with a note when not exact."""
    h = counts.hist[slots].sum(axis=0)
    w = crossing_bins(h, genuine, counts.binning)
    if w is None:
        return np.nan, np.nan, np.nan, np.nan, "no impostor or no genuine comparisons"
    b_lo, b_hi = w
    bins = np.arange(b_lo, b_hi + 1)
    whole = counts.complete_bin(slots[:, None], bins[None, :]).all()
    if not whole:
        return np.nan, np.nan, np.nan, np.nan, "the bins around the crossing were not kept"
    n_imp, n_gen = int(h.sum()), len(genuine)
    sel = np.isin(kept_slot, slots)
    kb = counts.binning.index(counts.kept_s[sel])
    imp = counts.kept_s[sel][(kb >= b_lo) & (kb <= b_hi)]
    gb = counts.binning.index(genuine)
    cand = np.concatenate([imp, genuine[(gb >= b_lo) & (gb <= b_hi)]])
    cand = np.unique(cand[np.isfinite(cand)])
    if not len(cand):
        return np.nan, np.nan, np.nan, np.nan, "no observed score near the crossing"
    base = int(h[b_hi + 1:].sum())
    imp_sorted, gen_sorted = np.sort(imp), np.sort(genuine)
    k_fm = (base + len(imp_sorted) - np.searchsorted(imp_sorted, cand, side="left")
            ).astype(np.int64)
    k_fnm = np.searchsorted(gen_sorted, cand, side="left").astype(np.int64)
    gap = np.abs(k_fm * n_gen - k_fnm * n_imp)  # |FMR - FNMR| * n_imp * n_gen, exact
    best = int(np.flatnonzero(gap == gap.min()).max())  # ties: the higher threshold
    fmr, fnmr = k_fm[best] / n_imp, k_fnm[best] / n_gen
    return float((fmr + fnmr) / 2), float(cand[best]), float(fmr), float(fnmr), ""


def eer_table(plan: Plan, counts: VerificationCounts, views: Sequence[View], similarity: str,
              label_sources: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``eer_by_group``: one row per breakdown and group (see the module docstring)."""
    from fairbench.core.codes import pair_index

    sources = label_sources or {}
    kept_slot = pair_index(plan.stratum[counts.kept_i], plan.stratum[counts.kept_j],
                           plan.n_strata)
    rows = []
    for view in views:
        src = " | ".join(sources.get(a, "unspecified") for a in view.attributes)
        for g, name in enumerate(view.groups):
            slots, h, gen = _group(view, g, plan.n_strata, counts.hist, counts.mated_s)
            eer, t, fm, fnm, note = group_eer(counts, slots, gen, kept_slot)
            n_imp, n_gen = int(h.sum()), len(gen)
            e_fm = int(round(fm * n_imp)) if np.isfinite(fm) else 0
            e_fnm = int(round(fnm * n_gen)) if np.isfinite(fnm) else 0
            (fl,), (fh,) = clopper_pearson(np.array([e_fm]), np.array([n_imp]))
            (gl,), (gh,) = clopper_pearson(np.array([e_fnm]), np.array([n_gen]))
            ok = np.isfinite(eer)
            rows.append({
                "attribute": view.name, "group": name, "label_source": src,
                "eer": eer, "eer_threshold_native": to_native(t, similarity) if ok else np.nan,
                "eer_fmr": fm, "eer_fmr_ci_low": fl if ok else np.nan,
                "eer_fmr_ci_high": fh if ok else np.nan,
                "eer_fnmr": fnm, "eer_fnmr_ci_low": gl if ok else np.nan,
                "eer_fnmr_ci_high": gh if ok else np.nan,
                "n_mated": n_gen, "n_nonmated": n_imp, "eer_convention": CONVENTION,
                "note": note})
    return pd.DataFrame(rows)
