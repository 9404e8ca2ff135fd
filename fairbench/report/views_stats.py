"""Citeable views of the statistics tables: each group at its own threshold, and the
worst subgroup the scan over intersections found (the same :class:`Section` cells as
:mod:`fairbench.report.views`)."""

from __future__ import annotations

from typing import Any

import pandas as pd

from fairbench.core.operating import describe_row
from fairbench.report.cells import RateCell, pct
from fairbench.report.views import NOTE_CELLS, Section, _group, _rows


def per_group_threshold_sections(df: pd.DataFrame) -> list[Section]:
    """Each group at its own threshold for a target FMR, beside the global threshold."""
    def thr(x: Any) -> str:
        return "" if x is None else f"{float(x):.4g}"

    cols = ["group", "target FMR", "own threshold", "FMR at own threshold",
            "FNMR at own threshold", "global threshold", "FNMR at global threshold",
            "FNMR change (own - global)"]
    out = []
    for attr, part in df.groupby("attribute", sort=False):
        rows = []
        for r in _rows(part):
            own = thr(r.get("threshold_native")) + (
                " (bin resolution)" if r.get("threshold_resolution") == "bin" else "")
            rows.append([
                _group(r["group"]), pct(float(r["target_fmr"])),
                own if r.get("supported") else f"not supported: {r.get('note') or ''}",
                RateCell.from_row(r, "group_fmr", "n_nonmated").text()
                if r.get("supported") else "",
                RateCell.from_row(r, "group_fnmr", "n_mated").text()
                if r.get("supported") else "",
                thr(r.get("global_threshold_native")),
                RateCell.from_row(r, "global_fnmr", "n_mated").text(),
                "" if r.get("fnmr_change") is None else f"{100 * r['fnmr_change']:+.3g} "
                "percentage points"])
        notes = ["Each group's own threshold gives its same-group impostor pairs the target "
                 "FMR on their own (the rule of the global threshold applied to the group); "
                 "the global threshold is NIST's view, one threshold for everyone, which "
                 "every other table reads. Bin resolution: below the impostor pairs the "
                 "engine kept, the threshold is read at a histogram bin edge (counts there "
                 "are exact; the note in the CSV gives the range).", NOTE_CELLS]
        out.append(Section(f"Per-group thresholds by {attr}", cols, rows, notes,
                           key=f"per-group-{attr}", attribute=str(attr)))
    return out


def scan_sentence(r: dict[str, Any]) -> str:
    """'FMR: worst subgroup eth=black|sex=female, 33.3% (104/312, 13 people) against
    1.00% over all comparisons; p = 0.001 after searching 24 subgroups'."""
    name = "FMR" if r["rate"] == "fmr" else "FNMR"
    if not r.get("subgroup"):
        if not int(r["overall_errors"]):
            return (f"{name}: no error at all (0 of {int(r['overall_n']):,}), so no subgroup "
                    "can be worse than the rest")
        return (f"{name}: no subgroup of at least {int(r['min_subjects'])} people has a "
                f"rate above the overall {pct(float(r['overall_rate']))}")
    searched = int(r["candidates"])
    how = (f"all {int(r['p_relabellings']):,} relabellings" if r["p_method"] == "exact"
           else f"{int(r['p_relabellings']) - 1:,} random relabellings")
    return (f"{name}: worst subgroup {_group(r['subgroup'])}, {pct(float(r['subgroup_rate']))} "
            f"({int(r['errors']):,}/{int(r['n']):,}, {int(r['n_subjects']):,} people) "
            f"against {pct(float(r['overall_rate']))} over all comparisons; p = "
            f"{float(r['p_value']):.2g} after searching {searched:,} subgroups (the same "
            f"search over {how} of the people's labels)")


def worst_subgroup_sections(df: pd.DataFrame) -> list[Section]:
    """The scan's worst subgroup per operating point and rate."""
    cols = ["operating point", "rate", "worst subgroup", "people",
            "its rate [Clopper-Pearson 95%]", "overall rate [Clopper-Pearson 95%]",
            "score (log-likelihood ratio)", "p after the search"]
    rows = [[describe_row(r), str(r["rate"]).upper(), _group(r.get("subgroup") or "none"),
             f"{int(r['n_subjects']):,}",
             "" if not r.get("subgroup") else RateCell(
                 int(r["errors"]), int(r["n"]), float(r["ci_low"]), float(r["ci_high"]),
                 n_subjects=int(r["n_subjects"])).text(),
             RateCell(int(r["overall_errors"]), int(r["overall_n"]),
                      *(float("nan") if r.get(c) is None else float(r[c])
                        for c in ("overall_ci_low", "overall_ci_high"))).text(),
             f"{float(r['score_llr']):.3g}", f"{float(r['p_value']):.2g}"]
            for r in _rows(df)]
    r0 = next(iter(_rows(df.iloc[:1])))
    notes = [f"Every subgroup of up to {int(r0['depth'])} of {r0['attributes_searched']} "
             f"with at least {int(r0['min_subjects'])} people ({int(r0['candidates']):,} "
             "candidates) scored by the binomial log-likelihood ratio of its rate against the "
             "rate over all comparisons; the p-value is the share of relabellings of the "
             "people (each person's whole row of labels dealt out to another) whose worst "
             "subgroup scores at least as high, so it accounts for the search."]
    return [Section("Worst subgroup (scan over intersections)", cols, rows, notes,
                    key="worst-subgroup")]
