"""1:1 verification metrics per group: FMR, FNMR, FTA, their ISO/IEC 19795-1 twins,
ratios to a reference group, the cross-group matrix and summary measures.

Two conventions for failed templates, side by side:

- NIST (``fmr``, ``fnmr``): a failed template scores minus infinity, so its comparisons
  stay in both denominators; it can never falsely match and always falsely non-matches;
- ISO/IEC 19795-1 (``fmr_iso``, ``fnmr_iso``): rates over *completed* comparisons only
  (both templates exist), with the generalized rates ``gfmr = fmr_iso (1 - FTE)(1 - FTA)``
  and ``gfnmr = FTE + (1 - FTE) FTA + (1 - FTE)(1 - FTA) fnmr_iso``; in an all-pairs plan
  every image is both enrolment and probe, so FTE = FTA = the group's image FTA.

A comparison list's ISO rates count the comparisons that have a score and its subject
bootstrap weighs the impostor comparisons the list really holds; where the comparisons were
given as scores (no acquisition measured) the tables have no FTA or generalized columns.

Every rate has its counts, a 95 % interval (FMR and FNMR: the person-level interval of
:mod:`fairbench.metrics.ustat`, which holds when people differ, Clopper-Pearson's beside it
as ``_cp_low/high``; other rates: Clopper-Pearson), the rule-of-three bound at zero
errors, an imprecision flag and, for groups, a subject-level bootstrap interval whose
replicates are kept so that ratios and differences to any group can be read later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan, per_subject_counts
from fairbench.core.counts import VerificationCounts
from fairbench.core.operating import OperatingPoint
from fairbench.core.settings import Settings
from fairbench.metrics.blocks import in_background
from fairbench.metrics.bootstrap import (
    percentile_interval,
    verification_replicates,
    view_rng,
)
from fairbench.metrics.cross import cross_group
from fairbench.metrics.differences import adjust_p_values, view_tests, with_p_values
from fairbench.metrics.groups import ALL, View, make_views
from fairbench.metrics.intervals import rate
from fairbench.metrics.person_rates import fmr_interval, fnmr_interval
from fairbench.metrics.rates import rate_columns, replicate_key
from fairbench.metrics.reference import Reference, choose_reference, ratio_to
from fairbench.metrics.summary import summary_rows
from fairbench.metrics.ustat import METHOD as INTERVAL


@dataclass
class VerificationTables:
    """The 1:1 tables, and the bootstrap replicates behind their intervals.

    ``replicates`` maps :func:`~fairbench.metrics.rates.replicate_key` to an (R, G) array of
    replicate rates, columns in the order of that attribute's groups in ``by_group``.
    """

    by_group: pd.DataFrame
    cross_group: pd.DataFrame
    summary: pd.DataFrame
    replicates: dict[str, np.ndarray] = field(default_factory=dict)
    eer: pd.DataFrame | None = None  # equal error rates (comparison lists)
    coverage: pd.DataFrame | None = None  # what the data can show (all-pairs runs)
    #: threshold_policy: per_group, each group at its own threshold beside the global view
    per_group: pd.DataFrame | None = None
    #: the worst subgroup over intersections, with a p-value calibrated for the search
    worst_subgroup: pd.DataFrame | None = None

    def named(self) -> dict[str, pd.DataFrame]:
        """Every 1:1 table by its file name (``tables/<name>.csv``)."""
        out = {"verification_by_group": self.by_group, "fmr_cross_group": self.cross_group,
               "verification_summary": self.summary}
        if "fta_errors" in self.by_group:  # a comparison list measures no acquisition
            out["failure_to_acquire"] = fta_table(self.by_group)
        if self.eer is not None:
            out["eer_by_group"] = self.eer
        if self.coverage is not None:
            out["data_coverage"] = self.coverage
        if self.per_group is not None:
            out["thresholds_per_group"] = self.per_group
        if self.worst_subgroup is not None and len(self.worst_subgroup):
            out["worst_subgroup"] = self.worst_subgroup
        return out


def fta_table(by: pd.DataFrame) -> pd.DataFrame:
    """FTA columns of the per-group table at its first operating point (FTA has no
    threshold, so one point suffices)."""
    if by.empty or "fta_errors" not in by.columns:
        return pd.DataFrame()
    first = by[by["operating_point"] == by["operating_point"].iloc[0]]
    cols = [c for c in ("data", "consent", "attribute", "group", "label_source", "n_subjects")
            if c in by]
    cols += [c for c in by.columns if c.startswith("fta") or c == "n_images"]
    return first[cols].reset_index(drop=True)


def point_columns(op: OperatingPoint) -> dict[str, Any]:
    """The columns every 1:1 table row carries about its operating point."""
    return {"operating_point": op.label, "threshold_kind": op.kind, "target_fmr": op.target,
            "threshold_native": op.native, "threshold_similarity": op.similarity}


class ViewCounts:
    """Counts of one breakdown that do not depend on the threshold."""

    def __init__(self, view: View, plan: Plan, counts: VerificationCounts,
                 acquired: np.ndarray | None, failed: np.ndarray) -> None:
        G = view.n_groups
        nsub = plan.n_subjects
        ig, mg = view.image_group, view.mated_group
        ga, gb = view.slot_groups(plan.n_strata)
        same = ga == gb
        self.n_nonmated = np.bincount(ga[same], weights=counts.n_nonmated[same],
                                      minlength=G).astype(np.int64)
        self.in_group = mg >= 0
        self.n_mated = np.bincount(mg[self.in_group], minlength=G)
        self.n_images = np.bincount(ig, minlength=G)
        self.measured = acquired is not None  # None: comparisons given, capture unknown
        self.n_fta = np.bincount(ig[~acquired], minlength=G) if acquired is not None \
            else np.zeros(G, dtype=np.int64)
        self.n_img = per_subject_counts(plan.subject, ig, nsub, G)
        self.n_subjects = (self.n_img > 0).sum(axis=0)
        L = counts.listed
        self.listed = L is not None
        if L is None:  # all pairs: completed pairs follow from the templates that exist
            ok = ~failed
            a = per_subject_counts(plan.subject[ok], ig[ok], nsub, G)
            self.n_nonmated_completed = ((a.sum(axis=0) ** 2 - (a**2).sum(axis=0)) / 2
                                         ).astype(np.int64)
            self.completed = ok[plan.mated_i] & ok[plan.mated_j]
            self.den_pairs = None
        else:  # a list: each comparison says whether it was completed
            done = counts.n_nonmated - L.nonmated_failed
            self.n_nonmated_completed = np.bincount(ga[same], weights=done[same],
                                                    minlength=G).astype(np.int64)
            self.completed = np.isfinite(counts.mated_s)
            sg = ga[L.pair_slot] == gb[L.pair_slot]
            self.den_pairs = (L.pair_a[sg], L.pair_b[sg], ga[L.pair_slot][sg],
                              L.pair_count[sg])
        self.population = None if L is None or L.population is None else np.bincount(
            ga[same], weights=L.population[same], minlength=G).astype(np.int64)
        self.n_mated_completed = np.bincount(mg[self.in_group & self.completed], minlength=G)
        self.kg_a, self.kg_b = ig[counts.kept_i], ig[counts.kept_j]
        self.k_same = self.kg_a == self.kg_b
        self.subject_group = view.subject_group(plan)


def view_replicates(vc: ViewCounts, view: View, plan: Plan, counts: VerificationCounts,
                    points: Sequence[OperatingPoint], s: Settings
                    ) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """(FMR, FNMR) bootstrap replicates of one breakdown per operating point (None
    without replicates)."""
    if not s.replicates or not points:
        return [(None, None)] * len(points)
    m = vc.in_group
    return verification_replicates(  # type: ignore[return-value]
        vc.subject_group, vc.n_img, plan.subject[plan.mated_i[m]], view.mated_group[m],
        counts.mated_s[m], plan.subject, view.image_group, counts.kept_i, counts.kept_j,
        counts.kept_s, np.array([p.similarity for p in points]), s.replicates,
        view_rng(s.seed, view.name), den_pairs=vc.den_pairs, kept_w=counts.kept_w)


def _reference(view: View, vc: ViewCounts, counts: VerificationCounts,
               points: Sequence[OperatingPoint], s: Settings) -> Reference:
    if view.name == ALL:
        return Reference(None, "")
    loosest = min(points, key=lambda p: p.similarity) if points else None  # type: ignore
    if loosest is not None:
        hit = (counts.kept_s >= loosest.similarity) & vc.k_same
        fmr = rate(np.bincount(vc.kg_a[hit], counts.weights(hit), view.n_groups),
                   vc.n_nonmated)
    else:
        fmr = np.zeros(view.n_groups)
    return choose_reference(view, s.reference_group.get(view.name), vc.n_subjects,
                            (vc.n_nonmated, vc.n_mated), fmr, "FMR",
                            key=f"verification.reference_group.{view.name}")


def _rows(view: View, vc: ViewCounts, plan: Plan, counts: VerificationCounts,
          op: OperatingPoint, ref: Reference, s: Settings, label_source: str
          ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """The per-group rows at one operating point, and the FMR and FNMR point estimates."""
    G = view.n_groups
    hit = (counts.kept_s >= op.similarity) & vc.k_same
    fm_err = np.bincount(vc.kg_a[hit], counts.weights(hit), G).astype(np.int64)
    miss = vc.in_group & (counts.mated_s < op.similarity)
    fnm_err = np.bincount(view.mated_group[miss], minlength=G)
    fnm_err_iso = np.bincount(view.mated_group[miss & vc.completed], minlength=G)
    cols: dict[str, Any] = {"attribute": view.name, "group": view.groups,
                            "label_source": label_source, **point_columns(op)}
    fm_iv = fmr_interval(plan, counts, vc.n_img, hit, vc.kg_a, fm_err, vc.n_nonmated,
                         vc.den_pairs, s.confidence)
    fnm_iv = fnmr_interval(plan, view.mated_group, miss, fnm_err, vc.n_mated, s.confidence)
    cols |= rate_columns("fmr", fm_err, vc.n_nonmated, s, (*fm_iv, INTERVAL))
    cols |= rate_columns("fnmr", fnm_err, vc.n_mated, s, (*fnm_iv, INTERVAL))
    if vc.population is not None:  # a sampled list: the FMR estimates the population's
        cols["n_nonmated_population"] = vc.population
    cols |= {"n_subjects": vc.n_subjects, "n_images": vc.n_images}
    if vc.measured:  # comparisons given as scores say nothing about acquisition
        cols |= rate_columns("fta", vc.n_fta, vc.n_images, s)
    cols |= rate_columns("fmr_iso", fm_err, vc.n_nonmated_completed, s)
    cols |= rate_columns("fnmr_iso", fnm_err_iso, vc.n_mated_completed, s)
    if vc.measured and not vc.listed:
        fta = rate(vc.n_fta, vc.n_images)
        ok = (1 - fta) ** 2  # (1 - FTE)(1 - FTA), FTE = FTA in an all-pairs plan
        cols["gfmr"] = cols["fmr_iso"] * ok
        cols["gfnmr"] = (1 - ok) + ok * cols["fnmr_iso"]
    df = pd.DataFrame(cols)
    df["reference_group"] = ref.name(view)
    df["reference_rule"] = ref.rule
    fmr, fnmr = cols["fmr"], cols["fnmr"]
    for name, x in (("fmr", fmr), ("fnmr", fnmr)):
        if view.name == ALL:
            df[f"{name}_ratio"], df[f"{name}_ratio_note"] = np.nan, ""
        else:
            df[f"{name}_ratio"], df[f"{name}_ratio_note"] = ratio_to(x, ref.code)
    return df, fmr, fnmr


def _with_intervals(df: pd.DataFrame, reps: np.ndarray | None, name: str, ref: Reference,
                    s: Settings) -> None:
    """Bootstrap interval of each group's rate and of its ratio to the reference."""
    G = len(df)
    if reps is None:
        for c in ("boot_low", "boot_high", "ratio_ci_low", "ratio_ci_high"):
            df[f"{name}_{c}"] = np.nan
        return
    df[f"{name}_boot_low"], df[f"{name}_boot_high"] = percentile_interval(reps, s.confidence)
    rlo = rhi = np.full(G, np.nan)
    if ref.code is not None and not df[f"{name}_ratio_note"].iloc[0]:
        den = reps[:, [ref.code]]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(den > 0, reps / np.where(den > 0, den, 1), np.nan)
        rlo, rhi = percentile_interval(ratio, s.confidence)
        # a group without an error has ratio 0 in every replicate: [0, 0] would claim a
        # precision its zero errors do not have (its upper bound is what can be said)
        none = (df[f"{name}_errors"].to_numpy() == 0) & (np.arange(G) != ref.code)
        rlo, rhi = np.where(none, np.nan, rlo), np.where(none, np.nan, rhi)
    df[f"{name}_ratio_ci_low"], df[f"{name}_ratio_ci_high"] = rlo, rhi


