"""The one path from a run's stored arrays to every one of its tables.

``fairbench run`` and ``fairbench report`` both call these functions, with the arrays the
engine produced or the ones read back from ``counts.npz`` / ``search.npz``, so a rebuilt
folder holds the same tables as the run wrote.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan, first_per_subject
from fairbench.core.counts import VerificationCounts
from fairbench.core.operating import OperatingPoint
from fairbench.core.search import SearchOutcomes
from fairbench.core.settings import Settings
from fairbench.metrics.coverage import coverage
from fairbench.metrics.eer import eer_table
from fairbench.metrics.groups import make_views
from fairbench.metrics.identification import (
    IdentificationTables,
    choose_references,
    global_points,
    identification_tables,
    reference_point,
)
from fairbench.metrics.thresholds import fixed_points, score_dtype, verification_points
from fairbench.metrics.verification import (
    VerificationTables,
    mark,
    verification_tables,
)


def verification_results(
    plan: Plan, counts: VerificationCounts, acquired: np.ndarray | None, failed: np.ndarray,
    reading: Mapping[str, Any], s: Settings, attributes: Sequence[str],
    label_sources: Mapping[str, str], similarity: str, simulated: bool = False,
    consent: str = "",
) -> tuple[list[OperatingPoint], VerificationTables]:
    """Operating points (exact, from the counts) and every 1:1 table.

    ``reading`` is the resolved ``verification`` config section; ``simulated`` and
    ``consent`` (a warning) mark every table (:func:`~fairbench.metrics.verification.mark`).
    """
    points = verification_points(counts, reading["target_fmr"],
                                 reading.get("fixed_thresholds") or [], similarity,
                                 reading.get("threshold_rule") or "fairbench")
    tables = verification_tables(plan, counts, acquired, points, s, attributes,
                                 label_sources, failed)
    if counts.listed is not None:  # exact there: the engine kept the bins it needs
        tables.eer = eer_table(plan, counts, make_views(plan, attributes, s.intersections),
                               similarity, label_sources)
    else:  # all pairs: what this data can and cannot show
        tables.coverage = coverage(plan, attributes, s.intersections)
    if reading.get("threshold_policy") == "per_group":  # beside the global view, never instead
        from fairbench.metrics.pergroup import per_group_thresholds

        tables.per_group = per_group_thresholds(plan, counts, acquired, failed, points, s,
                                                attributes, similarity, label_sources)
    scan = reading.get("scan") or {}
    if scan.get("depth", 2):
        from fairbench.metrics.scan import scan_table

        tables.worst_subgroup = scan_table(plan, counts, points, attributes, s,
                                           int(scan.get("depth", 2)),
                                           int(scan.get("min_subjects", 5)))
    mark((tables.by_group, tables.cross_group, tables.summary, tables.eer, tables.coverage,
          tables.per_group, tables.worst_subgroup), simulated, consent)
    return points, tables


@dataclass
class IdentificationResults:
    """Every 1:N table, and the operating points and gallery size they were read at."""

    points: list[OperatingPoint]
    tables: IdentificationTables
    sweeps: pd.DataFrame
    gallery_size: int


def identification_results(
    plan: Plan, outcomes: Mapping[str, SearchOutcomes], gallery_sizes: Mapping[str, int],
    sweeps: Sequence[Mapping[str, Any]], reading: Mapping[str, Any], s: Settings,
    attributes: Sequence[str], label_sources: Mapping[str, str], similarity: str,
    simulated: bool = False, consent: str = "",
) -> IdentificationResults:
    """Thresholds, references and tables of the main search set ``"main"``, and the sweep
    table over the other sets (each at the main run's thresholds, without a bootstrap).

    ``reading`` is the resolved ``identification`` config section. A false candidate's
    group is that of its subject's first image.
    """
    out = outcomes["main"]
    views = make_views(plan, attributes, s.intersections)
    rank = int(reading["rank"])
    targets = global_points(out, reading["target_fpir"], [], similarity)
    fixed = fixed_points(reading.get("fixed_thresholds") or [], similarity,
                         score_dtype(out.nonmate_score))
    refs = choose_references(views, plan, out, targets + fixed, rank, s)
    configured = [v for v in views if v.name in s.reference_group]
    ref_view = configured[0] if configured else next((v for v in views if v.name != "all"),
                                                     views[0])
    nist = reference_point(out, ref_view, refs[ref_view.name].name(ref_view) or None,
                           float(reading["reference_fpir"]), similarity)
    points = [*targets, nist, *fixed]
    cands = {v.name: first_per_subject(plan.subject, v.image_group, plan.n_subjects)
             for v in views}
    tables = identification_tables(plan, out, views, points, rank, gallery_sizes["main"], s,
                                   refs, label_sources, cands)
    rows = []
    single = [v for v in views if len(v.attributes) == 1]
    no_boot = Settings(s.confidence, s.min_errors, s.reference_group, 0, 0, s.alpha,
                       s.intersections)
    for meta in sweeps:
        name = str(meta["set"])
        t = identification_tables(plan, outcomes[name], single, points, rank,
                                  gallery_sizes[name], no_boot, refs, label_sources)
        df = t.by_group
        for k in ("over_represented", "fraction", "sweep"):
            df.insert(0, k, meta[k])
        rows.append(df)
    sweep_table = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
    mark((tables.by_group, tables.false_candidates, sweep_table), simulated, consent)
    return IdentificationResults(points, tables, sweep_table, gallery_sizes["main"])
