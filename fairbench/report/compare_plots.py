"""The "paired change" plot of ``fairbench compare``: per group, the change B - A in FMR and
FNMR as a point with its paired subject-bootstrap whiskers around a zero line.

Rates differ by decades between groups and between FMR and FNMR, and a change can be 0 or
either sign, so each panel has its own symmetric-log axis, linear within one error of the
largest group. Figures are matplotlib ``Figure`` objects (no pyplot state), saved with
:func:`fairbench.report.plots.save`; colours are Okabe-Ito (safe for colour-blind readers).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from matplotlib.transforms import blended_transform_factory

from fairbench.forest import PANEL_COLOURS
from fairbench.report import plots
from fairbench.report.cells import pct
from fairbench.report.compare import point_text
from fairbench.report.figures import Plot

#: Okabe-Ito blue and vermillion for FMR and FNMR; grey for rows too small to read.
COLOURS = {"fmr": PANEL_COLOURS[0], "fnmr": PANEL_COLOURS[1]}
FEW = "#999999"
DIFFERENT = ("B higher", "B lower")


@dataclass
class ChangePlot(Plot):
    """A paired-change figure: its alt text is its whole caption (what it shows and which
    changes are differences), so a screen reader gets the finding, not only the kind."""

    @property
    def alt(self) -> str:
        return self.title


def change_plots(frame: pd.DataFrame, out_dir: Path) -> list[ChangePlot]:
    """One paired-change figure per attribute (the overall row has its table), saved into
    ``out_dir`` as ``change_<attribute>``.svg and .png."""
    out_dir.mkdir(parents=True, exist_ok=True)
    made: list[ChangePlot] = []
    with matplotlib.rc_context(plots.RC):  # fonts and sizes apply when figures are made
        for attr, part in frame.groupby("attribute", sort=False):
            if attr == "all":
                continue
            svg, png = plots.save(change_figure(str(attr), part), out_dir / f"change_{attr}")
            made.append(ChangePlot("change", str(attr), change_title(str(attr), part), svg, png))
    return made


def change_title(attribute: str, part: pd.DataFrame) -> str:
    """Caption and alt text: what the figure shows and how many changes are differences."""
    diff = part[part["reading"].isin(DIFFERENT)]
    found = "; ".join(
        f"{r.rate.upper()} {r.group} at {point_text(r.threshold_kind, r.operating_point)}: "
        f"{r.reading}" for r in diff.itertuples())
    return (f"Paired change B - A in FMR and FNMR by {attribute}: each group's change as a "
            "point with its paired subject-bootstrap 95% interval around a zero line "
            "(symmetric log axis; filled: a difference, the interval excludes 0). "
            f"{len(diff)} of {len(part)} changes are differences"
            + (f" ({found})." if found else "."))


def change_figure(attribute: str, part: pd.DataFrame) -> Figure:
    """Rows are groups, a panel per operating point (rows) and rate (FMR, FNMR columns)."""
    points = list(part.groupby(["threshold_kind", "operating_point"], sort=False))
    groups = list(dict.fromkeys(part["group"]))
    chars = max(len(str(g)) for g in groups)
    left, gap, right = 0.07 * chars + 0.3, 0.9, 0.9  # inches: labels, n beside each row
    panel_w, panel_h = 2.6, 0.28 * len(groups) + 0.35
    top, bottom, between = 0.7, 0.6, 0.55
    width = left + 2 * panel_w + gap + right
    height = top + bottom + len(points) * panel_h + (len(points) - 1) * between
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=left / width, right=1 - right / width, bottom=bottom / height,
                        top=1 - top / height, wspace=gap / panel_w, hspace=between / panel_h)
    axes = fig.subplots(len(points), 2, squeeze=False)
    for row, ((kind, key), rows) in zip(axes, points):
        for ax, rate in zip(row, ("fmr", "fnmr")):
            sel = rows[rows["rate"] == rate].set_index("group").reindex(groups)
            _panel(ax, sel, rate, f"{rate.upper()} at {point_text(str(kind), float(key))}",
                   labels=ax is row[0])
    for ax, rate in zip(axes[-1], ("FMR", "FNMR")):
        ax.set_xlabel(f"change in {rate}, B - A (symmetric log)")
    fig.suptitle(f"Paired change B - A by {attribute} (whiskers: paired subject-bootstrap 95% "
                 "interval; filled: the interval excludes 0)\nn: comparisons (same-group "
                 "impostor pairs for FMR, mated pairs for FNMR); grey: too few to read",
                 fontsize=8)
    return fig


def _panel(ax: Axes, rows: pd.DataFrame, rate: str, title: str, labels: bool) -> None:
    """One rate at one operating point: a point and whiskers per group, n on the right."""
    y = np.arange(len(rows))
    n = rows["n"].fillna(0).astype(int).to_numpy()
    lin = 10.0 ** math.floor(math.log10(1 / max(int(n.max()), 2)))  # one error, rounded
    ends = rows[["change", "change_ci_low", "change_ci_high"]].abs().to_numpy().ravel()
    reach = max(float(np.nanmax(ends)) if np.isfinite(ends).any() else 0.0, 10 * lin) * 1.6
    ax.axvline(0, color="black", lw=0.8, zorder=1)
    side = blended_transform_factory(ax.transAxes, ax.transData)
    for i, r in enumerate(rows.itertuples()):
        few = r.reading == "insufficient data"
        colour = FEW if few else COLOURS[rate]
        if not n[i] or pd.isna(r.change):
            ax.text(0, i, " n/a", va="center", fontsize=6, color=FEW)
        else:
            if not (pd.isna(r.change_ci_low) or pd.isna(r.change_ci_high)):
                ax.plot([r.change_ci_low, r.change_ci_high], [i, i], color=colour, lw=1.2,
                        solid_capstyle="butt", zorder=2)
            ax.plot(r.change, i, "o", ms=4.5, color=colour, mec=colour, zorder=3,
                    mfc=colour if r.reading in DIFFERENT else "white")
        ax.text(1.03, i, f"n={n[i]:,}" + (" (too few)" if few else ""), transform=side,
                va="center", fontsize=6, color="#444444")
    ax.set_xscale("symlog", linthresh=lin, linscale=0.6)
    ax.set_xlim(-reach, reach)
    ticks = _ticks(lin, reach)
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_signed_pct))
    ax.tick_params(axis="x", labelsize=6)
    ax.set_yticks(y, [str(g) for g in rows.index] if labels else [""] * len(y))
    ax.set_ylim(len(y) - 0.5, -0.5)  # first group on top
    ax.grid(True, axis="x", lw=0.3)
    ax.set_title(title, fontsize=7)


def _ticks(lin: float, reach: float) -> list[float]:
    """0 and a few decades each side, from the linear threshold up to the axis end."""
    decades = [lin * 10.0 ** k for k in range(0, 12) if lin * 10.0 ** k <= reach]
    step = max(1, math.ceil(len(decades) / 3))
    keep = decades[::-1][::step][::-1]
    return [-d for d in keep[::-1]] + [0.0] + keep


def _signed_pct(x: float, _pos: object = None) -> str:
    return "0" if x == 0 else ("+" if x > 0 else "-") + pct(abs(x), 1)
