"""``fairbench bench extract``: template extraction on every core against one worker.

In one process, on the London set (``$FAIRBENCH_DATA_ROOT/london``, its 204 images cycled
when more are asked for), with the template cache off:

- **sequential**: one worker, this process, the libraries' thread pools at one thread
  (``matcher.workers: 1``);
- **parallel**: the path a run takes with ``matcher.workers`` (default: every core):
  worker processes for dlib, ONNX Runtime and OpenCV threads plus a reader thread for the
  ONNX matchers. Worker start-up (a fresh interpreter that loads the model) is included.

Both runs embed the same batches, so their templates must be identical (``identical``);
every file is read once beforehand, so neither pays for a cold disk. It prints one JSON
object; the ratio (``speedup``) is the figure to compare across machines, and a shared
machine is noisy: run it more than once.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

from fairbench.data.london import london_manifest
from fairbench.data.paths import find_dataset
from fairbench.errors import DataError
from fairbench.extraction import cores, thread_budget
from fairbench.matchers.base import build_matcher, read_bytes
from fairbench.parallel import resolve_workers
from fairbench.templates import Templates, extract_templates


def london_records(n: int) -> list[Any]:
    """``n`` records of the London set, cycling through its images."""
    root = find_dataset("london")
    if root is None:
        raise DataError("bench extract needs the London set: set FAIRBENCH_DATA_ROOT to the "
                        "folder that holds london/ (e.g. ../shared/datasets)")
    base = london_manifest(root).records()
    return [base[k % len(base)] for k in range(n)]


def _timed(name: str, params: dict[str, Any], records: list[Any], batch_size: int,
           workers: int) -> tuple[Templates, float]:
    """A fresh matcher (its sessions opened with ``workers`` threads), then extraction."""
    with thread_budget(workers):
        m = build_matcher(name, params)
        m.info()  # models load before the clock starts, as in a run's load stage
        t = time.perf_counter()
        tpl = extract_templates(m, records, None, batch_size, progress=False,
                                workers=workers, build=(name, params))
        return tpl, time.perf_counter() - t


def same(a: Templates, b: Templates) -> bool:
    """Templates identical bit for bit, with the same outcomes."""
    return (np.array_equal(a.embeddings, b.embeddings, equal_nan=True)
            and a.failure_reason == b.failure_reason
            and np.array_equal(a.detector_score, b.detector_score, equal_nan=True)
            and np.array_equal(a.n_faces, b.n_faces))


def run_extract_bench(matcher: str = "dlib", images: int = 204,
                      params: dict[str, Any] | None = None, workers: int | None = None,
                      batch_size: int = 16) -> dict[str, Any]:
    """Sequential and parallel extraction of the same ``images``; see the module doc."""
    params = dict(params or {})
    records = london_records(images)
    for r in records[: min(len(records), 204)]:
        read_bytes(r.path)  # warm the page cache for both runs
    seq, t_seq = _timed(matcher, params, records, batch_size, 1)
    w = resolve_workers(workers)
    par, t_par = _timed(matcher, params, records, batch_size, w)
    faces = int(par.acquired.sum())
    ext = par.execution
    return {
        "matcher": matcher,
        "params": params,
        "images": images,
        "batch_size": batch_size,
        "cores": cores(),
        "cpu_count": os.cpu_count(),
        "mode": ext.get("mode"),
        "workers": ext.get("workers"),
        "threads_per_worker": ext.get("threads_per_worker"),
        "images_per_s": images / t_par,
        "sequential_images_per_s": images / t_seq,
        "speedup": t_seq / t_par,
        "faces": faces,
        "faces_per_s": faces / t_par,
        "sequential_faces_per_s": int(seq.acquired.sum()) / t_seq,
        "seconds": t_par,
        "sequential_seconds": t_seq,
        "identical": same(seq, par),
        "cache": False,
    }
