"""1:N identification metrics per group: FPIR, FNIR, rank-R, and who the false candidates are.

Definitions (NIST FRVT/FRTE 1:N):
FPIR(N, t) = non-mated searches whose best candidate scores >= t / non-mated searches;
FNIR(N, R, t) = mated searches whose mate is not in the top R or scores < t / mated searches.
A search's group is its probe image's group. Candidates are gallery subjects, ranked by
their best score; a mate that ties with a non-mate is ranked after it.

Failed templates, two conventions side by side: NIST's (``fpir``, ``fnir``) keeps every
search in the denominator (a failed probe finds nothing: never a false positive, always a
miss; a mate whose gallery image failed cannot be found), ISO/IEC 19795-1's (``fpir_iso``,
``fnir_iso``) counts only completed searches (a probe template, and for mated searches a
mate with a gallery template). The generalized rates of 1:N are NIST's: a transaction that
fails to acquire returns no candidate, counted in the denominator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan, first_per_subject
from fairbench.core.operating import OperatingPoint
from fairbench.core.search import SearchOutcomes
from fairbench.core.settings import Settings
from fairbench.metrics.bootstrap import (
    percentile_interval,
    search_replicates,
    subject_weights,
    view_rng,
)
from fairbench.metrics.groups import ALL, View
from fairbench.metrics.intervals import rate
from fairbench.metrics.rates import rate_columns, replicate_key
from fairbench.metrics.reference import Reference, choose_reference, ratio_to
from fairbench.metrics.thresholds import fixed_points, score_dtype, target_point


@dataclass
class IdentificationTables:
    """The 1:N per-group and false-candidate tables, and the bootstrap replicates."""

    by_group: pd.DataFrame
    false_candidates: pd.DataFrame
    replicates: dict[str, np.ndarray] = field(default_factory=dict)


def point_columns(op: OperatingPoint) -> dict[str, Any]:
    """The columns every 1:N table row carries about its operating point."""
    return {"operating_point": op.label, "threshold_kind": op.kind, "target_fpir": op.target,
            "threshold_reference": op.reference_group or "", "threshold_native": op.native,
            "threshold_similarity": op.similarity}


def global_points(out: SearchOutcomes, targets: Sequence[float], fixed_native: Sequence[float],
                  similarity: str) -> list[OperatingPoint]:
    """Thresholds for a global FPIR over all non-mated searches, then fixed ones."""
    s = out.nonmate_score[~out.mated]
    return [target_point("target_fpir", s, len(s), f, similarity, "non-mated searches")
            for f in targets] + fixed_points(fixed_native, similarity,
                                             score_dtype(out.nonmate_score))


def reference_point(out: SearchOutcomes, view: View, group: str | None, f: float,
                    similarity: str) -> OperatingPoint:
    """NIST's demographic threshold: FPIR = ``f`` on the reference group's searches."""
    name = f"{view.name}={group}"
    if group is None:
        return OperatingPoint("reference_fpir", f, None, None, False,
                              f"not supported: no reference group of {view.name}", name)
    pg = view.image_group[out.probe]
    sel = ~out.mated & (pg == view.groups.index(group))
    s = out.nonmate_score[sel]
    return target_point("reference_fpir", s, len(s), f, similarity,
                        f"non-mated searches by {group}", name)


class _Searches:
    """Per-breakdown counts of one set of searches that do not depend on the threshold."""

    def __init__(self, view: View, plan: Plan, out: SearchOutcomes) -> None:
        G = view.n_groups
        self.pg = view.image_group[out.probe]
        self.subj = plan.subject[out.probe]
        nm, m = ~out.mated, out.mated
        self.n_nm = np.bincount(self.pg[nm], minlength=G)
        self.n_m = np.bincount(self.pg[m], minlength=G)
        self.nm_done = nm & ~out.probe_failed
        self.m_done = m & ~out.probe_failed & out.mate_enrolled
        self.n_nm_done = np.bincount(self.pg[self.nm_done], minlength=G)
        self.n_m_done = np.bincount(self.pg[self.m_done], minlength=G)
        subjects = np.zeros((plan.n_subjects, G), dtype=bool)
        subjects[self.subj, self.pg] = True
        self.n_subjects = subjects.sum(axis=0)
        self.subject_group = first_per_subject(self.subj, self.pg, plan.n_subjects)


def _errors(out: SearchOutcomes, op: OperatingPoint, rank: int) -> tuple[np.ndarray,
                                                                           np.ndarray]:
    """(false positive, false negative) flag per search at ``op``."""
    fp = ~out.mated & (out.nonmate_score >= op.similarity)
    hit = (out.mate_rank >= 1) & (out.mate_rank <= rank) & (out.mate_score >= op.similarity)
    return fp, out.mated & ~hit


def choose_references(views: Sequence[View], plan: Plan, out: SearchOutcomes,
                      points: Sequence[OperatingPoint], rank: int, s: Settings
                      ) -> dict[str, Reference]:
    """The reference group of every breakdown (see :mod:`fairbench.metrics.reference`)."""
    usable = [p for p in points if p.supported and p.similarity is not None]
    loosest = min(usable, key=lambda p: p.similarity) if usable else None  # type: ignore
    refs = {}
    for view in views:
        if view.name == ALL:
            refs[view.name] = Reference(None, "")
            continue
        c = _Searches(view, plan, out)
        fpir = np.zeros(view.n_groups)
        if loosest is not None:
            fp, _ = _errors(out, loosest, rank)
            fpir = rate(np.bincount(c.pg[fp], minlength=view.n_groups), c.n_nm)
        refs[view.name] = choose_reference(
            view, s.reference_group.get(view.name), c.n_subjects, (c.n_nm, c.n_m), fpir,
            "FPIR", key=f"identification.reference_group.{view.name}")
    return refs


def _rows(view: View, c: _Searches, out: SearchOutcomes, op: OperatingPoint, rank: int,
          gallery_size: int, ref: Reference, s: Settings, label_source: str,
          w: np.ndarray | None) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    G = view.n_groups
    fp, fn = _errors(out, op, rank)
    listed = out.mated & (out.mate_rank >= 1)
    cols: dict[str, Any] = {"attribute": view.name, "group": view.groups,
                            "label_source": label_source, **point_columns(op),
                            "gallery_size": gallery_size}
    cols |= rate_columns("fpir", np.bincount(c.pg[fp], minlength=G), c.n_nm, s)
    cols |= rate_columns("fnir", np.bincount(c.pg[fn], minlength=G), c.n_m, s)
    cols["rank"] = rank
    cols["rank1"] = rate(np.bincount(c.pg[listed & (out.mate_rank <= 1)], minlength=G), c.n_m)
    cols[f"rank{rank}"] = rate(np.bincount(c.pg[listed & (out.mate_rank <= rank)],
                                           minlength=G), c.n_m)
    cols["n_subjects"] = c.n_subjects
    cols |= rate_columns("fpir_iso", np.bincount(c.pg[fp & c.nm_done], minlength=G),
                         c.n_nm_done, s)
    cols |= rate_columns("fnir_iso", np.bincount(c.pg[fn & c.m_done], minlength=G),
                         c.n_m_done, s)
    df = pd.DataFrame(cols)
    df["reference_group"] = ref.name(view)
    df["reference_rule"] = ref.rule
    reps: dict[str, np.ndarray] = {}
    for name, err, base in (("fpir", fp, ~out.mated), ("fnir", fn, out.mated)):
        x = cols[name]
        ratio, note = (np.full(G, np.nan), "") if view.name == ALL else ratio_to(x, ref.code)
        df[f"{name}_ratio"], df[f"{name}_ratio_note"] = ratio, note
        lo = hi = rlo = rhi = np.full(G, np.nan)
        if w is not None:
            r = search_replicates(w, c.subj, c.pg, err, base, G)
            reps[name] = r
            lo, hi = percentile_interval(r, s.confidence)
            if ref.code is not None and not note:
                den = r[:, [ref.code]]
                with np.errstate(invalid="ignore", divide="ignore"):
                    rr = np.where(den > 0, r / np.where(den > 0, den, 1), np.nan)
                rlo, rhi = percentile_interval(rr, s.confidence)
        df[f"{name}_boot_low"], df[f"{name}_boot_high"] = lo, hi
        df[f"{name}_ratio_ci_low"], df[f"{name}_ratio_ci_high"] = rlo, rhi
    return df, reps


def _false_candidates(view: View, c: _Searches, out: SearchOutcomes, op: OperatingPoint,
                      candidate_group: np.ndarray) -> pd.DataFrame:
    """Which group each false positive's top non-mated candidate belongs to."""
    G = view.n_groups
    fp, _ = _errors(out, op, 1)
    sel = fp & (out.nonmate_subject >= 0)
    m = np.zeros((G, G), dtype=np.int64)
    np.add.at(m, (c.pg[sel], candidate_group[out.nonmate_subject[sel]]), 1)
    a, b = (x.ravel() for x in np.meshgrid(np.arange(G), np.arange(G), indexing="ij"))
    names = np.asarray(view.groups, dtype=object)
    return pd.DataFrame({
        "attribute": view.name, "operating_point": op.label, "threshold_kind": op.kind,
        "threshold_native": op.native, "probe_group": names[a], "candidate_group": names[b],
        "false_candidates": m.ravel(),
        "share_of_probe_group_false_positives": rate(m.ravel(), np.repeat(m.sum(axis=1), G)),
        "n_nonmated_searches": np.repeat(c.n_nm, G)})


