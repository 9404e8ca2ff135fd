"""1:N search plans: who is enrolled, which images are gallery, mated and non-mated probes.

A seeded share of subjects in every stratum (the full intersection of the attributes, taken
from each subject's first image) is left out of the gallery, so every group has non-mated
searches; their images are non-mated probes, and no image of theirs is in the gallery.
Each enrolled subject contributes ``per_subject`` gallery images (those matching
``select`` first, e.g. ``{expression: neutral}``, else manifest order); the rest of their
images are mated probes. The plan is saved as ``search_plan.csv`` so anyone can recompute
the results by brute force.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fairbench.plan import Plan

GALLERY, MATED, NONMATED = "gallery", "mated_probe", "nonmated_probe"


@dataclass
class SearchPlan:
    """Image roles (manifest order) and the enrolled subjects."""

    role: np.ndarray  # (N,) object: gallery | mated_probe | nonmated_probe | "" (unused)
    enrolled: np.ndarray  # (n_subjects,) bool

    def indices(self, role: str) -> np.ndarray:
        return np.flatnonzero(self.role == role)

    def frame(self, image_ids: list[str]) -> pd.DataFrame:
        """The ``search_plan.csv`` view: image_id, role."""
        keep = self.role != ""
        return pd.DataFrame({"image_id": np.asarray(image_ids)[keep], "role": self.role[keep]})


def make_search_plan(
    plan: Plan,
    frame: pd.DataFrame,
    nonmated_share: float,
    seed: int,
    per_subject: int = 1,
    select: Mapping[str, str] | None = None,
) -> SearchPlan:
    """Split subjects (stratified, seeded) and assign every image a role."""
    n_sub = len(plan.subjects)
    first = np.full(n_sub, plan.n_images, dtype=np.int64)
    np.minimum.at(first, plan.subject, np.arange(plan.n_images))
    sub_stratum = plan.stratum[first]
    rng = np.random.default_rng(seed)
    enrolled = np.ones(n_sub, dtype=bool)
    for s in np.unique(sub_stratum):
        members = np.flatnonzero(sub_stratum == s)
        n = len(members)
        if n < 2:
            continue  # a lone subject stays enrolled: it cannot be both
        k = int(np.clip(round(nonmated_share * n), 1, n - 1))
        enrolled[rng.permutation(members)[:k]] = False

    preferred = np.zeros(plan.n_images, dtype=bool)
    if select:
        preferred = np.ones(plan.n_images, dtype=bool)
        for col, val in select.items():
            preferred &= frame[col].astype(str).to_numpy() == str(val)
    role = np.full(plan.n_images, "", dtype=object)
    order = np.lexsort((np.arange(plan.n_images), ~preferred, plan.subject))
    taken = np.zeros(n_sub, dtype=np.int64)
    for i in order:
        a = plan.subject[i]
        if not enrolled[a]:
            role[i] = NONMATED
        elif taken[a] < per_subject:
            role[i] = GALLERY
            taken[a] += 1
        else:
            role[i] = MATED
    return SearchPlan(role, enrolled)


def subset_gallery(sp: SearchPlan, plan: Plan, keep_subjects: np.ndarray) -> np.ndarray:
    """Gallery image indices of the enrolled subjects in ``keep_subjects`` (bool mask)."""
    g = sp.indices(GALLERY)
    return g[keep_subjects[plan.subject[g]]]
