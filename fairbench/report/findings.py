"""What a run found, computed once for the terminal summary and the report's forest plots.

Per attribute at one operating point and per rate: each known group's stored rate with its
95 % interval, the worst-to-best ratio with a subject-bootstrap interval taken
from the stored replicates, and the pairs of groups this data cannot tell apart. Nothing is
recomputed from scores: every number is read from :class:`~fairbench.results.run.Run`.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from fairbench.core.missing import UNKNOWN
from fairbench.errors import FairbenchError
from fairbench.metrics.bootstrap import percentile_interval
from fairbench.metrics.frame import RATE_WORDS, RateFrame
from fairbench.report.cells import MIN_N
from fairbench.results.run import Run

#: The rates a summary shows, per mode, with their names and what each is read over.
RATES = {mode: tuple((m, *RATE_WORDS[m]) for m in metrics)
         for mode, metrics in (("verification", ("fmr", "fnmr")),
                               ("identification", ("fpir", "fnir")))}

#: A spread interval needs the best group's rate above 0 in at least this share of the
#: replicates; below it the interval would describe only a minority of the resamples.
MIN_VALID_SHARE = 0.5


@dataclass(frozen=True)
class GroupPoint:
    """One group's stored rate, as a table row holds it."""

    group: str
    rate: float | None        # None when n == 0
    ci_low: float | None      # the table's 95 % interval (person-level for FMR/FNMR)
    ci_high: float | None
    errors: int
    n: int                    # comparisons (or searches) behind the rate
    n_subjects: int | None
    reference: bool           # the breakdown's reference group
    insufficient: bool        # n < fairbench.report.cells.MIN_N


@dataclass(frozen=True)
class Spread:
    """Worst group's rate over the best group's, among groups with enough data."""

    worst: str
    best: str
    ratio: float | None       # worst rate / best rate; None when the best rate is 0 or undefined
    ci_low: float | None      # subject-bootstrap percentile interval of that ratio (replicates)
    ci_high: float | None
    note: str                 # why there is no ratio or interval ('' otherwise)


@dataclass(frozen=True)
class RateFindings:
    """One rate of one breakdown: the groups, their spread, the pairs not told apart."""

    metric: str               # fmr | fnmr (1:1), fpir | fnir (1:N)
    name: str                 # 'FMR'
    over: str                 # 'same-group impostor pairs' | 'mated pairs' | ...
    points: list[GroupPoint]  # the breakdown's known groups in table order ('unknown' left out)
    spread: Spread | None     # None with fewer than two groups that have enough data
    indistinct: list[tuple[str, str]]  # pairs whose ratio interval includes 1 (or has none)

    @property
    def no_errors(self) -> bool:
        """No group with enough data made an error: only upper bounds can be given, there
        is no ratio, and no pair is worth listing."""
        usable = [p for p in self.points if not p.insufficient]
        return bool(usable) and all(p.errors == 0 for p in usable)


@dataclass(frozen=True)
class AttributeFindings:
    """Every summarised rate of one attribute at one operating point."""

    attribute: str
    operating_point: str      # the label, e.g. 'fmr=1e-3' or 'fixed=0.6'
    description: str          # human words for that point
    reference_group: str | None
    rates: list[RateFindings]


def main_operating_point(run: Run) -> str:
    """The label of the point a run is read at by default: its first supported one (the
    same choice as ``Run.frame(..., at=None)``)."""
    for p in run.operating_points:
        if p.supported:
            return p.label
    raise FairbenchError(f"run {run.run_id} has no supported operating point")


def _opt(x: Any) -> float | None:
    """A float, or None for a missing or NaN value (pandas NA included)."""
    if x is None or pd.isna(x):
        return None
    return float(x)


def _int(x: Any) -> int:
    v = _opt(x)
    return 0 if v is None else int(v)


def _known(group: str) -> bool:
    """False for the unknown group and for intersections with an unknown part."""
    return UNKNOWN not in group.split("|")


def _points(frame: RateFrame) -> list[tuple[int, GroupPoint]]:
    """(column in the replicates, point) for each known group, in table order."""
    out = []
    for i, (group, row) in enumerate(frame.by_group.iterrows()):
        g = str(group)
        if not _known(g):
            continue
        n = _int(row["n"])
        subj = _opt(row["n_subjects"])
        out.append((i, GroupPoint(
            group=g, rate=_opt(row["rate"]) if n > 0 else None, ci_low=_opt(row["ci_low"]),
            ci_high=_opt(row["ci_high"]), errors=_int(row["errors"]), n=n,
            n_subjects=None if subj is None else int(subj), reference=g == frame.reference,
            insufficient=n < MIN_N)))
    return out


