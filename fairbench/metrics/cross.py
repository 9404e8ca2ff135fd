"""Impostor FMR for every pair of groups of a breakdown (NIST's cross-group matrix).

In an all-pairs plan each image pair is compared once, so the matrix is symmetric; the
diagonal is the same-group FMR of the per-group table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fairbench.core.counts import VerificationCounts
from fairbench.core.operating import OperatingPoint
from fairbench.core.settings import Settings
from fairbench.metrics.groups import View
from fairbench.metrics.rates import rate_columns


def cross_group(view: View, n_strata: int, counts: VerificationCounts, op: OperatingPoint,
                s: Settings, point_cols: dict[str, object]) -> pd.DataFrame:
    """One row per ordered pair of groups with the FMR at ``op``."""
    G = view.n_groups
    ga, gb = view.slot_groups(n_strata)
    n = np.zeros((G, G))
    np.add.at(n, (ga, gb), counts.n_nonmated)
    n = n + n.T - np.diag(np.diag(n))
    hit = counts.kept_s >= op.similarity
    ig = view.image_group
    e = np.zeros((G, G))
    w = counts.weights(hit)
    np.add.at(e, (ig[counts.kept_i[hit]], ig[counts.kept_j[hit]]), 1.0 if w is None else w)
    e = e + e.T - np.diag(np.diag(e))
    a, b = (x.ravel() for x in np.meshgrid(np.arange(G), np.arange(G), indexing="ij"))
    df = pd.DataFrame({"attribute": view.name,
                       "group_a": np.asarray(view.groups, dtype=object)[a],
                       "group_b": np.asarray(view.groups, dtype=object)[b]})
    for k, v in point_cols.items():
        df[k] = v
    for k, v in rate_columns("fmr", e.ravel().astype(np.int64), n.ravel().astype(np.int64),
                             s).items():
        df[k] = v
    return df
