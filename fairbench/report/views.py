"""Citeable views of the result frames: every cell already rendered as text.

The CSV files keep every raw column; these views are what the Markdown, LaTeX and HTML
tables (and the HTML report) show. Each builder returns :class:`Section` objects, one per
table, so a renderer only lays out strings.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from fairbench.core.operating import describe_row
from fairbench.report.cells import IMPRECISE, RateCell, pct, ratio_text, value_text

#: Above this many groups a cross-group matrix is shown as a list of pairs instead.
MATRIX_MAX_GROUPS = 8

NOTE_CELLS = (
    f"Cells: rate [95% interval] (errors/comparisons); {IMPRECISE} = fewer "
    "than 30 errors (imprecise). '0 of n (upper 95% bound ..)' is the rule-of-three bound; "
    "'insufficient data' means fewer than 10 comparisons."
)


NOTE_INTERVAL = (
    "Interval of FMR and FNMR: person-level (a U-statistic variance over the group's people, "
    "on the logit scale, with Student's t on the effective number of people carrying it; "
    "the method `fairbench bench coverage` found to hold 95 % when people differ), "
    "Clopper-Pearson where a group made no error; Clopper-Pearson's is in the CSV as "
    "_cp_low/_cp_high."
)


@dataclass
class Section:
    """One table: a title, column names, rows of strings, and notes printed under it."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    notes: list[str] = field(default_factory=list)
    key: str = ""  # machine-friendly id (HTML anchors)
    attribute: str = ""  # the breakdown shown ("" for tables across breakdowns)


def _rows(df: pd.DataFrame) -> Iterable[dict[str, Any]]:
    for r in df.to_dict(orient="records"):
        yield {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}


def _group(g: Any) -> str:
    return str(g).replace("_", " ")


def _ratio(r: dict[str, Any], p: str) -> str:
    if r.get("reference_group") and r["group"] == r["reference_group"] and r.get(f"{p}_ratio"):
        return "1 (reference)"
    if r.get(f"{p}_errors") == 0 and r.get(f"{p}_ratio") == 0:
        return "no error in this group: no ratio interval (see its upper bound)"
    return ratio_text(r.get(f"{p}_ratio"), r.get(f"{p}_ratio_ci_low"),
                      r.get(f"{p}_ratio_ci_high"), r.get(f"{p}_ratio_note"))


def by_group_sections(df: pd.DataFrame) -> list[Section]:
    """Per attribute: FMR over same-group impostors, FNMR over mated pairs, ratios."""
    cols = ["group", "operating point", "people", "FMR (same-group impostor pairs)",
            "FNMR (mated pairs)", "FMR ratio to reference [bootstrap 95% CI]",
            "FNMR ratio to reference [bootstrap 95% CI]"]
    tested = "fmr_p" in df and df["fmr_p"].notna().any()
    if tested:
        cols.append("permutation p vs reference: FMR; FNMR (Holm-adjusted)")
    out = []
    for attr, part in df.groupby("attribute", sort=False):
        rows, src = [], ""
        for r in _rows(part):
            src = r.get("label_source") or src
            rows.append([
                _group(r["group"]),
                describe_row(r),
                "" if r.get("n_subjects") is None else f"{int(r['n_subjects']):,}",
                RateCell.from_row(r, "fmr", "n_nonmated").text(),
                RateCell.from_row(r, "fnmr", "n_mated").text(),
                *[_ratio(r, p) for p in ("fmr", "fnmr")],
                *([_p_cell(r)] if tested else []),
            ])
        notes = [*reference_note(part), NOTE_CELLS, NOTE_INTERVAL]
        if tested and part["fmr_p"].notna().any():
            r0 = part.iloc[0]
            how = (f"all {int(r0['p_relabellings']):,} relabellings" if r0["p_method"] ==
                   "exact" else f"{int(r0['p_relabellings']) - 1:,} random relabellings")
            notes.append(f"Permutation p: the share of {how} of the groups among the people "
                         "(the data's own included) whose difference to the reference is at "
                         "least as large; Holm-adjusted over every test at this operating "
                         "point.")
        if src:
            notes.insert(0, f"Labels: {src}.")
        if "n_nonmated_population" in part and len(part):
            r = part.iloc[0]
            notes.insert(0, "FMR estimated from a stratified random sample of impostor pairs "
                         f"(here {int(r['n_nonmated']):,} of {int(r['n_nonmated_population']):,}"
                         " in the first row); its intervals are those of the sample.")
        title = "All comparisons" if attr == "all" else f"Verification by {attr}"
        out.append(Section(title, cols, rows, notes, key=f"by-group-{attr}", attribute=attr))
    return out


