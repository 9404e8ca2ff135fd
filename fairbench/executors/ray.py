"""The Ray executor: calls run as Ray tasks (or in actors) on a local or remote cluster.

Ray is an optional extra (``pip install "fairbench[ray]"``) and is imported only when a
run first hands work out, so this module imports without it. What it adds to the bare
Ray API, and why:

- a shared input is put into the object store once (:meth:`RayExecutor.put`), not sent
  with every task;
- at most :meth:`~RayExecutor.parallelism` calls are in flight, so ``num_cpus`` caps the
  CPUs a run takes from a shared cluster, and a run that stops leaves little queued
  (what is in flight is cancelled);
- a task whose worker died is run again (``max_retries``); a stateful actor that died is
  restarted, rebuilds its state and runs the call again (``max_restarts``,
  ``max_task_retries``); a call that *raised* is not retried: the error is the caller's;
- results are copied out of the object store, so nothing refers to it after ``close``;
- Ray's usage statistics are switched off before Ray starts (``RAY_USAGE_STATS_ENABLED=0``,
  unless the user set it), as for every other dependency (:mod:`fairbench.privacy`).
"""

from __future__ import annotations

import contextlib
import copy
import importlib.util
import logging
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from fairbench.errors import ConfigError, FairbenchError
from fairbench.executors.base import Executor

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

INSTALL = ('pip install "fairbench[ray]" (from a checkout: pip install -e ".[ray]")')


def ray_installed() -> bool:
    """Whether ``import ray`` can work here (checked without importing it)."""
    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):  # sys.modules["ray"] = None: imports are blocked
        return False


def ray_missing() -> ConfigError:
    """The error for ``executor.name: ray`` where Ray is not installed."""
    return ConfigError(f"executor.name: ray needs Ray, which is not installed here: {INSTALL}")


def _call(fn: Callable[[Any, Any], Any], shared: Any, item: Any) -> tuple[Any, str, int]:
    """One task: the call, and where it ran (node id, worker pid) for the run's record."""
    import ray

    return fn(shared, item), ray.get_runtime_context().get_node_id(), os.getpid()


class _Stateful:
    """An actor holding one worker's state, built on its first call (so that an error
    building it, such as a model that does not load, reaches the caller as itself)."""

    def __init__(self, make_state: Callable[[], Any]) -> None:
        self._make = make_state
        self._state: Any = None
        self._built = False

    def run(self, call: Callable[[Any, Any], Any], item: Any) -> tuple[Any, str, int]:
        import ray

        if not self._built:
            self._state, self._built = self._make(), True
        return call(self._state, item), ray.get_runtime_context().get_node_id(), os.getpid()


