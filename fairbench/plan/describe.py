"""``fairbench datasets describe``'s counts for a manifest frame, before anything is
embedded: the all-pairs plan of the frame, read by :func:`fairbench.metrics.coverage.coverage`
(the same table every all-pairs run writes as ``tables/data_coverage.csv``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pandas as pd

from fairbench.metrics.coverage import coverage
from fairbench.plan.allpairs import make_plan


def describe(frame: pd.DataFrame, attributes: Sequence[str],
             banded: Mapping[str, tuple[str, Sequence[float]]] | None = None,
             intersections: bool = True) -> pd.DataFrame:
    """One row per breakdown and group (see :mod:`fairbench.metrics.coverage`)."""
    return coverage(make_plan(frame, attributes, banded), attributes, intersections)
