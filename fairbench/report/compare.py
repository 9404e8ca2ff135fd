"""``fairbench compare RUN_A RUN_B``: two models (or versions) on the same dataset.

Both runs must hold the same images, people and labels (the same manifest). Groups are read
at matching operating points: target-FMR thresholds by their target (each model at its own
threshold for that FMR), fixed thresholds by their native value. For every group the change
B - A in FMR and FNMR gets a *paired* subject-bootstrap interval: the same resampled people
score both models, so the interval reflects the change, not the two runs' separate noise.
A change is called a difference only when its interval excludes 0. With an output folder
the comparison is also written as compare.csv, compare.md and compare.html (one
self-contained page with both runs' identities and a paired-change figure per attribute).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan, per_subject_counts
from fairbench.core.counts import VerificationCounts
from fairbench.core.operating import OperatingPoint
from fairbench.errors import FairbenchError
from fairbench.metrics.bootstrap import (
    impostor_rates,
    mated_rates,
    percentile_interval,
    subject_weights,
    view_rng,
)
from fairbench.metrics.groups import View, make_views
from fairbench.metrics.intervals import clopper_pearson
from fairbench.metrics.verification import ViewCounts
from fairbench.report import render
from fairbench.report.cells import RateCell, pct
from fairbench.report.views import Section
from fairbench.results.run import Run

if TYPE_CHECKING:  # html.py and the plots import matplotlib: only compare.html needs them
    from fairbench.report.figures import Plot


class CompareError(FairbenchError):
    """The two runs cannot be compared (different data, no common operating point)."""


@dataclass
class Side:
    record: dict[str, Any]
    plan: Plan
    counts: VerificationCounts
    image_ids: list[str]


def _side(run: Run) -> Side:
    from fairbench.report.rebuild import verification_arrays

    if run.mode != "verification":
        raise CompareError(f"run {run.run_id} is a {run.mode} run; compare reads 1:1 runs")
    codes, counts = verification_arrays(run)
    return Side(run.record, codes.plan, counts, codes.image_ids)


def _ops(rec: dict[str, Any]) -> dict[tuple[str, float], float]:
    """(kind, target or native) -> internal threshold, for supported operating points."""
    out = {}
    for t in rec["operating_points"]:
        if t.get("supported") and t.get("similarity") is not None:
            key = float(t["target"]) if t["kind"] != "fixed" else float(t["native"])
            out[(t["kind"], key)] = float(t["similarity"])
    return out


def _check_same_data(a: Side, b: Side) -> None:
    da, db = a.record["dataset"], b.record["dataset"]
    problems = []
    if da["manifest_sha256"] != db["manifest_sha256"]:
        problems.append(f"manifests differ ({da['name']} {da['manifest_sha256'][:12]} vs "
                        f"{db['name']} {db['manifest_sha256'][:12]})")
    if a.image_ids != b.image_ids or not np.array_equal(a.plan.subject, b.plan.subject):
        problems.append("the runs hold different images or people")
    ca, cb = a.counts, b.counts
    if (ca.listed is None) != (cb.listed is None) or not np.array_equal(
            ca.n_nonmated, cb.n_nonmated) or not (
            np.array_equal(a.plan.mated_i, b.plan.mated_i) and
            np.array_equal(a.plan.mated_j, b.plan.mated_j)):
        problems.append("the runs compared different pairs (a paired comparison needs the "
                        "same comparisons on both sides)")
    if problems:
        raise CompareError("these runs are not on the same dataset; comparing them would mix "
                           "a change of data with a change of model", problems)


def _rates(view: View, plan: Plan, counts: VerificationCounts, thr: float, w: np.ndarray,
           n_img: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per rate: (errors per group, comparisons per group, (R, G) replicate rates)."""
    ig, G, nsub = view.image_group, view.n_groups, plan.n_subjects
    if counts.tail == "people" and not counts.exact_at(thr):
        raise CompareError("a threshold lies where the run kept counts per pair of people "
                           "only (verification.tail: people), so its rates there are not "
                           "exact", [f"threshold {thr:.6g} (similarity)"])
    vc = ViewCounts(view, plan, counts, None, np.zeros(plan.n_images, dtype=bool))
    ga, gb = ig[counts.kept_i], ig[counts.kept_j]
    sel = (counts.kept_s >= thr) & (ga == gb)
    fm_err = np.bincount(ga[sel], counts.weights(sel), G).astype(np.int64)
    a = vc.n_nonmated  # same-group impostor comparisons: all pairs, or the listed ones
    reps_fm = impostor_rates(w, n_img, plan.subject[counts.kept_i[sel]],
                             plan.subject[counts.kept_j[sel]], ga[sel], G, vc.den_pairs,
                             counts.weights(sel))
    mg = view.mated_group
    same = mg >= 0
    miss = same & (counts.mated_s < thr)
    subj = plan.subject[plan.mated_i]
    pairs = per_subject_counts(subj[same], mg[same], nsub, G)
    errs = per_subject_counts(subj[miss], mg[miss], nsub, G)
    reps_fnm = mated_rates(w, pairs, errs)
    return {"fmr": (fm_err, a.astype(np.int64), reps_fm),
            "fnmr": (errs.sum(axis=0).astype(np.int64), pairs.sum(axis=0).astype(np.int64),
                     reps_fnm)}


