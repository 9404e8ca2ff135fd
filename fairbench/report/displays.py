"""Plot displays over stored values, in the manner of scikit-learn's ``DetCurveDisplay``.

Build one from a run (``from_run``) or a frame (``from_frame``), then ``plot(ax=None)``:
the display draws on the given matplotlib axes (or a new figure), keeps ``ax_`` and
``figure_``, and shows itself in a notebook. Nothing is recomputed from images or models.

>>> run = fairbench.load("results/<run-id>")                      # doctest: +SKIP
>>> DetCurveDisplay.from_run(run, "eth").plot()                   # doctest: +SKIP
>>> RateDisplay.from_frame(run.frame("fmr", "eth")).plot()        # doctest: +SKIP
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fairbench.metrics.frame import RateFrame
from fairbench.metrics.groups import make_view
from fairbench.report import plots
from fairbench.report.curves import GroupCurve, group_curves


class _Display:
    ax_: Any = None
    figure_: Figure | None = None

    def _axes(self, ax: Any, size: tuple[float, float]) -> Any:
        if ax is None:
            self.figure_ = Figure(figsize=size)
            ax = self.figure_.add_subplot()
        else:
            self.figure_ = ax.figure
        self.ax_ = ax
        return ax

    def _repr_png_(self) -> bytes | None:
        """A notebook shows the display as its figure (plotting it first if needed)."""
        if self.figure_ is None:
            self.plot()  # type: ignore[attr-defined]
        buf = io.BytesIO()
        assert self.figure_ is not None
        self.figure_.savefig(buf, format="png", dpi=100)
        return buf.getvalue()


@dataclass
class DetCurveDisplay(_Display):
    """DET curves (FNMR against FMR on normal-deviate axes) per group of one breakdown."""

    attribute: str
    curves: list[GroupCurve]
    points: pd.DataFrame = field(default_factory=pd.DataFrame)

    @classmethod
    def from_run(cls, run: Any, attribute: str) -> DetCurveDisplay:
        """From a 1:1 :class:`~fairbench.results.run.Run` (its counts, in memory or on disk)."""
        from fairbench.report.rebuild import verification_arrays

        codes, counts = verification_arrays(run)
        view = make_view(codes.plan, attribute.split("|"))
        by = run.tables["verification_by_group"]
        return cls(attribute, group_curves(view, codes.plan, counts),
                   by[by["attribute"] == attribute].reset_index(drop=True))

    def plot(self, ax: Any = None) -> DetCurveDisplay:
        plots.draw_det(self._axes(ax, (5.2, 4.4)), self.attribute, self.curves, self.points)
        return self


@dataclass
class RateDisplay(_Display):
    """Each group's rate as a point with its 95 % intervals on a log axis (a forest plot):
    thin whisker Clopper-Pearson, thick subject bootstrap; zero errors drawn as the
    rule-of-three upper bound; the reference group marked; n beside every row."""

    frame: RateFrame

    @classmethod
    def from_frame(cls, frame: RateFrame) -> RateDisplay:
        return cls(frame)

    def plot(self, ax: Any = None) -> RateDisplay:
        f = self.frame
        by = f.by_group
        ax = self._axes(ax, (6.0, 0.35 * len(by) + 1.2))
        n = by["n"].astype(float).to_numpy()
        rate = by["rate"].to_numpy(dtype=float)
        upper3 = np.where(n > 0, np.minimum(3.0 / np.maximum(n, 1), 1.0), np.nan)
        pos = rate[rate > 0]
        floor = 10 ** math.floor(math.log10(min([*pos, *upper3[np.isfinite(upper3)], 0.5])
                                            / 3))
        y = np.arange(len(by))[::-1]
        for k, (g, r) in enumerate(by.iterrows()):
            yy = y[k]
            if not r["n"] or pd.isna(r["n"]):
                ax.text(floor, yy, "  no data", va="center", fontsize=7)
                continue
            color = "C3" if g == f.reference else "C0"
            if r["rate"] > 0:
                ax.plot([max(r["ci_low"], floor), r["ci_high"]], [yy, yy], color=color, lw=1)
                if pd.notna(r["boot_low"]) and pd.notna(r["boot_high"]):
                    ax.plot([max(r["boot_low"], floor), max(r["boot_high"], floor)], [yy, yy],
                            color=color, lw=3, alpha=0.5)
                ax.plot(r["rate"], yy, "o", color=color, ms=5)
            else:
                ax.annotate("", xy=(floor, yy), xytext=(upper3[k], yy),
                            arrowprops={"arrowstyle": "->", "color": color})
                ax.plot(upper3[k], yy, "|", color=color, ms=8)
            ax.text(1.02, yy, f"{int(r['errors']):,}/{int(r['n']):,}", va="center",
                    fontsize=7, transform=ax.get_yaxis_transform())
        ax.set_xscale("log")
        ax.set_xlim(floor, 1.0)
        ax.set_yticks(y, [f"{g} (ref)" if g == f.reference else str(g) for g in by.index])
        ax.set_xlabel(f"{f.metric.upper()} (log scale; arrow: 0 errors, rule-of-three bound)")
        ax.set_title(f"{f.metric.upper()} by {f.attribute} at {f.at}", fontsize=9)
        ax.grid(True, axis="x", lw=0.3)
        if self.figure_ is not None and ax is self.figure_.axes[0]:
            self.figure_.subplots_adjust(left=0.25, right=0.82, bottom=0.25, top=0.85)
        return self