class RayExecutor(Executor):
    """Tasks and actors on a Ray cluster; see the module docstring.

    ``address``: ``local`` (a private cluster on this machine, stopped by :meth:`close`),
    ``auto`` (the cluster running here), ``ray://host:10001`` (Ray Client), or None (Ray's
    own rule). A process already connected to Ray (a notebook, a test) keeps its
    connection and this executor leaves it open.
    """

    name = "ray"
    remote = True

    def __init__(self, address: str | None = None, num_cpus: int | None = None,
                 max_retries: int = 3) -> None:
        if not ray_installed():
            raise ray_missing()
        self.address = address
        self.num_cpus = num_cpus
        self.max_retries = max_retries
        self._ray: Any = None
        self._owns = False  # this executor called ray.init (so close() calls shutdown)
        self._reused = False
        self._cluster: dict[str, Any] = {}
        self._nodes: set[str] = set()
        self._workers: set[tuple[str, int]] = set()
        self._tasks = 0
        self._actors = 0

    # -- starting and stopping ------------------------------------------------------------

    def _start(self) -> Any:
        """Import and connect to Ray on first use; the ``ray`` module."""
        if self._ray is not None:
            return self._ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        try:
            import ray
        except ImportError:  # found but broken, or removed since
            raise ray_missing() from None
        if ray.is_initialized():
            self._reused = True
        else:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": logging.WARNING}
            if self.address == "local" and self.num_cpus is not None:
                kwargs["num_cpus"] = self.num_cpus
            try:
                ray.init(address=self.address, **kwargs)
            except ConnectionError as exc:
                raise ConfigError(f"executor.address: {self.address!r}: no Ray cluster "
                                  f"answered ({exc}); start one (ray start --head) or use "
                                  "address: local") from None
            self._owns = True
        self._ray = ray
        res = ray.cluster_resources()
        self._cluster = {"nodes": sum(1 for n in ray.nodes() if n.get("Alive")),
                         "cpus": int(res.get("CPU", 0))}
        if self._cluster["cpus"] < 1:
            raise FairbenchError("the Ray cluster has no CPUs to run tasks on")
        return ray

    def close(self) -> None:
        if self._ray is not None and self._owns:
            self._ray.shutdown()
        self._ray = None
        self._owns = False

    # -- the protocol -------------------------------------------------------------------

    def parallelism(self) -> int:
        self._start()
        return self._cpus()

    def _cpus(self) -> int:
        """The cluster's CPUs, capped by ``num_cpus`` (0 before the cluster is joined)."""
        cpus = int(self._cluster.get("cpus", 0))
        return max(1, min(cpus, self.num_cpus or cpus)) if cpus else 0

    def put(self, obj: Any) -> Any:
        return self._start().put(obj)

    def imap(self, fn: Callable[[Any, T], R], items: Sequence[T], shared: Any = None
             ) -> Iterator[tuple[int, R]]:
        if not items:
            return
        ray = self._start()
        if shared is not None and not isinstance(shared, ray.ObjectRef):
            shared = ray.put(shared)
        task = ray.remote(_call).options(num_cpus=1, max_retries=self.max_retries)
        pending: dict[Any, int] = {}
        nxt = 0
        try:
            while nxt < len(items) or pending:
                while nxt < len(items) and len(pending) < self.parallelism():
                    pending[task.remote(fn, shared, items[nxt])] = nxt
                    nxt += 1
                    self._tasks += 1
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    k = pending.pop(ref)
                    yield k, self._result(ref)
        finally:  # an error, Ctrl-C, or a caller that stopped early: nothing keeps running
            for ref in pending:
                with contextlib.suppress(Exception):  # the cluster may be going down too
                    ray.cancel(ref, force=True)

    def map_with_state(self, make_state: Callable[[], S], call: Callable[[S, T], R],
                       items: Sequence[T]) -> list[R]:
        if not items:
            return []
        ray = self._start()
        n = min(self.parallelism(), len(items))
        cls = ray.remote(_Stateful).options(
            num_cpus=1, max_restarts=self.max_retries, max_task_retries=self.max_retries)
        actors = [cls.remote(make_state) for _ in range(n)]
        self._actors += n
        out: list[Any] = [None] * len(items)
        pending: dict[Any, tuple[int, Any]] = {}
        free = list(actors)
        nxt = 0
        try:
            while nxt < len(items) or pending:
                while nxt < len(items) and free:
                    actor = free.pop()
                    pending[actor.run.remote(call, items[nxt])] = (nxt, actor)
                    nxt += 1
                    self._tasks += 1
                done, _ = ray.wait(list(pending), num_returns=1)
                for ref in done:
                    k, actor = pending.pop(ref)
                    out[k] = self._result(ref)
                    free.append(actor)
        finally:
            for actor in actors:  # their CPUs go back to the cluster at once
                with contextlib.suppress(Exception):  # the cluster may be going down too
                    ray.kill(actor, no_restart=True)
        return out

    def _result(self, ref: Any) -> Any:
        """A finished call's value (copied out of the object store), noting where it ran;
        a fairbench error raised in a task is raised here as itself."""
        ray = self._ray
        exc_ = ray.exceptions
        lost = tuple(getattr(exc_, n) for n in ("WorkerCrashedError", "RayActorError",
                                                 "OutOfMemoryError", "NodeDiedError",
                                                 "ObjectLostError") if hasattr(exc_, n))
        try:
            value, node, pid = ray.get(ref)
        except exc_.RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, FairbenchError):
                raise cause from None
            raise
        except lost as exc:  # retries used up: the cluster, not the data, failed
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            tries = self.max_retries + 1
            raise FairbenchError(
                f"a Ray worker died running one task, {tries} attempt{'s' * (tries > 1)} in "
                f"all ({type(exc).__name__}: {first[:300]}); nothing was written. Out of "
                "memory, or a node lost? Ray's logs: /tmp/ray/session_latest/logs on each "
                "node") from None
        self._nodes.add(node)
        self._workers.add((node, pid))
        return copy.deepcopy(value)

    def record(self) -> dict[str, Any]:
        from importlib.metadata import PackageNotFoundError, version

        try:
            ray_version: str | None = version("ray")
        except PackageNotFoundError:
            ray_version = None
        return {"name": self.name, "address": self.address or "default",
                "num_cpus": self.num_cpus, "ray_version": ray_version,
                "joined": bool(self._cluster),  # False: no work was handed out
                "reused_connection": self._reused,
                "cluster_nodes": self._cluster.get("nodes", 0),
                "cluster_cpus": self._cluster.get("cpus", 0), "cpus": self._cpus(),
                "tasks": self._tasks, "actors": self._actors,
                "nodes_used": len(self._nodes), "workers_used": len(self._workers)}
