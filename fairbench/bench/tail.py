"""``fairbench bench tail``: the impostor tail held as pairs against held per pair of people.

In one process, on simulated templates with several images per person, it runs the 1:1
counts twice, ``verification.tail: pairs`` (the baseline: one 12-byte record per impostor
pair at or above the loosest threshold's bin) and ``people`` (exact scores only in the bins
that hold the thresholds, every other tail pair counted per pair of people and level,
16 bytes a record), and reports for each the records, their bytes, the extra peak
memory and the time, their ratios, and whether every threshold and every group's count
agree (they must, bit for bit). Where pairs would pass ``max_kept``, that mode's entry is
its refusal.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import numpy as np

from fairbench.bench.allpairs import _peak_mb, _reset_peak, _rss_mb
from fairbench.config import SimSpec
from fairbench.core.cpus import cores
from fairbench.core.settings import Settings
from fairbench.data.simulate import simulate
from fairbench.engine.allpairs import count_verification
from fairbench.errors import FairbenchError
from fairbench.kernels.stream import warm_up
from fairbench.metrics.thresholds import verification_points
from fairbench.metrics.verification import verification_tables
from fairbench.plan import make_plan


def _levels(exact: np.ndarray) -> int:
    """Runs of non-exact bins (each one a level of the aggregated records)."""
    x = ~exact
    return int(x[:1].sum() + (x[1:] & ~x[:-1]).sum())


def run_tail_bench(
    n: int = 100_000,
    images_per_person: int = 10,
    dim: int = 128,
    groups: int = 12,
    targets: tuple[float, ...] = (1e-3, 1e-4),
    threads: int | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Both modes on the same templates; returns the JSON-able result."""
    k = max(1, images_per_person)
    out: dict[str, Any] = {"n": n, "images_per_person": k, "dim": dim, "groups": groups,
                           "target_fmr": list(targets), "simulated": True,
                           "threads": threads or cores()}
    warm_up()
    frame, emb = simulate(SimSpec(n_subjects=max(2, n // k), groups=groups, dim=dim,
                                  images_per_subject=k, seed=seed))
    plan = make_plan(frame, ["group"])
    out["n"] = plan.n_images
    out["impostor_pairs"] = int(plan.n_nonmated)
    runs = {}
    for tail in ("pairs", "people"):
        gc.collect()
        base = _rss_mb()
        _reset_peak()
        t0 = time.perf_counter()
        try:
            counts, failed = count_verification(emb, "cosine", plan, [], list(targets),
                                                threads=threads, tail=tail)
        except FairbenchError as exc:  # pairs past max_kept: the reason is the figure
            out[tail] = {"refused": str(exc)}
            continue
        seconds = time.perf_counter() - t0
        per = 16 if counts.kept_w is not None else 12
        runs[tail] = counts
        out[tail] = {"seconds": round(seconds, 3), "records": int(len(counts.kept_s)),
                     "records_mb": round(len(counts.kept_s) * per / 2**20, 2),
                     "extra_peak_mb": round(_peak_mb() - base, 1),
                     "pairs_at_or_above_floor": counts.count()}
        del counts
    cq = runs["people"]
    assert cq.kept_exact is not None and cq.kept_w is not None
    exact = cq.kept_exact[cq.binning.index(cq.kept_s)]
    a, b = plan.subject[cq.kept_i[~exact]], plan.subject[cq.kept_j[~exact]]
    out["people"] |= {
        "exact_records": int(exact.sum()),
        "aggregated_records": int((~exact).sum()),
        "pairs_of_people_with_a_tail_event": int(len(np.unique(
            np.minimum(a, b).astype(np.int64) * plan.n_subjects + np.maximum(a, b)))),
        "exact_bins": int(cq.kept_exact[cq.kept_floor_bin:].sum()),
        "levels": _levels(cq.kept_exact[cq.kept_floor_bin:]),
    }
    if "pairs" not in runs:
        return out
    cp = runs["pairs"]
    out["records_ratio"] = round(out["people"]["records"] / max(1, out["pairs"]["records"]), 4)
    out["memory_ratio"] = round(out["people"]["records_mb"] / max(1e-9,
                                                                 out["pairs"]["records_mb"]), 4)
    out["time_ratio"] = round(out["people"]["seconds"] / out["pairs"]["seconds"], 3)
    # the tables read at every threshold: identical in both modes
    pts = [verification_points(c, list(targets), [], "cosine") for c in (cp, cq)]
    s = Settings(replicates=0, permutations=0)
    frames = [verification_tables(plan, c, None, p, s, ["group"], failed=failed).by_group
              for c, p in zip((cp, cq), pts)]
    out["thresholds_identical"] = pts[0] == pts[1]
    out["tables_identical"] = bool(frames[0].equals(frames[1]))
    return out
