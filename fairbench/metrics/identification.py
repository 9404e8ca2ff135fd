"""1:N identification metrics per group: FPIR, FNIR, rank-R, and who the false candidates are.

Definitions (DESIGN.md section 3, NIST FRVT 1:N):
FPIR(N, t) = non-mated searches whose best candidate scores >= t / non-mated searches;
FNIR(N, R, t) = mated searches whose mate is not in the top R or scores < t / mated searches.
A probe's group is its own image's group. Candidates are gallery subjects: a subject with
several gallery images counts once, at its best score.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairbench.metrics.bootstrap import percentile_interval, subject_weights
from fairbench.metrics.groups import View
from fairbench.metrics.intervals import clopper_pearson, rate, rule_of_three
from fairbench.metrics.thresholds import smallest_threshold
from fairbench.plan import Plan


@dataclass
class SearchOutcomes:
    """What every search found (probe order as in ``probe``); saved as search.npz."""

    probe: np.ndarray  # (P,) image index of each probe
    mated: np.ndarray  # (P,) bool
    mate_rank: np.ndarray  # (P,) 1-based rank of the mate among candidates; 0 = not listed
    mate_score: np.ndarray  # (P,) float32, -inf when not listed
    nonmate_score: np.ndarray  # (P,) float32 best non-mated candidate score (-inf if none)
    nonmate_subject: np.ndarray  # (P,) subject code of that candidate (-1 if none)


def outcomes_from_topk(
    probe: np.ndarray,
    probe_subject: np.ndarray,
    mated: np.ndarray,
    scores: np.ndarray,
    gallery_index: np.ndarray,
    gallery_subject: np.ndarray,
    candidates: int,
) -> SearchOutcomes:
    """Collapse a top-k list over gallery images into ranked subjects for each probe.

    A mate counts as listed only within the first ``candidates`` subjects (the candidate
    list NIST's FNIR(N, R, t) reads, R <= candidates).
    """
    P, k = scores.shape
    mate_rank = np.zeros(P, dtype=np.int64)
    mate_score = np.full(P, -np.inf, dtype=np.float32)
    nm_score = np.full(P, -np.inf, dtype=np.float32)
    nm_subj = np.full(P, -1, dtype=np.int64)
    for p in range(P):
        seen: set[int] = set()
        for c in range(k):
            g = gallery_index[p, c]
            if g < 0 or not np.isfinite(scores[p, c]):
                break
            subj = int(gallery_subject[g])
            if subj in seen:
                continue
            seen.add(subj)
            if subj == probe_subject[p]:
                if mate_rank[p] == 0 and len(seen) <= candidates:
                    mate_rank[p], mate_score[p] = len(seen), scores[p, c]
            elif nm_subj[p] < 0:
                nm_score[p], nm_subj[p] = scores[p, c], subj
    return SearchOutcomes(probe, mated, mate_rank, mate_score, nm_score, nm_subj)


@dataclass(frozen=True)
class IdThreshold:
    """A 1:N operating point: for a global FPIR, for FPIR on a reference group, or fixed."""

    kind: str  # "target_fpir" | "reference_fpir" | "fixed"
    target_fpir: float | None
    reference_group: str | None
    similarity: float | None
    native: float | None
    supported: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def id_thresholds(
    out: SearchOutcomes,
    probe_group_of: np.ndarray,
    groups: list[str],
    targets: Sequence[float],
    reference: str | None,
    reference_fpir: float,
    fixed_native: Sequence[float],
    to_native: Any,
    from_native: Any,
) -> list[IdThreshold]:
    """Global-FPIR thresholds, NIST's reference-group threshold, then fixed ones."""
    nm = ~out.mated
    s = out.nonmate_score[nm]
    res = []
    for f in targets:
        t = smallest_threshold(s, len(s), f)
        res.append(IdThreshold("target_fpir", f, None, t, None if t is None else to_native(t),
                               t is not None, "" if t is not None else
                               f"not supported: needs at least {int(np.ceil(1 / f)):,} "
                               f"non-mated searches, has {len(s):,}"))
    if reference is not None:
        g = groups.index(reference) if reference in groups else -1
        sr = out.nonmate_score[nm & (probe_group_of == g)]
        t = smallest_threshold(sr, len(sr), reference_fpir)
        res.append(IdThreshold("reference_fpir", reference_fpir, reference, t,
                               None if t is None else to_native(t), t is not None,
                               "" if t is not None else
                               f"not supported: {reference!r} has {len(sr)} non-mated searches"))
    for v in fixed_native:
        t = float(np.float32(from_native(v)))
        res.append(IdThreshold("fixed", None, None, t, float(v), True))
    return res


def _cols(prefix: str, k: np.ndarray, n: np.ndarray, confidence: float, min_errors: int
          ) -> dict[str, np.ndarray]:
    lo, hi = clopper_pearson(k, n, confidence)
    return {prefix: rate(k, n), f"{prefix}_ci_low": lo, f"{prefix}_ci_high": hi,
            f"{prefix}_errors": k.astype(np.int64),
            f"{prefix}_upper_rule_of_3": np.where(k == 0, rule_of_three(n), np.nan),
            f"{prefix}_imprecise": k < min_errors}


def identification_tables(
    plan: Plan,
    out: SearchOutcomes,
    views: Sequence[View],
    thresholds: Sequence[IdThreshold],
    rank: int,
    gallery_size: int,
    settings: Mapping[str, Any],
    label_sources: Mapping[str, str] | None = None,
    subject_group_of_candidate: Mapping[str, np.ndarray] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-group FPIR/FNIR/rank table and the false-candidate cross table."""
    conf, min_err = settings["confidence"], settings["min_errors"]
    reps, seed = settings["replicates"], settings["seed"]
    rng = np.random.default_rng(seed)
    rows, cross = [], []
    probe_subj = plan.subject[out.probe]
    usable = [t for t in thresholds if t.supported and t.similarity is not None]
    for view in views:
        G = len(view.groups)
        pg = view.image_group[out.probe]
        n_nm = np.bincount(pg[~out.mated], minlength=G)
        n_m = np.bincount(pg[out.mated], minlength=G)
        listed = out.mated & (out.mate_rank >= 1)
        r1 = np.bincount(pg[listed & (out.mate_rank <= 1)], minlength=G)
        rR = np.bincount(pg[listed & (out.mate_rank <= rank)], minlength=G)
        nsub = len(plan.subjects)
        first = np.full(nsub, -1)
        first[probe_subj[::-1]] = pg[::-1]
        w = subject_weights(first, reps, rng) if reps else None
        for t in usable:
            fp = ~out.mated & (out.nonmate_score >= t.similarity)
            hit = listed & (out.mate_rank <= rank) & (out.mate_score >= t.similarity)
            fn = out.mated & ~hit
            df = pd.DataFrame({"attribute": view.name, "group": view.groups})
            df["label_source"] = " | ".join((label_sources or {}).get(a, "unspecified")
                                            for a in view.attributes)
            df["threshold_kind"] = t.kind
            df["target_fpir"] = t.target_fpir
            df["reference_group"] = t.reference_group or ""
            df["threshold_native"] = t.native
            df["threshold_similarity"] = t.similarity
            df["gallery_size"] = gallery_size
            for k, v in _cols("fpir", np.bincount(pg[fp], minlength=G), n_nm, conf,
                              min_err).items():
                df[k] = v
            df["n_nonmated_searches"] = n_nm
            for k, v in _cols("fnir", np.bincount(pg[fn], minlength=G), n_m, conf,
                              min_err).items():
                df[k] = v
            df["n_mated_searches"] = n_m
            df["rank"] = rank
            df["rank1"] = rate(r1, n_m)
            df[f"rank{rank}"] = rate(rR, n_m)
            df["n_subjects"] = [len(set(probe_subj[pg == g])) for g in range(G)]
            if w is not None:
                for name, err, base in (("fpir", fp, ~out.mated), ("fnir", fn, out.mated)):
                    e = np.zeros((nsub, G))
                    n = np.zeros((nsub, G))
                    np.add.at(e, (probe_subj[err], pg[err]), 1.0)
                    np.add.at(n, (probe_subj[base], pg[base]), 1.0)
                    den = w.astype(np.float64) @ n
                    with np.errstate(invalid="ignore", divide="ignore"):
                        r = np.where(den > 0, (w.astype(np.float64) @ e) / den, np.nan)
                    df[f"{name}_boot_low"], df[f"{name}_boot_high"] = percentile_interval(
                        r, conf)
            rows.append(df)
            if subject_group_of_candidate is not None:
                cg = subject_group_of_candidate[view.name]
                sel = fp & (out.nonmate_subject >= 0)
                cand = cg[out.nonmate_subject[sel]]
                m = np.zeros((G, G), dtype=np.int64)
                np.add.at(m, (pg[sel], cand), 1)
                a, b = np.meshgrid(np.arange(G), np.arange(G), indexing="ij")
                cross.append(pd.DataFrame({
                    "attribute": view.name, "threshold_kind": t.kind,
                    "threshold_native": t.native, "probe_group": np.asarray(view.groups)[a.ravel()],
                    "candidate_group": np.asarray(view.groups)[b.ravel()],
                    "false_candidates": m.ravel(),
                    "share_of_probe_group_false_positives": rate(
                        m.ravel(), np.repeat(m.sum(axis=1), G)),
                    "n_nonmated_searches": np.repeat(n_nm, G),
                }))
    by_group = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    return by_group, (pd.concat(cross, ignore_index=True) if cross else pd.DataFrame())
