"""Exact 1:1 counts from an explicit list of scored comparisons, streamed in chunks.

The list engine feeds the same :class:`~fairbench.core.counts.VerificationCounts` as the
all-pairs one, so every table, interval and report is computed the same way. Two passes
over the chunks, memory bounded by the histograms and what must be kept:

1. every row lands in its stratum pair's histogram (failed comparisons score minus
   infinity, bin 0); genuine rows are kept whole; impostor rows are merged by subject pair
   (for the subject bootstrap's denominators) and failed ones counted per stratum pair;
2. impostor rows at or above the floor bin of the strictest operating point, and those in
   the bins around each group's equal-error crossing (``windows``), are kept with their
   float64 scores, so thresholds, counts and equal error rates are exact.

The score range of the histograms comes from the first chunk; if more than 1 % of the rows
fall outside it, pass 1 runs again over the range seen (exactness never depends on the
range, only the memory kept does).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from fairbench.core.codes import n_pair_slots, pair_index
from fairbench.core.comparisons import ScoredChunk
from fairbench.core.counts import Binning, ListedDesign, VerificationCounts
from fairbench.engine.allpairs import floor_bin_for
from fairbench.errors import FairbenchError

Chunks = Callable[[], Iterable[ScoredChunk]]  # a fresh iterator over the list per call
Windows = Callable[["FirstPass"], tuple[np.ndarray, np.ndarray]]


@dataclass
class FirstPass:
    """What pass 1 learnt: histograms, genuine rows, impostor subject pairs, the range."""

    binning: Binning
    hist: np.ndarray  # (P, B) int64
    n_nonmated: np.ndarray  # (P,)
    nonmated_failed: np.ndarray  # (P,)
    mated_i: np.ndarray  # sorted by (i, j), stable: repeats keep their order in the list
    mated_j: np.ndarray
    mated_s: np.ndarray  # float64, -inf where failed
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # a, b, slot, count
    n_rows: int
    seen: tuple[float, float]  # lowest and highest finite score
    clipped: int  # finite rows outside the histogram range
    n_samples: int  # highest sample index seen, plus one
    n_scored: int = 0  # rows with a finite score
    repeated: int = 0  # rows comparing a pair of samples already compared (either order)
    repeats: list[tuple[int, int]] = field(default_factory=list)  # the first few


def _binning(scores: np.ndarray, bins: int) -> Binning:
    ok = scores[np.isfinite(scores)]
    lo, hi = (float(ok.min()), float(ok.max())) if len(ok) else (0.0, 1.0)
    pad = 0.05 * (hi - lo) if hi > lo else max(1.0, abs(hi))
    return Binning(lo - pad, hi + pad, bins)


class _PairMerger:
    """Impostor rows merged by (subject pair, slot) code, re-merged as chunks accumulate."""

    def __init__(self, n_subjects: int, P: int) -> None:
        if n_subjects and n_subjects * n_subjects * P >= 2**62:
            raise FairbenchError(f"{n_subjects:,} subjects x {P:,} stratum pairs are too many "
                                 "to merge impostor comparisons by subject pair")
        self.nsub, self.P = max(n_subjects, 1), P
        self.codes: list[np.ndarray] = []
        self.counts: list[np.ndarray] = []
        self.pending = 0
        self.merged = 0  # distinct codes after the last merge

    def add(self, sa: np.ndarray, sb: np.ndarray, slot: np.ndarray) -> None:
        lo, hi = np.minimum(sa, sb), np.maximum(sa, sb)
        code, cnt = np.unique((lo * self.nsub + hi) * self.P + slot, return_counts=True)
        self.codes.append(code)
        self.counts.append(cnt)
        self.pending += len(code)
        # merge when the unmerged part is as large as the merged one (and at least 8 M):
        # each code is re-sorted O(log n) times, memory stays within twice the distinct ones
        if self.pending - self.merged > max(8_000_000, self.merged) and len(self.codes) > 1:
            self._merge()

    def _merge(self) -> None:
        code = np.concatenate(self.codes)
        u, inv = np.unique(code, return_inverse=True)
        self.codes = [u]
        self.counts = [np.bincount(inv, weights=np.concatenate(self.counts)).astype(np.int64)]
        self.pending = self.merged = len(u)

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        if not self.codes:
            e = np.zeros(0, np.int64)
            return e, e.copy(), e.copy(), e.copy()
        self._merge()
        code, cnt = self.codes[0], self.counts[0]
        pair, slot = np.divmod(code, self.P)
        a, b = np.divmod(pair, self.nsub)
        return a, b, slot, cnt


class _RepeatFinder:
    """Pairs of samples compared more than once (either order), merged as chunks arrive."""

    BASE = 1 << 31

    def __init__(self) -> None:
        self.codes: list[np.ndarray] = []
        self.pending = self.merged = 0
        self.repeated = 0
        self.examples: list[tuple[int, int]] = []

    def add(self, i: np.ndarray, j: np.ndarray) -> None:
        code = np.minimum(i, j) * self.BASE + np.maximum(i, j)
        u, n = np.unique(code, return_counts=True)
        self._count(u[n > 1], n[n > 1] - 1)
        self.codes.append(u)
        self.pending += len(u)
        if self.pending - self.merged > max(8_000_000, self.merged) and len(self.codes) > 1:
            self._merge()

    def _count(self, codes: np.ndarray, extra: np.ndarray) -> None:
        self.repeated += int(extra.sum())
        for c in codes[: max(0, 5 - len(self.examples))].tolist():
            self.examples.append((c // self.BASE, c % self.BASE))

    def _merge(self) -> None:
        u, n = np.unique(np.concatenate(self.codes), return_counts=True)
        self._count(u[n > 1], n[n > 1] - 1)
        self.codes = [u]
        self.pending = self.merged = len(u)

    def result(self) -> tuple[int, list[tuple[int, int]]]:
        if len(self.codes) > 1:
            self._merge()
        return self.repeated, self.examples


def first_pass(chunks: Iterable[ScoredChunk], n_strata: int, n_subjects: int, bins: int,
               score_range: tuple[float, float] | None = None,
               find_repeats: bool = False) -> FirstPass:
    """Pass 1 (see the module docstring); ``find_repeats`` also counts rows comparing a
    pair of samples that an earlier row compared already (either way round)."""
    P = n_pair_slots(n_strata)
    binning = None if score_range is None else _binning(np.array(score_range), bins)
    hist = np.zeros(P * bins, dtype=np.int64)
    n_nm = np.zeros(P, dtype=np.int64)
    failed = np.zeros(P, dtype=np.int64)
    mi, mj, ms = [], [], []
    merger = _PairMerger(n_subjects, P)
    repeats = _RepeatFinder() if find_repeats else None
    n_rows = clipped = n_samples = n_scored = 0
    lo_seen, hi_seen = np.inf, -np.inf
    for c in chunks:
        if not len(c):
            continue
        s = np.asarray(c.score, dtype=np.float64)
        if binning is None:
            binning = _binning(s, bins)
        n_rows += len(c)
        n_samples = max(n_samples, int(c.probe.max()) + 1, int(c.reference.max()) + 1)
        fin = np.isfinite(s)
        n_scored += int(fin.sum())
        if fin.any():
            lo_seen, hi_seen = min(lo_seen, float(s[fin].min())), max(hi_seen,
                                                                        float(s[fin].max()))
            clipped += int(((s[fin] < binning.lo) | (s[fin] >= binning.hi)).sum())
        s = np.where(fin, s, -np.inf)
        m = c.mated
        mi.append(c.probe[m])
        mj.append(c.reference[m])
        ms.append(s[m])
        imp = ~m
        slot = pair_index(c.probe_stratum[imp], c.reference_stratum[imp], n_strata)
        b = binning.index(s[imp])
        hist += np.bincount(slot * bins + b, minlength=P * bins)
        n_nm += np.bincount(slot, minlength=P)
        failed += np.bincount(slot[~fin[imp]], minlength=P)
        merger.add(c.probe_subject[imp], c.reference_subject[imp], slot)
        if repeats is not None:
            repeats.add(c.probe, c.reference)
    if binning is None:
        binning = _binning(np.zeros(0), bins)
    i = np.concatenate(mi) if mi else np.zeros(0, np.int64)
    j = np.concatenate(mj) if mj else np.zeros(0, np.int64)
    gs = np.concatenate(ms) if ms else np.zeros(0)
    order = np.lexsort((j, i))
    seen = (lo_seen, hi_seen) if np.isfinite(lo_seen) else (0.0, 1.0)
    n_rep, examples = repeats.result() if repeats is not None else (0, [])
    return FirstPass(binning, hist.reshape(P, bins), n_nm, failed, i[order].astype(np.int64),
                     j[order].astype(np.int64), gs[order], merger.result(), n_rows, seen,
                     clipped, n_samples, n_scored, n_rep, examples)


def second_pass(chunks: Iterable[ScoredChunk], n_strata: int, binning: Binning,
                floor_bin: int, window_lo: np.ndarray, window_hi: np.ndarray,
                max_kept: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pass 2: the impostor rows at or above ``floor_bin`` or inside their slot's window."""
    ki, kj, ks = [], [], []
    n = 0
    for c in chunks:
        imp = ~c.mated
        s = np.asarray(c.score, dtype=np.float64)[imp]
        s = np.where(np.isfinite(s), s, -np.inf)
        slot = pair_index(c.probe_stratum[imp], c.reference_stratum[imp], n_strata)
        b = binning.index(s)
        keep = (b >= floor_bin) | ((window_lo[slot] <= b) & (b <= window_hi[slot]))
        n += int(keep.sum())
        if n > max_kept:
            raise FairbenchError(
                f"the operating points and equal-error windows need more than {max_kept:,} "
                "impostor comparisons kept in memory; drop the loosest target FMR or fixed "
                "threshold")
        ki.append(c.probe[imp][keep])
        kj.append(c.reference[imp][keep])
        ks.append(s[keep])
    e = np.zeros(0, np.int64)
    return (np.concatenate(ki) if ki else e, np.concatenate(kj) if kj else e.copy(),
            np.concatenate(ks) if ks else np.zeros(0))


