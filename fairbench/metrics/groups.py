"""Breakdowns: the whole set, one attribute, or an intersection, and each item's group.

The one way to form intersections (:func:`attribute_sets`, joined with ``|``), the one way to
put a mated pair in a group (:func:`View.mated_group`: both images in the group, except that
a pair-banded attribute such as an age band takes the band of the pair's mean value), and
the one subject-to-group lookup (:func:`fairbench.core.codes.first_per_subject`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd

from fairbench.core.bands import bands_of
from fairbench.core.codes import Plan, first_per_subject, unpack_pairs
from fairbench.core.missing import UNKNOWN

JOIN = "|"
ALL = "all"


def attribute_sets(attributes: Sequence[str], intersections: bool = True
                   ) -> list[tuple[str, ...]]:
    """Every single attribute, then (if asked) every intersection of two or more, in order."""
    sizes = range(1, len(attributes) + 1) if intersections else range(1, 2)
    return [c for k in sizes for c in combinations(attributes, k)]


def joined(frame: pd.DataFrame, attrs: Sequence[str]) -> pd.Series:
    """Each row's group in the breakdown ``attrs`` (values joined with ``|``)."""
    if len(attrs) == 1:
        return frame[attrs[0]].astype(str)
    return frame[list(attrs)].astype(str).agg(JOIN.join, axis=1)


@dataclass
class View:
    """A breakdown (``all``, ``eth`` or ``eth|sex``): group names and codes."""

    name: str
    attributes: tuple[str, ...]
    groups: list[str]
    stratum_group: np.ndarray  # (S,) group code per stratum
    image_group: np.ndarray  # (N,) group code per image
    mated_group: np.ndarray  # (M,) group code per mated pair, -1 when its images differ

    @property
    def n_groups(self) -> int:
        return len(self.groups)

    def is_known(self, g: int) -> bool:
        """False for groups with an unknown value in any attribute (kept out of summaries)."""
        return UNKNOWN not in self.groups[g].split(JOIN)

    def known(self) -> np.ndarray:
        return np.array([self.is_known(g) for g in range(self.n_groups)], dtype=bool)

    def slot_groups(self, n_strata: int) -> tuple[np.ndarray, np.ndarray]:
        """Group codes (g_a, g_b) of every packed stratum-pair slot."""
        a, b = unpack_pairs(n_strata)
        return self.stratum_group[a], self.stratum_group[b]

    def subject_group(self, plan: Plan) -> np.ndarray:
        """Each subject's group: that of its first image."""
        return first_per_subject(plan.subject, self.image_group, plan.n_subjects)


def everyone(plan: Plan) -> View:
    """The view with one group holding every image."""
    return View(ALL, (), [ALL], np.zeros(plan.n_strata, np.int64),
                np.zeros(plan.n_images, np.int64), np.zeros(plan.n_mated, np.int64))


def _mated_labels(plan: Plan, attrs: Sequence[str], stratum_labels: np.ndarray
                  ) -> np.ndarray:
    """Each mated pair's label ('' when its two images fall in different groups)."""
    i, j = plan.mated_i, plan.mated_j
    banded = [a for a in attrs if a in plan.banded]
    if not banded:
        li, lj = stratum_labels[plan.stratum[i]], stratum_labels[plan.stratum[j]]
        return np.where(li == lj, li, "")
    parts = []
    agree = np.ones(len(i), dtype=bool)
    for a in attrs:
        if a in plan.banded:
            b = plan.banded[a]
            parts.append(bands_of((b.values[i] + b.values[j]) / 2.0, b.edges))
        else:
            col = plan.strata[a].astype(str).to_numpy()
            vi, vj = col[plan.stratum[i]], col[plan.stratum[j]]
            agree &= vi == vj
            parts.append(vi)
    lab = np.array([JOIN.join(map(str, t)) for t in zip(*parts)], dtype=object) \
        if len(i) else np.zeros(0, dtype=object)
    return np.where(agree, lab, "")


def make_view(plan: Plan, attrs: Sequence[str]) -> View:
    """One breakdown of the plan's images and mated pairs."""
    labels = joined(plan.strata, attrs).to_numpy(dtype=object) if len(plan.strata) \
        else np.zeros(0, dtype=object)
    mlab = _mated_labels(plan, attrs, labels) if plan.n_mated else np.zeros(0, dtype=object)
    groups = sorted(set(labels) | {x for x in mlab if x})
    code = {g: k for k, g in enumerate(groups)}
    sg = np.array([code[x] for x in labels], dtype=np.int64)
    mg = np.array([code.get(x, -1) for x in mlab], dtype=np.int64)
    return View(JOIN.join(attrs), tuple(attrs), groups, sg, sg[plan.stratum], mg)


def make_views(plan: Plan, attributes: Sequence[str], intersections: bool = True,
               with_all: bool = True) -> list[View]:
    """The whole set (first, when ``with_all``), every attribute and every intersection."""
    views = [make_view(plan, a) for a in attribute_sets(attributes, intersections)]
    return [everyone(plan), *views] if with_all else views
