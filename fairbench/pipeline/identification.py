"""The 1:N pipeline: search plan -> streamed searches (main and sweeps) -> tables.

Its own run folder (id ending in ``-1n``) and report: 1:1 and 1:N results are never mixed.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from fairbench.engine.search import run_searches
from fairbench.kernels.prep import failed_rows
from fairbench.metrics.tables import identification_results
from fairbench.pipeline.devices import kernel_record
from fairbench.pipeline.inputs import Inputs, images_frame
from fairbench.pipeline.parts import RunParts, base_record
from fairbench.pipeline.verification import write_config, write_csv
from fairbench.plan import GALLERY, MATED, NONMATED, make_plan, make_search_plan
from fairbench.plan.search import subset_roles, sweep_subsets
from fairbench.results.arrays import StoredCodes, save_search


def identification(inp: Inputs, progress: bool = True) -> RunParts:
    """Plan, search, threshold and tabulate one 1:N run (plus gallery sweeps)."""
    config, ds, tpl = inp.config, inp.dataset, inp.templates
    ic = config.identification
    assert ic is not None
    frame = ds.manifest.frame
    t = time.perf_counter()
    plan = make_plan(frame, ds.attributes, ds.banded)
    sp = make_search_plan(plan, frame, ic.nonmated_share, ic.seed, ic.gallery.per_subject,
                          ic.gallery.select)
    failed = failed_rows(tpl.embeddings, inp.similarity)
    everyone = np.ones(plan.n_subjects, dtype=bool)
    makeup = None
    if ic.makeup is not None:
        makeup = (ic.makeup.attribute or ds.attributes[0], ic.makeup.share)
    sweeps = sweep_subsets(plan, sp, ic.gallery_fractions, ic.seed, makeup)
    outcomes, sizes = {}, {}
    for name, keep in [("main", everyone & sp.enrolled), *((w.name, w.keep) for w in sweeps)]:
        gal, probes, mated = subset_roles(sp, plan, keep)
        if len(gal) == 0:
            continue
        outcomes[name] = run_searches(tpl.embeddings, plan, gal, probes, mated, ic.candidates,
                                      inp.similarity, ic.storage, failed, inp.executor,
                                      ic.device, ic.precision)
        sizes[name] = int(keep.sum())
    inp.timings["scoring"] = time.perf_counter() - t
    t = time.perf_counter()
    meta = [w.label() for w in sweeps if w.name in outcomes]
    res = identification_results(plan, outcomes, sizes, meta, ic.model_dump(mode="json"),
                                 config.settings(), ds.attributes, ds.label_sources,
                                 inp.similarity, config.dataset.simulate is not None,
                                 ds.consent_warning)
    inp.timings["metrics"] = time.perf_counter() - t
    tables = {"identification_by_group": res.tables.by_group,
              "identification_false_candidates": res.tables.false_candidates,
              "identification_sweeps": res.sweeps}
    record = base_record(
        inp, "identification", "-1n",
        {"gallery_subjects": res.gallery_size,
         "gallery_images": int((sp.role == GALLERY).sum()),
         "mated_searches": int((sp.role == MATED).sum()),
         "nonmated_searches": int((sp.role == NONMATED).sum())},
        res.points, res.tables.by_group, {"identification_by_group": res.tables.by_group})
    record["sweeps"] = meta
    record["provenance"]["kernels"] = {"identification": kernel_record(
        "identification", ic.device, ic.precision)}
    codes = StoredCodes(plan, tpl.acquired, failed, frame["image_id"].tolist())
    files = {
        "images.csv": partial(write_csv, images_frame(inp)),
        "search_plan.csv": partial(write_csv, sp.frame(codes.image_ids)),
        "search.npz": lambda p: save_search(p, codes, outcomes, sp.role, sizes),
        "config.yaml": partial(write_config, record["config"]),
    }
    return RunParts(record, tables, res.tables.replicates, files, (codes, outcomes, sizes))
