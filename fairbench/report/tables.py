"""Write result tables as CSV (every column) and citeable Markdown, LaTeX and HTML views.

Each file is written atomically (temp file in the same folder, then rename). ``run`` and
``report`` share :func:`write_verification_tables`, so a rebuilt folder is byte-identical.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from fairbench.metrics.verification import VerificationTables
from fairbench.report import render
from fairbench.report.display import (
    Section,
    by_group_sections,
    cross_group_sections,
    fta_sections,
    summary_sections,
)

#: The LaTeX wrapper that inputs every table fragment (compiles with pdflatex).
LATEX_DOCUMENT = "tables.tex"


def atomic_text(path: Path, text: str) -> None:
    """Write text to ``path`` via a temp file and a rename (never half-written)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # mkstemp makes 0600; a report is meant to be read and shared
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def table_views(t: VerificationTables) -> list[tuple[str, pd.DataFrame, list[Section]]]:
    """(file stem, full frame for the CSV, citeable sections) for every table of a run."""
    by = t.by_group
    return [
        ("verification_by_group", by, by_group_sections(by)),
        ("fmr_cross_group", t.cross_group, cross_group_sections(t.cross_group)),
        ("verification_summary", t.summary, summary_sections(t.summary, by)),
        ("failure_to_acquire", _fta_frame(by), fta_sections(by)),
    ]


def _fta_frame(by: pd.DataFrame) -> pd.DataFrame:
    """FTA columns of the per-group table at one operating point (FTA has no threshold)."""
    if by.empty or "fta_errors" not in by.columns:
        return pd.DataFrame()
    first = by[by["threshold_similarity"] == by["threshold_similarity"].iloc[0]]
    cols = ["attribute", "group", "label_source", "n_subjects", "n_images"]
    cols += [c for c in by.columns if c.startswith("fta")]
    return first[[c for c in cols if c in first.columns]].reset_index(drop=True)


def write_sections(
    tables_dir: Path,
    stem: str,
    sections: Sequence[Section],
    header: str,
    frame: pd.DataFrame | None = None,
    formats: Sequence[str] = ("md", "tex", "html"),
) -> list[Path]:
    """One table in every format: .csv (when a frame is given), .md, .tex, .html."""
    written = []
    if frame is not None:
        csv = tables_dir / f"{stem}.csv"
        atomic_text(csv, frame.to_csv(index=False, lineterminator="\n"))
        written.append(csv)
    fmts: list[tuple[str, Callable[[], str]]] = [
        ("md", lambda: render.markdown(sections, header)),
        ("tex", lambda: render.latex(sections, header)),
        ("html", lambda: render.html_tables(sections)),
    ]
    for ext, make in fmts:
        if ext not in formats:
            continue
        p = tables_dir / f"{stem}.{ext}"
        atomic_text(p, make())
        written.append(p)
    return written


def write_verification_tables(tables_dir: Path, t: VerificationTables, header: str) -> list[Path]:
    """Write every verification table in every format; returns the files written."""
    return write_views(tables_dir, table_views(t), header)


def write_views(tables_dir: Path, views: Sequence[tuple[str, pd.DataFrame, list[Section]]],
                header: str) -> list[Path]:
    """Write prepared table views (see :func:`table_views`) and the LaTeX wrapper."""
    tables_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    stems = []
    for stem, frame, sections in views:
        written += write_sections(tables_dir, stem, sections, header, frame)
        stems.append(stem)
    doc = tables_dir / LATEX_DOCUMENT
    atomic_text(doc, render.latex_document(stems, header))
    written.append(doc)
    return written
