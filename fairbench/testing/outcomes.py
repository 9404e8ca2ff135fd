"""Comparing what a matcher returned on two runs, image by image, within a tolerance.

Tolerance: two embeddings agree when ``||a - b|| <= TOLERANCE * max(||a||, ||b||)``.
float32 carries about 7 digits (eps 1.2e-7); summing the same d <= 4096 products in another
order (another batch size, thread count or BLAS kernel) moves a result by about
``sqrt(d) * eps``, a few 1e-6 at most. A 1e-5 relative change moves a cosine score by less
than 1e-5, far below any operating point's resolution, while the faults this catches (noise,
another image's embedding, state left from an earlier batch) are orders of magnitude larger.
Failures agree when they give the same reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fairbench.matchers.base import FaceResult

TOLERANCE = 1e-5


@dataclass(frozen=True)
class Outcome:
    """One result reduced to what is compared: a vector, or a failure reason."""

    vector: np.ndarray | None  # float64, flattened; NaN kept
    reason: str | None
    kind: str = "FaceResult"  # the type returned, when it is not a FaceResult

    @property
    def embedded(self) -> bool:
        return self.vector is not None and self.reason is None

    def describe(self) -> str:
        if self.kind != "FaceResult":
            return f"a {self.kind}, not a FaceResult"
        if self.embedded:
            return f"a {self.vector.size}-value embedding"  # type: ignore[union-attr]
        return f"failure {self.reason!r}"


def outcome(res: Any) -> Outcome:
    """Reduce one returned result; anything but a FaceResult is kept as its type name."""
    if not isinstance(res, FaceResult):
        return Outcome(None, None, type(res).__name__)
    if res.failure_reason is not None or res.embedding is None:
        return Outcome(None, res.failure_reason)
    try:
        vec = np.asarray(res.embedding)
        vec = vec.astype(np.complex128 if vec.dtype.kind == "c" else np.float64).reshape(-1)
    except (TypeError, ValueError):
        return Outcome(None, None, f"FaceResult with an embedding of {type(res.embedding)}")
    return Outcome(vec, None)


def distance(a: np.ndarray, b: np.ndarray) -> float:
    """Relative L2 difference; inf when shapes or NaN positions differ."""
    if a.shape != b.shape:
        return float("inf")
    na, nb = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb):
        return float("inf")
    a, b = a[~na], b[~nb]
    with np.errstate(over="ignore", invalid="ignore"):
        scale = max(float(np.linalg.norm(a)), float(np.linalg.norm(b)))
        diff = float(np.linalg.norm(a - b))
    if diff == 0.0:
        return 0.0
    return diff / scale if scale > 0 and np.isfinite(scale) else float("inf")


def agree(a: Outcome, b: Outcome) -> tuple[bool, float]:
    """Whether two outcomes agree, and the relative difference of their embeddings."""
    if a.kind != b.kind:
        return False, float("inf")
    if a.embedded and b.embedded:
        d = distance(a.vector, b.vector)  # type: ignore[arg-type]
        return d <= TOLERANCE, d
    if a.embedded or b.embedded:
        return False, float("inf")
    return a.reason == b.reason, 0.0


def compare(expected: Sequence[Outcome], got: Sequence[Outcome], labels: Sequence[str],
            what: str) -> tuple[list[str], float]:
    """Problems (one line per differing image) and the largest difference that agreed."""
    if len(expected) != len(got):
        return [f"{what} gave {len(got)} results for {len(expected)} images"], 0.0
    problems, worst = [], 0.0
    for k, (a, b) in enumerate(zip(expected, got)):
        ok, d = agree(a, b)
        if ok:
            worst = max(worst, d)
            continue
        if a.embedded and b.embedded:
            detail = (f"embeddings differ by {d:.2g} relative (tolerance {TOLERANCE:g})"
                      if np.isfinite(d) else "embeddings differ in shape or NaN positions")
        else:
            detail = f"{a.describe()} before, {b.describe()} {what}"
        problems.append(f"{labels[k]}: {detail}")
    return problems, worst


def agreement(worst: float) -> str:
    """How close results that agreed were."""
    return "bit-identical" if worst == 0.0 else \
        f"max relative difference {worst:.1g}, tolerance {TOLERANCE:g}"


def listed(problems: Sequence[str], limit: int = 2) -> str:
    """The first problems, and how many more."""
    more = f" (+{len(problems) - limit} more)" if len(problems) > limit else ""
    return "; ".join(problems[:limit]) + more
