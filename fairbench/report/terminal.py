"""The summary ``fairbench run`` and ``fairbench report`` print on stderr: read in a minute.

Per attribute at the main operating point: each group's two error rates as citeable cells,
the people behind them, the worst-to-best ratio with its subject-bootstrap interval, and the
pairs of groups this data cannot tell apart. Everything comes from
:func:`fairbench.report.findings.findings`; rich lays it out and wraps it to the terminal.
"""

from __future__ import annotations

import math

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from fairbench.core.settings import Settings
from fairbench.report.cells import RateCell, ratio_text
from fairbench.report.findings import AttributeFindings, GroupPoint, RateFindings, findings
from fairbench.report.views import NOTE_CELLS
from fairbench.results.run import Run

#: At most this many indistinct pairs are listed per attribute; the rest are counted.
MAX_PAIRS = 8

MODES = {"verification": "1:1 verification", "identification": "1:N identification"}


def _settings(run: Run) -> Settings:
    cfg = run.record["config"]
    return Settings.from_sections(cfg.get("dataset") or {}, cfg.get(run.mode) or {})


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def cell(p: GroupPoint, min_errors: int = 30) -> RateCell:
    """The table cell of a group's rate (the same text as the report's tables)."""
    return RateCell(errors=p.errors, n=p.n, ci_low=_nan(p.ci_low), ci_high=_nan(p.ci_high),
                    n_subjects=p.n_subjects, min_errors=min_errors)


def spread_line(rf: RateFindings) -> str:
    """'FMR worst/best: g02 / g00 = 8.41 [5.65, 17.6]' or why there is no ratio."""
    s = rf.spread
    if s is None:
        return (f"{rf.name}: fewer than two groups with enough data, so no worst-to-best "
                "ratio")
    if rf.no_errors:
        return f"{rf.name}: no group with enough data had an error, so there is no ratio"
    head = f"{rf.name} worst/best: {s.worst} / {s.best}"
    if s.ratio is None:
        return f"{head}: {s.note or 'no ratio'}"
    text = ratio_text(s.ratio, _nan(s.ci_low), _nan(s.ci_high))
    return f"{head} = {text}" + (f" ({s.note})" if s.note else " (subject bootstrap)")


def _why(rf: RateFindings, a: str, b: str) -> str:
    """A rate's name, with why it has no ratio when one of the two groups had no errors."""
    zero = [p.group for p in rf.points if p.group in (a, b) and p.errors == 0]
    if len(zero) == 2:
        return f"{rf.name} (both had no errors)"
    if zero:
        return f"{rf.name} (no ratio: {zero[0]} had no errors)"
    return rf.name


def pair_lines(af: AttributeFindings, cap: int = MAX_PAIRS) -> list[str]:
    """One line per pair of groups some rate does not tell apart, naming those rates."""
    rates: dict[tuple[str, str], list[str]] = {}
    for rf in af.rates:
        if rf.no_errors:  # said once by its spread line; every pair would repeat it
            continue
        for a, b in rf.indistinct:
            rates.setdefault((a, b), []).append(_why(rf, a, b))
    lines = [f"{a} and {b}: {', '.join(r)}" for (a, b), r in rates.items()]
    if len(lines) > cap:
        lines = [*lines[:cap], f"and {len(lines) - cap:,} more"]
    return lines


def attribute_table(af: AttributeFindings, min_errors: int = 30) -> Table:
    """One attribute's groups: people and each rate's cell."""
    t = Table(title=f"{af.attribute} at {af.description}", title_justify="left",
              show_lines=False, expand=False)
    t.add_column("group", overflow="fold")
    t.add_column("people", justify="right")
    for rf in af.rates:
        t.add_column(f"{rf.name} ({rf.over})", overflow="fold")
    by_rate = [{p.group: p for p in rf.points} for rf in af.rates]
    for p in af.rates[0].points if af.rates else []:
        name = f"{p.group} (reference)" if p.reference else p.group
        people = "" if p.n_subjects is None else f"{p.n_subjects:,}"
        t.add_row(name, people, *[cell(r[p.group], min_errors).text() if p.group in r else ""
                                  for r in by_rate])
    return t