def verification_tables(
    plan: Plan, counts: VerificationCounts, acquired: np.ndarray | None,
    points: Sequence[OperatingPoint], s: Settings, attributes: Sequence[str],
    label_sources: Mapping[str, str] | None = None, failed: np.ndarray | None = None,
) -> VerificationTables:
    """Per-group, cross-group and summary tables for every breakdown and operating point.

    ``failed`` marks images without a usable template (default: not ``acquired``);
    ``acquired`` None: capture was not measured (comparisons given as scores), no FTA.
    """
    usable = [p for p in points if p.supported and p.similarity is not None]
    if failed is None:
        failed = ~acquired if acquired is not None else np.zeros(plan.n_images, dtype=bool)
    views = make_views(plan, attributes, s.intersections)
    rows, cross, summ = [], [], []
    replicates: dict[str, np.ndarray] = {}
    sources = label_sources or {}
    for view in views:
        vc = ViewCounts(view, plan, counts, acquired, failed)
        ref = _reference(view, vc, counts, usable, s)
        src = " | ".join(sources.get(a, "unspecified") for a in view.attributes)
        known = view.known()
        # the replicates are drawn on other threads while this one builds the rows
        reps_job = in_background(view_replicates, vc, view, plan, counts, usable, s)
        tests = view_tests(view, plan, counts, usable, ref.code, vc.n_nonmated, vc.n_mated,
                           vc.in_group, s)
        built = [_rows(view, vc, plan, counts, op, ref, s, src) for op in usable]
        if view.name != ALL and len(view.attributes) <= 2:
            cross += [cross_group(view, plan.n_strata, counts, op, s, point_columns(op))
                      for op in usable]
        for op, (df, fmr, fnmr), (r_fm, r_fnm), test in zip(usable, built, reps_job.result(),
                                                            tests):
            _with_intervals(df, r_fm, "fmr", ref, s)
            _with_intervals(df, r_fnm, "fnmr", ref, s)
            with_p_values(df, test)
            rows.append(df)
            for name, reps in (("fmr", r_fm), ("fnmr", r_fnm)):
                if reps is not None:
                    replicates[replicate_key(name, view.name, op.label)] = reps.astype(
                        np.float32)
            if view.name == ALL:
                continue
            k = np.flatnonzero(known)
            base = {"attribute": view.name, **point_columns(op),
                    "groups_compared": "; ".join(view.groups[g] for g in k)}
            for r in summary_rows(
                    [view.groups[g] for g in k], fmr[k], fnmr[k],
                    None if r_fm is None else r_fm[:, k],
                    None if r_fnm is None else r_fnm[:, k], s.alpha, s.confidence):
                rate_name = str(r["measure"]).split("_")[0]
                r["p_value"] = getattr(test, f"{rate_name}_max_p", np.nan) \
                    if test is not None and r["measure"].endswith("max_difference") \
                    else np.nan
                summ.append({**base, **r})
    by = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    adjust_p_values(by)
    return VerificationTables(
        by,
        pd.concat(cross, ignore_index=True) if cross else pd.DataFrame(),
        pd.DataFrame(summ), replicates)


def mark(frames: Iterable[pd.DataFrame | None], simulated: bool = False,
         consent: str = "") -> None:
    """What every table of a run must say, as its first columns: ``data = SIMULATED`` for
    simulated data, ``consent = <warning>`` for data collected without consent."""
    for df in frames:
        if df is None or not len(df.columns):
            continue
        if consent and "consent" not in df.columns:
            df.insert(0, "consent", consent)
        if simulated and "data" not in df.columns:
            df.insert(0, "data", "SIMULATED")
