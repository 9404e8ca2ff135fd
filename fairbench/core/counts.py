"""What the 1:1 engine hands to metrics: exact score counts per stratum pair.

Impostor scores are kept as a histogram per unordered stratum pair plus every impostor pair
at or above a floor bin (so counts at every operating point are exact); genuine scores are
kept whole, aligned with the plan's mated pairs. Saved as ``counts.npz``.

Two designs: *all pairs* of a set of templates (each image pair once; denominators follow
from per-subject image counts), and a *list* of scored comparisons (a score file, a
server's answers): then the list's own impostor counts per subject pair, its failed
comparisons per stratum pair and the bins kept whole around each group's equal-error point
travel with the counts, and scores keep the file's float64 precision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Binning:
    """Uniform bins over [lo, hi); scores outside land in the first or last bin."""

    lo: float
    hi: float
    bins: int

    def index(self, s: np.ndarray) -> np.ndarray:
        x = (np.asarray(s, dtype=np.float64) - self.lo) * (self.bins / (self.hi - self.lo))
        return np.clip(x, 0, self.bins - 1).astype(np.int64)

    def lower_edge(self, b: int) -> float:
        """Lowest score mapped to bin ``b`` (minus infinity for bin 0)."""
        return -np.inf if b == 0 else self.lo + b * (self.hi - self.lo) / self.bins


@dataclass
class ListedDesign:
    """What an explicit comparison list adds (see the module docstring).

    ``pair_*``: every impostor comparison, merged by (subject a <= subject b, stratum-pair
    slot) with its count, so a subject bootstrap can weigh denominators; ``nonmated_failed``
    (P,): impostor comparisons without a score; ``window_lo/hi`` (P,): bins kept whole
    below the floor (inclusive; lo > hi where none), so an equal error rate is exact.
    """

    pair_a: np.ndarray
    pair_b: np.ndarray
    pair_slot: np.ndarray
    pair_count: np.ndarray
    nonmated_failed: np.ndarray
    window_lo: np.ndarray
    window_hi: np.ndarray
    n_rows: int = 0  # comparisons read
    #: (P,) impostor pairs each stratum pair has in all, where the list is a sample of them
    population: np.ndarray | None = None


@dataclass
class VerificationCounts:
    """Everything 1:1 metrics need; genuine scores align with ``Plan.mated_i/j``."""

    n_strata: int
    binning: Binning
    hist: np.ndarray  # (P, B) int64 impostor score histogram per stratum pair
    n_nonmated: np.ndarray  # (P,) impostor pairs per stratum pair
    mated_s: np.ndarray  # (M,) float32 genuine scores (-inf for failed templates)
    kept_i: np.ndarray  # impostor pairs in bins >= kept_floor_bin (image indices, i < j)
    kept_j: np.ndarray
    kept_s: np.ndarray  # float32 (-inf for failed templates)
    kept_floor_bin: int  # every impostor pair in this bin or above is in kept_*
    listed: ListedDesign | None = None  # None: all pairs of a set of templates
    #: ``verification.tail: people``: (K,) uint32 impostor pairs each kept record stands
    #: for; None: every record is one pair (see :class:`PeopleTail`)
    kept_w: np.ndarray | None = None
    #: ``verification.tail: people``: (B,) bool, the bins >= the floor whose pairs are kept
    #: one by one with their exact scores; None: every bin >= the floor is
    kept_exact: np.ndarray | None = None

    def complete_bin(self, slot: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether every impostor pair of ``slot`` in bin ``b`` is among the kept ones,
        each with its exact score."""
        b = np.asarray(b)
        ok = b >= self.kept_floor_bin
        if self.kept_exact is not None:
            ok = ok & self.kept_exact[np.clip(b, 0, self.binning.bins - 1)]
        if self.listed is not None:
            lo, hi = self.listed.window_lo[slot], self.listed.window_hi[slot]
            ok = ok | ((lo <= b) & (b <= hi))
        return ok

    def exact_at(self, threshold: float) -> bool:
        """Whether the kept records count the impostor pairs at or above ``threshold``
        exactly: it lies in a bin kept whole, or, under ``verification.tail: people``, it
        is the lowest score of a level's first bin (where that level's records start)."""
        b = int(self.binning.index(np.array([threshold]))[0])
        if bool(self.complete_bin(np.zeros(1, np.int64), np.array([b]))[0]):
            return True
        if self.kept_exact is None or b < self.kept_floor_bin:
            return False
        first = b == self.kept_floor_bin or bool(self.kept_exact[b - 1])
        return first and float(np.float32(threshold)) == lowest_score(self.binning, b)

    @property
    def n_nonmated_total(self) -> int:
        return int(self.n_nonmated.sum())

    @property
    def tail(self) -> str:
        """How the impostor tail was held: "pairs" or "people" (``verification.tail``)."""
        return "pairs" if self.kept_exact is None else "people"

    def tail_summary(self) -> dict[str, int]:
        """For run.json's comparisons: the impostor pairs the kept records stand for, and
        the records themselves (what memory held)."""
        return {"kept_impostor_pairs": self.count(), "kept_records": len(self.kept_s)}

    def weights(self, sel: np.ndarray | slice = slice(None)) -> np.ndarray | None:
        """The pairs each selected kept record stands for (None: one each), to pass as
        ``weights=`` wherever kept records are counted."""
        return None if self.kept_w is None else self.kept_w[sel]

    def count(self, sel: np.ndarray | slice = slice(None)) -> int:
        """Impostor pairs behind the selected kept records."""
        if self.kept_w is None:
            return int(np.count_nonzero(sel)) if isinstance(sel, np.ndarray) and \
                sel.dtype == bool else len(self.kept_s[sel])
        return int(self.kept_w[sel].sum(dtype=np.int64))


