"""Worker processes that each build an expensive state once (a face model) and then run
calls on it: ``ProcessPool(n).map_with_state(make_state, call, items)``.

What a plain :class:`concurrent.futures.ProcessPoolExecutor` does not promise, and a run
needs:

- **Ctrl-C** reaches only this process (workers ignore SIGINT); it stops every worker
  (SIGTERM, which a worker turns into an exception, so an atomic write in progress removes
  its temporary file), waits for them, and re-raises: no orphan, nothing half-written.
- **A worker that dies** (killed, out of memory, a crash in a C library) is a clear
  :class:`~fairbench.errors.FairbenchError` naming the item it held, never a hang; an
  exception raised inside a call is re-raised here (its type kept where it can be).
- **A parent that dies** (SIGKILL) takes its workers with it: Linux delivers SIGTERM to
  them (``PR_SET_PDEATHSIG``), and every worker also checks for its parent between calls.

Workers start with ``spawn`` (a fresh interpreter: no threads or locks inherited from this
process) that never imports the caller's ``__main__``, so ``make_state`` and ``call``
must be picklable from an importable module (module-level functions or instances of
module-level classes, not ones defined in a script). Results come back in item order.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import queue
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar

from fairbench.errors import FairbenchError

T = TypeVar("T")
R = TypeVar("R")
S = TypeVar("S")

_STOP = None
_POLL_S = 0.2
_GRACE_S = 10.0  # how long a stopped worker may take to finish the C call it is in


class WorkerDied(FairbenchError):
    """A worker process ended without answering (killed, out of memory, crashed)."""


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds: atomic writes remove their temp files


def _die_with_parent() -> None:
    """Linux: SIGTERM when the parent dies (a SIGKILLed run leaves no worker behind)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _pack(exc: BaseException) -> tuple[Any, ...]:
    """An exception as it can cross a pipe: itself when it pickles whole, else its text."""
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    if isinstance(exc, FairbenchError):  # pickles without its problems: carried apart
        return ("fairbench", type(exc), exc.headline, exc.problems, text)
    try:
        pickle.loads(pickle.dumps(exc))
        return ("exception", exc, text)
    except Exception:
        return ("text", f"{type(exc).__name__}: {exc}", text)


def _unpack(packed: tuple[Any, ...]) -> BaseException:
    if packed[0] == "fairbench":
        _, cls, headline, problems, _ = packed
        exc = cls.__new__(cls)
        Exception.__init__(exc, headline)
        exc.headline, exc.problems = headline, list(problems)
        return exc
    if packed[0] == "exception":
        return packed[1]
    return RuntimeError(f"a worker process raised {packed[1]}\n{packed[2]}")


