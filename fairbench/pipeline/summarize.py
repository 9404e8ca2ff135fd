"""Summary figures from a table of per-group rates someone else published (a NIST FRTE
annex, a vendor report), so the NIST and ISO measures can be quoted for it.

The table is CSV: ``group`` plus ``fmr`` and/or ``fnmr``, each a fraction (``0.0045``) or a
percentage with its sign (``0.45%``); optional ``attribute`` and ``operating_point`` split
it into breakdowns, each summarised on its own; optional ``n_nonmated``/``fmr_errors`` and
``n_mated``/``fnmr_errors`` add each group's Clopper-Pearson interval. Column names are
matched ignoring case and surrounding spaces; an empty rate cell means "not published".

Per breakdown: each group's ratio to the lowest-rate group (NIST's annex convention) and,
with ``--reference``, to a named group; per rate Max/GeoMean, the largest difference and the
Gini-style G; FDR and GARBE when both rates are given. All come from
:mod:`fairbench.metrics.summary` on the published rates, not recomputed here. The summary
measures carry no interval: that needs the comparisons (people) behind each rate.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench.data.manifest import read_table
from fairbench.errors import ConfigError, DataError
from fairbench.metrics.intervals import clopper_pearson
from fairbench.metrics.reference import ratio_to
from fairbench.metrics.summary import EPS, fdr, garbe, gini, max_abs_diff, max_geomean
from fairbench.report.cells import pct
from fairbench.report.render import markdown_table
from fairbench.results.folder import atomic_text

RATES = ("fmr", "fnmr")
NAMES = {"fmr": "FMR", "fnmr": "FNMR"}
N_COL = {"fmr": "n_nonmated", "fnmr": "n_mated"}
K_COL = {"fmr": "fmr_errors", "fnmr": "fnmr_errors"}
KNOWN = ("group", "attribute", "operating_point", *RATES, *N_COL.values(), *K_COL.values())
CONFIDENCE = 0.95
EPS_TEXT = f"{EPS:g}".replace("e-0", "e-")  # 1e-5, as the definitions write it

#: Said under every summary: why the measures have no interval.
NO_INTERVAL = ("The summary measures and ratios carry no interval: one needs the comparisons "
               "and people behind each rate (fairbench resamples people), and a published "
               "rate carries none. Where counts are given, read the measures beside each "
               "group's Clopper-Pearson interval.")
DERIVED = ("~ marks counts derived from a rounded published rate (errors = rate x n, or n = "
           "errors / rate), so that interval is approximate.")

#: File signatures of tables that are not CSV, with what to tell the user.
NOT_CSV = ((b"PK\x03\x04", "a zip archive, such as an Excel .xlsx workbook"),
           (b"\xd0\xcf\x11\xe0", "an Excel .xls workbook"),
           (b"PAR1", "a Parquet file"), (b"%PDF", "a PDF document"))


@dataclass(frozen=True)
class GroupRate:
    """One group's published rate (NaN: not published), with counts when the table has them."""

    value: float
    errors: int | None = None
    n: int | None = None
    derived: bool = False      # a count came from the rounded rate
    ci_low: float = math.nan
    ci_high: float = math.nan
    digits: int = 3            # significant digits to show, as published

    def text(self) -> str:
        """'0.450% [0.33%, 0.60%] (42/9,384)'; '~' before counts derived from the rate."""
        if math.isnan(self.value):
            return "not published"
        if self.errors is None or self.n is None:
            return pct(self.value, self.digits)
        mark = "~" if self.derived else ""
        return (f"{pct(self.value, self.digits)} [{pct(self.ci_low)}, {pct(self.ci_high)}] "
                f"({mark}{self.errors:,}/{self.n:,})")


