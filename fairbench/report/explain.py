"""``fairbench explain-accuracy``: what a single "accuracy" number hides.

Reads a finished 1:1 run's tables (verification, and capture/liveness/transaction when the
run had a ``capture:`` section) and lays out, per group, FTA, BPCER, FNMR, FMR and the
end-to-end transaction rejection rate, the worst-to-best ratio of each within an
attribute, and the single figures a vendor might quote under common definitions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fairbench.errors import FairbenchError
from fairbench.report.render import markdown_table
from fairbench.results.run import read_record, read_table

KEY = ["attribute", "group"]
RATES = ["fta", "bpcer", "fnmr", "fmr", "p_reject"]


def _read(path: Path) -> pd.DataFrame | None:
    return read_table(path) if path.is_file() else None


def _md(df: pd.DataFrame, fmt: str = "{:.4f}") -> str:
    def cell(v: object) -> str:
        return fmt.format(v) if isinstance(v, float) and np.isfinite(v) else (
            "" if isinstance(v, float) and np.isnan(v) else str(v))
    return "\n".join(markdown_table(list(df.columns),
                                    [[cell(v) for v in r] for r in df.itertuples(index=False)]))


def per_group(run_dir: Path, condition: str = "clean") -> tuple[pd.DataFrame, float | None]:
    """One row per (attribute, group) with every stage's rate, at the run's capture
    operating point (else the first target FMR); returns the frame and that target."""
    run_dir = Path(run_dir)
    t = run_dir / "tables"
    rec = read_record(run_dir)
    ver = _read(t / "verification_by_group.csv")
    if rec["mode"] != "verification" or ver is None:
        raise FairbenchError(f"{run_dir}: explain-accuracy reads a 1:1 run folder with "
                             "tables/verification_by_group.csv")
    if not (rec.get("capture") or {}).get("measured", True) or "fta" not in ver:
        raise FairbenchError(f"{run_dir}: explain-accuracy splits a headline into capture, "
                             "liveness and matching errors, but this run's comparisons were "
                             "given as scores and it measured no capture; its FMR and FNMR "
                             "are in tables/verification_by_group.csv")
    cap_cfg = (rec.get("config") or {}).get("capture") or {}
    ver = ver[ver["threshold_kind"] == "target_fmr"]
    targets = sorted(ver["target_fmr"].dropna().unique(), reverse=True)
    target = cap_cfg.get("target_fmr") or (targets[0] if targets else None)
    ver = ver[np.isclose(ver["target_fmr"], target)] if target is not None else ver
    out = ver[[*KEY, "fta", "fnmr", "fmr", "n_mated", "n_nonmated"]]
    cap = _read(t / "capture_by_group.csv")
    if cap is not None:  # capture-stage FTA (acquisition rule applied) replaces the plain one
        c = cap[cap["condition"] == condition][[*KEY, "fta", "n_images"]]
        out = out.drop(columns=["fta"]).merge(c, on=KEY, how="outer")
    live = _read(t / "liveness_by_group.csv")
    if live is not None and "condition" in live:
        lv = live[live["condition"] == condition]
        out = out.merge(lv[[*KEY, "bpcer", "validation"]], on=KEY, how="left")
    tr = _read(t / "transaction_by_group.csv")
    if tr is not None:
        tt = tr[tr["condition"] == condition]
        keep = [*KEY, "p_reject", "n_transactions",
                *[c for c in tt.columns if c.startswith("p_reject_any_of_")]]
        out = out.merge(tt[keep], on=KEY, how="left")
    return out.reset_index(drop=True), target


def worst_to_best(df: pd.DataFrame) -> pd.DataFrame:
    """Per attribute and rate: worst group, best group and their ratio (inf when best is 0)."""
    rows = []
    for attr, g in df[df["attribute"] != "all"].groupby("attribute", sort=False):
        for r in RATES:
            if r not in g or g[r].isna().all():
                continue
            s = g.set_index("group")[r].dropna()
            hi, lo = s.idxmax(), s.idxmin()
            ratio = s[hi] / s[lo] if s[lo] > 0 else (np.inf if s[hi] > 0 else 1.0)
            rows.append({"attribute": attr, "rate": r, "worst_group": hi, "worst": s[hi],
                         "best_group": lo, "best": s[lo], "worst_to_best": ratio})
    return pd.DataFrame(rows)


def headline_figures(row: pd.Series) -> dict[str, float]:
    """Single "accuracy" figures from one row (overall or a group), by definition."""
    n_m, n_n = row.get("n_mated", np.nan), row.get("n_nonmated", np.nan)
    fnmr, fmr = row.get("fnmr", np.nan), row.get("fmr", np.nan)
    out = {
        "accuracy over all comparisons = 1 - errors/comparisons":
            1 - (fnmr * n_m + fmr * n_n) / (n_m + n_n),
        "balanced accuracy = 1 - (FMR + FNMR)/2": 1 - (fmr + fnmr) / 2,
        "true accept rate = 1 - FNMR": 1 - fnmr,
        "true reject rate = 1 - FMR": 1 - fmr,
    }
    if "p_reject" in row and pd.notna(row["p_reject"]):
        out["genuine transaction success = 1 - P(rejected at capture, liveness or match)"] = \
            1 - row["p_reject"]
    return {k: float(v) for k, v in out.items()}


def explain(run_dir: Path, condition: str = "clean") -> str:
    """The whole explanation as Markdown text."""
    df, target = per_group(run_dir, condition)
    cols = [c for c in [*KEY, *RATES] if c in df]
    lines = [f"# What one accuracy number hides ({Path(run_dir).name})", "",
             f"Operating point: global threshold for FMR = {target:g}; capture condition "
             f"'{condition}'.", ""]
    if "validation" in df and (df["validation"] == "UNVALIDATED").any():
        lines += ["BPCER comes from an UNVALIDATED (toy) liveness model.", ""]
    lines += ["## Per group", "", _md(df[cols]), ""]
    wb = worst_to_best(df)
    if len(wb):
        lines += ["## Worst to best within each attribute", "",
                  _md(wb, "{:.4g}"), ""]
    lines += ["## The single figures this run could be summarised by", ""]
    overall = df[df["attribute"] == "all"].iloc[0]
    for name, v in headline_figures(overall).items():
        lines.append(f"- {name}: {100 * v:.2f} %")
    if "p_reject" in df and len(df[df["attribute"] != "all"]):
        g = df[df["attribute"] != "all"].dropna(subset=["p_reject"])
        if len(g):
            w = g.loc[g["p_reject"].idxmax()]
            lines.append(f"- for the worst group ({w['attribute']}={w['group']}), genuine "
                         f"transaction success is {100 * (1 - w['p_reject']):.2f} %")
    lines += ["", "1:N (FPIR/FNIR) is not part of a 1:1 run; see the run's 1:N twin if any."]
    return "\n".join(lines) + "\n"
