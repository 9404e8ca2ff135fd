"""Operating thresholds: exact global thresholds for target rates, and fixed ones.

NIST reads every group at one global threshold. For a target rate f over n impostor pairs
(or non-mated searches), fairbench uses the smallest threshold t whose pooled rate at t is
<= f: with m = floor(f * n) and s_(m+1) the (m+1)-th highest score, t = the next
representable number above s_(m+1) (float32 for scores fairbench computes, float64 for
scores read from a file). Ties are thereby conservative: every pair tied with s_(m+1) is a
non-match at t. A target with f * n < 1 is not supported by the data.

``rule="bob"`` reproduces bob.measure's ``far_threshold``: the threshold is the impostor
score s_(m+1) itself (the ceil((1 - f) n - 1)-th of the ascending scores), so the pairs
tied with it match and the pooled rate can exceed f by their share; it is unsupported when
that score is also the highest one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from fairbench.core.counts import VerificationCounts
from fairbench.core.operating import OperatingPoint
from fairbench.core.scale import from_native, to_native

Rule = Literal["fairbench", "bob"]


def score_dtype(scores: np.ndarray) -> type[np.floating]:
    """float64 for scores kept at float64 (read from a file), else float32."""
    return np.float64 if np.asarray(scores).dtype == np.float64 else np.float32


class Ranked:
    """Scores in descending order, each standing for ``weights`` comparisons (None: one):
    ``at(k)`` is the (k+1)-th highest comparison's score."""

    def __init__(self, scores: np.ndarray, weights: np.ndarray | None = None) -> None:
        self.dtype = score_dtype(scores)
        s = np.asarray(scores, dtype=self.dtype)
        if weights is None:
            self.top, self.cum = np.sort(s)[::-1], None
            self.n = len(self.top)
        else:
            o = np.argsort(s, kind="stable")[::-1]
            self.top, self.cum = s[o], np.cumsum(np.asarray(weights, np.int64)[o])
            self.n = int(self.cum[-1]) if len(self.cum) else 0

    def at(self, k: int) -> float:
        if self.cum is None:
            return self.top[k]
        return self.top[int(np.searchsorted(self.cum, k + 1, side="left"))]


def smallest_threshold(top_scores: np.ndarray, n: int, f: float,
                       rule: Rule = "fairbench", weights: np.ndarray | None = None
                       ) -> float | None:
    """Smallest t with #{s >= t} / n <= f, given (at least) the highest scores (or, with
    ``rule="bob"``, bob.measure's threshold; see the module docstring).

    ``top_scores`` must hold every score from the (floor(f n) + 1)-th highest up, each
    standing for ``weights`` comparisons (None: one); None when f * n < 1 (the data cannot
    support the target).
    """
    m = int(np.floor(f * n))
    if n == 0 or m < 1:
        return None
    top = Ranked(top_scores, weights)
    if top.n < m + 1:
        raise RuntimeError("scores do not reach the target's rank; counts are inconsistent")
    if not np.isfinite(top.at(m)):  # the comparisons at the target's rank have no score
        return None
    if rule == "bob":  # bob's own index arithmetic, so rounding agrees with it too
        k = n - 1 - int(np.ceil((1.0 - f) * n - 1.0))
        if not 0 < k < top.n:
            return None
        return None if top.at(k) == top.at(0) else float(top.at(k))
    return float(np.nextafter(top.at(m), top.dtype(np.inf)))


def target_point(kind: str, scores: np.ndarray, n: int, f: float, similarity: str,
                 what: str, reference_group: str | None = None,
                 rule: Rule = "fairbench", weights: np.ndarray | None = None
                 ) -> OperatingPoint:
    """The global (or reference-group) threshold for target ``f``, or an unsupported point
    whose note says how much data it would need (``weights``: see
    :func:`smallest_threshold`)."""
    t = smallest_threshold(scores, n, f, rule, weights)
    m = int(np.floor(f * n))
    ranked = Ranked(scores, weights) if t is None and m >= 1 and n else None
    if ranked is not None and ranked.n > m and not np.isfinite(ranked.at(m)):
        return OperatingPoint(kind, f, None, None, False, "not supported: the comparisons at "
                              "the target's rank failed (no score)", reference_group)
    if t is None and rule == "bob" and m >= 1:
        return OperatingPoint(kind, f, None, None, False, "not supported: the impostor "
                              "score at the target's rank is the highest one (bob rule)",
                              reference_group)
    if t is None:
        need = int(np.ceil(1 / f))
        return OperatingPoint(kind, f, None, None, False,
                              f"not supported: needs at least {need:,} {what}, has {n:,}",
                              reference_group)
    return OperatingPoint(kind, f, t, to_native(t, similarity), True, "", reference_group)


def fixed_points(native: Sequence[float], similarity: str,
                 dtype: type[np.floating] = np.float32) -> list[OperatingPoint]:
    """Fixed thresholds from the config (native scale), as internal thresholds at the
    precision of the scores they are compared with."""
    return [OperatingPoint("fixed", None, float(dtype(from_native(v, similarity))),
                           float(v)) for v in native]


def verification_points(counts: VerificationCounts, targets: Sequence[float],
                        fixed_native: Sequence[float], similarity: str,
                        rule: Rule = "fairbench") -> list[OperatingPoint]:
    """Every threshold a 1:1 run reads: target-FMR ones (supported or not), then fixed."""
    n = counts.n_nonmated_total
    pts = [target_point("target_fmr", counts.kept_s, n, f, similarity, "impostor pairs",
                        rule=rule, weights=counts.kept_w) for f in targets]
    return pts + fixed_points(fixed_native, similarity, score_dtype(counts.kept_s))
