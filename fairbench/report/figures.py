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


@dataclass
class Plot:
    """One saved figure: what it shows, for which breakdown, and its files."""

    kind: str  # det | heatmap | scores | ratio
    attribute: str
    title: str
    svg: Path
    png: Path


def build_plots(record: dict[str, Any], plan: Plan, counts: VerificationCounts,
                tables: VerificationTables, out_dir: Path) -> list[Plot]:
    """DET, heatmap, score and ratio plots for every single attribute of the run."""
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

    def keep(kind: str, attr: str, title: str, fig: Any) -> None:
        svg, png = plots.save(fig, out_dir / f"{kind}_{attr}")
        made.append(Plot(kind, attr, title, svg, png))

    with matplotlib.rc_context(plots.RC):  # fonts and sizes apply when figures are made
        for view in views:
            _view_plots(view, plan, counts, by, cross, native, score_name, native_thr, keep)
    return made


def _view_plots(view: Any, plan: Plan, counts: VerificationCounts, by: Any, cross: Any,
                native: Any, score_name: str, native_thr: list[float], keep: Any) -> None:
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
    if len(known):
        keep("ratio", a, f"FMR ratio to the reference group by {a}",
             plots.ratio_figure(a, known))
