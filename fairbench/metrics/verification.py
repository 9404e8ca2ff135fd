"""1:1 verification metrics per group: FMR, FNMR, FTA, cross-group FMR, ratios, summaries.

Every rate comes with its counts, a Clopper-Pearson interval, the rule-of-three bound when
it has no errors, an imprecision flag (fewer than ``min_errors`` errors) and, for groups,
a subject-level bootstrap interval; ratios and summary measures get bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fairbench.counts import VerificationCounts
from fairbench.metrics import summary as sm
from fairbench.metrics.bootstrap import (
    level_weight_sums,
    percentile_interval,
    subject_weights,
)
from fairbench.metrics.groups import View, slot_groups
from fairbench.metrics.intervals import clopper_pearson, rate, rule_of_three
from fairbench.metrics.thresholds import Threshold
from fairbench.plan import Plan


@dataclass
class Settings:
    """How rates are read: interval level, imprecision bar, references, bootstrap."""

    confidence: float = 0.95
    min_errors: int = 30
    reference_group: Mapping[str, str] = field(default_factory=dict)
    replicates: int = 1000
    seed: int = 0
    alpha: float = 0.5


@dataclass
class VerificationTables:
    by_group: pd.DataFrame
    cross_group: pd.DataFrame
    summary: pd.DataFrame


def _threshold_cols(t: Threshold) -> dict[str, Any]:
    return {
        "threshold_kind": t.kind,
        "target_fmr": t.target_fmr,
        "threshold_native": t.native,
        "threshold_similarity": t.similarity,
    }


def _rate_cols(prefix: str, k: np.ndarray, n: np.ndarray, s: Settings) -> dict[str, np.ndarray]:
    lo, hi = clopper_pearson(k, n, s.confidence)
    return {
        prefix: rate(k, n),
        f"{prefix}_ci_low": lo,
        f"{prefix}_ci_high": hi,
        f"{prefix}_errors": k.astype(np.int64),
        f"{prefix}_upper_rule_of_3": np.where(k == 0, rule_of_three(n), np.nan),
        f"{prefix}_imprecise": k < s.min_errors,
    }


def _reference(view: View, fmr: np.ndarray, n: np.ndarray, s: Settings) -> int | None:
    """Configured reference group, else the known group with the lowest FMR.

    Ties go to the group with more comparisons; groups without comparisons never qualify.
    """
    want = s.reference_group.get(view.name)
    if want is not None:
        return view.groups.index(want) if want in view.groups else None
    ok = [g for g in range(len(view.groups)) if view.is_known(g) and n[g] > 0]
    if not ok:
        return None
    return min(ok, key=lambda g: (fmr[g], -n[g], view.groups[g]))


def _ratio(x: np.ndarray, ref: int | None) -> tuple[np.ndarray, str]:
    """Rates over the reference group's rate; undefined (NaN) when that rate is 0."""
    if ref is None:
        return np.full(len(x), np.nan), "no reference group"
    if not x[ref] > 0:
        return np.full(len(x), np.nan), "reference rate is 0: ratio undefined"
    return x / x[ref], ""


class _ViewData:
    """Per-view counts that do not depend on the threshold."""

    def __init__(self, view: View, plan: Plan, counts: VerificationCounts, acquired: np.ndarray):
        G = len(view.groups)
        self.G = G
        ga, gb = slot_groups(view, plan.n_strata)
        self.slot_a, self.slot_b = ga, gb
        same = ga == gb
        self.n_nonmated = np.bincount(ga[same], weights=counts.n_nonmated[same], minlength=G)
        ig = view.image_group
        self.mg_i, self.mg_j = ig[counts.mated_i], ig[counts.mated_j]
        self.m_same = self.mg_i == self.mg_j
        self.n_mated = np.bincount(self.mg_i[self.m_same], minlength=G)
        self.n_images = np.bincount(ig, minlength=G)
        self.n_fta = np.bincount(ig[~acquired], minlength=G)
        pairs = np.unique(np.stack([plan.subject, ig]), axis=1)
        self.n_subjects = np.bincount(pairs[1], minlength=G)
        self.kg_a, self.kg_b = ig[counts.kept_i], ig[counts.kept_j]
        self.k_same = self.kg_a == self.kg_b
        # bootstrap ingredients
        nsub = len(plan.subjects)
        first = np.full(nsub, -1)
        first[plan.subject[::-1]] = ig[::-1]
        self.subject_group = first
        self.n_img = np.zeros((nsub, G))
        np.add.at(self.n_img, (plan.subject, ig), 1.0)
        self.m_subj = plan.subject[counts.mated_i]
        self.m_pairs = np.zeros((nsub, G))
        np.add.at(self.m_pairs, (self.m_subj[self.m_same], self.mg_i[self.m_same]), 1.0)


