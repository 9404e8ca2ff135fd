"""Check a claims file against a run: supported, refuted, or not testable with this data.

Decisions use each group's 95 % interval (the wider of the table's interval and the subject
bootstrap; the rule-of-three bound when there are no errors), never the point estimate
alone:

- a bound ``rate <= v`` is *supported* when the upper end is <= v, *refuted* when the lower
  end is > v, and *not testable* when the interval straddles v (or n < 10);
- a ratio bound ``rate_g / rate_h <= k`` is *refuted* when even the most favourable
  reading (g at its lower end, h at its upper end) exceeds k, *supported* when the least
  favourable reading (g high, h low) stays within k, and *not testable* otherwise.

A claim is refuted when any of its checks is, supported when all are, and not testable
otherwise. Only run.json is read.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fairbench.errors import FairbenchError
from fairbench.metrics.rates import n_column
from fairbench.report.cells import RateCell, pct
from fairbench.report.claim_schema import (
    AccuracyCheck,
    ClaimsFile,
    DifferenceCheck,
    OperatingPoint,
    RateCheck,
    RatioCheck,
    SummaryCheck,
)

SUPPORTED, REFUTED, NOT_TESTABLE = "supported", "refuted", "not testable"
#: The rates each mode's per-group table holds, and that table.
MODE_RATES = {"verification": (("fmr", "fnmr", "fta"), "verification_by_group",
                               "verification_summary"),
              "identification": (("fpir", "fnir"), "identification_by_group", "")}
ABSENT = {"bpcer": "liveness (PAD) results", "apcer": "liveness (PAD) results",
          "fpir": "1:N identification results (FPIR is read in a 1:N run)",
          "fnir": "1:N identification results (FNIR is read in a 1:N run)",
          "fmr": "1:1 verification results (FMR is read in a 1:1 run)",
          "fnmr": "1:1 verification results (FNMR is read in a 1:1 run)",
          "fta": "1:1 verification results"}


class MissingInRun(FairbenchError):
    """A claim names an attribute or group the run does not have (an error under --strict)."""


def did_you_mean(name: str, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=3, cutoff=0.5)
    return f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""


@dataclass
class CheckResult:
    check: str
    verdict: str
    evidence: list[str] = field(default_factory=list)


@dataclass
class ClaimResult:
    id: str
    text: str
    verdict: str
    checks: list[CheckResult]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def combine(verdicts: Sequence[str]) -> str:
    if REFUTED in verdicts:
        return REFUTED
    if verdicts and all(v == SUPPORTED for v in verdicts):
        return SUPPORTED
    return NOT_TESTABLE


def _isclose(a: Any, b: float) -> bool:
    return a is not None and not (isinstance(a, float) and math.isnan(a)) and \
        math.isclose(float(a), b, rel_tol=1e-9, abs_tol=1e-12)


class RunView:
    """The stored per-group records of a run, looked up by operating point and attribute."""

    def __init__(self, record: Mapping[str, Any]) -> None:
        self.record = record
        self.mode = str(record.get("mode", "verification"))
        self.rates, table, summary = MODE_RATES[self.mode]
        metrics = record.get("metrics") or {}
        self.rows = list(metrics.get(table) or [])
        self.summary = list(metrics.get(summary) or []) if summary else []
        self.missing: list[str] = []  # attributes or groups a claim named and the run lacks

    def at(self, op: OperatingPoint | None, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if op is None:  # FTA has no threshold: any one operating point will do
            first = rows[0]["operating_point"] if rows else None
            return [r for r in rows if r["operating_point"] == first]
        if op.kind == "fixed":
            return [r for r in rows if r["threshold_kind"] == "fixed"
                    and _isclose(r.get("threshold_native"), op.value)]
        target = "target_fmr" if self.mode == "verification" else "target_fpir"
        return [r for r in rows if r["threshold_kind"] == op.kind
                and _isclose(r.get(target), op.value)]

    def missing_op(self, op: OperatingPoint) -> str:
        have = [t for t in self.record.get("operating_points", []) if t.get("supported")]
        names = ", ".join(str(t.get("label")) for t in have)
        unsupported = [t.get("note", "") for t in self.record.get("operating_points", [])
                       if not t.get("supported") and t.get("kind") == op.kind
                       and _isclose(t.get("target"), op.value)]
        why = f" ({unsupported[0]})" if unsupported else ""
        return f"the run has no operating point at {op.label()}{why}; it has: {names or 'none'}"

    def groups(self, attribute: str, op: OperatingPoint | None,
               wanted: list[str] | None) -> tuple[list[dict[str, Any]], list[str]]:
        """Rows of the wanted groups (default: every known group), and problems found."""
        attrs = list(dict.fromkeys(r["attribute"] for r in self.rows))
        if attribute not in attrs:
            msg = (f"the run has no attribute {attribute!r}.{did_you_mean(attribute, attrs)} "
                   f"It has: {', '.join(attrs)}")
            self.missing.append(msg)
            return [], [msg]
        rows = self.at(op, [r for r in self.rows if r["attribute"] == attribute])
        if not rows:
            return [], [self.missing_op(op) if op else "no rows"]
        if wanted is None:
            return [r for r in rows if "unknown" not in str(r["group"]).split("|")], []
        have = {str(r["group"]): r for r in rows}
        problems = []
        for g in wanted:
            if g not in have:
                msg = (f"group {g!r} of {attribute} is not in this data."
                       f"{did_you_mean(g, list(have))} It has: {', '.join(sorted(have))}")
                problems.append(msg)
                self.missing.append(msg)
        return [have[g] for g in wanted if g in have], problems


def _cell(r: Mapping[str, Any], rate: str) -> RateCell:
    return RateCell.from_row(r, rate, n_column(rate))


def _who(r: Mapping[str, Any]) -> str:
    return "all comparisons" if r["attribute"] == "all" else f"{r['group']}"


def check_rate(run: RunView, rate: str, attribute: str, groups: list[str] | None,
               op: OperatingPoint | None, at_most: float | None, at_least: float | None,
               skip_insufficient: bool) -> CheckResult:
    bound = f"<= {pct(at_most)}" if at_most is not None else f">= {pct(at_least or 0)}"
    desc = f"{rate.upper()} of {attribute} {bound}" + (f" at {op.label()}" if op else "")
    if rate not in run.rates:
        return CheckResult(desc, NOT_TESTABLE, [f"this run has no {ABSENT[rate]}"])
    if rate != "fta" and op is None:
        return CheckResult(desc, NOT_TESTABLE, ["the claim names no operating point (at:)"])
    rows, problems = run.groups(attribute, op if rate != "fta" else None, groups)
    verdicts = [NOT_TESTABLE] * len(problems)
    evidence = list(problems)
    for r in rows:
        c = _cell(r, rate)
        if c.insufficient:
            evidence.append(f"{_who(r)}: insufficient data (n = {c.n:,})"
                            + ("; left out" if skip_insufficient else ""))
            if not skip_insufficient:
                verdicts.append(NOT_TESTABLE)
            continue
        lo, hi = c.bounds()
        if at_most is not None:
            v = SUPPORTED if hi <= at_most else REFUTED if lo > at_most else NOT_TESTABLE
        else:
            v = SUPPORTED if lo >= (at_least or 0) else REFUTED if hi < (at_least or 0) \
                else NOT_TESTABLE
        verdicts.append(v)
        evidence.append(f"{_who(r)}: {c.text()}; 95% bounds {pct(lo)} to {pct(hi)} -> {v}")
    return CheckResult(desc, combine(verdicts) if verdicts else NOT_TESTABLE, evidence)


def check_ratio(run: RunView, c: RatioCheck) -> CheckResult:
    pair = "any two groups" if c.between == "any_two" else "any group and the reference"
    desc = f"{c.rate.upper()} ratio between {pair} of {c.attribute} <= {c.at_most:g} at " \
           f"{c.at.label()}"
    if c.rate not in run.rates:
        return CheckResult(desc, NOT_TESTABLE, [f"this run has no {ABSENT[c.rate]}"])
    rows, problems = run.groups(c.attribute, c.at, None)
    if problems:
        return CheckResult(desc, NOT_TESTABLE, problems)
    evidence, ok = [], []
    for r in rows:
        cell = _cell(r, c.rate)
        if cell.insufficient:
            evidence.append(f"{r['group']}: insufficient data (n = {cell.n:,})"
                            + ("; left out" if c.skip_insufficient else ""))
            continue
        ok.append((str(r["group"]), cell, *cell.bounds()))
    if len(ok) < 2:
        return CheckResult(desc, NOT_TESTABLE, evidence + ["fewer than two groups with data"])
    dens = ok
    if c.between == "reference":
        ref = str(rows[0].get("reference_group") or "")
        dens = [x for x in ok if x[0] == ref]
        if not dens:
            return CheckResult(desc, NOT_TESTABLE, evidence + [f"reference group {ref!r} has "
                                                               "too little data"])
    g_hi = max(ok, key=lambda x: x[2])  # the group whose lower bound is highest
    h_lo = min(dens, key=lambda x: x[3])  # the group whose upper bound is lowest
    least = g_hi[2] / h_lo[3] if h_lo[3] > 0 else math.inf
    evidence += [f"{g}: {cell.text()}; bounds used {pct(lo)}-{pct(hi)} (the wider of its "
                 "interval and its subject bootstrap)" for g, cell, lo, hi in ok]
    if least > c.at_most:
        evidence.append(f"{g_hi[0]} is at least {pct(g_hi[2])} and {h_lo[0]} at most "
                        f"{pct(h_lo[3])}: the ratio is at least {least:.3g} > {c.at_most:g}")
        verdict = REFUTED
    else:
        top = max(ok, key=lambda x: x[3])
        bottom = min(dens, key=lambda x: x[2])
        most = top[3] / bottom[2] if bottom[2] > 0 else math.inf
        verdict = SUPPORTED if most <= c.at_most else NOT_TESTABLE
        evidence.append(f"within the 95% bounds the largest ratio lies between {least:.3g} "
                        f"and {most:.3g} ({top[0]} at most {pct(top[3])}, {bottom[0]} at "
                        f"least {pct(bottom[2])})"
                        + ("" if most <= c.at_most else ": this data cannot decide"))
    skipped = any("insufficient" in e and "left out" not in e for e in evidence)
    if skipped and verdict == SUPPORTED:
        verdict = NOT_TESTABLE
        evidence.append("groups with too little data cannot be covered (skip_insufficient: "
                        "true leaves them out)")
    return CheckResult(desc, verdict, evidence)


def check_summary(run: RunView, c: SummaryCheck) -> CheckResult:
    bound = f"<= {c.at_most:g}" if c.at_most is not None else f">= {c.at_least:g}"
    desc = f"{c.measure} of {c.attribute} {bound} at {c.at.label()}"
    rows = [r for r in run.at(c.at, run.summary)
            if r["attribute"] == c.attribute and r["measure"] == c.measure]
    if not rows:
        return CheckResult(desc, NOT_TESTABLE, [f"the run stores no {c.measure} for "
                                                f"{c.attribute} at {c.at.label()}"])
    r = rows[0]
    v, lo, hi = (r.get(k) for k in ("value", "ci_low", "ci_high"))
    if lo is None or hi is None:
        return CheckResult(desc, NOT_TESTABLE, [f"{c.measure} = {v}, without an interval"])
    if c.at_most is not None:
        verdict = SUPPORTED if hi <= c.at_most else REFUTED if lo > c.at_most else NOT_TESTABLE
    else:
        verdict = SUPPORTED if lo >= c.at_least else REFUTED if hi < c.at_least \
            else NOT_TESTABLE
    return CheckResult(desc, verdict, [f"{c.measure} = {v:.4g} [bootstrap 95% CI {lo:.4g}, "
                                       f"{hi:.4g}] over {r.get('groups_compared', '')}"])


def check_difference(run: RunView, c: DifferenceCheck) -> CheckResult:
    """Refuted by any group whose permutation p (adjusted as asked) is below the level."""
    col = f"{c.rate}_p" + ("" if c.adjust == "none" else f"_{c.adjust}")
    how = {"holm": "Holm-adjusted", "bh": "Benjamini-Hochberg-adjusted", "none": "unadjusted"}
    desc = (f"no group's {c.rate.upper()} of {c.attribute} differs from the reference "
            f"group's at {c.at.label()} ({how[c.adjust]} permutation p >= {c.level:g})")
    if c.rate not in run.rates:
        return CheckResult(desc, NOT_TESTABLE, [f"this run has no {ABSENT[c.rate]}"])
    rows, problems = run.groups(c.attribute, c.at, None)
    if problems:
        return CheckResult(desc, NOT_TESTABLE, problems)
    tested = [r for r in rows if r.get(col) is not None and not math.isnan(float(r[col]))]
    if not tested:
        return CheckResult(desc, NOT_TESTABLE, [
            f"no permutation test in this run for {c.attribute} (verification.permutations: "
            "0, a run from before the tests, or labels that are not one per person)"])
    ref = str(rows[0].get("reference_group") or "")
    found = [r for r in tested if float(r[col]) < c.level]
    evidence = [f"{r['group']} against {ref}: {_cell(r, c.rate).text()}, p = "
                f"{float(r[f'{c.rate}_p']):.2g} ({how[c.adjust]} {float(r[col]):.2g})"
                for r in tested]
    if found:
        return CheckResult(desc, REFUTED, evidence + [
            f"{', '.join(str(r['group']) for r in found)}: a difference this large is "
            f"unlikely by chance ({how[c.adjust]} p < {c.level:g})"])
    return CheckResult(desc, NOT_TESTABLE, evidence + [
        "no difference was found, which does not show there is none: this data may be too "
        "small to find one"])


def check_one(run: RunView, c: Any) -> CheckResult:
    if isinstance(c, RateCheck):
        return check_rate(run, c.rate, c.attribute, c.groups, c.at, c.at_most, c.at_least,
                          c.skip_insufficient)
    if isinstance(c, AccuracyCheck):
        parts = [check_rate(run, r, c.attribute, c.groups, c.at, 1 - c.at_least, None,
                            c.skip_insufficient) for r in c.means]
        names = " and ".join(f"1 - {r.upper()}" for r in c.means)
        desc = f"accuracy >= {pct(c.at_least, 4)}, read as {names} each >= {pct(c.at_least, 4)}"
        ev = [f"[{p.check}: {p.verdict}] {e}" for p in parts for e in p.evidence]
        return CheckResult(desc, combine([p.verdict for p in parts]), ev)
    if isinstance(c, RatioCheck):
        return check_ratio(run, c)
    if isinstance(c, DifferenceCheck):
        return check_difference(run, c)
    return check_summary(run, c)


def check_claims(record: Mapping[str, Any], claims: ClaimsFile, strict: bool = False
                 ) -> list[ClaimResult]:
    """Every claim of the file checked against one run's record.

    With ``strict``, a claim naming an attribute or group the run lacks is an error
    (:class:`MissingInRun`) instead of "not testable".
    """
    run = RunView(record)
    out = []
    for cl in claims.claims:
        results = [check_one(run, c) for c in cl.checks]
        out.append(ClaimResult(cl.id, cl.text, combine([r.verdict for r in results]), results))
    if strict and run.missing:
        raise MissingInRun("the claims name what this run does not have",
                           list(dict.fromkeys(run.missing)))
    return out