def _p_cell(r: dict[str, Any]) -> str:
    def one(p: str) -> str:
        v, h = r.get(f"{p}_p"), r.get(f"{p}_p_holm")
        return "" if v is None else f"{v:.2g}" + ("" if h is None else f" ({h:.2g})")
    cells = [one("fmr"), one("fnmr")]
    return "" if not any(cells) else "; ".join(c or "n/a" for c in cells)


def reference_note(part: pd.DataFrame) -> list[str]:
    """'Reference group: white (the group with the most people ...).' for one breakdown."""
    if "reference_group" not in part or not len(part) or part["attribute"].iloc[0] == "all":
        return []
    ref, rule = (part[c].iloc[0] if c in part else "" for c in ("reference_group",
                                                                "reference_rule"))
    ref = ref if isinstance(ref, str) else ""
    rule = rule if isinstance(rule, str) else ""
    if not ref:
        return [f"Reference group: {rule or 'none'}."]
    if rule in ("", "configured"):
        return [f"Reference group: {_group(ref)}" + (" (configured)." if rule else ".")]
    return [f"Reference group: {_group(ref)}, {rule}."]


def cross_group_sections(df: pd.DataFrame) -> list[Section]:
    """Impostor FMR for every pair of groups: a matrix per attribute and operating point."""
    out = []
    if df.empty:
        return out
    keys = ["attribute", "threshold_kind", "target_fmr", "threshold_native"]
    for (attr, *_), part in df.groupby(keys, sort=False, dropna=False):
        op = describe_row(next(iter(_rows(part.iloc[:1]))))
        groups = list(dict.fromkeys(part["group_a"]))
        cell = {(r["group_a"], r["group_b"]): RateCell.from_row(r, "fmr", "n_nonmated").text()
                for r in _rows(part)}
        title = f"Impostor FMR between groups of {attr}, {op}"
        key = f"cross-{attr}-{op}"
        if len(groups) <= MATRIX_MAX_GROUPS:
            rows = [[_group(a), *[cell[(a, b)] for b in groups]] for a in groups]
            cols = ["group", *[_group(b) for b in groups]]
        else:
            rows = [[_group(a), _group(b), cell[(a, b)]] for a in groups for b in groups
                    if a <= b]
            cols = ["group A", "group B", "FMR"]
        notes = ["Diagonal: same-group impostor pairs (the headline FMR).", NOTE_CELLS]
        out.append(Section(title, cols, rows, notes, key=key, attribute=attr))
    return out


def _errors(by: pd.DataFrame | None, r: dict[str, Any]) -> int | None:
    """Errors behind a summary row (FMR and/or FNMR of the compared groups); None if unknown."""
    if by is None or by.empty:
        return None
    m = str(r["measure"])
    rates = ["fmr"] if m.startswith("fmr") else ["fnmr"] if m.startswith("fnmr") \
        else ["fmr", "fnmr"]
    groups = str(r.get("groups_compared") or "").split("; ")
    sel = by[(by["attribute"] == r["attribute"]) & by["group"].isin(groups)
             & (by["threshold_native"] == r["threshold_native"])]
    return int(sum(sel[f"{x}_errors"].sum() for x in rates)) if len(sel) else None


