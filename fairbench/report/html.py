"""report.html: one self-contained file (styles and plots inlined, a CSP that forbids any
fetch) with the run's provenance, the dataset's licence, consent and limits, every table and
plot, and the citation sentences."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from fairbench.report.figures import Plot
from fairbench.report.render import html_tables
from fairbench.report.sentences import Sentence
from fairbench.report.views import Section

CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
       "base-uri 'none'; form-action 'none'")

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2em auto;
max-width:1200px;padding:0 1em;color:#222;line-height:1.4}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.8em}
caption{font-weight:bold;text-align:left;padding:.3em 0}
th,td{border:1px solid #ccc;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f3f3f3}tbody tr:nth-child(even){background:#fafafa}
.note{font-size:.8em;color:#555;margin:.2em 0}
.banner{background:#fff3cd;border:1px solid #e0c060;padding:.6em;font-weight:bold}
.citations li{margin:.5em 0}figure{margin:1em 0}figure img{max-width:100%;height:auto}
figcaption{font-size:.85em;color:#444}dl{display:grid;grid-template-columns:max-content auto;
gap:.2em 1em}dt{font-weight:bold}dd{margin:0;overflow-wrap:anywhere}
pre{background:#f6f6f6;padding:.6em;overflow:auto;font-size:.8em}
details{margin:.6em 0}summary{cursor:pointer;font-weight:bold}
"""


def _e(x: Any) -> str:
    return html.escape("" if x is None else str(x))


def _dl(items: Sequence[tuple[str, Any]]) -> str:
    rows = "".join(f"<dt>{_e(k)}</dt><dd>{_e(v)}</dd>" for k, v in items if v not in (None, ""))
    return f"<dl>{rows}</dl>"