@dataclass
class Comparison:
    """Two runs side by side: one row per attribute, group, operating point and rate."""

    frame: pd.DataFrame
    header: str
    records: tuple[dict[str, Any], ...] = field(default=(), repr=False)  # run.json of A, B

    def sections(self) -> list[Section]:
        return [comparison_section(self.frame)]

    def markdown(self) -> str:
        return render.markdown(self.sections(), self.header)

    def _repr_html_(self) -> str:
        import html

        return f"<p>{html.escape(self.header)}</p>" + render.html_tables(self.sections())

    def html(self, plots: Sequence[Plot] = ()) -> str:
        """compare.html: the runs, then per attribute its tables and paired-change figure."""
        from fairbench.report.compare_html import comparison_page

        return comparison_page(self, plots)


def compare_runs(run_a: Run, run_b: Run, replicates: int | None = None,
                 seed: int = 0, confidence: float = 0.95) -> Comparison:
    """The side-by-side comparison of two 1:1 runs on the same data."""
    a, b = _side(run_a), _side(run_b)
    _check_same_data(a, b)
    ops_a, ops_b = _ops(a.record), _ops(b.record)
    common = [k for k in ops_a if k in ops_b]
    if not common:
        raise CompareError("the runs share no operating point (target FMR or fixed threshold)")
    attrs = [x for x in a.record["config"]["dataset"]["attributes"]
             if x in b.record["config"]["dataset"]["attributes"]]
    R = replicates or int(a.record["config"]["verification"]["bootstrap"]["replicates"])
    rows = []
    plan = a.plan
    for view in make_views(plan, attrs, intersections=False):
        n_img = per_subject_counts(plan.subject, view.image_group, plan.n_subjects,
                                   view.n_groups)
        w = subject_weights(view.subject_group(plan), R, view_rng(seed, view.name))
        for kind, key in common:
            ra = _rates(view, plan, a.counts, ops_a[(kind, key)], w, n_img)
            rb = _rates(view, plan, b.counts, ops_b[(kind, key)], w, n_img)
            for rate in ("fmr", "fnmr"):
                (ka, n, reps_a), (kb, _, reps_b) = ra[rate], rb[rate]
                lo, hi = percentile_interval(reps_b - reps_a, confidence)
                for g, name in enumerate(view.groups):
                    rows.append({
                        "attribute": view.name, "group": name, "threshold_kind": kind,
                        "operating_point": key, "rate": rate, "n": int(n[g]),
                        "errors_a": int(ka[g]), "errors_b": int(kb[g]),
                        "rate_a": ka[g] / n[g] if n[g] else math.nan,
                        "rate_b": kb[g] / n[g] if n[g] else math.nan,
                        "change": (kb[g] - ka[g]) / n[g] if n[g] else math.nan,
                        "change_ci_low": lo[g], "change_ci_high": hi[g],
                    })
    df = pd.DataFrame(rows)
    df["reading"] = [_reading(r) for r in df.to_dict(orient="records")]
    return Comparison(df, _header(a.record, b.record), (a.record, b.record))


