"""compare.html: two runs side by side on one self-contained page (the report's styles,
script and content-security policy): who is compared, then per attribute both models'
rates per group with the paired change and its interval, and the paired-change figure."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

from fairbench.report.cells import pct
from fairbench.report.compare import _ops, point_text, rate_cells
from fairbench.report.figures import Plot
from fairbench.report.html import _dl, _e, _img
from fairbench.report.page import page
from fairbench.report.render import html_tables
from fairbench.report.views import NOTE_CELLS, Section

if TYPE_CHECKING:
    from fairbench.report.compare import Comparison


CHANGE_NOTE = ("Change: B - A, in rate units, with a paired subject-bootstrap 95% interval (the "
               "same resampled people score both models). A change is called a difference "
               "only when its interval excludes 0; each model is read at its own threshold for "
               "a target FMR.")


def comparison_page(cmp: Comparison, plots: Sequence[Plot] = ()) -> str:
    """The comparison as one self-contained HTML page (inline styles, images as data: URIs,
    a CSP that forbids any fetch), warnings of either run first."""
    a, b = cmp.records
    title = f"fairbench comparison: {a['run_id']} (A) vs {b['run_id']} (B)"
    figs = {p.attribute: _img(p) for p in plots}
    body = [f"<h1>{_e(title)}</h1>{_banners(a, b)}",
            "<p>Each group's false match rate (FMR, same-group impostor pairs) and false "
            "non-match rate (FNMR, mated pairs) in both runs, at every operating point they "
            f"share, and the change B - A.</p><p class=\"note\">{_e(CHANGE_NOTE)}</p>",
            _changed(cmp.frame), _runs(a, b)]
    for attr, part in cmp.frame.groupby("attribute", sort=False):
        key = f"attribute-{attr}"
        head = "All comparisons" if attr == "all" else f"By {attr}"
        body.append(f"<section id=\"{_e(key)}\"><h2>{_e(head)}</h2>"
                    f"{html_tables(attribute_sections(part, a))}{figs.get(str(attr), '')}"
                    "</section>")
    return page(title, "\n".join(body))


def _changed(frame: pd.DataFrame) -> str:
    """What changed, first: every group whose paired interval of B - A excludes 0."""
    moved = frame[frame["reading"].isin(("B higher", "B lower"))]
    if not len(moved):
        return ("<section id=\"changed\"><h2>What changed</h2><p>No group's FMR or FNMR "
                "changed by more than its paired interval allows, at any shared operating "
                "point: this data shows no difference between A and B (which is not proof "
                "that there is none).</p></section>")
    def at(r: dict[str, Any]) -> str:
        return point_text(str(r["threshold_kind"]), float(r["operating_point"]))

    items = "".join(
        f"<li>{_e(str(r['rate']).upper())} of {_e(str(r['group']).replace('_', ' '))} "
        f"({_e(r['attribute'])}) at {_e(at(r))}: "
        f"{_e(r['reading'])}, {pct(float(r['rate_a']))} to {pct(float(r['rate_b']))} "
        f"(change {100 * float(r['change']):+.3g} points, paired 95% interval "
        f"{100 * float(r['change_ci_low']):+.3g} to {100 * float(r['change_ci_high']):+.3g})</li>"
        for r in moved.to_dict(orient="records"))
    return (f"<section id=\"changed\"><h2>What changed</h2><p>Every group whose paired "
            f"interval of the change excludes 0:</p><ul>{items}</ul></section>")


def _banners(a: dict[str, Any], b: dict[str, Any]) -> str:
    """SIMULATED and consent banners of either run, each naming the run(s) it comes from."""
    sim = [t for t, r in (("A", a), ("B", b)) if r.get("simulated")]
    out = ""
    if sim:
        out += (f"<p class=\"banner\">SIMULATED DATA (run {' and '.join(sim)}): these numbers "
                "describe planted, synthetic differences, not a real system.</p>")
    warnings: dict[str, list[str]] = {}
    for tag, r in (("A", a), ("B", b)):
        w = (r.get("dataset") or {}).get("consent_warning")
        if w:
            warnings.setdefault(str(w), []).append(tag)
    for w, tags in warnings.items():
        out += (f"<p class=\"banner\">WARNING (run {' and '.join(tags)}): this dataset was "
                f"{_e(w)}. Quote that with any number from it.</p>")
    return out


def _runs(a: dict[str, Any], b: dict[str, Any]) -> str:
    """Who is compared: both runs and matchers, the dataset, each model's thresholds."""
    rows = [[label, x, y] for label, x, y in zip(RUN_ROWS, _identity(a), _identity(b))]
    runs = Section("The two runs", ["", "A (baseline)", "B"], rows, key="runs")
    ops = Section("Operating points: each model at its own threshold", [
        "operating point", "threshold A (native scale)", "threshold B (native scale)"],
        [[point_text(k, v), *(_native(r, k, v) for r in (a, b))] for k, v in _points(a, b)],
        key="operating-points")
    ds = a["dataset"]
    card = ds.get("card") or {}
    items = [("dataset", card.get("title") or ds["name"]), ("version", card.get("version")),
             ("licence", card.get("licence")), ("consent", card.get("consent")),
             ("images / people", f"{ds['n_images']:,} / {ds['n_subjects']:,}"),
             ("manifest sha256", f"{ds.get('manifest_sha256')} (the same in both runs)")]
    return (f"<section id=\"runs\"><h2>What is compared</h2>{html_tables([runs])}"
            f"<h3>Dataset</h3>{_dl(items)}{html_tables([ops])}</section>")


