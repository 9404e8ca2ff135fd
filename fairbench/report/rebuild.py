"""``fairbench report``: rebuild a run's tables, plots, citation sentences and report.html
from its stored arrays alone (no images, models or manifest needed).

1:1 runs rebuild from ``counts.npz``, 1:N runs from ``search.npz``; both through the same
functions the run used (:mod:`fairbench.metrics.tables`), so the rebuilt tables equal the
ones the run wrote. Tables that need images (capture, liveness) are kept as the run wrote
them and only given their Markdown, LaTeX and HTML views again.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from fairbench.core.codes import Plan
from fairbench.core.counts import VerificationCounts
from fairbench.core.settings import Settings
from fairbench.errors import FairbenchError
from fairbench.metrics.tables import identification_results, verification_results
from fairbench.metrics.verification import VerificationTables
from fairbench.report import render
from fairbench.report import sentences as sn
from fairbench.report.figures import build_plots
from fairbench.report.html import html_report
from fairbench.report.tables import LATEX_DOCUMENT, sections_for, write_sections
from fairbench.results.arrays import StoredCodes, load_counts, load_search, save_replicates
from fairbench.results.folder import atomic_text
from fairbench.results.run import Run, read_table


def header(record: Mapping[str, Any]) -> str:
    ds, mt = record["dataset"], record["matcher"]
    sim = " SIMULATED DATA." if record.get("simulated") else ""
    given = not (record.get("capture") or {}).get("measured", True)
    what = "comparisons given as scores" if given else f"{ds['n_images']} images"
    consent = f" WARNING: the dataset was {ds['consent_warning']}." \
        if ds.get("consent_warning") else ""
    return (f"fairbench run {record['run_id']}: matcher {mt['name']} ({mt['version']}), "
            f"dataset {ds['name']} ({ds['n_subjects']} subjects, {what}), "
            f"config {record['config_hash'][:12]}.{sim}{consent}")


def settings_of(record: Mapping[str, Any]) -> Settings:
    cfg = record["config"]
    return Settings.from_sections(cfg["dataset"], cfg.get(record["mode"]) or {})


def verification_arrays(run: Run) -> tuple[StoredCodes, VerificationCounts]:
    """The stored 1:1 arrays of a run (kept in memory, or read from counts.npz)."""
    if run.arrays is not None:
        return run.arrays  # type: ignore[no-any-return]
    if run.run_dir is None:
        raise ValueError("this run has neither a folder nor arrays in memory")
    return load_counts(run.run_dir / "counts.npz")


def _attributes_stored(record: Mapping[str, Any], plan: Plan) -> None:
    missing = [a for a in record["dataset"]["attributes"] if a not in plan.strata.columns]
    if missing:
        raise FairbenchError(f"run {record['run_id']}: its arrays hold no attribute "
                             f"{', '.join(map(repr, missing))} (they hold "
                             f"{', '.join(plan.strata.columns)}); run.json and the arrays "
                             "do not belong together")


def recompute_verification(record: Mapping[str, Any], codes: StoredCodes,
                           counts: VerificationCounts) -> VerificationTables:
    """Every 1:1 table of a run, from its record and arrays (what the run computed)."""
    _attributes_stored(record, codes.plan)
    cfg, ds = record["config"], record["dataset"]
    _, tables = verification_results(
        codes.plan, counts, codes.acquired if (record.get("capture") or {}).get(
            "measured", True) else None, codes.failed, cfg["verification"],
        settings_of(record), ds["attributes"], ds["label_sources"],
        record["matcher"].get("similarity", "cosine"), bool(record.get("simulated")),
        ds.get("consent_warning", ""))
    return tables


def recompute_identification(record: Mapping[str, Any], run_dir: Path
                             ) -> tuple[Plan, dict[str, pd.DataFrame], dict[str, Any]]:
    """Every 1:N table of a run, from its record and search.npz."""
    codes, outcomes, _, sizes = load_search(run_dir / "search.npz")
    _attributes_stored(record, codes.plan)
    missing = [m["set"] for m in record.get("sweeps") or [] if m["set"] not in outcomes]
    if "main" not in outcomes or missing:
        raise FairbenchError(f"{run_dir / 'search.npz'}: lacks the search set(s) "
                             f"{', '.join(['main'] * ('main' not in outcomes) + missing)}")
    cfg, ds = record["config"], record["dataset"]
    res = identification_results(codes.plan, outcomes, sizes, record.get("sweeps") or [],
                                 cfg["identification"], settings_of(record), ds["attributes"],
                                 ds["label_sources"], record["matcher"].get("similarity",
                                                                            "cosine"),
                                 bool(record.get("simulated")),
                                 ds.get("consent_warning", ""))
    tables = {"identification_by_group": res.tables.by_group,
              "identification_false_candidates": res.tables.false_candidates,
              "identification_sweeps": res.sweeps}
    return codes.plan, tables, res.tables.replicates


def _kept_tables(record: Mapping[str, Any], folder: Path, recomputed: Mapping[str, Any]
                 ) -> dict[str, pd.DataFrame]:
    """Tables the arrays cannot rebuild (capture, liveness): as the run wrote them."""
    out = {}
    for name, rows in (record.get("metrics") or {}).items():
        if name in recomputed or not rows:
            continue
        p = folder / f"{name}.csv"
        out[name] = read_table(p) if p.is_file() else pd.DataFrame(rows)
    return out


def build_report(run_dir: str | Path) -> list[Path]:
    """Tables, plots, citations.md and report.html; returns every file written."""
    run_dir = Path(run_dir)
    run = Run.load(run_dir)
    rec, head = run.record, header(run.record)
    folder = run_dir / "tables"
    folder.mkdir(exist_ok=True)
    plots: list[Any] = []
    skipped: list[Any] = []
    cites: list[sn.Sentence] = []
    if run.mode == "identification":
        _, tables, replicates = recompute_identification(rec, run_dir)
    else:
        codes, counts = verification_arrays(run)
        vt = recompute_verification(rec, codes, counts)
        tables, replicates = vt.named(), vt.replicates
        plots, skipped = build_plots(rec, codes.plan, counts, vt, run_dir / "plots")
        by_group = vt.by_group.astype(object).where(vt.by_group.notna(), None)
        cites = sn.noteworthy(by_group.to_dict(orient="records"), sn.Context.from_record(rec),
                              sn.describe_attributes(rec), rec["dataset"]["attributes"])
    kept = _kept_tables(rec, folder, tables)
    everything = {**tables, **kept}
    sections = {}
    written: list[Path] = []
    for name, frame in everything.items():
        sections[name] = sections_for(name, frame, everything)
        formats = ("md", "tex", "html")
        written += write_sections(folder, name, sections[name], head,
                                  frame if name in tables else None, formats)
    atomic_text(folder / LATEX_DOCUMENT, render.latex_document(list(everything), head))
    written.append(folder / LATEX_DOCUMENT)
    if replicates:
        save_replicates(run_dir / "bootstrap.npz", replicates)
        written.append(run_dir / "bootstrap.npz")
    written += [p for pl in plots for p in (pl.svg, pl.png)]
    if cites:
        cpath = run_dir / "citations.md"
        atomic_text(cpath, sn.markdown(cites, head))
        written.append(cpath)
    page = run_dir / "report.html"
    atomic_text(page, html_report(rec, sections, plots, cites, run, skipped))
    return [*written, page]
