"""Per-group thresholds, beside the global one: for each target FMR, the threshold that
gives each group that FMR on its own same-group impostor pairs, the group's FNMR there,
and the FNMR the same group pays under the one global threshold.

NIST reads every group at one global threshold; BFW (Robinson et al. 2020) argues for a
threshold per group. An auditor needs both, so this table is always shown beside the
global-threshold tables, never instead of them.

Rule: the global one (:mod:`fairbench.metrics.thresholds`), applied to the group's
same-group impostor scores: the smallest t whose FMR is <= the target, so tied pairs never
flatter. Exactness: the engine keeps every impostor pair only in some bins (at or above
its floor, and for a comparison list the bins kept whole); elsewhere it has histograms.
Counts at a bin edge are exact, so where the bin holding the group's threshold was kept the
threshold is exact, and where it was not the table reads the group at that bin's upper
edge (the lowest edge whose FMR is <= the target): the exact threshold lies at most one
bin lower, so the FNMR there can only be overstated, and ``group_fnmr_lower_bound`` (the
FNMR at the bin's lower edge) says by how much at most.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan
from fairbench.core.counts import Binning, VerificationCounts, lowest_score
from fairbench.core.operating import OperatingPoint
from fairbench.core.scale import to_native
from fairbench.core.settings import Settings
from fairbench.metrics.groups import View, make_views
from fairbench.metrics.intervals import rate
from fairbench.metrics.rates import n_column, rate_columns
from fairbench.metrics.thresholds import score_dtype, target_point
from fairbench.metrics.verification import ViewCounts

WHAT = "same-group impostor pairs"


def whole_bins(counts: VerificationCounts, slots: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Per bin, whether the engine kept every impostor pair of these stratum-pair slots in
    it (``h``: their histogram; an empty bin is whole)."""
    b = np.arange(counts.binning.bins)
    if counts.listed is None:  # one floor for every slot
        return counts.complete_bin(np.zeros(1, np.int64), b) | (h == 0)
    return (counts.complete_bin(slots[:, None], b[None, :])
            | (counts.hist[slots] == 0)).all(axis=0)


@dataclass(frozen=True)
class Own:
    """One group's own threshold at one target: the point, its FMR errors, how exact."""

    op: OperatingPoint
    errors: int = 0  # same-group impostor pairs at or above the threshold
    resolution: str = ""  # "exact", "bin" (read at a bin edge), "" (unsupported)
    below: float = np.nan  # bin resolution: the lowest threshold the exact one can be


def own_threshold(f: float, n: int, h: np.ndarray, kept: np.ndarray, kept_bin: np.ndarray,
                  whole: np.ndarray, binning: Binning, similarity: str,
                  dtype: type[np.floating]) -> Own:
    """A group's own threshold for target ``f`` (see the module docstring).

    ``h``: the group's same-group impostor histogram (n pairs); ``kept``/``kept_bin``: its
    kept same-group impostor scores and their bins; ``whole``: per bin, whether every
    same-group pair of the group in it was kept.
    """
    m = int(np.floor(f * n))
    if m < 1:  # the data cannot support the target: the global view's note
        return Own(target_point("target_fmr", kept, n, f, similarity, WHAT))
    above = np.cumsum(h[::-1])[::-1]  # pairs in bins >= b
    b = int(np.flatnonzero(above >= m + 1).max())  # the bin holding the (m+1)-th score
    k = int(above[b + 1]) if b + 1 < len(h) else 0  # pairs above that bin
    if whole[b]:  # exact: the pairs above stand in as +inf, the bin's own scores are kept
        inside = kept[kept_bin == b]
        if len(inside) != h[b]:
            raise RuntimeError("kept pairs differ from the histogram; counts are inconsistent")
        top = np.concatenate([np.full(k, np.inf, dtype=inside.dtype), inside])
        op = target_point("target_fmr", top, n, f, similarity, WHAT)
        hit = k + int((inside >= op.similarity).sum()) if op.supported else 0
        return Own(op, hit, "exact" if op.supported else "")
    t = lowest_score(binning, b + 1, dtype)
    low = lowest_score(binning, b, dtype)
    nat = sorted((to_native(low, similarity), to_native(t, similarity)))
    note = (f"bin resolution: the engine kept only a histogram in the bin holding this "
            f"group's threshold, so it is read at the bin's edge, where counts are exact; the "
            f"exact threshold lies in [{nat[0]:.6g}, {nat[1]:.6g}] (native) and FNMR there is "
            f"between group_fnmr_lower_bound and group_fnmr")
    return Own(OperatingPoint("target_fmr", f, t, to_native(t, similarity), True, note), k,
                "bin", low)


def _misses(view: View, vc: ViewCounts, counts: VerificationCounts, thr: np.ndarray
            ) -> np.ndarray:
    """Mated pairs per group scoring below that group's threshold (NaN: none)."""
    mg = view.mated_group[vc.in_group]
    with np.errstate(invalid="ignore"):
        miss = counts.mated_s[vc.in_group] < thr[mg]
    return np.bincount(mg[miss], minlength=view.n_groups)