def count_listed(chunks: Chunks, n_strata: int, n_subjects: int, fixed: Sequence[float],
                 targets: Sequence[float], bins: int = 4096,
                 windows: Windows | None = None, max_kept: int = 50_000_000,
                 max_hist_bytes: int = 2 << 30, find_repeats: bool = False
                 ) -> tuple[VerificationCounts, FirstPass]:
    """Counts of a comparison list (see the module docstring).

    ``windows`` maps pass 1's result to the bins (per stratum pair, inclusive) to keep whole
    below the floor (it is called between the passes and may refuse the list);
    ``fixed`` and ``targets`` are internal-similarity thresholds and target FMRs, which set
    the floor; ``find_repeats`` counts repeated pairs (:class:`FirstPass`).
    """
    P = n_pair_slots(n_strata)
    if P * bins * 8 * 2 > max_hist_bytes:
        raise FairbenchError(
            f"the score histograms would need {P * bins * 16 / 2**30:.1f} GiB ({n_strata:,} "
            f"attribute combinations, so {P:,} pairs of them, x {bins:,} bins); use fewer "
            "attributes or fewer histogram_bins")
    fp = first_pass(chunks(), n_strata, n_subjects, bins, find_repeats=find_repeats)
    if fp.clipped > 0.01 * max(fp.n_rows, 1):
        fp = first_pass(chunks(), n_strata, n_subjects, bins, fp.seen,
                        find_repeats=find_repeats)
    floor = floor_bin_for(fp.hist.sum(axis=0), fp.binning, fixed, targets)
    lo = np.full(P, 1, dtype=np.int64)
    hi = np.zeros(P, dtype=np.int64)
    if windows is not None:
        lo, hi = windows(fp)
    ki, kj, ks = second_pass(chunks(), n_strata, fp.binning, floor, lo, hi, max_kept)
    a, b, slot, cnt = fp.pairs
    design = ListedDesign(a, b, slot, cnt, fp.nonmated_failed, lo, hi, fp.n_rows)
    counts = VerificationCounts(n_strata, fp.binning, fp.hist, fp.n_nonmated, fp.mated_s,
                                ki, kj, ks, floor, design)
    return counts, fp
