"""The state one check run shares: the matcher, its inputs, its first run and the watch.

Checks call the plugin's own methods (``embed_batch`` on decoded images, or
``embed_records`` for a matcher that reads no images), not the base class's guarded
wrappers, so a fault the wrappers would hide (a result list of the wrong length, NaN
values, results out of order) is seen where the plugin author can fix it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fairbench.matchers.base import Matcher, MatcherInfo
from fairbench.testing.inputs import Inputs
from fairbench.testing.network import NetWatch
from fairbench.testing.outcomes import Outcome, outcome


class Skip(Exception):
    """Raised by a check that does not apply; its message is the reason."""


class Failed(Exception):
    """Raised by a check that found a fault; its message is the reason."""


def require(condition: object, reason: str) -> None:
    """Fail the running check with ``reason`` unless ``condition`` holds (unlike ``assert``,
    this also works under ``python -O``)."""
    if not condition:
        raise Failed(reason)


@dataclass
class Context:
    """What every check reads; ``base`` is the first run, which later runs are compared to."""

    matcher: Matcher
    inputs: Inputs
    watch: NetWatch
    rebuild: Callable[[dict[str, Any]], Matcher]  # a new instance from params
    params: dict[str, Any]
    registered_name: str | None = None
    info: MatcherInfo | None = None
    info_error: str | None = None
    raw: list[Any] | None = None
    base: list[Outcome] | None = None
    first_run_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gives_scores(self) -> bool:
        """A matcher of read scores (no templates), such as ``scores``."""
        return bool(getattr(self.matcher, "gives_scores", False))

    @property
    def reads_images(self) -> bool:
        return bool(self.matcher.needs_images)

    @property
    def method(self) -> str:
        return "embed_batch" if self.reads_images else "embed_records"

    @property
    def labels(self) -> list[str]:
        return self.inputs.labels

    def call(self, items: list[Any], phase: str, matcher: Matcher | None = None) -> list[Any]:
        """The plugin's own embedding method on ``items``, as a list."""
        self.watch.phase = phase
        m = matcher or self.matcher
        out = m.embed_batch(items) if self.reads_images else m.embed_records(items)
        try:
            return list(out)
        except TypeError:
            raise TypeError(f"{self.method} returned a {type(out).__name__}, not a list of "
                            "FaceResult") from None

    def run(self, items: list[Any], phase: str) -> list[Outcome]:
        return [outcome(r) for r in self.call(items, phase)]

    def run_on(self, matcher: Matcher, items: list[Any], phase: str) -> list[Outcome]:
        """Like :meth:`run`, on another instance (one with other params)."""
        return [outcome(r) for r in self.call(items, phase, matcher)]

    def first_run(self) -> list[Any]:
        start = time.perf_counter()
        self.raw = self.call(list(self.inputs.items), "the first run")
        self.first_run_s = time.perf_counter() - start
        self.base = [outcome(r) for r in self.raw]
        return self.raw

    def need_base(self) -> list[Outcome]:
        """The first run's outcomes; a skip when it raised or embedded nothing."""
        if self.base is None:
            raise Skip("needs a first run (embeds_images failed)")
        if not any(o.embedded for o in self.base):
            raise Skip("no image was embedded in the first run, so nothing to compare")
        return self.base
