"""The one vocabulary of missing attribute values, used by validation and loading alike.

A value is missing when, stripped and lower-cased, it is one of :data:`MISSING` or of a
dataset card's own ``missing:`` list. Missing values become the group :data:`UNKNOWN`,
which is shown in tables but never chosen as a reference or counted in summary measures.

>>> [is_missing(v) for v in ("", "N/A", "None", "null", "Unknown", "white")]
[True, True, True, True, True, False]
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

UNKNOWN = "unknown"

#: Spellings of "no value", compared case-insensitively after stripping whitespace.
MISSING: frozenset[str] = frozenset({"", "na", "n/a", "nan", "none", "null", UNKNOWN})


def missing_set(extra: Iterable[str] = ()) -> frozenset[str]:
    """:data:`MISSING` plus a card's own spellings, normalised the same way."""
    return MISSING | {str(x).strip().lower() for x in extra}


def is_missing(value: object, extra: Iterable[str] = ()) -> bool:
    """Whether ``value`` means "no value" (None and float NaN included)."""
    if value is None or (isinstance(value, float) and value != value):
        return True
    return str(value).strip().lower() in missing_set(extra)


def as_labels(values: pd.Series, extra: Iterable[str] = ()) -> pd.Series:
    """Values as stripped strings, every missing spelling replaced by :data:`UNKNOWN`."""
    vocab = missing_set(extra)
    s = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    return s.where(~s.str.lower().isin(vocab), UNKNOWN)
