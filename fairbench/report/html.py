"""report.html: one self-contained file (styles and plots inlined, a CSP that forbids any
fetch) with the run's provenance, the dataset's licence, consent and limits, every table and
plot, and the citation sentences."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from fairbench.report.figures import Plot, Skipped
from fairbench.report.page import csp, page
from fairbench.report.render import html_tables
from fairbench.report.sentences import Sentence
from fairbench.report.views import Section

if TYPE_CHECKING:
    from fairbench.results.run import Run

#: the policy of every fairbench page (see :mod:`fairbench.report.page`)
CSP = csp()


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _dl(items: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items if v not in (None, ""))
    return f"<dl>{rows}</dl>"


def _img(p: Plot) -> str:
    data = base64.b64encode(p.svg.read_bytes()).decode("ascii")
    return (f"<figure id=\"plot-{_e(p.kind)}-{_e(p.attribute)}\"><img alt=\"{_e(p.alt)}\" "
            f"src=\"data:image/svg+xml;base64,{data}\"><figcaption>{_e(p.title)}"
            "</figcaption></figure>")


def _dataset(rec: Mapping[str, Any]) -> str:
    ds = rec["dataset"]
    card = ds.get("card") or {}
    limits = list(card.get("limits") or []) or list(rec.get("notes") or [])
    items = [("dataset", card.get("title") or ds["name"]), ("version", card.get("version")),
             ("citation", card.get("citation")), ("licence", card.get("licence")),
             ("consent", card.get("consent")), ("homepage", card.get("homepage")),
             ("images / people", f"{ds['n_images']:,} / {ds['n_subjects']:,}"),
             ("manifest sha256", ds.get("manifest_sha256")),
             ("card sha256", ds.get("card_sha256"))]
    items += [(f"labels: {a}", s) for a, s in (ds.get("label_sources") or {}).items()]
    if not card:
        items.append(("licence", "no dataset card: licence and consent not recorded"))
    lim = "".join(f"<li>{_e(x)}</li>" for x in limits) or "<li>none recorded</li>"
    return (f"<details id=\"dataset\"><summary>Dataset</summary>{_dl(items)}"
            f"<h3>Limits of this data (state them next to any number)</h3><ul>{lim}</ul>"
            "</details>")


def _model(rec: Mapping[str, Any]) -> str:
    mt = rec["matcher"]
    items = [("matcher", mt.get("name")), ("version", mt.get("version")),
             ("native score", mt.get("native_score")), ("similarity", mt.get("similarity")),
             ("providers", ", ".join(mt.get("providers") or [])),
             ("fingerprint", mt.get("fingerprint"))]
    items += [(f"sha256 {k}", v) for k, v in (mt.get("weights_sha256") or {}).items()]
    details = json.dumps(mt.get("details") or {}, indent=1, sort_keys=True)
    return (f"<details id=\"model\"><summary>Model</summary>{_dl(items)}"
            f"<details><summary>matcher details</summary><pre>{_e(details)}</pre></details>"
            "</details>")


def _provenance(rec: Mapping[str, Any]) -> str:
    pv = rec.get("provenance") or {}
    git = pv.get("git") or {}
    dirty = " (uncommitted changes)" if git.get("dirty") else ""
    items = [("run id", rec["run_id"]), ("created (UTC)", rec.get("created_utc")),
             ("schema version", rec.get("schema_version")),
             ("fairbench", pv.get("fairbench_version")),
             ("git commit", str(git.get("commit", "")) + dirty),
             ("python", pv.get("python")), ("platform", pv.get("platform")),
             ("config sha256", rec.get("config_hash"))]
    pk = ", ".join(f"{k} {v}" for k, v in (pv.get("packages") or {}).items())
    items.append(("packages", pk))
    cfg = yaml.safe_dump(rec.get("config") or {}, sort_keys=False)
    cap = rec.get("capture") or {}
    comp = rec.get("comparisons") or {}
    if cap.get("measured", True):
        items += [("images acquired",
                   f"{cap.get('n_acquired', '?')} of {cap.get('n_images', '?')}"),
                  ("failure reasons", ", ".join(f"{k}: {v}" for k, v in (
                      cap.get("failure_reasons") or {}).items()) or "none")]
    else:
        items.append(("acquisition", "not measured: comparisons given as scores"))
    items.append(("comparisons", ", ".join(f"{k}: {v:,}" for k, v in comp.items())))
    return (f"<details id=\"provenance\"><summary>Provenance</summary>{_dl(items)}"
            f"<details><summary>resolved config</summary><pre>{_e(cfg)}</pre></details>"
            "</details>")


def _thresholds(rec: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_e(t.get('label'))}</td><td>{_e(t['kind'])}</td><td>{_e(t.get('target'))}"
        f"</td><td>{_e(t.get('reference_group'))}</td><td>{_e(t.get('native'))}</td>"
        f"<td>{'yes' if t.get('supported') else 'no'}</td><td>{_e(t.get('note'))}</td></tr>"
        for t in rec.get("operating_points") or [])
    rate = "FMR" if rec.get("mode") == "verification" else "FPIR"
    return ("<details id=\"thresholds\"><summary>Operating points</summary><p>Every group "
            "is read at one global threshold, as NIST does.</p><table><thead><tr><th>label</th>"
            f"<th>kind</th><th>target {rate}</th><th>on group</th><th>threshold (native "
            "scale)</th><th>supported</th><th>note</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></details>")


def _tables(title: str, key: str, sections: Sequence[Section], open_attrs: set[str]) -> str:
    """A family of tables, collapsed: single breakdowns first, intersections nested."""
    if not sections:
        return ""
    shown = [s for s in sections if _attr_of(s) in open_attrs]
    hidden = [s for s in sections if _attr_of(s) not in open_attrs]
    more = ""
    if hidden:
        more = (f"<details><summary>{len(hidden)} more tables (intersections)</summary>"
                f"{html_tables(hidden)}</details>")
    return (f"<details id=\"{key}\"><summary>{_e(title)} ({len(sections)} "
            f"{'table' if len(sections) == 1 else 'tables'})</summary>"
            f"{html_tables(shown)}{more}</details>")


def _attr_of(s: Section) -> str:
    return s.attribute or "all"


def _plots(plots: Sequence[Plot], skipped: Sequence[Skipped]) -> str:
    """Every plot, grouped by kind and collapsed; a plot with nothing to show is not
    drawn, and a sentence says why."""
    out = []
    for kind, title in (("det", "DET curves"), ("heatmap", "Cross-group heatmaps"),
                        ("scores", "Score distributions"), ("ratio", "Ratio panels")):
        figs = "".join(_img(p) for p in plots if p.kind == kind)
        why = "".join(f"<p class=\"note\">{_e(s.title)}: not drawn, {_e(s.reason)}.</p>"
                      for s in skipped if s.kind == kind)
        if figs or why:
            out.append(f"<details id=\"plots-{kind}\"><summary>{title}</summary>{figs}{why}"
                       "</details>")
    return "".join(out)


def _citations(sentences: Sequence[Sentence]) -> str:
    groups: dict[str, list[str]] = {}
    for s in sentences:
        groups.setdefault(s.operating_point, []).append(f"<li>{_e(s.text)}</li>")
    cites = "".join(f"<h3>{_e(op)}</h3><ol class=\"citations\">{''.join(items)}</ol>"
                    for op, items in groups.items()) or \
        "<p>No citation sentences for this kind of run yet; cite the tables' cells.</p>"
    return ("<details id=\"citations\"><summary>Every citation sentence</summary><p>One "
            "sentence per noteworthy cell, to paste as it is; each names its error, operating "
            f"point, groups, interval, counts, model, dataset and run.</p>{cites}</details>")


def _intro(rec: Mapping[str, Any]) -> str:
    head = ("<p>Error rates by demographic group, each with its 95% interval, counts and "
            "operating point. A single 'accuracy' figure hides who carries the errors; this ")
    if rec.get("mode") == "identification":
        return head + ("1:N report splits it into the false positive identification rate of "
                       "non-mated searches (FPIR) and the false negative identification rate "
                       "of mated searches (FNIR).</p>")
    if not (rec.get("capture") or {}).get("measured", True):
        return head + ("report splits it into false match rate (FMR) and false non-match "
                       "rate (FNMR); the comparisons were given as scores, so failure to "
                       "acquire was not measured.</p>")
    return head + ("report splits it into false match rate (FMR), false non-match rate "
                   "(FNMR) and failure to acquire (FTA).</p>")


def _extra_1n(sections: Mapping[str, Sequence[Section]]
              ) -> dict[tuple[str, str], list[Section]]:
    """1:N false-candidate matrices, to show under each breakdown's forest plot."""
    out: dict[tuple[str, str], list[Section]] = {}
    for s in sections.get("identification_false_candidates", []):
        op = s.title.rsplit(" at ", 1)[-1]
        out.setdefault((s.attribute, op), []).append(s)
    return out


