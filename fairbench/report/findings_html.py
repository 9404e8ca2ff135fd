"""The top of report.html: findings first, then what the data can and cannot show.

Per operating point (one block each; the page's switcher shows one at a time): for every
attribute a forest plot of each group's two error rates, the worst-to-best ratio and the
pairs of groups the data cannot tell apart; then the citation sentences ranked by the size
of the difference they support, and those whose intervals cannot separate the groups.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from fairbench.forest import Panel, Point, forest_svg
from fairbench.report.findings import AttributeFindings, RateFindings, Spread, findings
from fairbench.report.html import _e
from fairbench.report.render import anchor, html_tables
from fairbench.report.sentences import Sentence, num, ranked
from fairbench.report.views import Section, _group
from fairbench.results.run import Run


def panels(af: AttributeFindings) -> list[Panel]:
    """The forest plot's input: a panel per rate of one breakdown."""
    return [Panel(r.name, r.over, [Point(_group(p.group), p.rate, p.ci_low,
                                         p.ci_high, p.errors, p.n, p.reference)
                                   for p in r.points]) for r in af.rates]


def alt_text(af: AttributeFindings) -> str:
    """What the forest plot shows, in words (for screen readers and a missing image)."""
    parts = []
    for r in af.rates:
        cells = "; ".join(
            f"{p.group}: " + ("no data" if p.n == 0 else
                              f"0 of {p.n:,}" if p.errors == 0 else
                              f"{100 * (p.rate or 0):.3g}% ({p.errors:,} of {p.n:,})")
            for p in r.points)
        parts.append(f"{r.name} over {r.over}: {cells}")
    return (f"Forest plot of error rates by {af.attribute} at {af.description}. "
            + ". ".join(parts) + ".")


def _spread(r: RateFindings, s: Spread | None) -> str:
    if r.no_errors:
        return (f"<li>{_e(r.name)}: no group made an error; only upper bounds can be "
                "given (the triangles).</li>")
    if s is None:
        return f"<li>{_e(r.name)}: fewer than two groups have enough data to compare.</li>"
    if s.ratio is None:
        return (f"<li>{_e(r.name)}: highest in {_e(_group(s.worst))}, lowest in "
                f"{_e(_group(s.best))}; no ratio ({_e(s.note or 'the lowest rate is 0')}).</li>")
    ci = (f" (subject-bootstrap 95% CI {num(s.ci_low)}-{num(s.ci_high)})"
          if s.ci_low is not None and s.ci_high is not None else
          f" ({_e(s.note or 'no interval')})")
    return (f"<li>{_e(r.name)}: {_e(_group(s.worst))} / {_e(_group(s.best))} = "
            f"<b>{num(s.ratio)}</b>{ci}.</li>")


def _indistinct(r: RateFindings, most: int = 12) -> str:
    if not r.indistinct or r.no_errors:
        return ""  # no error anywhere: the spread line says so, there is no ratio
    pairs = "; ".join(f"{_group(a)} and {_group(b)}" for a, b in r.indistinct[:most])
    more = f", and {len(r.indistinct) - most} more pairs" if len(r.indistinct) > most else ""
    return f"<li>{_e(r.name)}: {_e(pairs)}{_e(more)}</li>"


def attribute_block(af: AttributeFindings, op_index: int,
                    extra: Sequence[Section] = ()) -> str:
    """One breakdown at one operating point: forest plot, spread, indistinct pairs."""
    prefix = f"fp-{op_index}-{anchor(af.attribute)}"
    title = f"Error rates by {af.attribute} at {af.description}"
    svg = forest_svg(panels(af), title, prefix, alt_text(af))
    spreads = "".join(_spread(r, r.spread) for r in af.rates)
    cannot = "".join(_indistinct(r) for r in af.rates)
    ref = (f" Reference group (marked): {_e(_group(af.reference_group))}."
           if af.reference_group else "")
    return (f"<figure class=\"forest\" id=\"forest-{op_index}-{anchor(af.attribute)}\" "
            f"data-attribute=\"{_e(af.attribute)}\" data-op=\"{_e(af.operating_point)}\">"
            f"{svg}<figcaption>{_e(title)}: each group's rate with its 95% interval "
            f"(person-level; log scale), errors / comparisons beside each row; an open "
            f"triangle is the 95% upper bound where no error was seen.{ref}</figcaption>"
            f"</figure><p>Worst to best:</p><ul>{spreads}</ul>"
            + (f"<p>The data cannot tell these groups apart (the subject-bootstrap interval "
               f"of their ratio includes 1, or has none; where one group made no error, "
               f"their 95% intervals overlap):</p><ul class=\"indistinct\">{cannot}</ul>"
               if cannot else "")
            + (html_tables(extra) if extra else ""))


