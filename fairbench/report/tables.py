"""Write result tables as CSV and Markdown (atomically, one file at a time)."""

from __future__ import annotations

import math
import os
import tempfile
from pathlib import Path

import pandas as pd

from fairbench.metrics.verification import VerificationTables

#: Columns shown in the Markdown view of the per-group table (the CSV has them all).
MD_COLUMNS = [
    "attribute", "group", "threshold_kind", "target_fmr", "threshold_native",
    "fmr", "n_nonmated", "fnmr", "n_mated", "n_subjects", "fta", "reference_group", "fmr_ratio",
    "fmr_ratio_ci_low", "fmr_ratio_ci_high",
]


def _atomic_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fmt_rate(rate: float, lo: float, hi: float, errors: int, n: int, upper3: float) -> str:
    """A rate as people should cite it: value, interval and counts; never a bare 0."""
    if n == 0 or (isinstance(rate, float) and math.isnan(rate)):
        return "insufficient data (n = 0)"
    if errors == 0:
        return f"0 of {n:,} (upper 95% bound {upper3:.2%})"
    return f"{rate:.3%} [{lo:.3%}, {hi:.3%}] ({errors:,}/{n:,})"


def markdown(df: pd.DataFrame) -> str:
    """A plain GitHub-style Markdown table (no extra dependency)."""
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            if isinstance(v, float):
                cells.append("" if math.isnan(v) else f"{v:.6g}")
            else:
                cells.append(str(v).replace("|", "\\|"))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def by_group_markdown(df: pd.DataFrame) -> pd.DataFrame:
    """The per-group table with rates rendered as citeable cells."""
    out = df[[c for c in MD_COLUMNS if c in df.columns]].copy()
    for p, n in (("fmr", "n_nonmated"), ("fnmr", "n_mated")):
        out[p] = [
            fmt_rate(r[p], r[f"{p}_ci_low"], r[f"{p}_ci_high"], int(r[f"{p}_errors"]),
                     int(r[n]), r[f"{p}_upper_rule_of_3"])
            for _, r in df.iterrows()
        ]
    return out


def write_verification_tables(tables_dir: Path, t: VerificationTables, header: str) -> list[Path]:
    """Write every verification table as CSV and Markdown; returns the files written."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df, md in (
        ("verification_by_group", t.by_group, by_group_markdown(t.by_group)),
        ("fmr_cross_group", t.cross_group, t.cross_group),
        ("verification_summary", t.summary, t.summary),
    ):
        csv = tables_dir / f"{name}.csv"
        _atomic_text(csv, df.to_csv(index=False, lineterminator="\n"))
        mdp = tables_dir / f"{name}.md"
        _atomic_text(mdp, f"{header}\n\n{markdown(md)}")
        written += [csv, mdp]
    return written
