"""1:N search plans: who is enrolled, which images are gallery, mated and non-mated probes.

A seeded share of subjects in every stratum (the stratum of each subject's first image) is
left out of the gallery, so every group has non-mated searches; their images are non-mated
probes, and no image of theirs is in the gallery. Each enrolled subject contributes
``per_subject`` gallery images (those matching ``select`` first, e.g.
``{expression: neutral}``, else manifest order); the rest of their images are mated probes.
The plan is saved as ``search_plan.csv`` so anyone can recompute the results by brute force.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan, first_per_subject

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
    n_sub = plan.n_subjects
    sub_stratum = first_per_subject(plan.subject, plan.stratum, n_sub)
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


@dataclass(frozen=True)
class Sweep:
    """A gallery subset for the gallery-size and make-up sweeps."""

    name: str  # the outcome set's name in search.npz
    sweep: str  # gallery_size | makeup
    fraction: float  # share of enrolled subjects kept, or of the over-represented group
    over_represented: str  # "attribute=group" (makeup) or ""
    keep: np.ndarray  # (n_subjects,) bool: enrolled subjects kept in the gallery

    def label(self) -> dict[str, object]:
        return {"sweep": self.sweep, "fraction": self.fraction,
                "over_represented": self.over_represented, "set": self.name}


def sweep_subsets(plan: Plan, sp: SearchPlan, fractions: list[float], seed: int,
                  makeup: tuple[str, float] | None) -> list[Sweep]:
    """Galleries of a growing share of each stratum's enrolled subjects, then (with
    ``makeup = (attribute, share)``) galleries in which each group of the attribute makes
    up ``share`` of the enrolled subjects (or as close as the other groups allow)."""
    rng = np.random.default_rng(seed + 1)
    enrolled = np.flatnonzero(sp.enrolled)
    strat = first_per_subject(plan.subject, plan.stratum, plan.n_subjects)
    out = []
    for k, f in enumerate(fractions):
        keep = np.zeros(plan.n_subjects, bool)
        for s in np.unique(strat[enrolled]):
            members = enrolled[strat[enrolled] == s]
            keep[rng.permutation(members)[:max(1, int(np.ceil(f * len(members))))]] = True
        out.append(Sweep(f"size{k}", "gallery_size", float(f), "", keep))
    if makeup is None or makeup[0] not in plan.strata.columns:
        return out
    attr, share = makeup
    value = plan.strata[attr].astype(str).to_numpy()[strat]
    for k, name in enumerate(sorted(set(value[enrolled]))):
        own = enrolled[value[enrolled] == name]
        rest = enrolled[value[enrolled] != name]
        if len(own) == 0 or len(rest) == 0:
            continue
        m = min(len(rest), int(round(len(own) * (1 - share) / share)))
        keep = np.zeros(plan.n_subjects, bool)
        keep[own] = True
        keep[rng.permutation(rest)[:m]] = True
        out.append(Sweep(f"makeup{k}", "makeup", float(len(own) / keep.sum()),
                         f"{attr}={name}", keep))
    return out


def subset_roles(sp: SearchPlan, plan: Plan, keep: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(gallery, probes, mated) of a sweep: gallery images of kept subjects; mated probes
    only when their mate is still enrolled; every non-mated probe."""
    gal = sp.indices(GALLERY)
    gal = gal[keep[plan.subject[gal]]]
    mp = sp.indices(MATED)
    mp = mp[keep[plan.subject[mp]]]
    nmp = sp.indices(NONMATED)
    mated = np.r_[np.ones(len(mp), bool), np.zeros(len(nmp), bool)]
    return gal, np.r_[mp, nmp], mated