def verification_tables(
    plan: Plan,
    counts: VerificationCounts,
    acquired: np.ndarray,
    views: Sequence[View],
    thresholds: Sequence[Threshold],
    s: Settings,
    label_sources: Mapping[str, str] | None = None,
) -> VerificationTables:
    """Per-group, cross-group and summary tables for every view and operating point."""
    rows: list[pd.DataFrame] = []
    cross: list[pd.DataFrame] = []
    summ: list[dict[str, Any]] = []
    rng = np.random.default_rng(s.seed)
    usable = [t for t in thresholds if t.supported and t.similarity is not None]
    rows += [_overall_rows(plan, counts, acquired, usable, s)]
    for view in views:
        vd = _ViewData(view, plan, counts, acquired)
        reps = _bootstrap(vd, plan, counts, usable, s.replicates, rng)
        for t, (r_fm, r_fnm) in zip(usable, reps):
            df, sums, cr = _view_at(view, vd, counts, t, s, r_fm, r_fnm)
            src = _label_source(view, label_sources or {})
            df.insert(2, "label_source", src)
            rows.append(df)
            cross.append(cr)
            summ += sums
    return VerificationTables(
        pd.concat(rows, ignore_index=True),
        pd.concat(cross, ignore_index=True) if cross else pd.DataFrame(),
        pd.DataFrame(summ),
    )


def _label_source(view: View, sources: Mapping[str, str]) -> str:
    return " | ".join(sources.get(a, "unspecified") for a in view.attributes)


def _overall_rows(
    plan: Plan,
    counts: VerificationCounts,
    acquired: np.ndarray,
    thresholds: Sequence[Threshold],
    s: Settings,
) -> pd.DataFrame:
    out = []
    n_nm = np.array([counts.n_nonmated.sum()])
    n_m = np.array([len(counts.mated_s)])
    for t in thresholds:
        k_fm = np.array([(counts.kept_s >= t.similarity).sum()])
        k_fnm = np.array([(counts.mated_s < t.similarity).sum()])
        row: dict[str, Any] = {"attribute": "all", "group": "all", "label_source": ""}
        row |= _threshold_cols(t)
        row |= {k: v[0] for k, v in _rate_cols("fmr", k_fm, n_nm, s).items()}
        row["n_nonmated"] = int(n_nm[0])
        row |= {k: v[0] for k, v in _rate_cols("fnmr", k_fnm, n_m, s).items()}
        row["n_mated"] = int(n_m[0])
        row["n_subjects"] = len(plan.subjects)
        row["n_images"] = plan.n_images
        fta = np.array([(~acquired).sum()])
        row |= {k: v[0] for k, v in _rate_cols("fta", fta, np.array([plan.n_images]), s).items()}
        out.append(row)
    return pd.DataFrame(out)


