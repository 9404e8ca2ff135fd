"""Score scales: fairbench's internal similarity (higher = more alike) and a native scale.

Distances are negated internally so one comparison rule (``s >= t`` is a match) serves every
matcher; tables report thresholds in the matcher's native scale too.

>>> to_native(-0.6, "euclidean"), from_native(0.6, "euclidean")
(0.6, -0.6)
"""

from __future__ import annotations

from typing import Literal

import numpy as np

Similarity = Literal["cosine", "euclidean"]
KINDS: tuple[str, ...] = ("cosine", "euclidean")


def to_native(similarity: float, kind: str) -> float:
    """Internal similarity -> native score (a euclidean distance is negated back)."""
    return float(-similarity) if kind == "euclidean" else float(similarity)


def from_native(native: float, kind: str) -> float:
    """Native score -> internal similarity."""
    return float(-native) if kind == "euclidean" else float(native)


def native_array(similarity: np.ndarray, kind: str) -> np.ndarray:
    """:func:`to_native` for an array of scores."""
    s = np.asarray(similarity, dtype=float)
    return -s if kind == "euclidean" else s