@dataclass(frozen=True)
class Measure:
    """One summary measure of one breakdown (NaN with ``note`` when it cannot be computed)."""

    key: str                   # fmr_max_geomean, fmr_max_difference, fmr_gini, fdr, garbe
    rate: str                  # fmr, fnmr or fmr+fnmr
    label: str
    value: float
    definition: str
    worst: str = ""
    best: str = ""
    note: str = ""

    def text(self) -> str:
        if math.isnan(self.value):
            return f"not computable: {self.note}"
        if self.key.endswith("max_difference"):
            points = 100 * self.value
            return f"{points:.3g} percentage point{'' if f'{points:.3g}' == '1' else 's'}"
        return f"{self.value:.4g}"


@dataclass
class Breakdown:
    """The groups of one attribute at one operating point, with their ratios and measures."""

    attribute: str
    operating_point: str
    groups: list[str]
    rows: list[int]
    rates: dict[str, list[GroupRate]]
    reference: int | None = None
    reference_rule: str = ""
    measures: list[Measure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def title(self) -> str:
        what = self.attribute or "groups"
        return what + (f" at {self.operating_point}" if self.operating_point else "")

    @property
    def where(self) -> str:
        """'attribute 'sex' at operating point 'FMR 1e-4'', for messages."""
        parts = [f"{c} {v!r}" for c, v in (("attribute", self.attribute),
                                          ("operating point", self.operating_point)) if v]
        return " at ".join(parts) or "the table"

    def values(self, rate: str) -> np.ndarray:
        return np.array([g.value for g in self.rates[rate]], dtype=float)

    def lowest(self, rate: str) -> int | None:
        """The group with the lowest published rate (the first in the table on a tie)."""
        x = self.values(rate)
        return int(np.nanargmin(x)) if np.isfinite(x).any() else None

    def ratios(self, rate: str, to: int | None) -> tuple[np.ndarray, str]:
        """Each group's rate over group ``to``'s; NaN and why when that is undefined."""
        x = self.values(rate)
        if to is not None and math.isnan(x[to]):
            return np.full(len(x), np.nan), f"{self.groups[to]} has no published {NAMES[rate]}"
        r, why = ratio_to(x, to)
        if why and to is not None:
            why = f"{self.groups[to]}'s {NAMES[rate]} is 0, so there is no ratio to it"
        return r, why


@dataclass
class Summary:
    """Every breakdown of one published table."""

    source: str
    alpha: float
    rates: tuple[str, ...]
    breakdowns: list[Breakdown]
    notes: list[str]


# --- reading ------------------------------------------------------------------------------

def _reworded(path: Path, text: str) -> str:
    """read_table speaks of manifests; this table is a rates table."""
    head = str(path)
    if text.startswith(head):
        return head + text[len(head):].replace("the manifest", "the table").replace(
            "manifest", "rates table")
    return text


def read_rates(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """The table as text cells (column names lower-cased) and each row's number in the file
    (the header is row 1); a file that is not CSV is refused by name."""
    if path.is_file():
        with path.open("rb") as f:
            head = f.read(4096)
        for magic, what in NOT_CSV:
            if head.startswith(magic):
                raise DataError(f"{path}: not a CSV file (it is {what}); save or copy the "
                                "table as CSV, one row per group")
        if path.suffix.lower() in (".parquet", ".pq") or b"\x00" in head:
            raise DataError(f"{path}: not a CSV file; save the table as CSV, one row per group")
    try:
        df = read_table(path)
    except DataError as exc:
        raise DataError(_reworded(path, exc.headline),
                        [_reworded(path, p) for p in exc.problems]) from None
    names = [str(c).strip().lower() for c in df.columns]
    clash = sorted({c for c in names if names.count(c) > 1})
    if clash:
        raise DataError(f"{path}: column(s) {', '.join(map(repr, clash))} appear more than once "
                        "(names are matched ignoring case and spaces)")
    df.columns = names
    text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")
    records = [k for k, row in enumerate(csv.reader(io.StringIO(text)), start=1) if row][1:]
    return df, records if len(records) == len(df) else list(range(2, len(df) + 2))


def _rate(text: str, where: str, problems: list[str]) -> tuple[float, float, int]:
    """A rate (NaN when empty), half a unit of its last published digit (its rounding) and
    its significant digits (to show it as published)."""
    s = text.strip()
    if not s:
        return math.nan, 0.0, 3
    percent = s.endswith("%")
    body = s[:-1].strip() if percent else s
    try:
        d = Decimal(body)
        v = float(d / 100 if percent else d)
    except (InvalidOperation, ValueError):
        problems.append(f"{where}: {text!r} is not a number (write 0.0045 or 0.45%)")
        return math.nan, 0.0, 3
    if not math.isfinite(v):
        problems.append(f"{where}: {text!r} is not a number (write 0.0045 or 0.45%)")
        return math.nan, 0.0, 3
    scale = 0.01 if percent else 1.0
    if not 0 <= v <= 1:
        hint = f"; a percentage needs its sign ({s}%)" if not percent and 1 < v <= 100 else ""
        problems.append(f"{where}: {text!r} is not a rate between 0 and 1 (0% and 100%){hint}")
        return math.nan, 0.0, 3
    _, digits, exponent = d.as_tuple()
    unit = 10.0 ** exponent * scale if isinstance(exponent, int) else 0.0
    significant = len(digits) - next((i for i, x in enumerate(digits) if x), len(digits))
    return v, unit / 2, max(significant, 1)


def _count(text: str, where: str, problems: list[str]) -> int | None:
    """A non-negative whole number (thousands separators allowed); None when empty."""
    s = text.strip().replace(",", "").replace("_", "")
    if not s:
        return None
    try:
        v = float(s)
    except ValueError:
        v = math.nan
    if not (math.isfinite(v) and v >= 0 and v == int(v)):
        problems.append(f"{where}: {text!r} is not a count (a whole number, 0 or more)")
        return None
    return int(v)


def _group_rate(rate: str, cells: dict[str, str], row: int, path: Path,
                problems: list[str]) -> GroupRate:
    """One group's rate and counts, checked against each other."""
    at = f"{path} row {row}"
    v, half, digits = _rate(cells.get(rate, ""), f"{at}, column {rate}", problems)
    k = _count(cells.get(K_COL[rate], ""), f"{at}, column {K_COL[rate]}", problems)
    n = _count(cells.get(N_COL[rate], ""), f"{at}, column {N_COL[rate]}", problems)
    derived = False
    if n is not None and n == 0:
        problems.append(f"{at}, column {N_COL[rate]}: 0 comparisons cannot give a rate")
        return GroupRate(v)
    if k is not None and n is not None:
        if k > n:
            problems.append(f"{at}: {K_COL[rate]} {k:,} exceeds {N_COL[rate]} {n:,}")
            return GroupRate(v)
        if math.isnan(v):
            v = k / n
        elif (k > 0 if v == 0 else abs(k / n - v) > half * (1 + 1e-9) + 1e-15):
            problems.append(f"{at}: {rate} {cells[rate].strip()} disagrees with "
                            f"{K_COL[rate]}/{N_COL[rate]} = {k:,}/{n:,} = {pct(k / n, 3)} "
                            "(more than the published rounding allows); correct the row, or "
                            f"leave the {rate} cell empty to use the counts")
            return GroupRate(v)
    elif n is not None and not math.isnan(v):
        k, derived = round(v * n), True
    elif k is not None and not math.isnan(v):
        if v > 0:
            n, derived = max(round(k / v), k), True
        elif k > 0:
            problems.append(f"{at}: {rate} is 0 but {K_COL[rate]} is {k:,}")
            return GroupRate(v)
    if k is None or n is None:
        return GroupRate(v, digits=digits)
    lo, hi = clopper_pearson(k, n, CONFIDENCE)
    return GroupRate(v, k, n, derived, float(lo), float(hi), digits)


def parse_table(path: Path, df: pd.DataFrame, records: Sequence[int]
                ) -> tuple[tuple[str, ...], list[Breakdown], list[str]]:
    """The breakdowns of a read table; every problem at once, each naming its row and
    column."""
    cols = list(df.columns)
    if "group" not in cols:
        close = difflib.get_close_matches("group", cols, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        sep = [f"{n} ({c!r})" for c, n in ((";", "semicolons"), ("\t", "tabs"))
               if len(cols) == 1 and c in cols[0]]
        if sep:
            hint = f" The header is split by {sep[0]}; save the table with commas."
        raise DataError(f"{path}: no 'group' column (the columns are "
                        f"{', '.join(map(repr, cols))}).{hint}")
    notes: list[str] = []
    rates = []
    for r in RATES:
        given = r in cols and (df[r].str.strip() != "").any()
        counts = K_COL[r] in cols and N_COL[r] in cols
        if r in cols and not given and not counts:
            notes.append(f"Column {r} is empty: no {NAMES[r]} was published.")
        if given or counts:
            rates.append(r)
    if not rates:
        close = sorted({c for r in RATES for c in difflib.get_close_matches(r, cols, cutoff=0.6)
                        if c not in KNOWN})
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise DataError(f"{path}: no rates: the table needs an 'fmr' and/or an 'fnmr' column "
                        f"(the columns are {', '.join(map(repr, cols))}).{hint}")
    ignored = [c for c in cols if c not in KNOWN]
    if ignored:
        notes.append(f"Columns not read: {', '.join(ignored)}.")
    problems: list[str] = []
    found: dict[tuple[str, str], Breakdown] = {}
    seen: dict[tuple[str, str, str], int] = {}
    for cells, row in zip(df.to_dict("records"), records):
        group = str(cells["group"]).strip()
        key = (str(cells.get("attribute", "")).strip(),
               str(cells.get("operating_point", "")).strip())
        if not group:
            problems.append(f"{path} row {row}, column group: empty")
            continue
        if "attribute" in cols and not key[0]:
            problems.append(f"{path} row {row}, column attribute: empty")
        b = found.setdefault(key, Breakdown(*key, [], [], {r: [] for r in rates}))
        if (*key, group) in seen:
            problems.append(f"{path} row {row}: group {group!r} appears again in {b.where} "
                            f"(first in row {seen[(*key, group)]})")
            continue
        seen[(*key, group)] = row
        before = len(problems)
        got = {r: _group_rate(r, cells, row, path, problems) for r in rates}
        if len(problems) == before and all(math.isnan(g.value) for g in got.values()):
            problems.append(f"{path} row {row}: no rate for group {group!r} (the "
                            f"{' and '.join(rates)} cells are empty)")
        b.groups.append(group)
        b.rows.append(row)
        for r in rates:
            b.rates[r].append(got[r])
    for b in found.values():
        if len(b.groups) < 2:
            problems.append(f"{path}: only one group in {b.where} ({b.groups[0]!r}, row "
                            f"{b.rows[0]}); a differential needs at least two")
    if problems:
        raise DataError(f"{path}: {len(problems)} problem(s) in the rates table",
                        problems[:50] + ([f"... and {len(problems) - 50} more"]
                                         if len(problems) > 50 else []))
    return tuple(rates), list(found.values()), notes


# --- measures -----------------------------------------------------------------------------

#: What each measure is, said once under the summary (x: the groups' FMRs, or FNMRs).
DEFINITIONS = {
    "max_geomean": "Max/GeoMean (NIST FRTE): the largest group rate over the geometric mean "
                   f"of the group rates; 1 = all equal ({EPS_TEXT} is added to every rate when "
                   "one is 0).",
    "max_difference": "Largest difference: the highest group rate minus the lowest.",
    "gini": "Gini G (ISO/IEC 19795-10, Howard et al.): G = n/(n-1) x sum_i sum_j |x_i - x_j| "
            "/ (2 n^2 mean(x)) over the n groups' rates x; 0 = all equal.",
    "fdr": "FDR, Fairness Discrepancy Rate (ISO/IEC 19795-10, de Freitas Pereira and Marcel): "
           "1 - [alpha max|FMR_i - FMR_j| + (1 - alpha) max|FNMR_i - FNMR_j|]; 1 = no "
           "differential.",
    "garbe": "GARBE (ISO/IEC 19795-10, Howard et al.): alpha G_FMR + (1 - alpha) G_FNMR; 0 = "
             "no differential.",
    "ratio": "Ratio to lowest: a group's rate over the lowest group's (as NIST FRTE annexes "
             "report it); ratio to reference: over the group named with --reference.",
}
LABELS = {"max_geomean": "Max/GeoMean (NIST FRTE)", "max_difference": "largest difference",
          "gini": "Gini G (ISO/IEC 19795-10)"}


def _rate_measures(b: Breakdown, rate: str) -> list[Measure]:
    x = b.values(rate)
    ok = np.isfinite(x)
    worst = b.groups[int(np.nanargmax(x))] if ok.any() else ""
    best = b.groups[int(np.nanargmin(x))] if ok.any() else ""
    out = []
    for key, fn in (("max_geomean", max_geomean), ("max_difference", max_abs_diff),
                    ("gini", gini)):
        label, definition = f"{NAMES[rate]} {LABELS[key]}", DEFINITIONS[key]
        if ok.sum() < 2:
            out.append(Measure(f"{rate}_{key}", rate, label, math.nan, definition,
                               note=f"fewer than two groups publish an {NAMES[rate]}"))
            continue
        out.append(Measure(f"{rate}_{key}", rate, label, float(fn(x)), definition,
                           worst=worst if key != "gini" else "",
                           best=best if key == "max_difference" else ""))
    if ok.sum() >= 2 and np.any(x[ok] == 0):
        b.notes.append(f"A group's {NAMES[rate]} is 0, so Max/GeoMean adds {EPS_TEXT} to every "
                       f"{NAMES[rate]} (NIST's convention); its value depends on that choice.")
    return out


def _joint_measures(b: Breakdown, alpha: float) -> list[Measure]:
    why = [f"the table has no {NAMES[r]}" if r not in b.rates else
           f"fewer than two groups publish an {NAMES[r]}" for r in RATES
           if r not in b.rates or np.isfinite(b.values(r)).sum() < 2]
    out = []
    for key, fn in (("fdr", fdr), ("garbe", garbe)):
        label = f"{key.upper()}, alpha = {alpha:g} (ISO/IEC 19795-10)"
        if why:
            out.append(Measure(key, "fmr+fnmr", label, math.nan, DEFINITIONS[key],
                               note=f"needs both FMR and FNMR; {' and '.join(why)}"))
        else:
            value = float(fn(b.values("fmr"), b.values("fnmr"), alpha))
            out.append(Measure(key, "fmr+fnmr", label, value, DEFINITIONS[key]))
    return out


def _choose_reference(path: Path, breakdowns: list[Breakdown], wanted: Sequence[str]) -> None:
    """Each breakdown's --reference group: the one named there; else none, with why."""
    everywhere = sorted({g for b in breakdowns for g in b.groups})
    for w in wanted:
        if w not in everywhere:
            close = difflib.get_close_matches(w, everywhere, n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ConfigError(f"--reference: {w!r} is not a group of {path}.{hint}",
                              [f"groups: {', '.join(everywhere)}"])
    for b in breakdowns:
        named = [g for g in wanted if g in b.groups]
        if len(named) > 1:
            raise ConfigError(f"--reference: {b.title} holds more than one of the named "
                              f"groups ({', '.join(map(repr, named))}); name one per breakdown")
        if named:
            b.reference, b.reference_rule = b.groups.index(named[0]), "named with --reference"
        elif wanted:
            b.reference_rule = "none of the --reference groups is in this breakdown"


def summarize(path: Path, alpha: float = 0.5, references: Sequence[str] = ()) -> Summary:
    """Read a published rates table and compute each breakdown's ratios and measures."""
    df, records = read_rates(path)
    rates, breakdowns, notes = parse_table(path, df, records)
    _choose_reference(path, breakdowns, references)
    for b in breakdowns:
        for r in rates:
            b.measures += _rate_measures(b, r)
        b.measures += _joint_measures(b, alpha)
        unpublished = {r: [g for g, v in zip(b.groups, b.values(r)) if math.isnan(v)]
                       for r in rates}
        for r, gs in unpublished.items():
            if gs:
                b.notes.append(f"No {NAMES[r]} published for {', '.join(gs)}: left out of the "
                               f"{NAMES[r]} measures.")
    if len(rates) == 1:
        other = NAMES[next(r for r in RATES if r not in rates)]
        notes.append(f"The table gives no {other}: no {other} measures, FDR or GARBE (each "
                     f"needs both rates at one threshold).")
    else:
        notes.append("FDR and GARBE take each row's FMR and FNMR to be at one threshold.")
    if any(g.derived for b in breakdowns for gs in b.rates.values() for g in gs):
        notes.append(DERIVED)
    notes.append(NO_INTERVAL)
    return Summary(str(path), alpha, rates, breakdowns, notes)


# --- output -------------------------------------------------------------------------------

def _num(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else float(x)


def _ratio(x: float) -> str:
    return "n/a" if math.isnan(x) else f"{x:.3g}"


def markdown(s: Summary) -> str:
    """The summary as Markdown: per breakdown a table of groups, one of measures, notes."""
    out = [f"# Summary figures from {s.source}", "",
           f"Published per-group rates; alpha = {s.alpha:g} (the FMR weight in FDR and GARBE)."]
    for b in s.breakdowns:
        cols, body = ["group"], [[g] for g in b.groups]
        notes = [] if b.reference is None and not b.reference_rule else [
            f"Reference group: {b.groups[b.reference]} ({b.reference_rule})."
            if b.reference is not None else f"Reference group: {b.reference_rule}."]
        for r in s.rates:
            low = b.lowest(r)
            to = [("lowest", low)] + ([("reference", b.reference)]
                                      if b.reference is not None else [])
            cols.append(NAMES[r])
            for row, g in zip(body, b.rates[r]):
                row.append(g.text())
            for word, i in to:
                ratios, why = b.ratios(r, i)
                cols.append(f"{NAMES[r]} / {word}" + (f" ({b.groups[i]})" if i is not None
                                                        else ""))
                for row, v in zip(body, ratios):
                    row.append(_ratio(v))
                if why:
                    notes.append(f"{NAMES[r]} / {word}: {why}.")
        rows = []
        for m in b.measures:
            where = (f"{m.worst} - {m.best}" if m.best else f"highest: {m.worst}"
                     if m.worst else "")
            rows.append([m.label, m.text(), where])
        out += ["", f"## {b.title}", "", *markdown_table(cols, body), "",
                *markdown_table(["measure", "value", "groups"], rows)]
        if notes or b.notes:
            out += [""] + [f"- {n}" for n in notes + b.notes]
    out += ["", "Definitions:", ""] + [f"- {d}" for d in DEFINITIONS.values()]
    out += ["", "Notes:", ""] + [f"- {n}" for n in s.notes]
    return "\n".join(out) + "\n"


def as_dict(s: Summary) -> dict[str, Any]:
    """The summary as plain JSON-ready values (undefined numbers are None)."""
    parts = []
    for b in s.breakdowns:
        groups: list[dict[str, Any]] = [{"group": g, "row": row}
                                        for g, row in zip(b.groups, b.rows)]
        for r in s.rates:
            low = b.lowest(r)
            by_low, why_low = b.ratios(r, low)
            by_ref, why_ref = b.ratios(r, b.reference)
            for d, g, x, y in zip(groups, b.rates[r], by_low, by_ref):
                d[r] = {"rate": _num(g.value), "errors": g.errors, "n": g.n,
                        "counts_derived": g.derived, "ci_low": _num(g.ci_low),
                        "ci_high": _num(g.ci_high), "ratio_to_lowest": _num(x),
                        "lowest_group": "" if low is None else b.groups[low],
                        "ratio_to_lowest_note": why_low}
                if b.reference is not None:
                    d[r] |= {"ratio_to_reference": _num(y), "ratio_to_reference_note": why_ref}
        parts.append({
            "attribute": b.attribute, "operating_point": b.operating_point,
            "reference_group": "" if b.reference is None else b.groups[b.reference],
            "reference_rule": b.reference_rule, "groups": groups,
            "measures": [{"measure": m.key, "rate": m.rate, "label": m.label,
                          "value": _num(m.value), "worst_group": m.worst,
                          "best_group": m.best, "definition": m.definition, "note": m.note,
                          **({"alpha": s.alpha} if m.rate == "fmr+fnmr" else {})}
                         for m in b.measures],
            "notes": b.notes})
    return {"source": s.source, "alpha": s.alpha, "confidence": CONFIDENCE,
            "rates": list(s.rates), "breakdowns": parts, "notes": s.notes}


CSV_COLUMNS = ["attribute", "operating_point", "rate", "measure", "group", "value", "ci_low",
               "ci_high", "errors", "n", "relative_to", "definition", "note"]


def csv_text(s: Summary) -> str:
    """One row per value: each group's rate and ratios, then each summary measure."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n")
    w.writeheader()

    def fmt(x: float | int | None) -> str:
        if x is None or not math.isfinite(x):
            return ""
        return repr(float(x)) if isinstance(x, float) else str(x)

    for b in s.breakdowns:
        at = {"attribute": b.attribute, "operating_point": b.operating_point}
        for r in s.rates:
            low = b.lowest(r)
            to = [("ratio_to_lowest", low)] + ([("ratio_to_reference", b.reference)]
                                               if b.reference is not None else [])
            for g, gr in zip(b.groups, b.rates[r]):
                w.writerow({**at, "rate": r, "measure": "rate", "group": g,
                            "value": fmt(gr.value), "ci_low": fmt(gr.ci_low),
                            "ci_high": fmt(gr.ci_high), "errors": fmt(gr.errors),
                            "n": fmt(gr.n), "note": "counts derived from the rate"
                            if gr.derived else ""})
            for key, i in to:
                ratios, why = b.ratios(r, i)
                for g, v in zip(b.groups, ratios):
                    w.writerow({**at, "rate": r, "measure": key, "group": g, "value": fmt(v),
                                "relative_to": "" if i is None else b.groups[i], "note": why})
        for m in b.measures:
            w.writerow({**at, "rate": m.rate, "measure": m.key, "group": m.worst,
                        "value": fmt(m.value), "relative_to": m.best or (
                            "geometric mean" if m.key.endswith("max_geomean") else ""),
                        "definition": m.definition + (f" alpha = {s.alpha:g}."
                                                      if m.rate == "fmr+fnmr" else ""),
                        "note": m.note})
    return buf.getvalue()


def write_csv(s: Summary, out: Path) -> None:
    """The CSV written atomically (a temporary file renamed into place)."""
    if not out.parent.is_dir():
        raise DataError(f"{out}: no folder {out.parent} to write into")
    try:
        atomic_text(out, csv_text(s))
    except OSError as exc:
        raise DataError(f"{out}: cannot write ({exc.strerror or exc})") from None


def to_json(s: Summary) -> str:
    """One JSON object (strict: undefined numbers are null)."""
    return json.dumps(as_dict(s), indent=1, allow_nan=False) + "\n"
