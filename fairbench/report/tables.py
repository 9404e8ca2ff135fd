"""Write a run's tables: CSV (every column) and citeable Markdown, LaTeX and HTML views.

Every file is written atomically. ``run`` and ``report`` both call :func:`write_run_tables`
on tables from the same computation, so a rebuilt folder is byte-identical.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from fairbench.report import render
from fairbench.report.views import (
    Section,
    by_group_sections,
    coverage_sections,
    cross_group_sections,
    eer_sections,
    false_candidate_sections,
    fta_sections,
    generic_sections,
    identification_sections,
    summary_sections,
    sweep_sections,
)
from fairbench.report.views_stats import per_group_threshold_sections, worst_subgroup_sections
from fairbench.results.folder import atomic_text

#: The LaTeX wrapper that inputs every table fragment (compiles with pdflatex).
LATEX_DOCUMENT = "tables.tex"

Builder = Callable[[pd.DataFrame, Mapping[str, pd.DataFrame]], list[Section]]

#: Citeable views of the tables that have their own layout; any other table is shown as
#: stored (generic_sections).
BUILDERS: dict[str, Builder] = {
    "verification_by_group": lambda t, _: by_group_sections(t),
    "fmr_cross_group": lambda t, _: cross_group_sections(t),
    "verification_summary": lambda t, all_: summary_sections(
        t, all_.get("verification_by_group")),
    "failure_to_acquire": lambda t, _: fta_sections(t),
    "eer_by_group": lambda t, _: eer_sections(t),
    "data_coverage": lambda t, _: coverage_sections(t),
    "thresholds_per_group": lambda t, _: per_group_threshold_sections(t),
    "worst_subgroup": lambda t, _: worst_subgroup_sections(t),
    "identification_by_group": lambda t, _: identification_sections(t),
    "identification_false_candidates": lambda t, _: false_candidate_sections(t),
    "identification_sweeps": lambda t, _: sweep_sections(t),
}


def sections_for(name: str, table: pd.DataFrame, tables: Mapping[str, pd.DataFrame]
                 ) -> list[Section]:
    """The citeable sections of one table."""
    if table.empty:
        return []
    build = BUILDERS.get(name)
    out = build(table, tables) if build else generic_sections(name, table)
    if "consent" in table.columns:  # a dataset collected without consent: every table says so
        warning = f"WARNING: this dataset was {table['consent'].iloc[0]}."
        for section in out:
            section.notes.insert(0, warning)
    return out


def write_sections(tables_dir: Path, stem: str, sections: Sequence[Section], header: str,
                   frame: pd.DataFrame | None = None,
                   formats: Sequence[str] = ("md", "tex", "html")) -> list[Path]:
    """One table in every format: .csv (when a frame is given), .md, .tex, .html."""
    written = []
    if frame is not None:
        csv = tables_dir / f"{stem}.csv"
        atomic_text(csv, frame.to_csv(index=False, lineterminator="\n"))
        written.append(csv)
    makers: dict[str, Callable[[], str]] = {
        "md": lambda: render.markdown(sections, header),
        "tex": lambda: render.latex(sections, header),
        "html": lambda: render.html_tables(sections),
    }
    for ext in formats:
        p = tables_dir / f"{stem}.{ext}"
        atomic_text(p, makers[ext]())
        written.append(p)
    return written


def write_run_tables(tables_dir: Path, tables: Mapping[str, pd.DataFrame], header: str
                     ) -> list[Path]:
    """Write every table of a run in every format, and the LaTeX wrapper."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    stems = []
    for name, frame in tables.items():
        written += write_sections(tables_dir, name, sections_for(name, frame, tables), header,
                                  frame)
        stems.append(name)
    doc = tables_dir / LATEX_DOCUMENT
    atomic_text(doc, render.latex_document(stems, header))
    written.append(doc)
    return written
