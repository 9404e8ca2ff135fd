"""Operating thresholds: exact global thresholds for target rates, and fixed ones.

NIST reads every group at one global threshold. For a target rate f over n impostor pairs
(or non-mated searches), fairbench uses the smallest float32 threshold t whose pooled rate
at t is <= f: with m = floor(f * n) and s_(m+1) the (m+1)-th highest score, t = the next
float32 above s_(m+1). Ties are thereby conservative: every pair tied with s_(m+1) is a
non-match at t. A target with f * n < 1 is not supported by the data.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fairbench.core.counts import VerificationCounts
from fairbench.core.operating import OperatingPoint
from fairbench.core.scale import from_native, to_native


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


def target_point(kind: str, scores: np.ndarray, n: int, f: float, similarity: str,
                 what: str, reference_group: str | None = None) -> OperatingPoint:
    """The global (or reference-group) threshold for target ``f``, or an unsupported point
    whose note says how much data it would need."""
    t = smallest_threshold(scores, n, f)
    if t is None:
        need = int(np.ceil(1 / f))
        return OperatingPoint(kind, f, None, None, False,
                              f"not supported: needs at least {need:,} {what}, has {n:,}",
                              reference_group)
    return OperatingPoint(kind, f, t, to_native(t, similarity), True, "", reference_group)


def fixed_points(native: Sequence[float], similarity: str) -> list[OperatingPoint]:
    """Fixed thresholds from the config (native scale), as float32 internal thresholds."""
    return [OperatingPoint("fixed", None, float(np.float32(from_native(v, similarity))),
                           float(v)) for v in native]


def verification_points(counts: VerificationCounts, targets: Sequence[float],
                        fixed_native: Sequence[float], similarity: str
                        ) -> list[OperatingPoint]:
    """Every threshold a 1:1 run reads: target-FMR ones (supported or not), then fixed."""
    n = counts.n_nonmated_total
    pts = [target_point("target_fmr", counts.kept_s, n, f, similarity, "impostor pairs")
           for f in targets]
    return pts + fixed_points(fixed_native, similarity)