def _ratio_interval(frame: RateFrame, num: int, den: int
                    ) -> tuple[float | None, float | None, str]:
    """Bootstrap percentile interval of the ratio of replicate rates ``num`` / ``den``
    (columns; ``num`` the higher group).

    It is read through the inverse ratio den / num, whose denominator (the higher rate) is
    almost never 0, and turned back (a percentile interval follows a monotone transform):
    the replicates where the lower group made no error count, as an unbounded ratio, rather
    than being dropped (dropping them, the most extreme, once called a clear difference
    'indistinct'). A note says why there is none."""
    reps = frame.replicates
    if reps is None or not len(reps):
        return None, None, "no bootstrap replicates in this run, so no interval"
    a, b = reps[:, num].astype(np.float64), reps[:, den].astype(np.float64)
    ok = np.isfinite(a) & np.isfinite(b) & (a > 0)
    if ok.sum() < max(2, MIN_VALID_SHARE * len(reps)):
        group = frame.by_group.index[num]
        return None, None, (f"no interval: {group}'s rate is 0 in {int((~ok).sum()):,} of "
                            f"{len(reps):,} bootstrap replicates")
    lo, hi = percentile_interval(b[ok] / a[ok], frame.confidence)
    with np.errstate(divide="ignore"):
        return float(1 / hi) if hi > 0 else math.inf, float(1 / lo) if lo > 0 else math.inf, ""


def _rate(p: GroupPoint) -> float:
    return p.rate if p.rate is not None else math.nan


def _spread(frame: RateFrame, usable: list[tuple[int, GroupPoint]]) -> Spread | None:
    """Worst and best by point rate (ties: table order) and the ratio's bootstrap interval."""
    if len(usable) < 2:
        return None
    b = min(range(len(usable)), key=lambda k: (_rate(usable[k][1]), k))
    w = max((k for k in range(len(usable)) if k != b), key=lambda k: (_rate(usable[k][1]), -k))
    (wi, worst), (bi, best) = usable[w], usable[b]
    if not _rate(best) > 0:
        note = "no group with enough data had an error, so there is no ratio"
        if _rate(worst) > 0:
            note = f"{best.group} had no errors (0 of {best.n:,}), so no ratio to it can be given"
        return Spread(worst.group, best.group, None, None, None, note)
    lo, hi, note = _ratio_interval(frame, wi, bi)
    return Spread(worst.group, best.group, _rate(worst) / _rate(best), lo, hi, note)


def _indistinct(frame: RateFrame, usable: list[tuple[int, GroupPoint]]
                ) -> list[tuple[str, str]]:
    """Pairs (in table order) whose higher-to-lower ratio has no interval or one that
    includes 1.

    It is the spread's ratio and interval (ties: the later group is the higher). A pair
    where the lower group had no errors has no ratio: it is told apart only when the two
    95 % intervals do not overlap (0 of 67 against 15 of 66 is a difference,
    0 of 13 against 1 of 9 is not).
    """
    out = []
    for (i, x), (j, y) in itertools.combinations(usable, 2):
        (hc, high), (lc, low) = ((i, x), (j, y)) if _rate(x) > _rate(y) else ((j, y), (i, x))
        if not _rate(low) > 0:
            if _rate(high) > 0 and None not in (low.ci_high, high.ci_low) \
                    and low.ci_high < high.ci_low:  # type: ignore[operator]
                continue
            out.append((x.group, y.group))
            continue
        lo, hi, _ = _ratio_interval(frame, hc, lc)
        if lo is None or hi is None or lo <= 1 <= hi:
            out.append((x.group, y.group))
    return out


def rate_findings(frame: RateFrame, name: str, over: str) -> RateFindings:
    """The findings of one stored rate frame."""
    points = _points(frame)
    usable = [(i, p) for i, p in points if not p.insufficient and p.rate is not None]
    return RateFindings(frame.metric, name, over, [p for _, p in points],
                        _spread(frame, usable), _indistinct(frame, usable))


def attributes_of(run: Run, intersections: bool = False) -> list[str]:
    """The dataset's single attributes that have rows (then intersections, if asked)."""
    have = run.attributes
    singles = [a for a in run.record["dataset"].get("attributes", []) if a in have]
    inter = [a for a in have if "|" in a] if intersections else []
    return [a for a in [*singles, *inter] if a != "all"]


def findings(run: Run, at: str | None = None, intersections: bool = False
             ) -> list[AttributeFindings]:
    """Per attribute at operating point ``at`` (default: the main one), every rate's points,
    worst-to-best spread and indistinct pairs."""
    label = at or main_operating_point(run)
    out = []
    for attr in attributes_of(run, intersections):
        frames = [(run.frame(m, attr, label), name, over) for m, name, over in RATES[run.mode]]
        first = frames[0][0]  # run.frame resolved the label ('FMR=0.001' -> 'fmr=1e-3')
        point = next(p for p in run.operating_points if p.label == first.at)
        out.append(AttributeFindings(attr, first.at, point.describe(), first.reference,
                                     [rate_findings(f, n, o) for f, n, o in frames]))
    return out
