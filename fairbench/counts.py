"""Exact 1:1 score counts, streamed from tiles: histograms plus the pairs that matter.

Pass 1 folds every tile into a histogram per unordered stratum pair (impostor pairs only:
mated pairs are read from the same tile and subtracted, so counts use the very same
float32 scores). From the pooled histogram we find the bins holding each threshold of
interest. Pass 2 keeps every impostor pair at or above the lowest such bin, so counts at
those thresholds, the exact target-FMR thresholds and the subject bootstrap all come from
the real scores, never from a bin approximation.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fairbench.errors import FairbenchError
from fairbench.kernels.numpy_blocked import Prepared, score_tile, tiles
from fairbench.plan import Plan, n_pair_slots, pair_index


@dataclass(frozen=True)
class Binning:
    """Uniform bins over [lo, hi); scores outside land in the first or last bin."""

    lo: float
    hi: float
    bins: int

    def index(self, s: np.ndarray) -> np.ndarray:
        x = (s.astype(np.float64) - self.lo) * (self.bins / (self.hi - self.lo))
        return np.clip(x, 0, self.bins - 1).astype(np.int64)

    def lower_edge(self, b: int) -> float:
        """Lowest score mapped to bin ``b`` (minus infinity for bin 0)."""
        return -np.inf if b == 0 else self.lo + b * (self.hi - self.lo) / self.bins


def binning_for(p: Prepared, bins: int) -> Binning:
    """Score range that holds every possible score of these templates."""
    if p.kind == "cosine":
        return Binning(-1.0, 1.0 + 1e-6, bins)
    ok = ~p.failed
    m = float(np.sqrt(p.sqnorm[ok].max())) if ok.any() else 1.0
    return Binning(-2.0 * m - 1e-6, 1e-6, bins)


@dataclass
class VerificationCounts:
    """Everything metrics need, for every unordered stratum pair; saved as counts.npz."""

    n_strata: int
    binning: Binning
    hist: np.ndarray  # (P, B) impostor score histogram per stratum pair
    n_nonmated: np.ndarray  # (P,) impostor pairs per stratum pair
    mated_i: np.ndarray
    mated_j: np.ndarray
    mated_s: np.ndarray  # float32 genuine scores (-inf for failed templates)
    kept_i: np.ndarray  # impostor pairs in bins >= kept_floor_bin
    kept_j: np.ndarray
    kept_s: np.ndarray
    kept_floor_bin: int  # every impostor pair in this bin or above is in kept_*

    def covers(self, t: float) -> bool:
        """True when every impostor pair scoring >= t is among the kept pairs."""
        return int(self.binning.index(np.array([t]))[0]) >= self.kept_floor_bin

    def pooled_hist(self) -> np.ndarray:
        return self.hist.sum(axis=0)


def _tile_pairs(n: int, block: int, mi: np.ndarray, mj: np.ndarray) -> tuple[np.ndarray, ...]:
    """Mated pairs sorted by the tile that holds them, for O(1) slicing per tile."""
    nt = (n + block - 1) // block
    tid = (mi // block) * nt + (mj // block)
    order = np.argsort(tid, kind="stable")
    return tid[order], mi[order], mj[order], np.int64(nt)


def count_verification(
    p: Prepared,
    plan: Plan,
    fixed_thresholds: Sequence[float],
    target_fmr: Sequence[float],
    bins: int = 4096,
    block: int = 2048,
    max_kept: int = 20_000_000,
) -> VerificationCounts:
    """Two streaming passes over upper-triangle tiles; see the module docstring."""
    n = plan.n_images
    S = plan.n_strata
    P = n_pair_slots(S)
    binning = binning_for(p, bins)
    pidx = pair_index(*np.meshgrid(np.arange(S), np.arange(S), indexing="ij"), S)
    tid, mi, mj, nt = _tile_pairs(n, block, plan.mated_i, plan.mated_j)
    st = plan.stratum

    hist = np.zeros(P * bins, dtype=np.int64)
    mated_s = np.empty(len(mi), dtype=np.float32)
    for r0, r1, c0, c1 in tiles(n, block):
        s = score_tile(p, r0, r1, c0, c1)
        key = pidx[st[r0:r1, None], st[None, c0:c1]] * bins + binning.index(s)
        if r0 == c0:
            key = key[np.triu_indices(r1 - r0, k=1)]
        hist += np.bincount(key.ravel(), minlength=P * bins)
        t = (r0 // block) * nt + (c0 // block)
        a, b = np.searchsorted(tid, [t, t + 1])
        if b > a:
            ms = s[mi[a:b] - r0, mj[a:b] - c0]
            mated_s[a:b] = ms
            mk = pidx[st[mi[a:b]], st[mj[a:b]]] * bins + binning.index(ms)
            hist -= np.bincount(mk, minlength=P * bins)
    hist = hist.reshape(P, bins)
    n_nonmated = hist.sum(axis=1)

    floor_bin = _floor_bin(hist.sum(axis=0), binning, fixed_thresholds, target_fmr)
    n_keep = int(hist[:, floor_bin:].sum())
    if n_keep > max_kept:
        raise FairbenchError(
            f"the lowest operating point needs {n_keep:,} impostor pairs kept in memory "
            f"(limit {max_kept:,}); drop the loosest fixed threshold or target FMR"
        )
    ki, kj, ks = _collect(p, plan, block, binning, floor_bin, tid, mi, mj, nt)
    if len(ks) != n_keep:  # the same float32 scores must fall in the same bins
        raise RuntimeError(f"pass 2 kept {len(ks)} pairs, histogram says {n_keep}")
    # restore plan order for mated pairs
    inv = np.lexsort((mj, mi))
    return VerificationCounts(
        S, binning, hist, n_nonmated, mi[inv], mj[inv], mated_s[inv], ki, kj, ks, floor_bin
    )


def _floor_bin(
    pooled: np.ndarray,
    binning: Binning,
    fixed: Sequence[float],
    targets: Sequence[float],
) -> int:
    """Lowest bin that must be kept exactly: the bins of fixed thresholds and targets."""
    need = [binning.bins - 1]
    for t in fixed:
        need.append(int(binning.index(np.array([t]))[0]))
    total = int(pooled.sum())
    above = np.cumsum(pooled[::-1])[::-1]  # above[b] = pairs in bins >= b
    for f in targets:
        m = int(np.floor(f * total))
        if m < 1 or total == 0:
            continue  # not supported by this much data; reported as such
        # the (m+1)-th highest score lives in the highest bin b with above[b] >= m+1
        cand = np.flatnonzero(above >= m + 1)
        if len(cand):
            need.append(int(cand.max()))
    return min(need)


def _collect(
    p: Prepared,
    plan: Plan,
    block: int,
    binning: Binning,
    floor_bin: int,
    tid: np.ndarray,
    mi: np.ndarray,
    mj: np.ndarray,
    nt: np.int64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 2: every impostor pair (i < j) whose score falls in a bin >= ``floor_bin``.

    Selecting by bin index (not by comparing to the bin edge) uses the very same
    arithmetic as pass 1, so the pairs kept are exactly those the histogram counted.
    """
    n = plan.n_images
    out_i, out_j, out_s = [], [], []
    for r0, r1, c0, c1 in tiles(n, block):
        s = score_tile(p, r0, r1, c0, c1)
        ii, jj = np.nonzero(binning.index(s) >= floor_bin)
        if r0 == c0:
            up = jj > ii
            ii, jj = ii[up], jj[up]
        if len(ii) == 0:
            continue
        gi, gj = ii + r0, jj + c0
        t = (r0 // block) * nt + (c0 // block)
        a, b = np.searchsorted(tid, [t, t + 1])
        if b > a:
            mated = np.isin(gi * n + gj, mi[a:b] * n + mj[a:b])
            keep = ~mated
            gi, gj, ii, jj = gi[keep], gj[keep], ii[keep], jj[keep]
        out_i.append(gi)
        out_j.append(gj)
        out_s.append(s[ii, jj])
    if not out_i:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), np.zeros(0, dtype=np.float32)
    return (
        np.concatenate(out_i).astype(np.int64),
        np.concatenate(out_j).astype(np.int64),
        np.concatenate(out_s).astype(np.float32),
    )
