"""The 1:1 pipeline over a comparison list: score file -> samples -> counts -> tables.

Same tables, definitions and report as a run over templates (the list engine fills the same
counts), plus ``eer_by_group``. Acquisition is not measured (the file says nothing about
it), so the tables have no FTA columns and run.json says so. Every id that does not
resolve, and every malformed row, is listed after the first pass, before anything else is
done; nothing is written.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial

import numpy as np

from fairbench.core.comparisons import ScoredChunk
from fairbench.core.scale import from_native
from fairbench.data.scorefiles import bob_chunks, csv_chunks, matrix_chunks, pyeer_chunks
from fairbench.engine.listed import FirstPass, count_listed
from fairbench.errors import DataError
from fairbench.matchers.scores import ScoresMatcher
from fairbench.metrics.eer import eer_windows
from fairbench.metrics.groups import make_views
from fairbench.metrics.tables import verification_results
from fairbench.pipeline.inputs import Inputs, no_templates
from fairbench.pipeline.parts import RunParts, base_record
from fairbench.pipeline.verification import write_config, write_csv
from fairbench.plan.listed import Samples
from fairbench.results.arrays import StoredCodes, save_counts


def chunks_of(matcher: ScoresMatcher, samples: Samples) -> Iterator[ScoredChunk]:
    """One pass over the matcher's files, resolved against the samples."""
    p = matcher.p
    if p.format == "pyeer":
        for raw, kind in pyeer_chunks(p):
            yield samples.resolve(raw, kind)
        return
    reader = {"bob4": bob_chunks, "bob5": bob_chunks, "csv": csv_chunks,
              "matrix": matrix_chunks}.get(p.format)
    if reader is None:
        raise DataError(f"matcher.params.format: {p.format!r} is a 1:N format; use it under "
                        "mode: identification")
    for raw in reader(p):
        yield samples.resolve(raw)


def mark_record(record: dict, simulated: bool) -> None:
    """Synthetic scores (``params.simulated``) make a simulated run, said everywhere."""
    if simulated:
        record["simulated"] = record["dataset"]["simulated"] = True
        record["notes"].insert(0, "SIMULATED scores (matcher.params.simulated): these numbers "
                               "describe synthetic data, not a real system")


def scored_verification(inp: Inputs, progress: bool = True) -> RunParts:
    """Read the list twice, count, read every group at every operating point."""
    config, ds, matcher = inp.config, inp.dataset, inp.matcher
    assert isinstance(matcher, ScoresMatcher) and config.verification is not None
    vc, kind = config.verification, inp.similarity
    t = time.perf_counter()
    source = ", ".join(str(f) for f in matcher.p.files().values())
    samples = Samples(ds.manifest.frame, ds.attributes, ds.banded, ds.manifest.keyed_by, kind,
                      source)
    fixed = [from_native(v, kind) for v in vc.fixed_thresholds]
    s = config.settings()

    def windows(fp: FirstPass) -> tuple[np.ndarray, np.ndarray]:
        if samples.problems:  # every problem of the whole list, before any more work
            raise DataError(f"{source}: comparisons that do not match the manifest "
                            f"{ds.manifest.source}", samples.messages())
        if fp.n_rows == 0:
            raise DataError(f"{source}: no comparisons")
        if fp.repeated and matcher.p.repeats == "error":
            pairs = [f"{samples.key[a]} - {samples.key[b]}" for a, b in fp.repeats]
            raise DataError(f"{source}: {fp.repeated:,} rows compare a pair of samples that "
                            "another row compares already (either way round); list each "
                            "pair once, or set matcher.params.repeats: keep to count every "
                            "row", pairs)
        if fp.n_scored == 0:
            raise DataError(f"{source}: no comparison has a score (all are empty, nan or "
                            "not finite)")
        plan = samples.plan(fp.mated_i, fp.mated_j)
        views = make_views(plan, ds.attributes, s.intersections)
        return eer_windows(plan, fp.hist, fp.binning, fp.mated_s, views)

    counts, fp = count_listed(lambda: chunks_of(matcher, samples), samples.codes.n_strata,
                              len(samples.codes.subjects), fixed, vc.target_fmr,
                              vc.histogram_bins, windows, find_repeats=True)
    plan = samples.plan(fp.mated_i, fp.mated_j)
    inp.timings["scoring"] = time.perf_counter() - t
    n = plan.n_images
    inp.templates = no_templates(n)
    acquired, failed = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    t = time.perf_counter()
    points, tables = verification_results(
        plan, counts, None, failed, vc.model_dump(mode="json"), s, ds.attributes,
        ds.label_sources, kind, simulated=matcher.p.simulated, consent=ds.consent_warning)
    inp.timings["metrics"] = time.perf_counter() - t
    out = tables.named()
    m_failed = int((~np.isfinite(counts.mated_s)).sum())
    comparisons = {"listed": fp.n_rows, "mated": plan.n_mated,
                   "nonmated": counts.n_nonmated_total, "failed_mated": m_failed,
                   "failed_nonmated": int(fp.nonmated_failed.sum()),
                   **counts.tail_summary(), "samples": n}
    notes = [f"comparisons read from {matcher.p.format} file(s) {source}: acquisition and "
             "liveness were not measured by this run"]
    if fp.repeated:
        notes.append(f"{fp.repeated:,} rows repeat a pair already compared; each counts as a "
                     "comparison (matcher.params.repeats: keep)")
    record = base_record(inp, "verification", "", comparisons, points, tables.by_group,
                         {k: v for k, v in out.items() if k != "fmr_cross_group"}, notes)
    record["capture"]["measured"] = False
    mark_record(record, matcher.p.simulated)
    codes = StoredCodes(plan, acquired, failed, samples.ids())
    files = {"samples.csv": partial(write_csv, samples.frame_of_samples()),
             "counts.npz": lambda p: save_counts(p, codes, counts),
             "config.yaml": partial(write_config, record["config"])}
    return RunParts(record, out, tables.replicates, files, (codes, counts))
