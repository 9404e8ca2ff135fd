"""What a dataset can and cannot show: per breakdown and group, the people, images, mated
pairs and same-group impostor pairs of an all-pairs plan, and the smallest FMR and FNMR
each group can resolve.

With n comparisons and no error a rate can only be bounded by 3/n (the rule of three, the
95 % upper bound); a rate is flagged imprecise below 30 errors unless it is at least 30/n;
a group with fewer than 10 comparisons of a kind is "insufficient data" in every table.
``fairbench datasets describe`` prints it before anything runs; every 1:1 run over all
pairs writes it as ``tables/data_coverage.csv`` and its report shows it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan, per_subject_counts
from fairbench.core.settings import MIN_N
from fairbench.metrics.groups import make_views

PRECISE_ERRORS = 30


def coverage(plan: Plan, attributes: Sequence[str], intersections: bool = True
             ) -> pd.DataFrame:
    """One row per breakdown and group (see the module docstring)."""
    rows: list[dict[str, Any]] = []
    for view in make_views(plan, attributes, intersections):
        G = view.n_groups
        per = per_subject_counts(plan.subject, view.image_group, plan.n_subjects, G)
        n_img = per.sum(axis=0)
        nonmated = np.rint((n_img**2 - (per**2).sum(axis=0)) / 2).astype(np.int64)
        inside = view.mated_group >= 0
        mated = np.bincount(view.mated_group[inside], minlength=G)
        for g, name in enumerate(view.groups):
            m, n = int(mated[g]), int(nonmated[g])
            rows.append({
                "attribute": view.name, "group": name,
                "n_subjects": int((per[:, g] > 0).sum()), "n_images": int(n_img[g]),
                "n_mated_pairs": m, "n_nonmated_pairs": n,
                "min_resolvable_fmr": min(1.0, 3 / n) if n else np.nan,
                "min_resolvable_fnmr": min(1.0, 3 / m) if m else np.nan,
                # under 30 comparisons, 30 errors cannot happen: no such rate
                "fmr_for_30_errors": PRECISE_ERRORS / n if n >= PRECISE_ERRORS else np.nan,
                "fnmr_for_30_errors": PRECISE_ERRORS / m if m >= PRECISE_ERRORS else np.nan,
                "insufficient": n < MIN_N or m < MIN_N,
            })
    return pd.DataFrame(rows)
