"""``fairbench bench scores``: the score-file engine on a large bob 4-column file.

It writes (or reuses) a simulated file of ``rows`` comparisons (every probe sample of every
subject against every subject's model, in groups with different score spreads), then in
one process measures:

- the baseline: one plain PyArrow pass over the file (parse and convert, nothing else),
  the least any reader of the file must spend;
- fairbench: both passes of the list engine with id resolution, and the tables
  (bootstrap included) from the counts;
- memory: the peak resident size during fairbench's passes, against the file's size.

It prints one JSON object; ratios, not seconds, are the figures to compare across machines.
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from fairbench.bench.allpairs import _peak_mb, _reset_peak, _rss_mb
from fairbench.core.settings import Settings
from fairbench.data.scorefiles import BOB, TextReader, bob_chunks
from fairbench.engine.listed import count_listed
from fairbench.matchers.scores import ScoresParams
from fairbench.metrics.eer import eer_windows
from fairbench.metrics.groups import make_views
from fairbench.metrics.tables import verification_results
from fairbench.plan.listed import Samples

GROUPS = ("a", "b", "c", "d")


def write_bob4(path: Path, subjects: int, samples: int, seed: int = 0,
               block: int = 2_000_000) -> int:
    """``subjects * samples`` probe samples x ``subjects`` models; returns the rows written."""
    rng = np.random.default_rng(seed)
    names = np.array([f"s{k:06d}" for k in range(subjects)], dtype=object)
    spread = np.array([1.0, 1.2, 1.5, 2.0])[np.arange(subjects) % len(GROUPS)]
    probe_subj = np.repeat(np.arange(subjects), samples)
    labels = np.array([f"s{s:06d}/{k}.png" for s, k in zip(probe_subj, np.tile(
        np.arange(samples), subjects))], dtype=object)
    rows = 0
    opts = pacsv.WriteOptions(include_header=False, delimiter=" ", quoting_style="none")
    with pacsv.CSVWriter(path, pa.schema([(n, pa.string() if n != "score" else pa.float64())
                                          for n in BOB["bob4"]]), write_options=opts) as w:
        per = max(1, block // subjects)
        for p0 in range(0, len(labels), per):
            p = np.arange(p0, min(len(labels), p0 + per))
            real = np.repeat(probe_subj[p], subjects)
            claimed = np.tile(np.arange(subjects), len(p))
            s = rng.normal(np.where(real == claimed, 3.0, 0.0), spread[real]).round(3)
            w.write_table(pa.table({"claimed_id": names[claimed], "real_id": names[real],
                                    "test_label": labels[np.repeat(p, subjects)],
                                    "score": s}))
            rows += len(s)
    return rows


def plain_pass(path: Path) -> tuple[float, int]:
    """Seconds and rows of one PyArrow pass (parse and convert) over the file."""
    types = {n: pa.string() for n in BOB["bob4"][:-1]} | {"score": pa.float64()}
    t = time.perf_counter()
    n = sum(b.num_rows for b, _ in TextReader(path, BOB["bob4"], 1_000_000, types,
                                              "bob4").batches())
    return time.perf_counter() - t, n


def run_scores_bench(rows: int, subjects: int, replicates: int, folder: Path | None = None,
                     bins: int = 4096) -> dict[str, Any]:
    samples = max(1, rows // (subjects * subjects))
    tmp = tempfile.TemporaryDirectory() if folder is None else None
    where = Path(tmp.name if tmp else folder)  # type: ignore[arg-type]
    path = where / f"bench-{subjects}x{samples}.txt"
    t = time.perf_counter()
    written = write_bob4(path, subjects, samples) if not path.exists() else None
    t_write = time.perf_counter() - t
    size_mb = path.stat().st_size / 2**20
    t_plain, n = plain_pass(path)
    frame = pd.DataFrame({"subject_id": [f"s{k:06d}" for k in range(subjects)],
                          "grp": [GROUPS[k % len(GROUPS)] for k in range(subjects)]})
    frame.insert(0, "image_id", frame["subject_id"])
    frame["path"] = ""
    params = ScoresParams(format="bob4", path=path)
    gc.collect()
    base = _rss_mb()
    exact_peak = _reset_peak()
    t = time.perf_counter()
    res = Samples(frame, ["grp"], None, "subject", "similarity", str(path))

    def windows(fp: Any) -> tuple[np.ndarray, np.ndarray]:
        plan = res.plan(fp.mated_i, fp.mated_j)
        return eer_windows(plan, fp.hist, fp.binning, fp.mated_s, make_views(plan, ["grp"]))

    counts, fp = count_listed(lambda: (res.resolve(c) for c in bob_chunks(params)),
                              res.codes.n_strata, len(res.codes.subjects), [],
                              [1e-2, 1e-3, 1e-4], bins, windows, find_repeats=True)
    t_engine = time.perf_counter() - t
    peak = _peak_mb()
    plan = res.plan(fp.mated_i, fp.mated_j)
    n_s = plan.n_images
    t = time.perf_counter()
    s = Settings(replicates=replicates)
    verification_results(plan, counts, np.ones(n_s, bool), np.zeros(n_s, bool),
                         {"target_fmr": [1e-2, 1e-3, 1e-4]}, s, ["grp"], {}, "similarity")
    t_tables = time.perf_counter() - t
    if tmp is not None:
        tmp.cleanup()
    return {
        "rows": n, "file_mb": round(size_mb, 1), "subjects": subjects,
        "samples_per_subject": samples, "written_s": round(t_write, 2) if written else None,
        "baseline_one_pyarrow_pass_s": round(t_plain, 2),
        "engine_two_passes_s": round(t_engine, 2),
        "engine_vs_one_pass": round(t_engine / t_plain, 2),
        "rows_per_s": round(n / t_engine),
        "tables_s": round(t_tables, 2), "replicates": replicates,
        "kept_impostor_rows": int(len(counts.kept_s)),
        "subject_pairs_merged": int(len(counts.listed.pair_a)),  # type: ignore[union-attr]
        "peak_rss_mb": round(peak, 1), "rss_before_mb": round(base, 1),
        "peak_exact": exact_peak,
        "peak_over_file": round((peak - base) / size_mb, 3),
    }
