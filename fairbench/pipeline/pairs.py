"""The 1:1 pipeline over a dataset's own pair list (``dataset.options.protocol:
official_pairs``, RFW's and BFW's): templates as usual, then only the listed pairs are
scored and counted (with the list engine), so every table keeps its definitions and its
FTA. A listed pair whose genuine/impostor label disagrees with the people's identities is
an error; a pair of an image that a per-subject sample left out is dropped, with a note.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from functools import partial

import numpy as np

from fairbench.core.comparisons import ScoredChunk
from fairbench.core.scale import from_native
from fairbench.engine.listed import FirstPass, count_listed
from fairbench.errors import DataError
from fairbench.kernels.prep import prepare, score_pairs
from fairbench.metrics.eer import eer_windows
from fairbench.metrics.groups import make_views
from fairbench.metrics.tables import verification_results
from fairbench.pipeline.inputs import Inputs, images_frame
from fairbench.pipeline.parts import RunParts, base_record
from fairbench.pipeline.verification import write_config, write_csv
from fairbench.plan.allpairs import make_codes
from fairbench.results.arrays import StoredCodes, save_counts

CHUNK = 1_000_000


def pair_indices(inp: Inputs) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Manifest rows of the listed pairs, checked against identities."""
    ds = inp.dataset
    pairs = ds.pairs
    assert pairs is not None
    ids = ds.manifest.frame["image_id"].astype(str).tolist()
    row = {x: k for k, x in enumerate(ids)}
    keep = [k for k, (x, y) in enumerate(zip(pairs.a, pairs.b)) if x in row and y in row]
    notes = []
    if len(keep) < len(pairs.a):
        notes.append(f"{len(pairs.a) - len(keep):,} listed pairs name images this run left "
                     "out (dataset.max_images_per_subject); they are not compared")
    i = np.array([row[pairs.a[k]] for k in keep], dtype=np.int64)
    j = np.array([row[pairs.b[k]] for k in keep], dtype=np.int64)
    if pairs.mated is not None:
        subj = ds.manifest.frame["subject_id"].astype(str).to_numpy()
        said = np.array([pairs.mated[k] for k in keep], dtype=bool)
        wrong = np.flatnonzero(said != (subj[i] == subj[j]))
        if len(wrong):
            raise DataError(f"{pairs.source}: {len(wrong):,} pairs labelled genuine or impostor "
                            "against the identities", [f"{ids[i[k]]} - {ids[j[k]]}"
                                                       for k in wrong[:10]])
    return i, j, notes


def pair_verification(inp: Inputs, progress: bool = True) -> RunParts:
    """Score the dataset's own pairs from the templates, count, tabulate."""
    config, ds, tpl = inp.config, inp.dataset, inp.templates
    vc = config.verification
    assert vc is not None and ds.pairs is not None
    t = time.perf_counter()
    i, j, notes = pair_indices(inp)
    plan = make_codes(ds.manifest.frame, ds.attributes, ds.banded)
    kind = inp.similarity
    prep = prepare(tpl.embeddings, kind)
    s = config.settings()

    def chunks() -> Iterator[ScoredChunk]:
        for a in range(0, len(i), CHUNK):
            x, y = i[a:a + CHUNK], j[a:a + CHUNK]
            yield ScoredChunk(x, y, plan.subject[x], plan.subject[y], plan.stratum[x],
                              plan.stratum[y], score_pairs(prep, x, y).astype(np.float64))

    def windows(fp: FirstPass) -> tuple[np.ndarray, np.ndarray]:
        plan.mated_i, plan.mated_j = fp.mated_i, fp.mated_j
        return eer_windows(plan, fp.hist, fp.binning, fp.mated_s,
                           make_views(plan, ds.attributes, s.intersections))

    fixed = [from_native(v, kind) for v in vc.fixed_thresholds]
    counts, fp = count_listed(chunks, plan.n_strata, plan.n_subjects, fixed, vc.target_fmr,
                              vc.histogram_bins, windows)
    plan.mated_i, plan.mated_j = fp.mated_i, fp.mated_j
    inp.timings["scoring"] = time.perf_counter() - t
    failed = prep.failed
    t = time.perf_counter()
    points, tables = verification_results(
        plan, counts, tpl.acquired, failed, vc.model_dump(mode="json"), s, ds.attributes,
        ds.label_sources, kind, consent=ds.consent_warning)
    inp.timings["metrics"] = time.perf_counter() - t
    out = tables.named()
    comparisons = {"listed": fp.n_rows, "mated": plan.n_mated,
                   "nonmated": counts.n_nonmated_total,
                   **counts.tail_summary()}
    notes = [f"comparisons: the dataset's own pair list ({ds.pairs.source})", *notes]
    record = base_record(inp, "verification", "", comparisons, points, tables.by_group,
                         {k: v for k, v in out.items() if k not in ("fmr_cross_group",
                                                                    "failure_to_acquire")},
                         notes)
    codes = StoredCodes(plan, tpl.acquired, failed, ds.manifest.frame["image_id"].tolist())
    files = {"images.csv": partial(write_csv, images_frame(inp)),
             "counts.npz": lambda p: save_counts(p, codes, counts),
             "config.yaml": partial(write_config, record["config"])}
    return RunParts(record, out, tables.replicates, files, (codes, counts))