def _scan(run: Run, at: str) -> str:
    """The worst subgroup found by the scan over intersections, at one operating point."""
    from fairbench.report.views_stats import scan_sentence

    w = run.tables.get("worst_subgroup")
    if w is None or not len(w):
        return ""
    rows = w[w["operating_point"] == at]
    rows = rows.astype(object).where(rows.notna(), None)
    items = "".join(f"<li>{_e(scan_sentence(r))}</li>" for r in rows.to_dict("records"))
    return f"<h4>Worst subgroup over the intersections</h4><ul>{items}</ul>" if items else ""


def _sentences(items: Sequence[Sentence]) -> str:
    return "".join(f"<li>{_e(s.text)}</li>" for s in items)


def findings_section(run: Run, sentences: Sequence[Sentence],
                     extra: Mapping[tuple[str, str], Sequence[Section]] | None = None) -> str:
    """The Findings section: one block per operating point, the first shown by default.

    ``extra``: tables to show under a breakdown's plot, keyed by (attribute, operating
    point label), e.g. 1:N false-candidate matrices."""
    blocks = []
    for k, op in enumerate(p for p in run.operating_points if p.supported):
        found = findings(run, op.label)
        parts = [attribute_block(af, k, (extra or {}).get((af.attribute, op.label), ()))
                 for af in found]
        top, cannot = ranked([s for s in sentences if s.at == op.label])
        cites = _scan(run, op.label)
        if top:
            cites += ("<h4>What to cite first (largest supported differences)</h4>"
                      f"<ol class=\"top\">{_sentences(top)}</ol>")
        if cannot:
            cites += ("<h4>The data cannot tell apart</h4><ul class=\"indistinct\">"
                      f"{_sentences(cannot)}</ul>")
        desc = found[0].description if found else op.describe()
        blocks.append(f"<div class=\"op-block\" data-op=\"{_e(op.label)}\">"
                      f"<h3>At {_e(desc)}</h3>{''.join(parts)}{cites}</div>")
    if not blocks:
        body = "<p>No supported operating point: nothing to show.</p>"
    else:
        body = ("<nav id=\"op-switcher\" class=\"switcher\" hidden aria-label=\"operating "
                "point\"><span>Operating point:</span></nav>" + "".join(blocks))
    return (f"<section id=\"findings\"><h2>Findings</h2><p>Who carries the errors, and "
            f"how sure we are: each group's rates at one global threshold, as NIST reads "
            f"them.</p>{body}</section>")


def coverage_section(rec: Mapping[str, Any], coverage: Sequence[Section]) -> str:
    """What this data can and cannot show: group sizes, smallest resolvable rates, the
    card's limits and its consent statement."""
    ds = rec["dataset"]
    card = ds.get("card") or {}
    limits = "".join(f"<li>{_e(x)}</li>" for x in card.get("limits") or []) \
        or "<li>none recorded (no dataset card)</li>"
    consent = card.get("consent") or "not recorded (no dataset card)"
    return (f"<section id=\"can-show\"><h2>What this data can and cannot show</h2>"
            f"<p><b>Consent:</b> {_e(str(consent).rstrip('. '))}. <b>Licence:</b> "
            f"{_e(str(card.get('licence') or 'not recorded').rstrip('. '))}.</p>"
            + (html_tables(coverage) if coverage else "")
            + f"<h3>Limits of this data (state them next to any number)</h3><ul>{limits}"
            "</ul></section>")
