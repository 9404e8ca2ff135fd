"""``fairbench report``: rebuild a run's tables, plots, citation sentences and report.html
from run.json and counts.npz alone (no images, models or manifest needed)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench.counts import VerificationCounts
from fairbench.metrics.thresholds import Threshold
from fairbench.metrics.verification import VerificationTables, tables_from_counts
from fairbench.plan import Plan
from fairbench.report import sentences as sn
from fairbench.report.display import generic_sections, identification_sections
from fairbench.report.figures import build_plots
from fairbench.report.html import html_report
from fairbench.report.tables import (
    atomic_text,
    table_views,
    write_sections,
    write_verification_tables,
    write_views,
)
from fairbench.results import load_counts, read_run

#: run.json metric families that have dedicated tables; any other family is shown as stored.
KNOWN_METRICS = {"verification_by_group", "verification_summary"}


def header(record: dict) -> str:
    ds, mt = record["dataset"], record["matcher"]
    sim = " SIMULATED DATA." if record.get("simulated") else ""
    return (f"fairbench run {record['run_id']}: matcher {mt['name']} ({mt['version']}), "
            f"dataset {ds['name']} ({ds['n_subjects']} subjects, {ds['n_images']} images), "
            f"config {record['config_hash'][:12]}.{sim}")


@dataclass
class StoredRun:
    """A run folder read back: the validated record, counts and recomputed tables."""

    record: dict[str, Any]
    plan: Plan
    counts: VerificationCounts
    acquired: np.ndarray
    tables: VerificationTables


def load_run(run_dir: str | Path) -> StoredRun:
    """Read run.json and counts.npz and recompute every table (the one path run uses)."""
    run_dir = Path(run_dir)
    rec = read_run(run_dir)
    plan, counts, acquired, _ = load_counts(run_dir / "counts.npz")
    thresholds = [Threshold(**t) for t in rec.thresholds]
    tables = tables_from_counts(plan, counts, acquired, thresholds, rec.config,
                                rec.dataset.label_sources)
    return StoredRun(rec.model_dump(), plan, counts, acquired, tables)


def rebuild(run_dir: str | Path) -> list[Path]:
    """Recompute every table from the stored counts; returns the table files written."""
    run = load_run(run_dir)
    return write_verification_tables(Path(run_dir) / "tables", run.tables, header(run.record))


def build_report(run_dir: str | Path) -> list[Path]:
    """Tables, plots, citations.md and report.html; returns every file written."""
    run_dir = Path(run_dir)
    if read_run(run_dir).mode == "identification":
        return identification_report(run_dir)
    run = load_run(run_dir)
    rec, head = run.record, header(run.record)
    views = table_views(run.tables)
    written = write_views(run_dir / "tables", views, head)
    sections = {stem: secs for stem, _, secs in views}
    for name, records in (rec.get("metrics") or {}).items():
        if name not in KNOWN_METRICS and records:
            sections[name] = generic_sections(name, records)  # the run wrote its CSV/MD
            written += write_sections(run_dir / "tables", name, sections[name], head,
                                      formats=("tex", "html"))
    plots = build_plots(rec, run.plan, run.counts, run.tables, run_dir / "plots")
    written += [p for pl in plots for p in (pl.svg, pl.png)]
    by_group = run.tables.by_group.astype(object).where(run.tables.by_group.notna(), None)
    ctx = sn.Context.from_record(rec)
    cites = sn.noteworthy(by_group.to_dict(orient="records"), ctx,
                          sn.describe_attributes(rec), rec["dataset"]["attributes"])
    cpath = run_dir / "citations.md"
    atomic_text(cpath, sn.markdown(cites, head))
    page = run_dir / "report.html"
    atomic_text(page, html_report(rec, sections, plots, cites))
    return [*written, cpath, page]


def identification_report(run_dir: Path) -> list[Path]:
    """A 1:N run (no counts.npz): its stored per-group table as LaTeX and HTML (the run wrote
    the CSV and Markdown) and report.html; no plots or sentences for this mode yet."""
    rec = read_run(run_dir).model_dump()
    head = header(rec)
    sections: dict[str, list] = {}
    written: list[Path] = []
    for name, records in (rec.get("metrics") or {}).items():
        if not records:
            continue
        df = pd.DataFrame(records)
        secs = identification_sections(df) if name == "identification_by_group" \
            else generic_sections(name, records)
        sections[name] = secs
        written += write_sections(run_dir / "tables", name, secs, head, formats=("tex", "html"))
    page = run_dir / "report.html"
    atomic_text(page, html_report(rec, sections, [], []))
    return [*written, page]
