"""Run kernel workers: one thread per core, each with single-threaded BLAS.

A worker that raises must not silently drop the tiles it took: the first error is
re-raised once every thread has stopped.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from threadpoolctl import threadpool_limits


def run_workers(work: Callable[[], None], threads: int) -> None:
    """Run ``work`` in ``threads`` threads (BLAS limited to one thread each); re-raise errors."""
    errors: list[BaseException] = []
    lock = threading.Lock()

    def guarded() -> None:
        try:
            work()
        except BaseException as exc:
            with lock:
                errors.append(exc)

    with threadpool_limits(limits=1, user_api="blas"):
        pool = [threading.Thread(target=guarded) for _ in range(max(1, threads))]
        for t in pool:
            t.start()
        for t in pool:
            t.join()
    if errors:
        raise errors[0]
