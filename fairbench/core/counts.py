"""What the 1:1 engine hands to metrics: exact score counts per stratum pair.

Impostor scores are kept as a histogram per unordered stratum pair plus every impostor pair
at or above a floor bin (so counts at every operating point are exact); genuine scores are
kept whole, aligned with the plan's mated pairs. Saved as ``counts.npz``.
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

    @property
    def n_nonmated_total(self) -> int:
        return int(self.n_nonmated.sum())
