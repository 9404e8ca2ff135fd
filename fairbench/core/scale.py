"""Score scales: fairbench's internal similarity (higher = more alike) and a native scale.

Distances are negated internally so one comparison rule (``s >= t`` is a match) serves every
matcher; tables report thresholds in the matcher's native scale too. A score kind is how a
matcher's native score reads: ``cosine`` and ``similarity`` (higher = more alike, kept as
is), ``euclidean`` and ``distance`` (lower = more alike, negated).

>>> to_native(-0.6, "euclidean"), from_native(0.6, "distance"), to_native(0.6, "similarity")
(0.6, -0.6, 0.6)
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Similarity = Literal["cosine", "euclidean"]  # what a template kernel computes
ScoreKind = Literal["cosine", "euclidean", "similarity", "distance"]  # any native score
KINDS: tuple[str, ...] = ("cosine", "euclidean")
NEGATED: frozenset[str] = frozenset({"euclidean", "distance"})


def to_native(similarity: float, kind: str) -> float:
    """Internal similarity -> native score (a distance is negated back)."""
    return float(-similarity) if kind in NEGATED else float(similarity)


def from_native(native: float, kind: str) -> float:
    """Native score -> internal similarity."""
    return float(-native) if kind in NEGATED else float(native)


def native_array(similarity: np.ndarray, kind: str) -> np.ndarray:
    """:func:`to_native` for an array of scores."""
    s = np.asarray(similarity, dtype=float)
    return -s if kind in NEGATED else s
