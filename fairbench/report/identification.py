"""1:N tables (its own report, never mixed with 1:1): CSV and Markdown."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from fairbench.report import render
from fairbench.report.cells import RateCell, pct
from fairbench.report.display import Section
from fairbench.report.tables import atomic_text

BY_GROUP = "identification_by_group"
FALSE_CANDIDATES = "identification_false_candidates"
SWEEPS = "identification_sweeps"


def _point(r: dict) -> str:
    if r["threshold_kind"] == "target_fpir":
        return f"FPIR {r['target_fpir']:g} overall (t = {r['threshold_native']:.4g})"
    if r["threshold_kind"] == "reference_fpir":
        return (f"FPIR {r['target_fpir']:g} on {r['reference_group']} "
                f"(t = {r['threshold_native']:.4g})")
    return f"fixed t = {r['threshold_native']:.4g}"


def by_group_section(df: pd.DataFrame) -> Section:
    """Per group and operating point: FPIR and FNIR cells with counts, and rank-1."""
    cols = ["attribute", "group", "operating point", "gallery subjects", "FPIR", "FNIR",
            "rank-1", "people"]
    rows = []
    for r in df.to_dict(orient="records"):
        fp = RateCell.from_row(r, "fpir", "n_nonmated_searches")
        fn = RateCell.from_row(r, "fnir", "n_mated_searches")
        rows.append([r["attribute"], r["group"], _point(r), f"{r['gallery_size']:,}",
                     fp.text(), fn.text(), pct(r["rank1"]), str(r["n_subjects"])])
    notes = ["FPIR: non-mated searches whose best candidate scored at or above the threshold. "
             f"FNIR: mated searches whose mate was not in the top {int(df['rank'].iloc[0])} "
             "or scored below it. Intervals: Clopper-Pearson 95 %."] if len(df) else []
    return Section("1:N identification by group", cols, rows, notes, key=BY_GROUP)


def write_identification_tables(tables_dir: Path, by_group: pd.DataFrame,
                                false_candidates: pd.DataFrame, sweeps: pd.DataFrame,
                                header: str) -> list[Path]:
    """Write the 1:N tables; returns the files written."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, df in ((BY_GROUP, by_group), (FALSE_CANDIDATES, false_candidates),
                     (SWEEPS, sweeps)):
        p = tables_dir / f"{name}.csv"
        atomic_text(p, df.to_csv(index=False, lineterminator="\n"))
        written.append(p)
    md = tables_dir / f"{BY_GROUP}.md"
    atomic_text(md, render.markdown([by_group_section(by_group)], header))
    written.append(md)
    return written
