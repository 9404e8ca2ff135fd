"""Views of the data: one attribute or an intersection, and each image's group in it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np

from fairbench.data.binning import UNKNOWN
from fairbench.plan import Plan, unpack_pairs

JOIN = "|"


@dataclass
class View:
    """A breakdown (``eth`` or ``eth|sex``): group names and codes per stratum and image."""

    name: str
    attributes: tuple[str, ...]
    groups: list[str]
    stratum_group: np.ndarray  # (S,) group code per stratum
    image_group: np.ndarray  # (N,) group code per image

    def is_known(self, g: int) -> bool:
        """False for groups with an unknown value in any attribute (kept out of summaries)."""
        return UNKNOWN not in self.groups[g].split(JOIN)


def make_views(plan: Plan, attributes: Sequence[str], intersections: bool = True) -> list[View]:
    """Every single attribute, then (if asked) every intersection of two or more."""
    sizes = range(1, len(attributes) + 1) if intersections else range(1, 2)
    out = []
    for k in sizes:
        for attrs in combinations(attributes, k):
            labels = plan.strata[list(attrs)].astype(str).agg(JOIN.join, axis=1).to_numpy()
            groups = sorted(set(labels))
            code = {g: i for i, g in enumerate(groups)}
            sg = np.array([code[x] for x in labels], dtype=np.int64)
            out.append(View(JOIN.join(attrs), attrs, groups, sg, sg[plan.stratum]))
    return out


def slot_groups(view: View, n_strata: int) -> tuple[np.ndarray, np.ndarray]:
    """Group codes (g_a, g_b) of every packed stratum-pair slot."""
    a, b = unpack_pairs(n_strata)
    return view.stratum_group[a], view.stratum_group[b]
