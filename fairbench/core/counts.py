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

    def complete_bin(self, slot: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Whether every impostor pair of ``slot`` in bin ``b`` is among the kept ones."""
        ok = np.asarray(b) >= self.kept_floor_bin
        if self.listed is not None:
            lo, hi = self.listed.window_lo[slot], self.listed.window_hi[slot]
            ok = ok | ((lo <= b) & (b <= hi))
        return ok

    @property
    def n_nonmated_total(self) -> int:
        return int(self.n_nonmated.sum())
