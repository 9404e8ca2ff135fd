"""What a conformance check found: one result per named check, and the whole report.

A check is ``passed``, ``failed`` or ``skipped`` (not applicable, or it needs an earlier
check that failed), always with a one-line reason saying what was seen. The report renders
as plain text (the CLI's output) and as HTML in a notebook.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

Status = Literal["passed", "failed", "skipped"]
_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one named check."""

    name: str
    status: Status
    reason: str
    description: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass
class CheckReport:
    """Every check's result for one matcher, in the order they ran.

    ``passed`` is true when no check failed (skipped checks are listed, never counted as
    passes). Index by check name: ``report["thread_safe"].status``.
    """

    matcher: str
    inputs: str
    results: list[CheckResult] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    @property
    def skipped(self) -> list[CheckResult]:
        return [r for r in self.results if r.status == "skipped"]

    def __getitem__(self, name: str) -> CheckResult:
        for r in self.results:
            if r.name == name:
                return r
        raise KeyError(f"no check named {name!r}; checks: {', '.join(self.names())}")

    def __iter__(self) -> Iterator[CheckResult]:
        return iter(self.results)

    def names(self) -> list[str]:
        return [r.name for r in self.results]

    def summary(self) -> str:
        counts = {s: sum(r.status == s for r in self.results) for s in _MARK}
        verdict = "PASSED" if self.passed else "FAILED"
        return (f"matcher {self.matcher!r}: {verdict} ({counts['passed']} passed, "
                f"{counts['failed']} failed, {counts['skipped']} skipped)")

    def to_text(self) -> str:
        """Plain text: the verdict, the inputs, then one line per check."""
        width = max((len(r.name) for r in self.results), default=0)
        lines = [self.summary(), f"inputs: {self.inputs}"]
        lines += [f"  {_MARK[r.status]}  {r.name:<{width}}  {r.reason}" for r in self.results]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def _repr_html_(self) -> str:
        colour = {"passed": "#1a7f37", "failed": "#cf222e", "skipped": "#6e7781"}
        rows = "".join(
            f"<tr><td style='color:{colour[r.status]};font-weight:bold'>{_MARK[r.status]}"
            f"</td><td title='{html.escape(r.description, quote=True)}'><code>"
            f"{html.escape(r.name)}</code></td><td style='text-align:left'>"
            f"{html.escape(r.reason)}</td></tr>"
            for r in self.results
        )
        return (f"<p><b>{html.escape(self.summary())}</b><br>inputs: "
                f"{html.escape(self.inputs)}</p><table><thead><tr><th></th><th>check</th>"
                f"<th style='text-align:left'>what was seen</th></tr></thead>"
                f"<tbody>{rows}</tbody></table>")