def _rates(prefix: str, name: str, errors: np.ndarray, n: np.ndarray, ok: np.ndarray,
           s: Settings) -> dict[str, Any]:
    """:func:`~fairbench.metrics.rates.rate_columns` named ``<prefix>_<rate>...`` (``n_*``
    kept as is), empty where ``ok`` is False (no threshold to read the rate at)."""
    out: dict[str, Any] = {}
    for key, v in rate_columns(name, np.where(ok, errors, 0), n, s).items():
        if key == n_column(name):
            out[key] = v
            continue
        if v.dtype.kind == "f":
            col = np.where(ok, v, np.nan)
        else:  # counts and flags stay integer / boolean, with gaps
            col = pd.array(v, dtype="boolean" if v.dtype == bool else "Int64")
            col[~ok] = pd.NA
        out[f"{prefix}_{key}"] = col
    return out


def view_thresholds(view: View, vc: ViewCounts, counts: VerificationCounts,
                    points: Sequence[OperatingPoint], similarity: str, s: Settings,
                    label_source: str = "") -> pd.DataFrame:
    """One row per group and target-FMR point of ``points`` (the run's global ones).

    Columns: the group's own ``threshold_native``/``_similarity`` and how exact it is
    (``threshold_resolution``, ``threshold_bin_width``), ``group_fmr``/``group_fnmr`` there
    (rate columns, :mod:`fairbench.metrics.rates`, prefixed ``group_``), the same group's
    ``global_fmr``/``global_fnmr`` at the global threshold of that target (prefixed
    ``global_``), ``fnmr_change`` (own minus global), ``supported`` and ``note``. The own
    threshold always follows fairbench's rule; the global columns are read at ``points``
    as given (so under ``threshold_rule: bob`` they use bob's threshold).
    """
    G, binning = view.n_groups, counts.binning
    ga, gb = view.slot_groups(counts.n_strata)
    sel = np.flatnonzero(vc.k_same)
    kept_g, kept_s, kept_w = vc.kg_a[sel], counts.kept_s[sel], counts.weights(sel)
    kept_b = binning.index(kept_s)
    dtype = score_dtype(counts.kept_s)
    groups = []
    for g in range(G):
        slots = np.flatnonzero((ga == g) & (gb == g))
        h = counts.hist[slots].sum(axis=0)
        mine = kept_g == g
        groups.append((h, kept_s[mine], kept_b[mine], whole_bins(counts, slots, h)))
    rows = []
    for gp in points:
        if gp.kind != "target_fmr" or gp.target is None:
            continue
        f = float(gp.target)
        own = [own_threshold(f, int(vc.n_nonmated[g]), h, k, kb, w, binning, similarity,
                             dtype) for g, (h, k, kb, w) in enumerate(groups)]
        ok = np.array([o.op.supported for o in own], dtype=bool)
        coarse = np.array([o.resolution == "bin" for o in own], dtype=bool)
        thr = np.array([o.op.similarity if o.op.supported else np.nan for o in own])
        cols: dict[str, Any] = {
            "attribute": view.name, "group": view.groups, "label_source": label_source,
            "operating_point": gp.label, "target_fmr": f,
            "threshold_native": np.array([o.op.native if o.op.supported else np.nan
                                          for o in own]),
            "threshold_similarity": thr,
            "threshold_resolution": [o.resolution for o in own],
            "threshold_bin_width": np.where(
                ok, np.where(coarse, (binning.hi - binning.lo) / binning.bins, 0.0), np.nan),
        }
        cols |= _rates("group", "fmr", np.array([o.errors for o in own]), vc.n_nonmated, ok, s)
        cols |= _rates("group", "fnmr", _misses(view, vc, counts, thr), vc.n_mated, ok, s)
        below = np.where(coarse, [o.below for o in own], np.nan)
        cols["group_fnmr_lower_bound"] = np.where(
            coarse, rate(_misses(view, vc, counts, below), vc.n_mated), np.nan)
        t = float(gp.similarity) if gp.supported and gp.similarity is not None else np.nan
        glob = bool(np.isfinite(t))
        hit = kept_s >= t  # all False without a global threshold
        g_ok = np.full(G, glob)
        cols["global_threshold_native"] = gp.native if glob else np.nan
        cols["global_threshold_similarity"] = t
        cols |= _rates("global", "fmr", np.bincount(
            kept_g[hit], None if kept_w is None else kept_w[hit], G).astype(np.int64),
            vc.n_nonmated, g_ok, s)
        cols |= _rates("global", "fnmr", _misses(view, vc, counts, np.full(G, t)),
                       vc.n_mated, g_ok, s)
        cols["fnmr_change"] = cols["group_fnmr"] - cols["global_fnmr"]
        cols["supported"] = ok
        lost = "" if glob else f"global threshold {gp.note or 'not supported'}"
        cols["note"] = ["; ".join(x for x in (o.op.note, lost) if x) for o in own]
        rows.append(pd.DataFrame(cols))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def per_group_thresholds(
    plan: Plan, counts: VerificationCounts, acquired: np.ndarray | None, failed: np.ndarray,
    points: Sequence[OperatingPoint], s: Settings, attributes: Sequence[str],
    similarity: str, label_sources: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """``verification_per_group_thresholds``: :func:`view_thresholds` for every breakdown
    but ``all`` (whose own threshold is the global one), at the run's target-FMR points."""
    sources = label_sources or {}
    frames = []
    for view in make_views(plan, attributes, s.intersections, with_all=False):
        vc = ViewCounts(view, plan, counts, acquired, failed)
        src = " | ".join(sources.get(a, "unspecified") for a in view.attributes)
        frames.append(view_thresholds(view, vc, counts, points, similarity, s, src))
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
