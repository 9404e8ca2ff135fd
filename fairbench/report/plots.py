"""Plots over stored values (matplotlib Figure objects, no pyplot state and no backend
switch, so a notebook keeps its own), saved as SVG and PNG.

- DET curves per group on normal-deviate (probit) axes, operating points marked;
- cross-group impostor FMR heatmaps on a log colour scale, reference group marked;
- score distributions per group (same-group impostors and genuine pairs);
- FMR ratio to the reference group with bootstrap whiskers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib import cycler
from matplotlib.axes import Axes
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from scipy.stats import norm

from fairbench.core.operating import point_of_row
from fairbench.forest import PALETTE
from fairbench.report.cells import MIN_N, pct
from fairbench.report.curves import GroupCurve

RC = {"svg.hashsalt": "fairbench", "svg.fonttype": "none", "font.size": 8,
      "axes.prop_cycle": cycler(color=PALETTE)}
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
TICKS = [1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 0.05, 0.2, 0.5]


def save(fig: Figure, stem: Path) -> list[Path]:
    """Write ``stem``.svg and ``stem``.png (no timestamps, so rebuilds are stable)."""
    out = []
    with matplotlib.rc_context(RC):
        for ext, meta in (("svg", {"Date": None}), ("png", {"Software": None})):
            p = stem.with_suffix(f".{ext}")
            fig.savefig(p, format=ext, metadata=meta, dpi=100)
            out.append(p)
    return out


def _op_name(r: pd.Series) -> str:
    return point_of_row(dict(r)).describe()


def _probit_axis(ax, which: str, floor: float) -> None:
    ticks = [t for t in TICKS if t >= floor]
    getattr(ax, f"set_{which}ticks")([norm.ppf(t) for t in ticks])
    labels = [pct(t, 1) for t in ticks]
    labels[0] = "\u2264" + labels[0]
    getattr(ax, f"set_{which}ticklabels")(labels)
    getattr(ax, f"set_{which}lim")(norm.ppf(floor) - 0.2, norm.ppf(0.5))


def _floor(ns: Sequence[int]) -> float:
    """Lowest rate worth an axis: a decade below 1/(largest n)."""
    n = max([*ns, 2])
    return max(1e-6, 10 ** math.floor(math.log10(0.5 / n)))


def det_figure(attribute: str, curves: Sequence[GroupCurve], points: pd.DataFrame) -> Figure:
    """DET per group: FNMR against FMR on probit axes; stored operating points marked."""
    fig = Figure(figsize=(5.2, 4.4))
    draw_det(fig.add_subplot(), attribute, curves, points)
    fig.subplots_adjust(left=0.15, right=0.94, bottom=0.17, top=0.91)
    return fig


def draw_det(ax: Axes, attribute: str, curves: Sequence[GroupCurve], points: pd.DataFrame
             ) -> None:
    """Draw the DET curves of one breakdown on ``ax``."""
    fx = _floor([c.n_nonmated for c in curves])
    fy = _floor([c.n_mated for c in curves])
    cx = lambda x: norm.ppf(np.clip(x, fx, 0.5))  # noqa: E731
    cy = lambda x: norm.ppf(np.clip(x, fy, 0.5))  # noqa: E731
    ops = list(dict.fromkeys(_op_name(r) for _, r in points.iterrows()))
    for i, c in enumerate(curves):
        if not (c.n_nonmated and c.n_mated):
            continue
        color = f"C{i % 10}"
        keep = (c.fmr <= 0.5) | (c.fnmr <= 0.5)
        few = min(c.n_nonmated, c.n_mated) < MIN_N
        ax.plot(cx(c.fmr[keep]), cy(c.fnmr[keep]), color=color, lw=1.2, ls="--" if few else "-",
                label=f"{c.group} ({c.n_nonmated:,} impostor, {c.n_mated:,} mated pairs"
                      f"{'; too few to read' if few else ''})")
        for _, r in points[points["group"] == c.group].iterrows():
            ax.plot(cx(r["fmr"]), cy(r["fnmr"]), MARKERS[ops.index(_op_name(r)) % 8],
                    color=color, ms=5, mec="black", mew=0.5)
    for j, name in enumerate(ops):
        ax.plot([], [], MARKERS[j % 8], color="grey", mec="black", mew=0.5, label=name)
    _probit_axis(ax, "x", fx)
    _probit_axis(ax, "y", fy)
    ax.set_xlabel("false match rate (same-group impostor pairs)\n"
                  "rates below the lowest tick, 0 included, are drawn on it")
    ax.set_ylabel("false non-match rate (mated pairs)")
    ax.set_title(f"DET by {attribute} (normal-deviate axes)")
    ax.grid(True, lw=0.3)
    ax.legend(fontsize=6, loc="upper right")


def heatmap_figure(attribute: str, cross: pd.DataFrame, reference: str) -> Figure:
    """Impostor FMR for every pair of groups, one panel per operating point, log colours."""
    keys = ["threshold_kind", "target_fmr", "threshold_native"]
    panels = list(cross.groupby(keys, sort=False, dropna=False))
    groups = list(dict.fromkeys(cross["group_a"]))
    G = len(groups)
    pos = cross["fmr"][cross["fmr"] > 0]
    vmin = float(pos.min()) if len(pos) else 1e-4
    vmax = max(float(pos.max()) if len(pos) else 1e-3, vmin * 10)
    size = 0.55 * G + 0.4
    chars = max(len(str(g)) for g in groups) + 6
    label_in = 0.065 * chars + 0.35  # room for tick labels (fixed margins: no layout engine)
    width = size * len(panels) + 0.35 * (len(panels) - 1) + label_in + 1.3
    height = size + label_in * 0.75 + 0.7
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=label_in / width, right=1 - 1.2 / width,
                        bottom=(label_in * 0.75 + 0.2) / height, top=1 - 0.5 / height,
                        wspace=0.35 / size)
    axes = fig.subplots(1, len(panels), squeeze=False)[0]
    im = None
    for ax, (_, part) in zip(axes, panels):
        idx = {g: i for i, g in enumerate(groups)}
        rate = np.full((G, G), np.nan)
        label = [["" for _ in groups] for _ in groups]
        for _, r in part.iterrows():
            a, b = idx[r["group_a"]], idx[r["group_b"]]
            n, k = int(r["n_nonmated"]), int(r["fmr_errors"])
            label[a][b] = "n/a" if n == 0 else (f"0/{n:,}" if k == 0 else pct(k / n))
            rate[a, b] = k / n if n and k else np.nan
        im = ax.imshow(np.ma.masked_invalid(rate), norm=LogNorm(vmin, vmax), cmap="viridis")
        for a in range(G):
            for b in range(G):
                v = rate[a, b]
                dark = not np.isnan(v) and v < math.sqrt(vmin * vmax)
                ax.text(b, a, label[a][b], ha="center", va="center", fontsize=5,
                        color="white" if dark else "black")
        names = [f"{g} (ref)" if g == reference else g for g in groups]
        ax.set_xticks(range(G), names, rotation=45, ha="right")
        ax.set_yticks(range(G), names if ax is axes[0] else [""] * G)
        ax.set_facecolor("#dddddd")
        if reference in idx:
            i = idx[reference]
            ax.add_patch(Rectangle((i - 0.5, i - 0.5), 1, 1, fill=False, ec="red", lw=2))
        r0 = part.iloc[0]
        ax.set_title(_op_name(r0), fontsize=8)
        ax.set_xlabel(f"{attribute} of second image")
    axes[0].set_ylabel(f"{attribute} of first image")
    if im is not None:
        cax = fig.add_axes((1 - 1.0 / width, 0.25, 0.15 / width, 0.6))
        fig.colorbar(im, cax=cax, label="impostor FMR (log scale)")
    fig.suptitle(f"Cross-group impostor FMR by {attribute} (grey: no false match or no "
                 "pairs; red box: reference group)", fontsize=8)
    return fig


def score_figure(attribute: str, curves: Sequence[GroupCurve], lo: float, hi: float,
                 native: Callable[[np.ndarray], np.ndarray], score_name: str,
                 thresholds: Sequence[float]) -> Figure:
    """Same-group impostor and genuine score distributions per group, native scale."""
    fig = Figure(figsize=(6.0, 4.6))
    ax_i, ax_g = fig.subplots(2, 1, sharex=True)
    gen = [native(c.genuine) for c in curves if len(c.genuine)]
    allg = np.concatenate(gen) if gen else np.zeros(1)
    gbins = np.linspace(allg.min(), allg.max() + 1e-9, 31)
    bins = len(curves[0].impostor_hist) if curves else 1
    step = max(1, bins // 256) if bins % max(1, bins // 256) == 0 else 1
    edges = native(np.linspace(lo, hi, bins + 1))[::step]
    total = sum(c.impostor_hist for c in curves).reshape(-1, step).sum(axis=1)
    nz = np.flatnonzero(total)
    span = slice(max(nz[0] - 1, 0), nz[-1] + 2) if len(nz) else slice(0, len(total))
    centers = ((edges[:-1] + edges[1:]) / 2)[span]
    for i, c in enumerate(curves):
        color = f"C{i % 10}"
        if c.n_nonmated:
            h = c.impostor_hist.reshape(-1, step).sum(axis=1)[span]
            ax_i.plot(centers, h / c.n_nonmated, color=color, lw=1, label=f"{c.group}")
        if len(c.genuine):
            ax_g.hist(native(c.genuine), bins=gbins, histtype="step", color=color,
                      density=False, label=f"{c.group} ({len(c.genuine)})")
    for t in thresholds:
        for ax in (ax_i, ax_g):
            ax.axvline(t, color="grey", lw=0.6, ls="--")
    ax_i.set_ylabel("share of impostor pairs")
    ax_g.set_ylabel("mated pairs")
    ax_g.set_xlabel(score_name)
    ax_i.set_title(f"Score distributions by {attribute} (dashed: operating points)")
    for ax, what in ((ax_i, "same-group impostor pairs"), (ax_g, "mated pairs")):
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6)
        else:  # e.g. a pair list with impostors across groups only
            ax.text(0.5, 0.5, f"no group has {what}", transform=ax.transAxes,
                    ha="center", va="center", fontsize=8, color="grey")
    fig.subplots_adjust(left=0.12, right=0.97, bottom=0.1, top=0.93, hspace=0.12)
    return fig


def ratio_figure(attribute: str, rows: pd.DataFrame) -> Figure:
    """FMR ratio to the reference group with bootstrap 95 % whiskers, one panel per point."""
    keys = ["threshold_kind", "target_fmr", "threshold_native"]
    panels = list(rows.groupby(keys, sort=False, dropna=False))
    chars = max(len(str(g)) for g in rows["group"]) + 6
    label_in = 0.06 * chars + 0.2
    width, height = 2.2 * len(panels) + 1.0, 2.6 + label_in
    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.8 / width, right=1 - 0.15 / width, bottom=label_in / height,
                        top=1 - 0.5 / height, wspace=0.08)
    axes = fig.subplots(1, len(panels), squeeze=False, sharey=True)[0]
    for ax, (_, part) in zip(axes, panels):
        ref = str(part["reference_group"].iloc[0] or "")
        x = np.arange(len(part))
        ax.set_xlim(-0.5, len(part) - 0.5)
        if part["fmr_ratio"].isna().all():
            note = part["fmr_ratio_note"].dropna()
            ax.text(0.5, 0.5, (note.iloc[0] if len(note) else "") or "ratio undefined",
                    transform=ax.transAxes, ha="center", va="center", fontsize=7, wrap=True)
        for i, (_, r) in enumerate(part.iterrows()):
            v = r["fmr_ratio"]
            if pd.isna(v) or v <= 0:
                if not part["fmr_ratio"].isna().all():
                    ax.text(i, 1, "undefined" if pd.isna(v) else "0", rotation=90,
                            ha="center", va="bottom", fontsize=6)
                continue
            lo, hi = r.get("fmr_ratio_ci_low"), r.get("fmr_ratio_ci_high")
            ax.bar(i, v, color="C0" if r["group"] != ref else "C7", width=0.6)
            if not (pd.isna(lo) or pd.isna(hi)):
                ax.errorbar(i, v, yerr=[[v - max(lo, v / 1e3)], [hi - v]], color="black",
                            capsize=2, lw=0.8)
        ax.axhline(1, color="red", lw=0.8)
        ax.set_yscale("log")
        ax.set_xticks(x, [f"{g} (ref)" if g == ref else g for g in part["group"]],
                      rotation=45, ha="right")
        ax.set_title(_op_name(part.iloc[0]), fontsize=8)
    axes[0].set_ylabel("FMR / FMR of reference (log)")
    fig.suptitle(f"FMR ratio to the reference group by {attribute} "
                 "(whiskers: subject-bootstrap 95% CI)", fontsize=8)
    return fig