def banners(run: Run) -> list[Text]:
    """The SIMULATED banner and the dataset's consent warning, when the run has them."""
    out = []
    if run.record.get("simulated"):
        out.append(Text("SIMULATED DATA: these numbers describe planted, synthetic "
                        "differences, not a real system.", style="bold red"))
    warning = (run.record.get("dataset") or {}).get("consent_warning")
    if warning:
        out.append(Text(f"WARNING: this dataset was {warning}. Quote that with any number "
                        "from it.", style="bold red"))
    return out


def summary_table(run: Run, at: str | None = None) -> RenderableType:
    """The whole summary of a run at operating point ``at`` (default: the main one)."""
    s = _settings(run)
    found = findings(run, at)
    parts: list[RenderableType] = [*banners(run)]
    parts.append(Text(f"fairbench run {run.run_id} ({MODES.get(run.mode, run.mode)})",
                      style="bold"))
    if not found:
        parts.append(Text("No attribute breakdown to summarise."))
    pct = f"{s.confidence:.0%}"
    for af in found:
        parts.append(attribute_table(af, s.min_errors))
        parts += [Text(f"  {spread_line(rf)}") for rf in af.rates]
        if not run.replicates:
            parts.append(Text("  No bootstrap replicates, so no pair of groups is told apart."))
            continue
        lines = pair_lines(af)
        if lines:
            parts.append(Text(f"  Not told apart by this data (the ratio's {pct} bootstrap "
                              "interval includes 1 or there is none; where one group made no "
                              "error, their intervals overlap):"))
            parts += [Text(f"    {ln}") for ln in lines]
        elif any(rf.spread for rf in af.rates):
            parts.append(Text("  No pair of groups with enough data has a ratio whose "
                              f"{pct} bootstrap interval includes 1."))
    parts.append(Text(NOTE_CELLS, style="dim"))
    return Group(*parts)


def print_summary(run: Run, console: Console, at: str | None = None) -> None:
    """Print :func:`summary_table` (``fairbench run`` and ``report`` use stderr)."""
    console.print(summary_table(run, at))


#: the stages of a run, in the order they happen (run.json ``timings_s``)
STAGES = ("load", "templates", "scoring", "metrics", "capture", "report")


def timings_line(record: dict) -> str:
    """Where a run's time went, in one line: every stage of ``timings_s`` in seconds, what
    is left of the total (``other``), and the extraction rate and how it ran."""
    t = {k: float(v) for k, v in (record.get("timings_s") or {}).items()
         if isinstance(v, (int, float)) and math.isfinite(v)}
    if not t:
        return "time: not recorded"
    stages = [k for k in STAGES if k in t] + sorted(set(t) - {*STAGES, "total"})
    parts = [f"{k} {t[k]:.1f}" for k in stages]
    total = t.get("total")
    if total is not None:
        other = total - sum(t[k] for k in stages)
        if other >= 0.05:
            parts.append(f"other {other:.1f}")
    cap = record.get("capture") or {}
    ext = cap.get("extraction") or {}
    if t.get("templates") and cap.get("computed"):
        how = f", {ext['mode']}" if ext.get("mode") else ""
        if ext.get("mode") == "processes":
            how = f", {ext['workers']} processes"
        elif ext.get("mode") in ("threads", "in-process"):
            how = f", {ext.get('threads_per_worker', 1)} threads"
        k = stages.index("templates")
        parts[k] += (f" ({cap['computed']:,} embedded, "
                     f"{cap['computed'] / t['templates']:.1f}/s{how})")
    head = f"time {total:.1f} s: " if total is not None else "time (s): "
    return head + ", ".join(parts)


def print_timings(run: Run, console: Console) -> None:
    """Print :func:`timings_line` (``fairbench run`` does, on stderr, unless --quiet)."""
    console.print(timings_line(run.record), markup=False, highlight=False, soft_wrap=True)
