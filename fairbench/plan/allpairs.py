"""The all-pairs plan: every image pair once, split by subject into mated and non-mated.

Strata are the combinations of attribute values present; a pair-banded attribute (an age
band derived from a per-image age) also keeps each image's number, so a mated pair can be
binned by the mean of its two ages.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fairbench.core.codes import PairBanding, Plan, TooManyPairs, check_mated
from fairbench.errors import DataError


def mated_pairs(subject: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j), i < j, with the same subject code, sorted by (i, j); never N x N."""
    order = np.argsort(subject, kind="stable")
    s = subject[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]]) if len(s) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(s)]
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    for st, en in zip(starts, ends):
        if en - st < 2:
            continue
        idx = np.sort(order[st:en])
        ii, jj = np.triu_indices(len(idx), k=1)
        out_i.append(idx[ii])
        out_j.append(idx[jj])
    if not out_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    i = np.concatenate(out_i).astype(np.int64)
    j = np.concatenate(out_j).astype(np.int64)
    srt = np.lexsort((j, i))
    return i[srt], j[srt]


def make_plan(frame: pd.DataFrame, attributes: Sequence[str],
              banded: Mapping[str, tuple[str, Sequence[float]]] | None = None) -> Plan:
    """Codes for subjects and strata (all attribute combinations present), and mated pairs.

    ``banded`` maps a band attribute to (its numeric source column, band edges), e.g.
    ``{"age_band": ("age", [0, 5, 14, 21, 45, 70])}``.
    """
    plan = make_codes(frame, attributes, banded)
    try:
        check_mated(plan.subject, plan.subjects)  # before any pair is allocated
    except TooManyPairs as exc:
        raise DataError(str(exc)) from None
    plan.mated_i, plan.mated_j = mated_pairs(plan.subject)
    return plan


def make_codes(frame: pd.DataFrame, attributes: Sequence[str],
               banded: Mapping[str, tuple[str, Sequence[float]]] | None = None) -> Plan:
    """:func:`make_plan` without the mated pairs (a comparison list brings its own)."""
    subj_codes, subjects = pd.factorize(frame["subject_id"].astype(str), sort=True)
    attrs = list(attributes)
    keys = frame[attrs].astype(str) if attrs else pd.DataFrame(index=frame.index)
    if attrs:
        strata = keys.drop_duplicates().sort_values(attrs).reset_index(drop=True)
        lookup = {tuple(r): k for k, r in enumerate(strata.itertuples(index=False, name=None))}
        stratum = np.array([lookup[tuple(r)] for r in keys.itertuples(index=False, name=None)],
                           dtype=np.int64)
    else:
        strata = pd.DataFrame(index=range(1 if len(frame) else 0))
        stratum = np.zeros(len(frame), dtype=np.int64)
    subject = np.asarray(subj_codes, dtype=np.int64)
    empty = np.zeros(0, dtype=np.int64)
    bands = {}
    for name, (source, edges) in (banded or {}).items():
        if name in attrs and source in frame.columns:
            values = pd.to_numeric(frame[source], errors="coerce").to_numpy(dtype=float)
            bands[name] = PairBanding(values, tuple(float(e) for e in edges))
    return Plan(subject, stratum, strata, [str(s) for s in subjects], empty, empty.copy(),
                bands)