def identification_tables(
    plan: Plan, out: SearchOutcomes, views: Sequence[View], points: Sequence[OperatingPoint],
    rank: int, gallery_size: int, s: Settings, references: Mapping[str, Reference],
    label_sources: Mapping[str, str] | None = None,
    candidate_groups: Mapping[str, np.ndarray] | None = None,
) -> IdentificationTables:
    """Per-group FPIR/FNIR/rank table and (with ``candidate_groups``) the false-candidate
    table; ``candidate_groups[view]`` is each gallery subject's group code."""
    usable = [p for p in points if p.supported and p.similarity is not None]
    rows, cross = [], []
    replicates: dict[str, np.ndarray] = {}
    for view in views:
        c = _Searches(view, plan, out)
        w = subject_weights(c.subject_group, s.replicates, view_rng(s.seed, view.name)) \
            if s.replicates else None
        src = " | ".join((label_sources or {}).get(a, "unspecified") for a in view.attributes)
        for op in usable:
            df, reps = _rows(view, c, out, op, rank, gallery_size, references[view.name], s,
                             src, w)
            rows.append(df)
            for name, r in reps.items():
                replicates[replicate_key(name, view.name, op.label)] = r.astype(np.float32)
            if candidate_groups is not None and view.name != ALL:
                cross.append(_false_candidates(view, c, out, op, candidate_groups[view.name]))
    return IdentificationTables(
        pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(),
        pd.concat(cross, ignore_index=True) if cross else pd.DataFrame(), replicates)
