"""``fairbench report``: rebuild a run's tables from run.json and counts.npz alone."""

from __future__ import annotations

from pathlib import Path

from fairbench.metrics.thresholds import Threshold
from fairbench.metrics.verification import tables_from_counts
from fairbench.report.tables import write_verification_tables
from fairbench.results import load_counts, read_run


def header(record: dict) -> str:
    ds, mt = record["dataset"], record["matcher"]
    sim = " SIMULATED DATA." if record.get("simulated") else ""
    return (f"fairbench run {record['run_id']}: matcher {mt['name']} ({mt['version']}), "
            f"dataset {ds['name']} ({ds['n_subjects']} subjects, {ds['n_images']} images), "
            f"config {record['config_hash'][:12]}.{sim}")


def rebuild(run_dir: str | Path) -> list[Path]:
    """Recompute every table from the stored counts; returns the files written."""
    run_dir = Path(run_dir)
    rec = read_run(run_dir)
    plan, counts, acquired, _ = load_counts(run_dir / "counts.npz")
    thresholds = [Threshold(**t) for t in rec.thresholds]
    tables = tables_from_counts(plan, counts, acquired, thresholds, rec.config,
                                rec.dataset.label_sources)
    return write_verification_tables(run_dir / "tables", tables, header(rec.model_dump()))