def _worker_main(make_state: Callable[[], Any], call: Callable[[Any, Any], Any],
                 tasks: Any, results: Any, parent: int) -> None:
    """The loop of one worker: build the state, then answer tasks until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    signal.signal(signal.SIGTERM, _terminated)
    _die_with_parent()
    try:
        try:
            state = make_state()
        except Exception as exc:
            results.put(("failed", -1, _pack(exc)))
            return
        while True:
            try:
                task = tasks.get(timeout=1.0)
            except queue.Empty:
                if os.getppid() != parent:  # the parent is gone: so is the work
                    return
                continue
            if task is _STOP:
                return
            k, item = task
            try:
                out = call(state, item)
            except Exception as exc:
                results.put(("failed", k, _pack(exc)))
                continue
            results.put(("done", k, out))
    except SystemExit:
        # stopped by the parent: leave at once, without waiting on the result pipe
        os._exit(143)


class ProcessPool:
    """``workers`` workers, started for one :meth:`map_with_state` call and stopped at its
    end (or at the first error or interrupt). ``what`` names the work in messages."""

    def __init__(self, workers: int, what: str = "worker") -> None:
        self.workers = max(1, int(workers))
        self.what = what
        self.processes = 0  # worker processes the last call started
        self.done_here = 0  # items the last call worked on in this process

    def map_with_state(self, make_state: Callable[[], S], call: Callable[[S, T], R],
                       items: Iterable[T], here: S | None = None) -> Iterator[R]:
        """``call(state, item)`` for every item, each worker building ``state`` once;
        yields the results in item order as they come in.

        ``here``: a state of this process's own (e.g. the model it has loaded already).
        This process is then one of the workers: it works on items itself whenever every
        worker process has its next item waiting, so one process fewer is started and the
        others' start-up (an interpreter, a model to load) hides behind its work.
        """
        todo = list(items)
        if not todo:
            return
        ctx = mp.get_context("spawn")
        tasks, results = ctx.Queue(), ctx.Queue()
        n = min(self.workers, len(todo)) - (here is not None)
        self.processes, self.done_here = n, 0
        procs = [ctx.Process(target=_worker_main, daemon=True, name=f"fairbench-{self.what}-{i}",
                             args=(make_state, call, tasks, results, os.getpid()))
                 for i in range(n)]
        clean = False
        try:
            _start(procs)
            window = 2  # items given to each worker process ahead: it never idles
            sent = out = queued = 0
            held: dict[int, R] = {}
            while out < len(todo):
                while sent < len(todo) and queued < window * n:
                    tasks.put((sent, todo[sent]))
                    sent, queued = sent + 1, queued + 1
                msg = self._next(results, procs, out, sent, todo, block=here is None)
                if msg is None:  # the processes are busy and fed: work here meanwhile
                    if sent < len(todo):
                        k, item = sent, todo[sent]
                        sent += 1
                    else:  # nothing left to hand out: take back an item still waiting
                        try:
                            k, item = tasks.get_nowait()
                            queued -= 1
                        except queue.Empty:
                            msg = self._next(results, procs, out, sent, todo)
                    if msg is None:
                        held[k] = call(here, item)  # type: ignore[arg-type]
                        self.done_here += 1
                if msg is not None:
                    kind, k, payload = msg
                    if kind == "failed":
                        raise _unpack(payload)
                    held[k], queued = payload, queued - 1
                while out in held:
                    yield held.pop(out)
                    out += 1
            for _ in procs:
                tasks.put(_STOP)
            for p in procs:
                p.join(_GRACE_S)
            clean = True
        finally:
            if not clean:
                _stop(procs)
            for q in (tasks, results):
                q.cancel_join_thread()  # never block on a pipe no worker will read
                q.close()

    def _next(self, results: Any, procs: list[Any], out: int, sent: int,
              todo: list[Any], block: bool = True) -> tuple[str, int, Any] | None:
        """The next message from a worker process (None when ``block`` is false and none
        is ready); a worker process that died is a WorkerDied."""
        while True:
            try:
                return results.get(timeout=_POLL_S) if block else results.get_nowait()
            except queue.Empty:
                pass
            dead = [p for p in procs if p.exitcode is not None]
            if dead:
                with contextlib.suppress(queue.Empty):  # its last answer may be in flight
                    return results.get(timeout=_POLL_S)
                p = dead[0]
                how = _how(p.exitcode)
                held = f"items {out}..{sent - 1} of {len(todo)} were" if sent - out > 1 \
                    else f"item {out} of {len(todo)} was"
                raise WorkerDied(
                    f"a {self.what} process died ({how}) while {held} being worked on; "
                    "nothing it held was kept",
                    ["out of memory (see dmesg), a crash in the model's library, or a "
                     "process killed from outside; fewer workers (matcher.workers) use "
                     "less memory, and matcher.workers: 1 runs everything in this "
                     "process"])
            if not block:
                return None


def _how(code: int) -> str:
    if code >= 0:
        return f"exit status {code}"
    try:
        return f"killed by signal {signal.Signals(-code).name}"
    except ValueError:
        return f"killed by signal {-code}"


@contextlib.contextmanager
def _main_hidden() -> Iterator[None]:
    """While workers start, ``spawn`` does not see the caller's ``__main__``: a worker
    then never runs the caller's script again (a script without the ``if __name__ ==
    "__main__":`` guard would, and fail). The work sent to workers lives in fairbench's
    own modules, so they never need it."""
    main = sys.modules.get("__main__")
    saved = {k: main.__dict__[k] for k in ("__spec__", "__file__")
             if main is not None and k in main.__dict__}
    try:
        if main is not None:
            main.__spec__ = None
            main.__dict__.pop("__file__", None)
        yield
    finally:
        if main is not None:
            for k, v in saved.items():
                setattr(main, k, v)


def _start(procs: list[Any]) -> None:
    """Start the workers with SIGINT ignored (inherited), so a Ctrl-C during their start
    reaches this process only, and without the caller's ``__main__``."""
    main = threading.current_thread() is threading.main_thread()
    old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        with _main_hidden():
            for p in procs:
                p.start()
    finally:
        if main:
            signal.signal(signal.SIGINT, old)


def _stop(procs: list[Any]) -> None:
    """SIGTERM every live worker, wait for them, SIGKILL any that outlives the grace."""
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(Exception):
                p.terminate()
    deadline = time.monotonic() + _GRACE_S
    for p in procs:
        with contextlib.suppress(Exception):
            p.join(max(0.0, deadline - time.monotonic()))
    for p in procs:
        if p.is_alive():
            with contextlib.suppress(Exception):
                p.kill()
                p.join(1.0)
