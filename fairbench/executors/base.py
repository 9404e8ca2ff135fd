"""The executor protocol: how kernels and template extraction hand out their work.

An executor maps a function over items and returns the results in item order. It decides
*where* each call runs (this process, or a worker of a Ray cluster), never *what* comes
out: every caller reduces the ordered results itself, exactly, so a run's numbers are
identical under every executor. That is why the ``executor:`` config section is recorded
but not hashed.

Two shapes of work cover fairbench:

- :meth:`Executor.map` (and :meth:`Executor.imap`, results as they finish): stateless
  tasks over one large read-only input (the templates of an all-pairs pass, a gallery),
  which :meth:`Executor.put` shares once (a cluster keeps it in its object store) and
  every call receives;
- :meth:`Executor.map_with_state`: tasks that need an expensive per-worker object built
  once (a face model), such as template extraction.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from types import TracebackType
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")


class Executor(ABC):
    """Runs calls somewhere and returns their results in order; see the module docstring.

    ``remote`` says whether calls run in other processes: kernels then split their work
    into independent parts (row bands, gallery shards) for it; a local executor lets them
    use their own threads instead, which is faster in one process.
    """

    name: str = "?"
    remote: bool = False

    @abstractmethod
    def parallelism(self) -> int:
        """How many calls can run at once (the CPUs this run may use)."""

    def put(self, obj: Any) -> Any:
        """A handle to ``obj`` that :meth:`map` can take as ``shared`` many times over,
        without copying it again (in-process: the object itself)."""
        return obj

    @abstractmethod
    def imap(self, fn: Callable[[Any, T], R], items: Sequence[T], shared: Any = None
             ) -> Iterator[tuple[int, R]]:
        """``(k, fn(shared, items[k]))`` for every item, in the order the calls finish.

        A caller that reduces results as they come (summing histograms) holds one at a
        time instead of all of them. ``shared`` (an object or a handle from :meth:`put`)
        is sent once, not per call; ``fn`` must be importable by name (a module-level
        function) for a remote executor.
        """

    def map(self, fn: Callable[[Any, T], R], items: Sequence[T], shared: Any = None
            ) -> list[R]:
        """``[fn(shared, item) for item in items]``, run in parallel, in item order."""
        out: list[Any] = [None] * len(items)
        for k, value in self.imap(fn, items, shared):
            out[k] = value
        return out

    @abstractmethod
    def map_with_state(self, make_state: Callable[[], S], call: Callable[[S, T], R],
                       items: Sequence[T]) -> list[R]:
        """``[call(state, item) for item in items]`` where each worker builds its
        ``state = make_state()`` once (e.g. loads a model), in item order."""

    @abstractmethod
    def record(self) -> dict[str, Any]:
        """What run.json's provenance says about where the work ran."""

    def close(self) -> None:  # noqa: B027 - deliberately a no-op: most start nothing
        """Stop whatever this executor started (idempotent)."""

    def __enter__(self) -> Executor:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