RUN_ROWS = ("run id", "created (UTC)", "matcher", "matcher version", "matcher fingerprint",
            "native score", "fairbench version", "simulated")


def _identity(r: dict[str, Any]) -> list[str]:
    """One run's column of the identity table, in :data:`RUN_ROWS` order."""
    m = r.get("matcher") or {}
    values = [r["run_id"], r.get("created_utc"), m.get("name"), m.get("version"),
              m.get("fingerprint"), m.get("native_score"),
              (r.get("provenance") or {}).get("fairbench_version"),
              "yes" if r.get("simulated") else "no"]
    return ["" if v is None else str(v) for v in values]


def _points(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, float]]:
    ops_b = _ops(b)
    return [k for k in _ops(a) if k in ops_b]


def _native(rec: dict[str, Any], kind: str, key: float) -> str:
    for t in rec["operating_points"]:
        mine = t.get("native") if kind == "fixed" else t.get("target")
        if t["kind"] == kind and mine is not None and math.isclose(float(mine), key):
            return "n/a" if t.get("native") is None else f"{float(t['native']):.4g}"
    return "n/a"


def attribute_sections(part: pd.DataFrame, rec: dict[str, Any] | None = None) -> list[Section]:
    """One attribute: per operating point a table of groups, FMR and FNMR side by side."""
    cols = ["group"] + [f"{r} {c}" for r in ("FMR", "FNMR") for c in (
        "A", "B", "change B - A [paired 95% CI]", "reading")]
    attr = str(part["attribute"].iloc[0])
    src = (((rec or {}).get("dataset") or {}).get("label_sources") or {}).get(attr)
    out = []
    for (kind, key), rows in part.groupby(["threshold_kind", "operating_point"], sort=False):
        by = {(r["group"], r["rate"]): r for r in rows.to_dict(orient="records")}
        body = [[str(g), *[c for rate in ("fmr", "fnmr") if (g, rate) in by
                           for c in (*rate_cells(by[(g, rate)]), by[(g, rate)]["reading"])]]
                for g in dict.fromkeys(rows["group"])]
        op = point_text(str(kind), float(key))
        out.append(Section(f"{'All comparisons' if attr == 'all' else attr}, {op}", cols, body,
                           key=f"compare-{attr}-{op}", attribute=attr))
    if out:  # said once, under the breakdown's last table
        out[-1].notes = ([f"Labels: {src}."] if src else []) + [
            CHANGE_NOTE, NOTE_CELLS, "The A and B cells' intervals are Clopper-Pearson's "
            "(the runs' own tables give each group's person-level interval)."]
    return out