def summary_sections(df: pd.DataFrame, by: pd.DataFrame | None = None) -> list[Section]:
    """Max/GeoMean, largest difference, FDR and GARBE with bootstrap intervals; a measure
    over groups that made no error at all says so instead of printing 0."""
    if df.empty:
        return []
    cols = ["attribute", "operating point", "measure", "value [bootstrap 95% CI]",
            "worst group", "best group"]
    rows = []
    for r in _rows(df):
        none = _errors(by, r) == 0
        rows.append([
            str(r["attribute"]),
            describe_row(r),
            str(r["measure"]),
            "no errors in any compared group: not measurable" if none
            else value_text(r.get("value"), r.get("ci_low"), r.get("ci_high")),
            "" if none else _group(r.get("worst_group") or ""),
            "" if none else _group(r.get("best_group") or ""),
        ])
    notes = ["Max/GeoMean: largest group rate over the geometric mean (NIST FRTE); FDR: 1 = "
             "no differential; GARBE: 0 = no differential (ISO/IEC 19795-10). Unknown groups "
             "are left out."]
    return [Section("Summary measures of demographic differentials", cols, rows, notes,
                    key="summary")]


def fta_sections(df: pd.DataFrame) -> list[Section]:
    """Failure to acquire per group (one operating point suffices: FTA has no threshold)."""
    if df.empty or "fta_errors" not in df.columns:
        return []
    first = df[df["operating_point"] == df["operating_point"].iloc[0]] \
        if "operating_point" in df else df
    cols = ["attribute", "group", "people", "failure to acquire (images)"]
    rows = [[str(r["attribute"]), _group(r["group"]),
             "" if r.get("n_subjects") is None else f"{int(r['n_subjects']):,}",
             RateCell.from_row(r, "fta", "n_images").text()] for r in _rows(first)]
    notes = ["FTA: images where no face was found or a template could not be made; their "
             "mated comparisons count as non-matches in FNMR (NIST's convention).", NOTE_CELLS]
    return [Section("Failure to acquire", cols, rows, notes, key="fta")]


def eer_sections(df: pd.DataFrame) -> list[Section]:
    """Equal error rate per group, with the threshold and the two rates there."""
    def rate(r: dict[str, Any], p: str, n: str) -> str:
        if r.get(p) is None:
            return "not computed"
        return f"{pct(r[p])} [{pct(r[f'{p}_ci_low'])}, {pct(r[f'{p}_ci_high'])}] " \
               f"(n = {int(r[n]):,})"

    cols = ["attribute", "group", "EER", "threshold", "FMR there", "FNMR there"]
    rows = [[str(r["attribute"]), _group(r["group"]),
             "not computed: " + str(r.get("note") or "") if r.get("eer") is None
             else pct(r["eer"]), "" if r.get("eer_threshold_native") is None
             else f"{r['eer_threshold_native']:.6g}",
             rate(r, "eer_fmr", "n_nonmated"), rate(r, "eer_fnmr", "n_mated")]
            for r in _rows(df)]
    conv = str(df["eer_convention"].iloc[0]) if "eer_convention" in df and len(df) else ""
    notes = [f"EER convention: {conv}.", "FMR over same-group impostor comparisons, FNMR over "
             "mated ones, each with its 95% Clopper-Pearson interval at the EER threshold."]
    return [Section("Equal error rate", cols, rows, notes, key="eer")]


def coverage_sections(df: pd.DataFrame) -> list[Section]:
    """What the data can show: per group, people, pairs and the smallest resolvable rates."""
    def rate(x: Any) -> str:
        return "n/a" if x is None else pct(x)

    cols = ["attribute", "group", "people", "images", "mated pairs", "impostor pairs",
            "smallest FMR it can show", "smallest FNMR", "FMR with 30 errors",
            "FNMR with 30 errors"]
    rows = [[str(r["attribute"]), _group(r["group"]), f"{int(r['n_subjects']):,}",
             f"{int(r['n_images']):,}", f"{int(r['n_mated_pairs']):,}",
             f"{int(r['n_nonmated_pairs']):,}",
             rate(r.get("min_resolvable_fmr")) + (" (insufficient data)"
                                                  if r.get("insufficient") else ""),
             rate(r.get("min_resolvable_fnmr")), rate(r.get("fmr_for_30_errors")),
             rate(r.get("fnmr_for_30_errors"))] for r in _rows(df)]
    notes = ["Smallest rate: the 95% upper bound with no error (3/n, the rule of three); no "
             "smaller rate can be shown with this data. With 30 errors: the rate at which 30 "
             "errors are expected (n/a under 30 comparisons); a measured rate below it is flagged "
             "imprecise. "
             "Insufficient data: fewer than 10 comparisons of a kind."]
    return [Section("What this data can and cannot show", cols, rows, notes,
                    key="coverage")]


