"""Operating thresholds: exact global thresholds for target FMRs, and fixed ones.

NIST reads every group at one global threshold. For a target FMR f over n impostor
pairs, fairbench uses the smallest float32 threshold t whose pooled FMR(t) <= f:
with m = floor(f * n) and s_(m+1) the (m+1)-th highest impostor score,
t = the next float32 above s_(m+1). Ties are thereby conservative: every pair tied with
s_(m+1) is a non-match at t. A target with f * n < 1 is not supported by the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fairbench.counts import VerificationCounts


@dataclass(frozen=True)
class Threshold:
    """One operating point, in internal similarity and the matcher's native scale."""

    kind: str  # "target_fmr" | "fixed"
    target_fmr: float | None
    similarity: float | None
    native: float | None
    supported: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def label(self) -> str:
        if self.kind == "target_fmr":
            return f"FMR={self.target_fmr:g}"
        return f"native={self.native:g}"


def smallest_threshold(top_scores: np.ndarray, n: int, f: float) -> float | None:
    """Smallest float32 t with #{s >= t} / n <= f, given (at least) the highest scores.

    ``top_scores`` must hold every score from the (floor(f n) + 1)-th highest up; None
    when f * n < 1 (the data cannot support the target).
    """
    m = int(np.floor(f * n))
    if n == 0 or m < 1:
        return None
    top = np.sort(np.asarray(top_scores, dtype=np.float32))[::-1]
    if len(top) < m + 1:
        raise RuntimeError("scores do not reach the target's rank; counts are inconsistent")
    return float(np.nextafter(top[m], np.float32(np.inf)))


def threshold_for_fmr(counts: VerificationCounts, f: float) -> float | None:
    """Smallest float32 t with pooled FMR(t) <= f, or None if f * n < 1."""
    return smallest_threshold(counts.kept_s, int(counts.n_nonmated.sum()), f)


def operating_points(
    counts: VerificationCounts,
    targets: Sequence[float],
    fixed_native: Sequence[float],
    to_native: Any,
    from_native: Any,
) -> list[Threshold]:
    """All thresholds a run reads: target-FMR ones (where supported), then fixed ones."""
    n = int(counts.n_nonmated.sum())
    out = []
    for f in targets:
        t = threshold_for_fmr(counts, f)
        if t is None:
            need = int(np.ceil(1 / f))
            out.append(
                Threshold("target_fmr", f, None, None, False,
                          f"not supported: needs at least {need:,} impostor pairs, has {n:,}")
            )
        else:
            out.append(Threshold("target_fmr", f, t, to_native(t), True))
    for v in fixed_native:
        t = float(np.float32(from_native(v)))
        out.append(Threshold("fixed", None, t, float(v), True))
    return out
