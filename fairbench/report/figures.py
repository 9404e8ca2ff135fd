"""Every plot of a run, drawn from its stored counts and tables into ``plots/``."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

from fairbench.core.codes import Plan
from fairbench.core.counts import VerificationCounts
from fairbench.core.scale import native_array
from fairbench.metrics.groups import make_views
from fairbench.metrics.verification import VerificationTables
from fairbench.report import plots
from fairbench.report.curves import group_curves

#: what each kind of plot shows, in words (its alt text)
ALT = {
    "det": "DET curves by {a}: each group's false non-match rate against its false match "
           "rate on normal-deviate axes, the run's operating points marked",
    "heatmap": "Cross-group impostor FMR by {a}: a matrix of false match rates for every "
               "pair of groups, log colour scale, the reference group boxed",
    "scores": "Score distributions by {a}: same-group impostor and mated score histograms "
              "per group, operating points as dashed lines",
    "ratio": "FMR ratio to the reference group by {a}, with subject-bootstrap 95% whiskers, "
             "one panel per operating point",
}


@dataclass
class Plot:
    """One saved figure: what it shows, for which breakdown, and its files."""

    kind: str  # det | heatmap | scores | ratio
    attribute: str
    title: str
    svg: Path
    png: Path

    @property
    def alt(self) -> str:
        return ALT.get(self.kind, "{a}").format(a=self.attribute)


@dataclass(frozen=True)
class Skipped:
    """A plot not drawn because it would show nothing, and why."""

    kind: str
    attribute: str
    title: str
    reason: str


def build_plots(record: dict[str, Any], plan: Plan, counts: VerificationCounts,
                tables: VerificationTables, out_dir: Path) -> tuple[list[Plot], list[Skipped]]:
    """DET, heatmap, score and ratio plots for every single attribute of the run, and the
    plots not drawn because they would show nothing."""
    out_dir.mkdir(parents=True, exist_ok=True)
    matcher = record["matcher"]
    kind = str(matcher.get("similarity", "cosine"))
    native = functools.partial(native_array, kind=kind)
    score_name = str(matcher.get("native_score") or "score") + " (native scale)"
    native_thr = [float(t["native"]) for t in record["operating_points"]
                  if t.get("supported") and t.get("native") is not None]
    by, cross = tables.by_group, tables.cross_group
    views = make_views(plan, record["config"]["dataset"]["attributes"], intersections=False,
                       with_all=False)
    made: list[Plot] = []
    skipped: list[Skipped] = []

    def keep(kind: str, attr: str, title: str, fig: Any) -> None:
        svg, png = plots.save(fig, out_dir / f"{kind}_{attr}")
        made.append(Plot(kind, attr, title, svg, png))

    def skip(kind: str, attr: str, title: str, reason: str) -> None:
        for old in (out_dir / f"{kind}_{attr}.svg", out_dir / f"{kind}_{attr}.png"):
            old.unlink(missing_ok=True)  # a rebuild must not leave a stale picture
        skipped.append(Skipped(kind, attr, title, reason))

    with matplotlib.rc_context(plots.RC):  # fonts and sizes apply when figures are made
        for view in views:
            _view_plots(view, plan, counts, by, cross, native, score_name, native_thr, keep,
                        skip)
    return made, skipped


def _view_plots(view: Any, plan: Plan, counts: VerificationCounts, by: Any, cross: Any,
                native: Any, score_name: str, native_thr: list[float], keep: Any,
                skip: Any) -> None:
    """The four plots of one breakdown."""
    a = view.name
    rows = by[by["attribute"] == a]
    curves = group_curves(view, plan, counts)
    keep("det", a, f"DET curves by {a}", plots.det_figure(a, curves, rows))
    ref = str(rows["reference_group"].iloc[0] or "") if len(rows) else ""
    part = cross[cross["attribute"] == a] if len(cross) else cross
    if len(part):
        keep("heatmap", a, f"Cross-group impostor FMR by {a}",
             plots.heatmap_figure(a, part, ref))
    b = counts.binning
    keep("scores", a, f"Score distributions by {a}",
         plots.score_figure(a, curves, b.lo, b.hi, native, score_name, native_thr))
    known = rows[[view.is_known(view.groups.index(g)) for g in rows["group"]]]
    title = f"FMR ratio to the reference group by {a}"
    if len(known):
        # an operating point where no group other than the reference has a ratio draws
        # an empty panel: keep only the points with something to show
        other = known[known["group"] != known["reference_group"]]
        shown = other.loc[other["fmr_ratio"] > 0, "operating_point"].unique()
        if len(shown):
            keep("ratio", a, title, plots.ratio_figure(
                a, known[known["operating_point"].isin(shown)]))
        else:
            skip("ratio", a, title, "no group's FMR ratio to the reference group is defined "
                 "at any operating point (the reference group made no false match there)")
