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
from fairbench.report.render import html_tables
from fairbench.report.views import NOTE_CELLS, Section
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
    vc = ViewCounts(view, plan, counts, None, np.zeros(plan.n_images, dtype=bool))
    ga, gb = ig[counts.kept_i], ig[counts.kept_j]
    sel = (counts.kept_s >= thr) & (ga == gb)
    fm_err = np.bincount(ga[sel], minlength=G)
    a = vc.n_nonmated  # same-group impostor comparisons: all pairs, or the listed ones
    reps_fm = impostor_rates(w, n_img, plan.subject[counts.kept_i[sel]],
                             plan.subject[counts.kept_j[sel]], ga[sel], G, vc.den_pairs)
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


# --- compare.html ---------------------------------------------------------------------------

CHANGE_NOTE = ("Change: B - A, in rate units, with a paired subject-bootstrap 95% interval (the "
               "same resampled people score both models). A change is called a difference "
               "only when its interval excludes 0; each model is read at its own threshold for "
               "a target FMR.")


def comparison_page(cmp: Comparison, plots: Sequence[Plot] = ()) -> str:
    """The comparison as one self-contained HTML page (inline styles, images as data: URIs,
    a CSP that forbids any fetch), warnings of either run first."""
    from fairbench.report.html import CSP, _e, _img

    a, b = cmp.records
    title = f"fairbench comparison: {a['run_id']} (A) vs {b['run_id']} (B)"
    figs = {p.attribute: _img(p) for p in plots}
    body = [f"<h1>{_e(title)}</h1>{_banners(a, b)}",
            "<p>Each group's false match rate (FMR, same-group impostor pairs) and false "
            "non-match rate (FNMR, mated pairs) in both runs, at every operating point they "
            f"share, and the change B - A.</p><p class=\"note\">{_e(CHANGE_NOTE)}</p>",
            _runs(a, b)]
    for attr, part in cmp.frame.groupby("attribute", sort=False):
        key = f"attribute-{attr}"
        head = "All comparisons" if attr == "all" else f"By {attr}"
        body.append(f"<section id=\"{_e(key)}\"><h2>{_e(head)}</h2>"
                    f"{html_tables(attribute_sections(part, a))}{figs.get(str(attr), '')}"
                    "</section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{_e(title)}</title><style>{_style()}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _style() -> str:
    """The report's inline styles (moving from html.py to page.py: either place works)."""
    try:
        from fairbench.report.page import STYLE
    except ImportError:  # before page.py: html.py held them
        from fairbench.report.html import STYLE  # type: ignore[attr-defined, no-redef]
    return str(STYLE)


def _banners(a: dict[str, Any], b: dict[str, Any]) -> str:
    """SIMULATED and consent banners of either run, each naming the run(s) it comes from."""
    from fairbench.report.html import _e

    sim = [t for t, r in (("A", a), ("B", b)) if r.get("simulated")]
    out = ""
    if sim:
        out += (f"<p class=\"banner\">SIMULATED DATA (run {' and '.join(sim)}): these numbers "
                "describe planted, synthetic differences, not a real system.</p>")
    warnings: dict[str, list[str]] = {}
    for tag, r in (("A", a), ("B", b)):
        w = (r.get("dataset") or {}).get("consent_warning")
        if w:
            warnings.setdefault(str(w), []).append(tag)
    for w, tags in warnings.items():
        out += (f"<p class=\"banner\">WARNING (run {' and '.join(tags)}): this dataset was "
                f"{_e(w)}. Quote that with any number from it.</p>")
    return out


def _runs(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Who is compared: both runs and matchers, the dataset, each model's thresholds."""
    from fairbench.report.html import _dl

    rows = [[label, x, y] for label, x, y in zip(RUN_ROWS, _identity(a), _identity(b))]
    runs = Section("The two runs", ["", "A (baseline)", "B"], rows, key="runs")
    ops = Section("Operating points: each model at its own threshold", [
        "operating point", "threshold A (native scale)", "threshold B (native scale)"],
        [[point_text(k, v), *(_native(r, k, v) for r in (a, b))] for k, v in _points(a, b)],
        key="operating-points")
    ds = a["dataset"]
    card = ds.get("card") or {}
    items = [("dataset", card.get("title") or ds["name"]), ("version", card.get("version")),
             ("licence", card.get("licence")), ("consent", card.get("consent")),
             ("images / people", f"{ds['n_images']:,} / {ds['n_subjects']:,}"),
             ("manifest sha256", f"{ds.get('manifest_sha256')} (the same in both runs)")]
    return (f"<section id=\"runs\"><h2>What is compared</h2>{html_tables([runs])}"
            f"<h3>Dataset</h3>{_dl(items)}{html_tables([ops])}</section>")


RUN_ROWS = ("run id", "created (UTC)", "matcher", "matcher version", "matcher fingerprint",
            "native score", "fairbench version", "simulated")


def _identity(r: dict[str, Any]) -> list[str]:
    """One run's column of the identity table, in :data:`RUN_ROWS` order."""
    m = r.get("matcher") or {}
    values = [r["run_id"], r.get("created_utc"), m.get("name"), m.get("version"),
              m.get("fingerprint"), m.get("native_score"),
              (r.get("provenance") or {}).get("fairbench_version"),
              "yes" if r.get("simulated") else "no"]
    return ["" if v is None else str(v) for v in values]


def _points(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, float]]:
    ops_b = _ops(b)
    return [k for k in _ops(a) if k in ops_b]


def _native(rec: dict[str, Any], kind: str, key: float) -> str:
    for t in rec["operating_points"]:
        mine = t.get("native") if kind == "fixed" else t.get("target")
        if t["kind"] == kind and mine is not None and math.isclose(float(mine), key):
            return "n/a" if t.get("native") is None else f"{float(t['native']):.4g}"
    return "n/a"


def attribute_sections(part: pd.DataFrame, rec: dict[str, Any] | None = None) -> list[Section]:
    """One attribute: per operating point a table of groups, FMR and FNMR side by side."""
    cols = ["group"] + [f"{r} {c}" for r in ("FMR", "FNMR") for c in (
        "A", "B", "change B - A [paired 95% CI]", "reading")]
    attr = str(part["attribute"].iloc[0])
    src = (((rec or {}).get("dataset") or {}).get("label_sources") or {}).get(attr)
    out = []
    for (kind, key), rows in part.groupby(["threshold_kind", "operating_point"], sort=False):
        by = {(r["group"], r["rate"]): r for r in rows.to_dict(orient="records")}
        body = [[str(g), *[c for rate in ("fmr", "fnmr") if (g, rate) in by
                           for c in (*rate_cells(by[(g, rate)]), by[(g, rate)]["reading"])]]
                for g in dict.fromkeys(rows["group"])]
        op = point_text(str(kind), float(key))
        out.append(Section(f"{'All comparisons' if attr == 'all' else attr}, {op}", cols, body,
                           key=f"compare-{attr}-{op}", attribute=attr))
    if out:  # said once, under the breakdown's last table
        out[-1].notes = ([f"Labels: {src}."] if src else []) + [CHANGE_NOTE, NOTE_CELLS]
    return out
