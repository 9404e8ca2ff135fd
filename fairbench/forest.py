"""The forest plot: each group's error rates as points with their intervals on a log axis.

The one picture that answers "who carries the errors, and how sure are we": a row per
group (n beside it, the reference group marked), a panel per rate (FMR and FNMR, or FPIR
and FNIR), the 95 % interval as a whisker. A rate with no error cannot sit on a log axis:
it is drawn as its 95 % upper bound, an open triangle pointing left ("below this"). Inputs
are plain values (:class:`Point`), so report.html, the notebook displays and the results
objects draw the same figure; matplotlib is imported only when a figure is made.

Each point carries an SVG id ``<prefix>-<panel>-<row>`` (``-upper`` for a bound), so a
page that inlines the SVG can find it (the report's browser test reads their positions).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Okabe and Ito's colour-blind-safe colours, in the order every fairbench plot's lines take
#: them (matplotlib's C0, C1, ...; see fairbench.report.plots.RC)
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#F0E442",
           "#000000"]
#: the two panels' colours: FMR-like in blue, FNMR-like in vermillion (distinct in all
#: common colour-vision deficiencies)
PANEL_COLOURS = (PALETTE[0], PALETTE[1])


@dataclass(frozen=True)
class Point:
    """One group's rate: the value, its interval, the counts behind it."""

    group: str
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    errors: int
    n: int
    reference: bool = False


@dataclass(frozen=True)
class Panel:
    """One rate across the groups (a column of the figure)."""

    name: str  # 'FMR'
    over: str  # 'same-group impostor pairs'
    points: Sequence[Point]


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def drawn_value(p: Point) -> tuple[float | None, bool]:
    """Where a point is drawn and whether it is an upper bound (no error observed)."""
    if p.n <= 0:
        return None, False
    if p.errors == 0 or not _finite(p.rate) or (p.rate or 0.0) <= 0:
        return (p.ci_high if _finite(p.ci_high) and (p.ci_high or 0) > 0 else None), True
    return p.rate, False


def _limits(panel: Panel) -> tuple[float, float]:
    vals = [v for p in panel.points for v in (p.ci_low, p.ci_high, drawn_value(p)[0])
            if _finite(v) and v is not None and v > 0]
    if not vals:
        return 1e-4, 1.0
    lo, hi = min(vals), max(vals)
    top = min(1.0, 10 ** math.ceil(math.log10(hi) + 0.05)) if hi < 1 else 1.5
    return 10 ** math.floor(math.log10(lo) - 0.05), top


def _percent(v: float, _: object = None) -> str:
    """Axis ticks as percentages: 0.01%, 0.1%, 1%, 10%, 100%."""
    return f"{100 * v:.4g}%"


def forest_figure(panels: Sequence[Panel], title: str, prefix: str = "fp") -> Figure:
    """A figure with one log-scale panel per rate and one row per group."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    groups = list(dict.fromkeys(p.group for panel in panels for p in panel.points))
    rows = len(groups)
    fig = Figure(figsize=(3.6 * max(len(panels), 1) + 1.6, 0.9 + 0.32 * max(rows, 1)))
    axes = fig.subplots(1, max(len(panels), 1), sharey=True, squeeze=False)[0]
    ref = {p.group for panel in panels for p in panel.points if p.reference}
    for k, (ax, panel) in enumerate(zip(axes, panels)):
        colour = PANEL_COLOURS[k % 2]
        by = {p.group: p for p in panel.points}
        for i, g in enumerate(groups):
            y = rows - 1 - i
            p = by.get(g)
            if p is None:
                continue
            x, bound = drawn_value(p)
            if x is None:
                ax.text(0.02, y, "no data", transform=ax.get_yaxis_transform(), va="center",
                        fontsize=7, color="grey")
                continue
            lo = p.ci_low if _finite(p.ci_low) and (p.ci_low or 0) > 0 else None
            if lo is not None and _finite(p.ci_high):
                ax.plot([lo, p.ci_high], [y, y], color=colour, lw=1.4,
                        solid_capstyle="butt")
            line = ax.plot([x], [y], marker="<" if bound else ("D" if p.reference else "o"),
                           ms=6, color=colour, mfc="white" if bound else colour, mew=1.2,
                           ls="none")[0]
            line.set_gid(f"{prefix}-{k}-{i}" + ("-upper" if bound else ""))
            label = (f"0 of {p.n:,}" if bound else f"{p.errors:,} / {p.n:,}")
            ax.annotate(label, (1.0, y), xycoords=("axes fraction", "data"),
                        xytext=(4, 0), textcoords="offset points", va="center",
                        fontsize=7.5, color="#333333")
        ax.set_xscale("log")
        ax.set_xlim(*_limits(panel))
        ax.xaxis.set_major_locator(LogLocator(base=10, numticks=5))  # no crowded decades
        ax.xaxis.set_major_formatter(FuncFormatter(_percent))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_title(f"{panel.name} ({panel.over})", fontsize=9)
        ax.grid(axis="x", which="major", color="#dddddd", lw=0.6)
        ax.set_axisbelow(True)
        ax.set_ylim(-0.7, rows - 0.3)
    axes[0].set_yticks(range(rows))
    axes[0].set_yticklabels([f"{g}{' (reference)' if g in ref else ''}"
                             for g in reversed(groups)])
    for t in axes[0].get_yticklabels():
        if t.get_text().endswith("(reference)"):
            t.set_fontweight("bold")
    handles = [Line2D([], [], marker="o", ls="none", color="#555555", label="rate"),
               Line2D([], [], marker="D", ls="none", color="#555555",
                      label="reference group"),
               Line2D([], [], marker="<", ls="none", color="#555555", mfc="white",
                      label="no error: 95% upper bound"),
               Line2D([], [], color="#555555", lw=1.4, label="95% interval")]
    fig.legend(handles=handles, loc="lower center", ncol=4, fontsize=7.5, frameon=False)
    fig.suptitle(title, fontsize=9.5)
    fig.subplots_adjust(left=0.22, right=0.9, top=1 - 0.45 / fig.get_figheight(),
                        bottom=0.55 / fig.get_figheight(), wspace=0.35)
    return fig


def forest_svg(panels: Sequence[Panel], title: str, prefix: str = "fp", label: str = ""
               ) -> str:
    """The figure as an inline ``<svg>`` element for an HTML page (text kept as text, no
    timestamp), labelled for screen readers with ``label`` (default: the title)."""
    import html
    import io

    import matplotlib

    fig = forest_figure(panels, title, prefix)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": prefix, "svg.fonttype": "none",
                                "font.size": 8}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    aria = html.escape(label or title)
    return svg[svg.index("<svg"):].replace("<svg", f'<svg role="img" aria-label="{aria}"', 1)
