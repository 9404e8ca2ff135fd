"""Template extraction on every core: which path runs, and the in-process pipeline.

``matcher.workers`` (None: every core this process may use; 1: sequential) and the
matcher's ``parallelism`` choose:

- **processes** (dlib, and any plugin by default), when the matcher can be built by name:
  ``workers - 1`` worker processes, each an :class:`~fairbench.extraction.ExtractWorker`
  that builds the matcher once and reads, looks up, embeds and caches whole batches
  itself, and this process as the last worker, on the matcher it has loaded already (so
  the others' start-up, about a second each, hides behind its work);
- **threads** (the ONNX matchers): one matcher in this process whose libraries run
  ``workers`` threads (ONNX Runtime's intra-op pool, OpenCV's), with a reader thread that
  reads, looks up and decodes the next batch while this one is embedded;
- **in-process**: a ``serial`` matcher, or a matcher object handed to ``fairbench.run``
  (it cannot be rebuilt in another process): this process, with the same reader thread
  (and the libraries' thread pools sized to ``workers``);
- a **remote executor** (Ray): its workers run the ExtractWorkers, one per actor.

Every path hands the matcher the same batches as the sequential one, so the templates are
identical bit for bit; tests/test_parallel_extraction.py checks it. One difference is only
bookkeeping: an image whose bytes occur twice in a manifest, in two batches that run at
the same time in two processes, is embedded twice instead of read back from the cache.
"""

from __future__ import annotations

import contextlib
import functools
import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from fairbench.extraction import (
    Chunk,
    ExtractWorker,
    Outcome,
    ReadChunk,
    TemplateCache,
    cores,
    embed_chunk,
    process_chunk,
    read_chunk,
    run_chunk,
    thread_budget,
)
from fairbench.matchers.base import Matcher
from fairbench.procpool import ProcessPool


@dataclass
class Extraction:
    """The chunks' outcomes as they come (each a list of ``(index, result, cache_hit)``)
    and what ran, for run.json."""

    results: Iterator[list[Outcome]]
    record: dict[str, Any]


def resolve_workers(workers: int | None) -> int:
    """``matcher.workers`` as a count: None means every core this process may use."""
    return max(1, int(workers)) if workers is not None else cores()


def how(matcher: Matcher, n_chunks: int, workers: int | None, executor: Any = None,
        build: tuple[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Which path extraction takes, as run.json records it: ``mode`` (sequential |
    processes | threads | in-process | executor), ``workers`` (the processes embedding,
    this one included, or the executor's parallelism), ``worker_processes`` (those
    started), ``threads_per_worker`` and ``reader_thread``."""
    w = resolve_workers(workers)
    kind = getattr(matcher, "parallelism", "processes")
    if executor is not None and getattr(executor, "remote", False) and build is not None \
            and matcher.needs_images:
        return {"mode": "executor", "executor": getattr(executor, "name", "?"),
                "workers": int(executor.parallelism()), "threads_per_worker": 1,
                "reader_thread": False}
    if w == 1 or not matcher.needs_images or (n_chunks <= 1 and kind != "threads"):
        return {"mode": "sequential", "workers": 1, "threads_per_worker": 1,
                "reader_thread": False}
    if kind == "processes" and build is not None:  # this process is one of the workers
        n = min(w, n_chunks)
        return {"mode": "processes", "workers": n, "worker_processes": n - 1,
                "threads_per_worker": 1, "reader_thread": False}
    if kind == "threads":
        return {"mode": "threads", "workers": 1, "threads_per_worker": w,
                "reader_thread": True}
    return {"mode": "in-process", "workers": 1, "threads_per_worker": w,
            "reader_thread": True}


def run_extraction(matcher: Matcher, chunks: Sequence[Chunk], cache: TemplateCache | None,
                   max_pixels: int, workers: int | None = None, executor: Any = None,
                   build: tuple[str, dict[str, Any]] | None = None) -> Extraction:
    """Start extraction of ``chunks`` the way :func:`how` says; outcomes come as they are
    ready. An interrupt or an error stops every worker and reader before it propagates."""
    rec = how(matcher, len(chunks), workers, executor, build)
    mode = rec["mode"]
    if mode in ("executor", "processes"):
        assert build is not None
        make = functools.partial(
            ExtractWorker, build[0], build[1], None if cache is None else cache.root,
            matcher.fingerprint(), cache.dim if cache is not None and cache.dim else
            matcher.info().embedding_size, max_pixels)
        if mode == "executor":
            return Extraction(iter(executor.map_with_state(make, run_chunk, list(chunks))),
                              rec)
        pool = ProcessPool(rec["workers"], what="template-extraction worker")
        here = ExtractWorker.around(matcher, cache, max_pixels)
        return Extraction(_closing(pool.map_with_state(make, run_chunk, chunks, here)), rec)
    threads = rec["threads_per_worker"]
    if mode == "sequential":
        return Extraction(_sequential(matcher, chunks, cache, max_pixels, threads), rec)
    return Extraction(_pipelined(matcher, chunks, cache, max_pixels, threads), rec)


def _closing(it: Iterator[list[Outcome]]) -> Iterator[list[Outcome]]:
    """The pool's results, its workers stopped when they are abandoned; this process's own
    share runs its libraries on one thread, as each worker process does."""
    with contextlib.closing(it), thread_budget(1):  # type: ignore[type-var]
        yield from it


def _sequential(matcher: Matcher, chunks: Sequence[Chunk], cache: TemplateCache | None,
                max_pixels: int, threads: int) -> Iterator[list[Outcome]]:
    with thread_budget(threads):
        for chunk in chunks:
            yield process_chunk(matcher, cache, chunk, max_pixels)


_END = object()


class _Failed:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _pipelined(matcher: Matcher, chunks: Sequence[Chunk], cache: TemplateCache | None,
               max_pixels: int, threads: int) -> Iterator[list[Outcome]]:
    """This process embeds batch k while a reader thread reads, keys, looks up and decodes
    batch k + 1 (decoded pixels bounded by ``max_pixels``: one group's worth ahead)."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def hand_over(item: Any) -> bool:
        while not stop.is_set():
            try:
                ready.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def reader() -> None:
        try:
            for chunk in chunks:
                if stop.is_set() or not hand_over(
                        read_chunk(matcher, cache, chunk, max_pixels, max_pixels)):
                    return
            hand_over(_END)
        except BaseException as exc:  # noqa: BLE001 - handed to the embedding thread
            hand_over(_Failed(exc))

    written: set[str] = set()
    t = threading.Thread(target=reader, name="fairbench-template-reader", daemon=True)
    with thread_budget(threads):
        t.start()
        try:
            while True:
                item = ready.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.exc
                if cache is not None and written:
                    item = _seen_again(item, cache, written)
                yield embed_chunk(matcher, cache, item, max_pixels)
                if cache is not None:
                    written.update(key for _, _, key, _ in item.todo)
        finally:
            stop.set()
            with contextlib.suppress(queue.Empty):
                ready.get_nowait()
            t.join(5.0)


def _seen_again(read: ReadChunk, cache: TemplateCache, written: set[str]) -> ReadChunk:
    """Images of this batch whose bytes an earlier batch of this run embedded (the reader
    looked them up before that batch was cached): read back, as the sequential path does."""
    todo = []
    for entry in read.todo:
        cached = cache.get(entry[2]) if entry[2] in written else None
        if cached is not None:
            read.done.append((entry[0], cached, True))
        else:
            todo.append(entry)
    read.todo = todo
    return read
