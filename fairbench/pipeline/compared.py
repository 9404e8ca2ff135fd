"""The 1:1 pipeline for compare-only matchers (a server that scores two images at a time).

Every mated pair is compared, and a seeded stratified sample of impostor pairs
(:mod:`fairbench.plan.sampled`, ``verification.impostor_sample``); the scores go through
the list engine, so every table is computed as for any other run. The FMR is an estimate
from the sample: its n is the sampled pairs, ``n_nonmated_population`` says how many there
are, and run.json and the tables' notes say so. Scores are cached per pair of image
contents, so an interrupted run resumes without repeating a call that succeeded; a call
that fails is a recorded outcome (a failed comparison), never a crash.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from functools import partial

import numpy as np
import pandas as pd
from tqdm import tqdm

from fairbench.core.comparisons import ScoredChunk
from fairbench.core.scale import NEGATED
from fairbench.data.paths import cache_root
from fairbench.engine.listed import FirstPass, count_listed
from fairbench.errors import ConfigError
from fairbench.matchers.base import read_bytes
from fairbench.metrics.eer import eer_windows
from fairbench.metrics.groups import make_views
from fairbench.metrics.tables import verification_results
from fairbench.pipeline.inputs import Inputs, no_templates, transient_notes
from fairbench.pipeline.parts import RunParts, base_record
from fairbench.pipeline.verification import write_config, write_csv
from fairbench.plan import make_plan
from fairbench.plan.sampled import sample_impostors
from fairbench.results.arrays import StoredCodes, save_counts
from fairbench.templates import PairScoreCache


def _sha(path: object) -> str | None:
    data = read_bytes(path)  # type: ignore[arg-type]
    return None if data is None else hashlib.sha256(data).hexdigest()


def compare_all(inp: Inputs, i: np.ndarray, j: np.ndarray, progress: bool
                ) -> tuple[np.ndarray, list[str]]:
    """Native score per pair (NaN where the comparison failed) and each failure's reason."""
    config, matcher = inp.config, inp.matcher
    records = inp.dataset.manifest.records()
    paths = [r.path for r in records]
    sha = [_sha(p) for p in paths]
    cache = PairScoreCache(config.cache.dir or cache_root() / "pairs", matcher.fingerprint()) \
        if config.cache.enabled else None
    score = np.full(len(i), np.nan)
    reason = [""] * len(i)
    todo = []
    for k, (a, b) in enumerate(zip(i.tolist(), j.tolist())):
        if sha[a] is None or sha[b] is None:
            reason[k] = "unreadable"
            continue
        hit = cache.known.get(PairScoreCache.key(sha[a], sha[b])) if cache else None
        if hit is None:
            todo.append(k)
        else:
            score[k] = np.nan if hit[0] is None else hit[0]
            reason[k] = hit[1] or ""
    step = max(1, config.matcher.batch_size)
    bar = tqdm(total=len(todo), desc="comparisons", unit="pair", disable=not progress)
    for s0 in range(0, len(todo), step):
        part = todo[s0:s0 + step]
        pairs = [(read_bytes(paths[i[k]]), read_bytes(paths[j[k]])) for k in part]
        got = matcher.compare_pairs(pairs, config.dataset.max_image_pixels)  # type: ignore
        done = []
        for k, (value, why) in zip(part, got):
            score[k] = np.nan if value is None else value
            reason[k] = why or ""
            done.append((PairScoreCache.key(sha[i[k]], sha[j[k]]), value, why))  # type: ignore
        if cache is not None:
            cache.put_many(done)
        bar.update(len(part))
    bar.close()
    return score, reason


def compared_verification(inp: Inputs, progress: bool = True) -> RunParts:
    """Plan the pairs, ask the matcher, count, read every group at every operating point."""
    config, ds = inp.config, inp.dataset
    vc = config.verification
    assert vc is not None
    if vc.impostor_sample is None:
        raise ConfigError("verification.impostor_sample: a matcher that compares two images "
                          "at a time needs a budget of impostor pairs, e.g. "
                          "impostor_sample: {pairs: 20000, seed: 0} (all pairs would be "
                          "N^2 calls)")
    t = time.perf_counter()
    plan = make_plan(ds.manifest.frame, ds.attributes, ds.banded)
    si, sj, pop = sample_impostors(plan, vc.impostor_sample.pairs, vc.impostor_sample.seed)
    i, j = np.r_[plan.mated_i, si], np.r_[plan.mated_j, sj]
    native, reason = compare_all(inp, i, j, progress)
    transient_notes(reason, inp.info.name)  # every call failed: an error, nothing measured
    kind = inp.similarity
    internal = -native if kind in NEGATED else native
    s = config.settings()

    def chunks() -> Iterator[ScoredChunk]:
        for a in range(0, len(i), 1_000_000):
            x, y = i[a:a + 1_000_000], j[a:a + 1_000_000]
            yield ScoredChunk(x, y, plan.subject[x], plan.subject[y], plan.stratum[x],
                              plan.stratum[y], internal[a:a + 1_000_000])

    def windows(fp: FirstPass) -> tuple[np.ndarray, np.ndarray]:
        views = make_views(plan, ds.attributes, s.intersections)
        return eer_windows(plan, fp.hist, fp.binning, fp.mated_s, views)

    fixed = [(-v if kind in NEGATED else v) for v in vc.fixed_thresholds]
    counts, fp = count_listed(chunks, plan.n_strata, plan.n_subjects, fixed, vc.target_fmr,
                              vc.histogram_bins, windows)
    counts.listed.population = pop  # type: ignore[union-attr]
    inp.timings["scoring"] = time.perf_counter() - t
    n = plan.n_images
    inp.templates = no_templates(n)
    acquired, failed = np.ones(n, dtype=bool), np.zeros(n, dtype=bool)
    t = time.perf_counter()
    points, tables = verification_results(plan, counts, None, failed,
                                          vc.model_dump(mode="json"), s, ds.attributes,
                                          ds.label_sources, kind,
                                          consent=ds.consent_warning)
    inp.timings["metrics"] = time.perf_counter() - t
    out = tables.named()
    why = Counter(r for r in reason if r)
    k, total = len(si), int(pop.sum())
    comparisons = {"mated": plan.n_mated, "nonmated": k, "nonmated_population": total,
                   "failed": sum(why.values()), "sample_seed": vc.impostor_sample.seed,
                   **counts.tail_summary()}
    notes = [f"FMR estimated from a stratified random sample of {k:,} of {total:,} impostor "
             f"pairs (proportional allocation by attribute combination, seed "
             f"{vc.impostor_sample.seed}); its intervals are those of the sample",
             *(f"{n:,} comparisons failed: {r}" for r, n in why.most_common(10))]
    record = base_record(inp, "verification", "", comparisons, points, tables.by_group,
                         {k2: v for k2, v in out.items() if k2 != "fmr_cross_group"}, notes)
    record["capture"]["measured"] = False
    ids = ds.manifest.frame["image_id"].astype(str).tolist()
    pairs = pd.DataFrame({"image_a": np.asarray(ids, dtype=object)[i],
                          "image_b": np.asarray(ids, dtype=object)[j],
                          "mated": plan.subject[i] == plan.subject[j], "score": native,
                          "failure_reason": reason})
    codes = StoredCodes(plan, acquired, failed, ids)
    files = {"comparisons.csv": partial(write_csv, pairs),
             "counts.npz": lambda p: save_counts(p, codes, counts),
             "config.yaml": partial(write_config, record["config"])}
    return RunParts(record, out, tables.replicates, files, (codes, counts))