def generic_sections(name: str, table: pd.DataFrame) -> list[Section]:
    """Any other table (capture, liveness, sweeps...), every column shown as stored."""
    if table.empty:
        return []
    cols = [str(c) for c in table.columns]
    rows = [["" if r.get(c) is None else (f"{r[c]:.6g}" if isinstance(r[c], float)
                                          else str(r[c])) for c in cols] for r in _rows(table)]
    return [Section(name.replace("_", " ").capitalize(), cols, rows, key=name)]


def identification_sections(df: pd.DataFrame) -> list[Section]:
    """1:N per attribute: FPIR over non-mated searches, FNIR over mated searches."""
    cols = ["group", "operating point", "gallery size", "people",
            "FPIR (non-mated searches)", "FNIR (mated searches)", "rank-1"]
    out = []
    for attr, part in df.groupby("attribute", sort=False):
        rows = [[
            _group(r["group"]), describe_row(r),
            "" if r.get("gallery_size") is None else f"{int(r['gallery_size']):,}",
            "" if r.get("n_subjects") is None else f"{int(r['n_subjects']):,}",
            RateCell.from_row(r, "fpir", "n_nonmated_searches").text(),
            RateCell.from_row(r, "fnir", "n_mated_searches").text(),
            "" if r.get("rank1") is None else f"{100 * float(r['rank1']):.1f}%",
        ] for r in _rows(part)]
        rank = int(part["rank"].iloc[0]) if "rank" in part else 1
        notes = ["FPIR: non-mated searches whose best candidate scored at or above the "
                 f"threshold. FNIR: mated searches whose mate was not in the top {rank} or "
                 "scored below it; a mate tied with a non-mate is ranked after it.",
                 *reference_note(part), NOTE_CELLS]
        title = "All searches" if attr == "all" else f"1:N identification by {attr}"
        out.append(Section(title, cols, rows, notes, key=f"identification-{attr}",
                           attribute=str(attr)))
    return out


def _count(k: int) -> str:
    return f"{k:,}" if k else "none"


def false_candidate_sections(df: pd.DataFrame) -> list[Section]:
    """Per attribute and operating point: whose images the false candidates were."""
    out = []
    for (attr, op), part in df.groupby(["attribute", "operating_point"], sort=False):
        groups = list(dict.fromkeys(part["candidate_group"]))
        cell = {(r["probe_group"], r["candidate_group"]): int(r["false_candidates"])
                for r in _rows(part)}
        n = {r["probe_group"]: int(r["n_nonmated_searches"]) for r in _rows(part)}
        probes = list(dict.fromkeys(part["probe_group"]))
        rows = [[_group(p), f"{n[p]:,}", *[_count(cell[(p, c)]) if n[p] else "no searches"
                                            for c in groups]] for p in probes]
        out.append(Section(f"False candidates by {attr} at {op}",
                           ["probe group", "non-mated searches", *map(_group, groups)], rows,
                           ["Each cell counts non-mated searches of the row's group whose "
                            "best (false) candidate belongs to the column's group."],
                           key=f"false-candidates-{attr}-{op}", attribute=str(attr)))
    return out


def sweep_sections(df: pd.DataFrame) -> list[Section]:
    """FPIR and FNIR as the gallery grows, or as one group is over-represented in it."""
    cols = ["sweep", "gallery", "operating point", "attribute", "group",
            "FPIR (non-mated searches)", "FNIR (mated searches)"]
    rows = []
    for r in _rows(df):
        what = (f"{float(r['fraction']):.0%} of enrolled" if r["sweep"] == "gallery_size"
                else f"{r['over_represented']} = {float(r['fraction']):.0%}")
        rows.append([str(r["sweep"]), f"{what} ({int(r['gallery_size']):,} subjects)",
                     describe_row(r), str(r["attribute"]), _group(r["group"]),
                     RateCell.from_row(r, "fpir", "n_nonmated_searches").text(),
                     RateCell.from_row(r, "fnir", "n_mated_searches").text()])
    return [Section("Gallery sweeps", cols, rows, [NOTE_CELLS], key="sweeps")]