def _reading(r: dict[str, Any]) -> str:
    lo, hi = r["change_ci_low"], r["change_ci_high"]
    if r["n"] < 10 or any(isinstance(x, float) and math.isnan(x) for x in (lo, hi)):
        return "insufficient data"
    if lo > 0:
        return "B higher"
    if hi < 0:
        return "B lower"
    return "no clear change (interval includes 0)"


def _header(a: dict[str, Any], b: dict[str, Any]) -> str:
    def one(tag: str, r: dict[str, Any]) -> str:
        m = r["matcher"]
        return (f"{tag}: run {r['run_id']}, matcher {m['name']} ({m.get('version', '')}, "
                f"fingerprint {str(m.get('fingerprint', ''))[:12]})")
    ds = a["dataset"]
    return (f"{one('A', a)}\n{one('B', b)}\nDataset {ds['name']} ({ds['n_subjects']} people, "
            f"{ds['n_images']} images, manifest {ds['manifest_sha256'][:12]}). Change = B - A "
            "with a paired subject-bootstrap 95% interval.")


def comparison_section(df: pd.DataFrame) -> Section:
    """The comparison as one table, cells in the report's citeable form."""
    rows = []
    for r in df.to_dict(orient="records"):
        op = point_text(r["threshold_kind"], r["operating_point"])
        rows.append([r["attribute"], r["group"], op, r["rate"].upper(), *rate_cells(r),
                     r["reading"]])
    cols = ["attribute", "group", "operating point", "rate", "A", "B",
            "change B - A [95% CI]", "reading"]
    return Section("Comparison of two runs", cols, rows, key="compare")


def point_text(kind: str, key: float) -> str:
    """The operating point of a comparison row: 'FMR 1 in 100', 'fixed threshold 0.6'."""
    fixed = kind == "fixed"
    return OperatingPoint(kind, None if fixed else key, None, key if fixed else None).describe()


def rate_cells(r: dict[str, Any]) -> tuple[str, str, str]:
    """A row's cells: A's rate, B's rate, and the change B - A with its paired interval."""
    ca, cb = (_cell(r[f"errors_{s}"], r["n"]).text() for s in ("a", "b"))
    ch = "n/a" if r["n"] == 0 else (f"{_signed(r['change'])} [{_signed(r['change_ci_low'])}"
                                    f", {_signed(r['change_ci_high'])}]")
    return ca, cb, ch


def _cell(k: int, n: int) -> RateCell:
    lo, hi = clopper_pearson(k, n)
    return RateCell(k, n, float(lo), float(hi))


def _signed(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return ("+" if x > 0 else "-" if x < 0 else "") + pct(abs(x))


def write_comparison(run_a: str | Path, run_b: str | Path,
                     output: str | Path | None = None) -> str:
    """``fairbench compare``: the Markdown table; with ``output``, also compare.csv,
    compare.md and compare.html (its figures also kept as plots/change_*.svg and .png)."""
    cmp = compare_runs(Run.load(run_a), Run.load(run_b))
    md = cmp.markdown()
    if output is not None:
        from fairbench.report.compare_plots import change_plots
        from fairbench.results.folder import atomic_text

        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        atomic_text(out / "compare.csv", cmp.frame.to_csv(index=False, lineterminator="\n"))
        atomic_text(out / "compare.md", md)
        atomic_text(out / "compare.html", cmp.html(change_plots(cmp.frame, out / "plots")))
    return md
