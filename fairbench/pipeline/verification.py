"""The 1:1 pipeline: all-pairs plan -> streamed counts -> tables (-> capture stage)."""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fairbench.core.scale import from_native
from fairbench.engine.allpairs import count_verification
from fairbench.metrics.tables import verification_results
from fairbench.metrics.verification import mark
from fairbench.pipeline.devices import kernel_record
from fairbench.pipeline.inputs import Inputs, images_frame
from fairbench.pipeline.parts import RunParts, base_record
from fairbench.plan import make_plan
from fairbench.results.arrays import StoredCodes, save_counts
from fairbench.results.folder import atomic_text


def write_csv(df: pd.DataFrame, path: Path) -> None:
    atomic_text(path, df.to_csv(index=False, lineterminator="\n"))


def write_config(config: dict, path: Path) -> None:
    atomic_text(path, yaml.safe_dump(config, sort_keys=False))


PEOPLE_NOTE = (
    "verification.tail: people: impostor pairs off the bins that hold the run's thresholds "
    "were kept as counts per pair of people and stratum, so every table at the run's "
    "operating points is exact, while a per-group threshold off those bins is read at bin "
    "resolution (thresholds_per_group.csv says which)")


def verification(inp: Inputs, progress: bool = True) -> RunParts:
    """Count every pair, read every group at every operating point, write nothing."""
    config, ds, tpl = inp.config, inp.dataset, inp.templates
    vc = config.verification
    assert vc is not None
    if vc.impostor_sample is not None:
        from fairbench.errors import ConfigError

        raise ConfigError("verification.impostor_sample: only for matchers that compare two "
                          "images at a time (http mode: compare); this run compares every "
                          "pair of templates")
    t = time.perf_counter()
    plan = make_plan(ds.manifest.frame, ds.attributes, ds.banded)
    fixed = [float(np.float32(from_native(v, inp.similarity))) for v in vc.fixed_thresholds]
    counts, failed = count_verification(tpl.embeddings, inp.similarity, plan, fixed,
                                        vc.target_fmr, vc.histogram_bins, vc.block_size,
                                        vc.storage, executor=inp.executor, device=vc.device,
                                        precision=vc.precision, tail=vc.tail)
    inp.timings["scoring"] = time.perf_counter() - t
    t = time.perf_counter()
    s = config.settings()
    points, tables = verification_results(
        plan, counts, tpl.acquired, failed, vc.model_dump(mode="json"), s, ds.attributes,
        ds.label_sources, inp.similarity, simulated=config.dataset.simulate is not None,
        consent=ds.consent_warning)
    inp.timings["metrics"] = time.perf_counter() - t
    out = tables.named()
    images = images_frame(inp)
    notes: list[str] = []
    files = {}
    if config.capture is not None:  # capture stress, liveness, transactions
        from fairbench.capture.pipeline import OUTCOME_COLUMNS, capture_stage
        from fairbench.capture.pipeline import notes as cnotes

        t = time.perf_counter()
        cap = capture_stage(config, ds, inp.matcher, tpl.embeddings, points, inp.similarity,
                            ds.label_sources, progress)
        ds.label_sources.update(cap.label_sources)
        inp.timings["capture"] = time.perf_counter() - t
        mark(cap.tables.values(), config.dataset.simulate is not None, ds.consent_warning)
        out.update(cap.tables)
        images = pd.concat([images.reset_index(drop=True), cap.images.reset_index(drop=True)],
                           axis=1)
        if "skin_tone_group" in cap.images:
            images["skin_tone_label_source"] = cap.label_sources["skin_tone_group"]
        outcomes = cap.outcomes[[c for c in OUTCOME_COLUMNS if c in cap.outcomes]]
        files["capture_outcomes.csv"] = partial(write_csv, outcomes)
        notes = cnotes(cap)
    if counts.tail == "people":
        notes.append(PEOPLE_NOTE)
    record = base_record(
        inp, "verification", "",
        {"mated": plan.n_mated, "nonmated": plan.n_nonmated, **counts.tail_summary()},
        points, tables.by_group,
        {k: v for k, v in out.items() if k not in ("fmr_cross_group", "failure_to_acquire")},
        notes)
    record["provenance"]["kernels"] = {"verification": {**kernel_record(
        "verification", vc.device, vc.precision), "tail": counts.tail}}
    if config.capture is not None:
        record["capture"]["stage"] = cap.summary
    codes = StoredCodes(plan, tpl.acquired, failed, ds.manifest.frame["image_id"].tolist())
    files["images.csv"] = partial(write_csv, images)
    files["counts.npz"] = lambda p: save_counts(p, codes, counts)
    files["config.yaml"] = partial(write_config, record["config"])
    return RunParts(record, out, tables.replicates, files, (codes, counts))
