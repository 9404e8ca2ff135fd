"""One error-rate cell as people should cite it: never a bare 0, never a number without n.

A :class:`RateCell` holds what a table cell, a sentence or a claim check needs: errors,
comparisons, the exact (Clopper-Pearson) interval, the subject-bootstrap interval when the
run has one, and how many people stand behind it. Its renderings follow one rule set:

- fewer than ``MIN_N`` comparisons: "insufficient data (n = ..)", no rate at all;
- zero errors: "0 of n (upper 95% bound ..)", the rule-of-three bound 3/n;
- otherwise the rate, its interval and "errors/n", marked imprecise under ``min_errors``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fairbench.core.settings import MIN_N  # one bar for cells and for reference groups

#: Marks a rate resting on fewer than ``min_errors`` errors (the table footnote says so).
IMPRECISE = "\u2020"


def _num(x: Any) -> float:
    """A float, NaN for None (run.json stores undefined numbers as null)."""
    return float("nan") if x is None else float(x)


def _isnan(x: Any) -> bool:
    return isinstance(x, float) and math.isnan(x)


def pct(x: float, digits: int = 2) -> str:
    """A rate in percent with enough significant digits to tell small rates apart.

    >>> pct(0.0333333), pct(0.00031969), pct(0.0)
    ('3.3%', '0.032%', '0%')
    """
    if x is None or math.isnan(x):
        return "n/a"
    if x == 0:
        return "0%"
    p = 100 * x
    decimals = max(0, digits - 1 - math.floor(math.log10(abs(p))))
    decimals = min(decimals, 6)
    return f"{p:.{decimals}f}%"


@dataclass(frozen=True)
class RateCell:
    """Errors k out of n comparisons, with intervals and the people behind them."""

    errors: int
    n: int
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    boot_low: float = float("nan")
    boot_high: float = float("nan")
    n_subjects: int | None = None
    min_errors: int = 30
    flagged: bool | None = None  # the run's own imprecision flag, when it stored one

    @property
    def rate(self) -> float:
        return self.errors / self.n if self.n > 0 else float("nan")

    @property
    def insufficient(self) -> bool:
        return self.n < MIN_N

    @property
    def imprecise(self) -> bool:
        return self.flagged if self.flagged is not None else self.errors < self.min_errors

    @property
    def upper3(self) -> float:
        """Rule-of-three 95 % upper bound (meaningful when there are no errors)."""
        return min(3.0 / self.n, 1.0) if self.n > 0 else float("nan")

    def bounds(self) -> tuple[float, float]:
        """The widest of the exact and the subject-bootstrap interval (and 3/n at 0 errors).

        Claims are decided on this: a group's rate is taken to lie anywhere in it.
        """
        lows = [x for x in (self.ci_low, self.boot_low) if not math.isnan(x)]
        highs = [x for x in (self.ci_high, self.boot_high) if not math.isnan(x)]
        if self.errors == 0 and self.n > 0:
            highs.append(self.upper3)
        lo = min(lows) if lows else float("nan")
        hi = max(highs) if highs else float("nan")
        return lo, hi

    def text(self, mark: str = IMPRECISE) -> str:
        """Plain-text cell: '33.3% [28.1%, 38.9%] (104/312)'."""
        if self.insufficient:
            return f"insufficient data (n = {self.n:,})"
        if self.errors == 0:
            return f"0 of {self.n:,} (upper 95% bound {pct(self.upper3)})"
        m = mark if self.imprecise else ""
        return (f"{pct(self.rate, 3)} [{pct(self.ci_low)}, {pct(self.ci_high)}] "
                f"({self.errors:,}/{self.n:,}){m}")

    @classmethod
    def from_row(cls, row: Mapping[str, Any], prefix: str, n_col: str,
                 min_errors: int = 30) -> RateCell:
        """Read ``prefix``_errors, ``n_col``, ``prefix``_ci_low/high and _boot_low/high."""
        n = row.get(n_col)
        k = row.get(f"{prefix}_errors")
        subj = row.get("n_subjects")
        flag = row.get(f"{prefix}_imprecise")
        return cls(
            errors=int(_num(k)) if k is not None and not math.isnan(_num(k)) else 0,
            n=int(_num(n)) if n is not None and not math.isnan(_num(n)) else 0,
            ci_low=_num(row.get(f"{prefix}_ci_low")),
            ci_high=_num(row.get(f"{prefix}_ci_high")),
            boot_low=_num(row.get(f"{prefix}_boot_low")),
            boot_high=_num(row.get(f"{prefix}_boot_high")),
            n_subjects=None if subj is None or math.isnan(_num(subj)) else int(_num(subj)),
            min_errors=min_errors,
            flagged=None if flag is None or _isnan(flag) else bool(flag),
        )


def ratio_text(value: Any, lo: Any, hi: Any, note: Any = "") -> str:
    """A ratio with its bootstrap interval; says why when it is undefined."""
    v, a, b = _num(value), _num(lo), _num(hi)
    if math.isnan(v):
        return str(note) if note and not (isinstance(note, float) and math.isnan(note)) \
            else "undefined"
    if math.isnan(a) or math.isnan(b):
        return f"{v:.3g}"
    return f"{v:.3g} [{a:.3g}, {b:.3g}]"


def value_text(value: Any, lo: Any, hi: Any) -> str:
    """A summary measure with its interval."""
    v, a, b = _num(value), _num(lo), _num(hi)
    if math.isnan(v):
        return "undefined"
    if math.isnan(a) or math.isnan(b):
        return f"{v:.4g}"
    return f"{v:.4g} [{a:.4g}, {b:.4g}]"
