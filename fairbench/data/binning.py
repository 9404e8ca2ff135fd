"""Demographic binning: numeric ages into labelled bands."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

UNKNOWN = "unknown"


def band_labels(edges: Sequence[float]) -> list[str]:
    """Labels for bands [e0, e1), ..., [e_last, inf), e.g. ``0-4, 5-13, ..., 70+``.

    Ages below the first edge get ``<e0``. Integer edges print as whole years.
    """

    def fmt(x: float) -> str:
        return str(int(x)) if float(x).is_integer() else f"{x:g}"

    labels = []
    for a, b in zip(edges, edges[1:]):
        hi = b - 1 if float(a).is_integer() and float(b).is_integer() else b
        labels.append(f"{fmt(a)}-{fmt(hi)}" if hi != b else f"{fmt(a)}-<{fmt(b)}")
    labels.append(f"{fmt(edges[-1])}+")
    return labels


def age_band(ages: pd.Series, edges: Sequence[float]) -> pd.Series:
    """Map ages to band labels; missing or non-numeric ages become ``unknown``."""
    labels = band_labels(edges)
    num = pd.to_numeric(ages, errors="coerce")
    out = []
    for v in num:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append(UNKNOWN)
        elif v < edges[0]:
            out.append(f"<{labels[0].split('-')[0]}")
        else:
            out.append(labels[int(np.searchsorted(edges, v, side="right")) - 1])
    return pd.Series(out, index=ages.index, dtype=object)
