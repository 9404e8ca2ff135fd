"""The local executor: every call in this process, in order (the default).

Kernels given a local executor (or none) run their own worker threads, one per core, so
this class only needs to be correct, not parallel: it is the reference every other
executor's results are compared with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from fairbench.core.cpus import cores
from fairbench.executors.base import Executor

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")


class LocalExecutor(Executor):
    """Runs every call here, one after another; kernels use their own threads."""

    name = "local"
    remote = False

    def parallelism(self) -> int:
        return cores()

    def imap(self, fn: Callable[[Any, T], R], items: Sequence[T], shared: Any = None
             ) -> Iterator[tuple[int, R]]:
        for k, item in enumerate(items):
            yield k, fn(shared, item)

    def map_with_state(self, make_state: Callable[[], S], call: Callable[[S, T], R],
                       items: Sequence[T]) -> list[R]:
        if not items:
            return []
        state = make_state()
        return [call(state, item) for item in items]

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "cpus": self.parallelism(), "nodes_used": 1}