def _bootstrap(
    vd: _ViewData,
    plan: Plan,
    counts: VerificationCounts,
    thresholds: Sequence[Threshold],
    replicates: int,
    rng: np.random.Generator,
    budget_bytes: int = 40_000_000,
) -> list[tuple[np.ndarray | None, np.ndarray | None]]:
    """(R, G) replicate FMR and FNMR per threshold, drawing subject weights in chunks.

    Chunks keep the weight matrix within ``budget_bytes`` whatever the number of people;
    one generator is consumed in order, so results depend only on the seed.
    """
    if not replicates:
        return [(None, None)] * len(thresholds)
    G, nsub, T = vd.G, len(plan.subjects), len(thresholds)
    ts = np.array([t.similarity for t in thresholds], dtype=np.float64)
    # one pass serves every threshold: a pair's level is how many thresholds it meets
    lowest = ts.min() if T else np.inf
    sel = (counts.kept_s >= lowest) & vd.k_same
    ks = counts.kept_s[sel]
    level = (ks[:, None] >= ts[None, :]).sum(axis=1) if T else np.zeros(0, np.int64)
    # subjects renumbered so each group's weights are one contiguous slice
    order = np.argsort(vd.subject_group, kind="stable")
    pos = np.empty(nsub, dtype=np.int64)
    pos[order] = np.arange(nsub)
    sa, sb = pos[plan.subject[counts.kept_i[sel]]], pos[plan.subject[counts.kept_j[sel]]]
    code = ((np.minimum(sa, sb) * nsub + np.maximum(sa, sb)) * G + vd.kg_a[sel]) * (T + 1)
    code, cnt = np.unique(code + level, return_counts=True)  # merge repeats: one 1-D sort
    keys = np.stack(np.unravel_index(code, (nsub, nsub, G, T + 1))).astype(np.int64)
    # small integer counts: float32 products and sums stay exact below 2**24
    n_img, m_pairs = vd.n_img[order].astype(np.float32), vd.m_pairs[order].astype(np.float32)
    m_errs = []
    for t in thresholds:
        miss = vd.m_same & (counts.mated_s < t.similarity)
        m_err = np.zeros(vd.m_pairs.shape, dtype=np.float32)
        np.add.at(m_err, (pos[vd.m_subj[miss]], vd.mg_i[miss]), 1.0)
        m_errs.append(m_err)
    # a pair meets t_k exactly when its level is at least #{thresholds <= t_k}
    meets = (ts[None, :] <= ts[:, None]).sum(axis=1)
    out = [(np.empty((replicates, G)), np.empty((replicates, G))) for _ in thresholds]
    chunk = max(1, min(replicates, budget_bytes // (8 * max(nsub, 1))))
    for r0 in range(0, replicates, chunk):
        rc = min(chunk, replicates - r0)
        w = subject_weights(vd.subject_group[order], rc, rng)
        tot = (w @ n_img).astype(np.float64)
        den = (tot**2 - ((w * w) @ (n_img * n_img)).astype(np.float64)) / 2.0
        mden = (w @ m_pairs).astype(np.float64)
        by_level = level_weight_sums(w, keys[0], keys[1], keys[2], keys[3],
                                     cnt.astype(np.float64), G, T + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for k, (fm, fnm) in enumerate(out):
                num = by_level[:, :, meets[k]:].sum(axis=2)
                fm[r0 : r0 + rc] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
                merr = (w @ m_errs[k]).astype(np.float64)
                fnm[r0 : r0 + rc] = np.where(mden > 0, merr / np.where(mden > 0, mden, 1), np.nan)
    return out  # type: ignore[return-value]


def _view_at(
    view: View,
    vd: _ViewData,
    counts: VerificationCounts,
    t: Threshold,
    s: Settings,
    reps_fm: np.ndarray | None,
    reps_fnm: np.ndarray | None,
) -> tuple[pd.DataFrame, list[dict[str, Any]], pd.DataFrame]:
    G = vd.G
    thr = float(t.similarity)  # type: ignore[arg-type]
    hit = counts.kept_s >= thr
    sel = hit & vd.k_same
    fm_err = np.bincount(vd.kg_a[sel], minlength=G)
    miss = counts.mated_s < thr
    fnm_err = np.bincount(vd.mg_i[vd.m_same & miss], minlength=G)
    fmr = rate(fm_err, vd.n_nonmated)
    fnmr = rate(fnm_err, vd.n_mated)

    df = pd.DataFrame({"attribute": view.name, "group": view.groups})
    for k, v in _threshold_cols(t).items():
        df[k] = v
    for k, v in _rate_cols("fmr", fm_err, vd.n_nonmated, s).items():
        df[k] = v
    df["n_nonmated"] = vd.n_nonmated.astype(np.int64)
    for k, v in _rate_cols("fnmr", fnm_err, vd.n_mated, s).items():
        df[k] = v
    df["n_mated"] = vd.n_mated
    df["n_subjects"] = vd.n_subjects
    df["n_images"] = vd.n_images
    for k, v in _rate_cols("fta", vd.n_fta, vd.n_images, s).items():
        df[k] = v

    known = np.array([view.is_known(g) for g in range(G)])
    ref = _reference(view, fmr, vd.n_nonmated, s)
    df["reference_group"] = view.groups[ref] if ref is not None else ""
    df["fmr_ratio"], df["fmr_ratio_note"] = _ratio(fmr, ref)
    df["fnmr_ratio"], df["fnmr_ratio_note"] = _ratio(fnmr, ref)

    if reps_fm is not None and reps_fnm is not None:
        for name, reps in (("fmr", reps_fm), ("fnmr", reps_fnm)):
            lo, hi = percentile_interval(reps, s.confidence)
            df[f"{name}_boot_low"], df[f"{name}_boot_high"] = lo, hi
            if ref is not None and not df[f"{name}_ratio_note"].iloc[0]:
                with np.errstate(invalid="ignore", divide="ignore"):
                    den = reps[:, [ref]]
                    ratio = np.where(den > 0, reps / np.where(den > 0, den, 1), np.nan)
                    rlo, rhi = percentile_interval(ratio, s.confidence)
            else:
                rlo = rhi = np.full(G, np.nan)
            df[f"{name}_ratio_ci_low"], df[f"{name}_ratio_ci_high"] = rlo, rhi

    summaries = _summaries(view, t, fmr, fnmr, known, reps_fm, reps_fnm, s)
    return df, summaries, _cross(view, vd, counts, hit, t, s)


def _interval(reps: np.ndarray | None, fn: Any, s: Settings) -> tuple[float, float]:
    if reps is None:
        return (np.nan, np.nan)
    lo, hi = percentile_interval(fn(reps)[:, None], s.confidence)
    return float(lo[0]), float(hi[0])


def _summaries(
    view: View,
    t: Threshold,
    fmr: np.ndarray,
    fnmr: np.ndarray,
    known: np.ndarray,
    reps_fm: np.ndarray | None,
    reps_fnm: np.ndarray | None,
    s: Settings,
) -> list[dict[str, Any]]:
    """Max/GeoMean per rate, worst/best, FDR and GARBE over the known groups."""
    k = np.flatnonzero(known)
    groups = [view.groups[g] for g in k]
    base = {"attribute": view.name, **_threshold_cols(t), "groups_compared": "; ".join(groups)}
    rf = reps_fm[:, k] if reps_fm is not None else None
    rn = reps_fnm[:, k] if reps_fnm is not None else None
    out = []
    for name, x, reps in (("fmr", fmr[k], rf), ("fnmr", fnmr[k], rn)):
        ok = np.isfinite(x)
        worst = groups[int(np.nanargmax(x))] if ok.any() else ""
        best = groups[int(np.nanargmin(x))] if ok.any() else ""
        lo, hi = _interval(reps, sm.max_geomean, s)
        out.append({**base, "measure": f"{name}_max_geomean", "value": float(sm.max_geomean(x)),
                    "ci_low": lo, "ci_high": hi, "worst_group": worst, "best_group": best})
        lo, hi = _interval(reps, sm.max_abs_diff, s)
        out.append({**base, "measure": f"{name}_max_difference",
                    "value": float(sm.max_abs_diff(x)) if ok.any() else np.nan,
                    "ci_low": lo, "ci_high": hi, "worst_group": worst, "best_group": best})
    a = s.alpha
    both = None if rf is None or rn is None else (rf, rn)
    for name, fn in (("fdr", sm.fdr), ("garbe", sm.garbe)):
        val = float(fn(fmr[k], fnmr[k], a))
        if both is not None:
            lo, hi = percentile_interval(fn(both[0], both[1], a)[:, None], s.confidence)
            lo, hi = float(lo[0]), float(hi[0])
        else:
            lo = hi = np.nan
        out.append({**base, "measure": name, "value": val, "ci_low": lo, "ci_high": hi,
                    "worst_group": "", "best_group": "", "alpha": a})
    return out


def _cross(
    view: View,
    vd: _ViewData,
    counts: VerificationCounts,
    hit: np.ndarray,
    t: Threshold,
    s: Settings,
) -> pd.DataFrame:
    """Impostor FMR for every pair of groups (symmetric in an all-vs-all plan)."""
    G = vd.G
    n = np.zeros((G, G))
    np.add.at(n, (vd.slot_a, vd.slot_b), counts.n_nonmated)
    n = n + n.T - np.diag(np.diag(n))
    e = np.zeros((G, G))
    np.add.at(e, (vd.kg_a[hit], vd.kg_b[hit]), 1.0)
    e = e + e.T - np.diag(np.diag(e))
    ga, gb = np.meshgrid(np.arange(G), np.arange(G), indexing="ij")
    ga, gb = ga.ravel(), gb.ravel()
    lo, hi = clopper_pearson(e.ravel(), n.ravel(), s.confidence)
    df = pd.DataFrame({
        "attribute": view.name,
        "group_a": [view.groups[g] for g in ga],
        "group_b": [view.groups[g] for g in gb],
    })
    for k, v in _threshold_cols(t).items():
        df[k] = v
    df["fmr"] = rate(e.ravel(), n.ravel())
    df["fmr_ci_low"], df["fmr_ci_high"] = lo, hi
    df["fmr_errors"] = e.ravel().astype(np.int64)
    df["n_nonmated"] = n.ravel().astype(np.int64)
    return df


def tables_from_counts(
    plan: Plan,
    counts: VerificationCounts,
    acquired: np.ndarray,
    thresholds: Sequence[Threshold],
    config: Mapping[str, Any],
    label_sources: Mapping[str, str],
) -> VerificationTables:
    """The one path from stored counts + resolved config to tables (run and report share it)."""
    from fairbench.metrics.groups import make_views

    ds, vc = config["dataset"], config["verification"]
    views = make_views(plan, ds["attributes"], ds.get("intersections", True))
    settings = Settings(
        confidence=vc["confidence"],
        min_errors=vc["min_errors"],
        reference_group=dict(vc.get("reference_group") or {}),
        replicates=vc["bootstrap"]["replicates"],
        seed=vc["bootstrap"]["seed"],
        alpha=vc.get("alpha", 0.5),
    )
    tables = verification_tables(plan, counts, acquired, views, thresholds, settings,
                                 label_sources)
    if len(tables.cross_group):
        tables.cross_group = tables.cross_group[
            tables.cross_group["attribute"].str.count(r"\|") < 2
        ].reset_index(drop=True)
    if ds.get("simulate"):  # simulated results say so in every table
        for df in (tables.by_group, tables.cross_group, tables.summary):
            df.insert(0, "data", "SIMULATED")
    return tables