def _img(p: Plot) -> str:
    data = base64.b64encode(p.svg.read_bytes()).decode("ascii")
    return (f"<figure id=\"plot-{_e(p.kind)}-{_e(p.attribute)}\"><img alt=\"{_e(p.title)}\" "
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
    return (f"<section id=\"dataset\"><h2>Dataset</h2>{_dl(items)}"
            f"<h3>Limits of this data (state them next to any number)</h3><ul>{lim}</ul>"
            "</section>")


def _model(rec: Mapping[str, Any]) -> str:
    mt = rec["matcher"]
    items = [("matcher", mt.get("name")), ("version", mt.get("version")),
             ("native score", mt.get("native_score")), ("similarity", mt.get("similarity")),
             ("providers", ", ".join(mt.get("providers") or [])),
             ("fingerprint", mt.get("fingerprint"))]
    items += [(f"sha256 {k}", v) for k, v in (mt.get("weights_sha256") or {}).items()]
    details = json.dumps(mt.get("details") or {}, indent=1, sort_keys=True)
    return (f"<section id=\"model\"><h2>Model</h2>{_dl(items)}"
            f"<details><summary>matcher details</summary><pre>{_e(details)}</pre></details>"
            "</section>")


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
    return (f"<section id=\"provenance\"><h2>Provenance</h2>{_dl(items)}"
            f"<details><summary>resolved config</summary><pre>{_e(cfg)}</pre></details>"
            "</section>")


def _thresholds(rec: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><td>{_e(t.get('label'))}</td><td>{_e(t['kind'])}</td><td>{_e(t.get('target'))}"
        f"</td><td>{_e(t.get('reference_group'))}</td><td>{_e(t.get('native'))}</td>"
        f"<td>{'yes' if t.get('supported') else 'no'}</td><td>{_e(t.get('note'))}</td></tr>"
        for t in rec.get("operating_points") or [])
    rate = "FMR" if rec.get("mode") == "verification" else "FPIR"
    return ("<section id=\"thresholds\"><h2>Operating points</h2><p>Every group is read at "
            "one global threshold, as NIST does.</p><table><thead><tr><th>label</th>"
            f"<th>kind</th><th>target {rate}</th><th>on group</th><th>threshold (native "
            "scale)</th><th>supported</th><th>note</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></section>")


def _tables(title: str, key: str, sections: Sequence[Section], open_attrs: set[str]) -> str:
    if not sections:
        return ""
    shown = [s for s in sections if _attr_of(s) in open_attrs]
    hidden = [s for s in sections if _attr_of(s) not in open_attrs]
    more = ""
    if hidden:
        more = (f"<details><summary>{len(hidden)} more tables (intersections)</summary>"
                f"{html_tables(hidden)}</details>")
    return f"<section id=\"{key}\"><h2>{_e(title)}</h2>{html_tables(shown)}{more}</section>"


def _attr_of(s: Section) -> str:
    return s.attribute or "all"


def html_report(rec: Mapping[str, Any], sections: Mapping[str, Sequence[Section]],
                plots: Sequence[Plot], sentences: Sequence[Sentence]) -> str:
    """The whole report as one HTML string."""
    attrs = set(rec["dataset"].get("attributes") or []) | {"all"}
    title = f"fairbench report: {rec['run_id']}"
    banner = ("<p class=\"banner\">SIMULATED DATA: these numbers describe planted, synthetic "
              "differences, not a real system.</p>") if rec.get("simulated") else ""
    warning = (rec.get("dataset") or {}).get("consent_warning")
    if warning:
        banner += (f"<p class=\"banner\">WARNING: this dataset was {_e(warning)}. Quote that "
                   "with any number from it.</p>")
    groups: dict[str, list[str]] = {}
    for s in sentences:
        groups.setdefault(s.operating_point, []).append(f"<li>{_e(s.text)}</li>")
    cites = "".join(f"<h3>{_e(op)}</h3><ol class=\"citations\">{''.join(items)}</ol>"
                    for op, items in groups.items()) or \
        "<p>No citation sentences for this kind of run yet; cite the tables' cells.</p>"
    figs = "".join(_img(p) for p in plots)
    body = [
        f"<h1>{_e(title)}</h1>{banner}",
        "<p>Error rates by demographic group, each with its 95% interval, counts and "
        "operating point. A single 'accuracy' figure hides who carries the errors; this "
        + ("report splits it into false match rate (FMR) and false non-match rate (FNMR); "
           "the comparisons were given as scores, so failure to acquire was not measured."
           "</p>" if not (rec.get("capture") or {}).get("measured", True) else
           "report splits it into false match rate (FMR), false non-match rate (FNMR) and "
           "failure to acquire (FTA).</p>" if rec.get("mode") != "identification" else
           "1:N report splits it into the false positive identification rate of non-mated "
           "searches (FPIR) and the false negative identification rate of mated searches "
           "(FNIR).</p>"),
        "<section id=\"citations\"><h2>Citation sentences</h2><p>One sentence per "
        "noteworthy cell, to paste as it is; each names its error, operating point, groups, "
        f"interval, counts, model, dataset and run.</p>{cites}</section>",
        _dataset(rec), _model(rec), _thresholds(rec),
        _tables("Verification by group", "by-group",
                sections.get("verification_by_group", []), attrs),
        _tables("Cross-group impostor FMR", "cross-group",
                sections.get("fmr_cross_group", []), attrs),
        _tables("1:N identification by group", "identification",
                sections.get("identification_by_group", []), attrs),
        f"<section id=\"plots\"><h2>Plots</h2>{figs}</section>" if figs else "",
    ]
    for key, secs in sections.items():
        if key not in ("verification_by_group", "fmr_cross_group", "identification_by_group"):
            body.append(f"<section id=\"{_e(key)}\">{html_tables(secs)}</section>")
    body.append(_provenance(rec))
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{_e(title)}</title><style>{STYLE}</style></head>\n<body>\n"
        + "\n".join(body) + "\n</body></html>\n"
    )
