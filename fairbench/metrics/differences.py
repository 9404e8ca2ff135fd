"""Tests of differences in a run's tables: the subject-level permutation test of every
breakdown whose labels are one per person, at every operating point, and the adjustment
of its p-values for multiplicity (:mod:`fairbench.metrics.permutation` has the method)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan
from fairbench.core.counts import VerificationCounts
from fairbench.core.operating import OperatingPoint
from fairbench.core.settings import Settings
from fairbench.metrics.bootstrap import view_rng
from fairbench.metrics.groups import ALL, View
from fairbench.metrics.permutation import (
    PairErrors,
    PermutationResult,
    benjamini_hochberg,
    holm,
    permutation_test,
    relabellings,
)


def _one_per_person(values: np.ndarray, subject: np.ndarray) -> bool:
    """Every person's images carry the same value (missing ones included)."""
    v = pd.Series(np.asarray(values, dtype=np.float64))
    return bool((v.groupby(subject).nunique(dropna=False) <= 1).all())


def person_labels(view: View, plan: Plan) -> np.ndarray | None:
    """Each person's group for a permutation test (-1: unknown, kept out of relabelling),
    or None when the breakdown is not one label per person (a pair's mean age, labels that
    differ between one person's images): such groups cannot be dealt out to people."""
    for a in view.attributes:  # a pair's mean age is a person's age when theirs is one
        if a in plan.banded and not _one_per_person(plan.banded[a].values, plan.subject):
            return None
    sg = view.subject_group(plan)
    if not np.array_equal(sg[plan.subject], view.image_group):
        return None
    return np.where(view.known()[sg], sg, -1)


def view_tests(view: View, plan: Plan, counts: VerificationCounts,
               points: Sequence[OperatingPoint], ref_code: int | None, n_nonmated: np.ndarray,
               n_mated: np.ndarray, in_group: np.ndarray, s: Settings
               ) -> list[PermutationResult | None]:
    """Each operating point's subject-level permutation test of one breakdown (None where
    it has none: ``all``, labels not one per person, ``permutations: 0``)."""
    labels = person_labels(view, plan) if view.name != ALL and s.permutations else None
    if labels is None or not points:
        return [None] * len(points)
    rel = relabellings(labels, s.permutations, view_rng(s.seed, f"permutation:{view.name}"))
    known = view.known()
    return [permutation_test(labels, pair_errors(plan, counts, op.similarity, in_group),
                             view.n_groups, ref_code, known & (n_nonmated > 0),
                             known & (n_mated > 0), rel) for op in points]


def pair_errors(plan: Plan, counts: VerificationCounts, similarity: float,
                mated: np.ndarray | None = None) -> PairErrors:
    """What a relabelled rate is counted from at one threshold, by person: the impostor
    comparisons at or above it, every person's images (or the listed comparisons per
    pair of people), and each person's mated comparisons (those ``mated`` selects) and
    false non-matches."""
    nsub = plan.n_subjects
    m = np.ones(plan.n_mated, dtype=bool) if mated is None else mated
    msub = plan.subject[plan.mated_i[m]]
    hit = counts.kept_s >= similarity
    L = counts.listed
    return PairErrors(plan.subject[counts.kept_i[hit]], plan.subject[counts.kept_j[hit]],
                      np.bincount(plan.subject, minlength=nsub),
                      np.bincount(msub, minlength=nsub),
                      np.bincount(msub[counts.mated_s[m] < similarity], minlength=nsub),
                      *((L.pair_a, L.pair_b, L.pair_count) if L is not None else
                        (None, None, None)), err_w=counts.weights(hit))


def with_p_values(df: pd.DataFrame, res: PermutationResult | None) -> None:
    """A breakdown's rows get its tests' p-values and how they were obtained."""
    for name in ("fmr", "fnmr"):
        df[f"{name}_p"] = np.nan if res is None else getattr(res, f"{name}_p")
    df["p_relabellings"] = 0 if res is None else res.relabellings
    df["p_method"] = "" if res is None else res.method


def adjust_p_values(by: pd.DataFrame) -> None:
    """Holm and Benjamini-Hochberg adjusted p-values, one family per operating point:
    every group-versus-reference test of every breakdown, both rates, except the tests
    that cannot reject (a rate with no error in any group of the breakdown: every
    relabelling gives the same zero difference, p = 1), which would only inflate the
    others' adjustment (Tarone 1990); ``p_family`` is the family's size."""
    for name in ("fmr", "fnmr"):
        by[f"{name}_p_holm"] = np.nan
        by[f"{name}_p_bh"] = np.nan
    by["p_family"] = 0
    if "fmr_p" not in by or by.empty:
        return
    for _, idx in by.groupby("operating_point", sort=False).groups.items():
        part = by.loc[idx, ["attribute", "fmr_errors", "fnmr_errors", "fmr_p", "fnmr_p"]]
        p, live = [], []
        for name in ("fmr", "fnmr"):
            errors = part.groupby("attribute")[f"{name}_errors"].transform("sum")
            p.append(part[f"{name}_p"].to_numpy(float))
            live.append(errors.to_numpy() > 0)
        pp, alive = np.concatenate(p), np.concatenate(live)
        for method, fn in (("holm", holm), ("bh", benjamini_hochberg)):
            adj = np.where(alive, fn(np.where(alive, pp, np.nan)), pp)
            by.loc[idx, f"fmr_p_{method}"] = adj[:len(idx)]
            by.loc[idx, f"fnmr_p_{method}"] = adj[len(idx):]
        by.loc[idx, "p_family"] = int((alive & np.isfinite(pp)).sum())