MAIN_TABLES = ("verification_by_group", "fmr_cross_group", "identification_by_group",
               "data_coverage")


def html_report(rec: Mapping[str, Any], sections: Mapping[str, Sequence[Section]],
                plots: Sequence[Plot], sentences: Sequence[Sentence],
                run: Run | None = None, skipped: Sequence[Skipped] = ()) -> str:
    """The whole report as one HTML string: findings first, then what the data can show,
    then every detail collapsed."""
    from fairbench.report.findings_html import coverage_section, findings_section

    attrs = set(rec["dataset"].get("attributes") or []) | {"all"}
    title = f"fairbench report: {rec['run_id']}"
    banner = ("<p class=\"banner\">SIMULATED DATA: these numbers describe planted, synthetic "
              "differences, not a real system.</p>") if rec.get("simulated") else ""
    warning = (rec.get("dataset") or {}).get("consent_warning")
    if warning:
        banner += (f"<p class=\"banner\">WARNING: this dataset was {_e(warning)}. Quote that "
                   "with any number from it.</p>")
    body = [f"<h1>{_e(title)}</h1>{banner}", _intro(rec)]
    if run is not None:
        body.append(findings_section(run, sentences, _extra_1n(sections)))
    body.append(coverage_section(rec, sections.get("data_coverage", [])))
    details = [
        _citations(sentences),
        _tables("Verification by group", "by-group",
                sections.get("verification_by_group", []), attrs),
        _tables("Cross-group impostor FMR", "cross-group",
                sections.get("fmr_cross_group", []), attrs),
        _tables("1:N identification by group", "identification",
                sections.get("identification_by_group", []), attrs),
        _plots(plots, skipped),
    ]
    for key, secs in sections.items():
        if key not in MAIN_TABLES and secs:
            details.append(_tables(secs[0].title if len(secs) == 1 else
                                   key.replace("_", " ").capitalize(), key, secs, attrs | {
                                       s.attribute for s in secs}))
    details += [_dataset(rec), _model(rec), _thresholds(rec), _provenance(rec)]
    body.append("<section id=\"details\"><h2>Details</h2><p>Every table and plot, collapsed; "
                "open what you need (printing opens them all).</p>" + "".join(details)
                + "</section>")
    return page(title, "\n".join(body))