@dataclass(frozen=True)
class PeopleTail:
    """How ``verification.tail: people`` keeps the impostor tail in memory.

    Pairs at or above the floor in an ``exact`` bin (the bins holding the run's
    thresholds) are kept one by one; every other one is added to a count keyed by (the
    first image of person a's stratum x, the first image of person b's stratum y, level),
    a level being a run of consecutive non-exact bins. A stratum is the finest cell of
    every attribute, so the two images stand for their pairs in every breakdown, and the
    record's score, the lowest score of its level's first bin, meets exactly the
    thresholds its pairs meet (every threshold lies in an exact bin). Memory is then the
    exact bins' pairs plus one record per pair of (person, stratum) with a tail event and
    level, however many images each person has.
    """

    exact: np.ndarray  # (B,) bool
    level: np.ndarray  # (B,) int32: level of each aggregated bin >= the floor, else -1
    level_score: np.ndarray  # (L,) float32: the score recorded for each level

    @classmethod
    def for_bins(cls, binning: Binning, exact_bins: np.ndarray, floor: int) -> PeopleTail:
        """Levels: the runs of non-exact bins in [floor, B)."""
        B = binning.bins
        exact = np.zeros(B, dtype=bool)
        exact[np.asarray(exact_bins, dtype=np.int64)] = True
        level = np.full(B, -1, dtype=np.int32)
        firsts: list[int] = []
        for b in range(floor, B):
            if exact[b]:
                continue
            if b == floor or exact[b - 1]:
                firsts.append(b)
            level[b] = len(firsts) - 1
        scores = np.array([lowest_score(binning, b) for b in firsts], dtype=np.float32)
        return cls(exact, level, scores)


def lowest_score(binning: Binning, b: int, dtype: type[np.floating] = np.float32) -> float:
    """The smallest ``dtype`` score ``binning`` puts in bin ``b`` or above (minus infinity
    for bin 0), so that #{s >= it} is exactly the count of bins >= ``b``."""
    if b <= 0:
        return float(-np.inf)
    x = dtype(binning.lower_edge(b))
    up, down = dtype(np.inf), dtype(-np.inf)
    while binning.index(np.array([x]))[0] < b:
        x = np.nextafter(x, up)
    while binning.index(np.array([np.nextafter(x, down)]))[0] >= b:
        x = np.nextafter(x, down)
    return float(x)
