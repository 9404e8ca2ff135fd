"""Numeric values into labelled bands: ages into ``0-4, 5-13, ..., 70+``.

Used per image (an image's age band) and per pair (NIST bins a pair by the mean of its two
ages), so both must label the same way.

>>> band_labels([0, 5, 14])
['0-4', '5-13', '14+']
>>> band_of(13.5, [0, 5, 14]), band_of(float("nan"), [0, 5, 14])
('5-13', 'unknown')
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fairbench.core.missing import UNKNOWN


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def band_labels(edges: Sequence[float]) -> list[str]:
    """Labels for bands [e0, e1), ..., [e_last, inf); integer edges print as whole years."""
    labels = []
    for a, b in zip(edges, edges[1:]):
        whole = float(a).is_integer() and float(b).is_integer()
        labels.append(f"{_fmt(a)}-{_fmt(b - 1)}" if whole else f"{_fmt(a)}-<{_fmt(b)}")
    labels.append(f"{_fmt(edges[-1])}+")
    return labels


def below_label(edges: Sequence[float]) -> str:
    """The label of values under the first edge."""
    return f"<{_fmt(edges[0])}"


def band_of(value: float, edges: Sequence[float]) -> str:
    """The band label of one value; NaN is :data:`UNKNOWN`.

    With integer edges the bands are whole years, so a value such as a pair's mean age of
    13.5 belongs to the band whose half-open range [e_k, e_k+1) holds it.
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return UNKNOWN
    if value < edges[0]:
        return below_label(edges)
    return band_labels(edges)[int(np.searchsorted(np.asarray(edges, float), value,
                                                  side="right")) - 1]


def bands_of(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """:func:`band_of` for an array (object array of labels)."""
    labels = np.array([*band_labels(edges), below_label(edges), UNKNOWN], dtype=object)
    v = np.asarray(values, dtype=float)
    k = np.searchsorted(np.asarray(edges, float), v, side="right") - 1
    k = np.where(v < edges[0], len(edges), k)
    k = np.where(np.isnan(v), len(edges) + 1, k)
    return labels[k]
