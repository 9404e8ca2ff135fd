"""Citation sentences: one plain sentence per noteworthy cell, ready to paste.

Each sentence names the error (false match / false non-match, never a bare "accuracy"),
the operating point, the groups, the rate with its 95 % interval, errors, comparisons and
people, and ends with the model, dataset, run id and date. A ratio is stated as a
difference only when its subject-bootstrap interval excludes 1; cells with no errors give
the rule-of-three bound; cells with too little data say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fairbench.core.operating import one_in, point_of_row
from fairbench.report.cells import MIN_N, RateCell, pct


@dataclass(frozen=True)
class Context:
    """What every sentence ends with, and how thresholds are named."""

    model: str
    dataset: str
    run_id: str
    date: str
    score_name: str = "score"
    caveats: tuple[str, ...] = ()  # said in every sentence: simulated, a sample, no consent

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Context:
        ds, mt = rec["dataset"], rec["matcher"]
        card = ds.get("card") or {}
        title = card.get("title") or ds["name"]
        version = f", version {card['version']}" if card.get("version") else ""
        system = (mt.get("details") or {}).get("system")  # what produced given scores
        model = f"{system} (scores given to fairbench {mt.get('version', '')})" if system \
            else f"{mt['name']} ({mt.get('version', 'unknown version')})"
        caveats = []
        if rec.get("simulated"):
            caveats.append("SIMULATED data")
        comp = rec.get("comparisons") or {}
        if comp.get("nonmated_population"):
            caveats.append(f"FMR estimated from a sample of {comp.get('nonmated', 0):,} of "
                           f"{comp['nonmated_population']:,} impostor pairs")
        if ds.get("consent_warning"):
            caveats.append("dataset collected without consent")
        return cls(model=model, dataset=f"{title}{version}", run_id=rec["run_id"],
                   date=str(rec.get("created_utc", ""))[:10],
                   score_name=str(mt.get("native_score") or "score"),
                   caveats=tuple(caveats))

    def suffix(self) -> str:
        said = "".join(f"; {c}" for c in self.caveats)
        return f"(model {self.model}; dataset {self.dataset}; fairbench run {self.run_id}, " \
               f"{self.date}{said})"


class SentenceError(AssertionError):
    """A generated sentence broke a citation rule (a bug in fairbench, not user input)."""


def check(sentence: str) -> str:
    """Enforce the rules: no unnamed 'accuracy', no bare 0 rate."""
    low = sentence.lower()
    if "accuracy" in low:
        raise SentenceError(f"sentence says 'accuracy': {sentence}")
    if " 0% " in sentence or " 0.0% " in sentence:
        raise SentenceError(f"sentence prints a bare 0 rate: {sentence}")
    return sentence


def op_phrase(row: Mapping[str, Any], ctx: Context) -> str:
    """'At a threshold set for a false match rate of 1 in 1,000 over all impostor pairs'."""
    native = row.get("threshold_native")
    at = f" ({ctx.score_name} {float(native):.3g})" if native is not None else ""
    if row.get("threshold_kind") == "target_fmr":
        return (f"At a threshold set for a false match rate of {one_in(float(row['target_fmr']))}"
                f" over all impostor pairs{at}")
    return f"At a fixed threshold of {float(native):.3g} ({ctx.score_name})"


def people(attribute: str, group: str, describe: str) -> str:
    """'black people (ethnicity, self-reported)' / 'people aged 18-29 (...)'."""
    g = group.replace("_", " ")
    core = f"people aged {g}" if attribute.startswith("age") else f"{g} people"
    return f"{core} ({describe})" if describe else core


def num(x: float) -> str:
    """A ratio for prose: 2 significant digits, no exponent (74, 1.2, 260, 0.031)."""
    if x >= 100:
        return f"{float(f'{x:.2g}'):,.0f}"
    return f"{x:.2g}"


def _ci(c: RateCell) -> str:
    return f"95% CI {pct(c.ci_low)}-{pct(c.ci_high)}"


def _imprecise(c: RateCell) -> str:
    return f"; fewer than {c.min_errors} errors, so imprecise" if c.imprecise else ""


def _who(n_subjects: int | None) -> str:
    if n_subjects is None:
        return ""
    return f", {n_subjects:,} {'person' if n_subjects == 1 else 'people'}"


def ratio_clause(row: Mapping[str, Any], rate: str, ref: Mapping[str, Any] | None,
                 ref_people: str) -> str:
    """How the group compares with the reference; a difference only when the CI excludes 1."""
    if ref is None or row.get("group") == ref.get("group"):
        return ""
    v, lo, hi = (row.get(f"{rate}_ratio"), row.get(f"{rate}_ratio_ci_low"),
                 row.get(f"{rate}_ratio_ci_high"))
    if v is None or (isinstance(v, float) and math.isnan(v)):
        rc = RateCell.from_row(ref, rate, "n_nonmated" if rate == "fmr" else "n_mated")
        if rc.n >= MIN_N and rc.errors == 0:
            return (f"; {ref_people} had no such error (0 of {rc.n:,}; 95% upper bound "
                    f"{pct(rc.upper3)}), so no ratio can be given")
        why = row.get(f"{rate}_ratio_note") or "undefined"
        return f"; no ratio to {ref_people} can be given ({why})"
    if lo is None or hi is None or (isinstance(lo, float) and math.isnan(lo)):
        return (f"; the ratio to {ref_people} ({num(v)}) has no interval, so it is not "
                "stated as a difference")
    if lo > 1:
        return (f", {num(v)} times the rate for {ref_people} (subject-bootstrap 95% CI "
                f"{num(lo)}-{num(hi)})")
    if hi < 1:
        return (f", {num(v)} times the rate for {ref_people}, a lower rate (subject-bootstrap "
                f"95% CI {num(lo)}-{num(hi)})")
    return (f"; its ratio to the rate for {ref_people} is {num(v)}, but the subject-bootstrap "
            f"95% CI ({num(lo)}-{num(hi)}) includes 1, so this data cannot tell the two apart")


def test_clause(row: Mapping[str, Any], rate: str) -> str:
    """What the subject-level permutation test says of the difference to the reference
    ('' where there is none: the reference itself, per-image breakdowns)."""
    p, holm = _num(row.get(f"{rate}_p")), _num(row.get(f"{rate}_p_holm"))
    if math.isnan(p):
        return ""
    n = int(_num(row.get("p_relabellings")) or 0)
    adj = "" if math.isnan(holm) else f"; Holm-adjusted {holm:.2g}"
    if row.get("p_method") == "exact":  # p = k / n, the data's own labelling among them
        k = round(p * n)
        return (f"; a difference at least this large arose in {k:,} of all {n:,} "
                f"relabellings of the groups among the people (exact permutation p = "
                f"{p:.2g}{adj})")
    k = round(p * n) - 1  # p = (1 + k) / (1 + draws), n = 1 + draws
    if k == 0:
        return (f"; a difference this large arose in none of {n - 1:,} random relabellings "
                f"of the groups among the people (permutation p = {p:.2g}, the smallest "
                f"{n - 1:,} relabellings can give{adj})")
    return (f"; a difference at least this large arose in {k:,} of {n - 1:,} random "
            f"relabellings of the groups among the people (permutation p = {p:.2g}{adj})")


def fmr_sentence(row: Mapping[str, Any], ctx: Context, describe: str = "",
                 ref: Mapping[str, Any] | None = None) -> str:
    """One sentence about a group's same-group false match rate."""
    c = RateCell.from_row(row, "fmr", "n_nonmated")
    who = people(str(row["attribute"]), str(row["group"]), describe)
    head = op_phrase(row, ctx)
    if c.insufficient:
        body = (f"there is insufficient data (n = {c.n:,} impostor pairs{_who(c.n_subjects)}) "
                f"to estimate the false match rate for impostor pairs of two {who}")
    elif c.errors == 0:
        body = (f"no impostor pair of two {who} was falsely matched (0 of {c.n:,} pairs"
                f"{_who(c.n_subjects)}; 95% upper bound {pct(c.upper3)} by the rule of three)")
    else:
        ref_people = people(str(row["attribute"]), str(ref["group"]), "") if ref else ""
        body = (f"impostor pairs of two {who} were falsely matched {pct(c.rate, 3)} of the "
                f"time ({_ci(c)}; {c.errors:,} of {c.n:,} pairs{_who(c.n_subjects)}"
                f"{_imprecise(c)}){ratio_clause(row, 'fmr', ref, ref_people)}"
                f"{test_clause(row, 'fmr')}")
    return check(f"{head}, {body} {ctx.suffix()}.")


def fnmr_sentence(row: Mapping[str, Any], ctx: Context, describe: str = "",
                  ref: Mapping[str, Any] | None = None) -> str:
    """One sentence about a group's false non-match rate (genuine pairs rejected)."""
    c = RateCell.from_row(row, "fnmr", "n_mated")
    attr, group = str(row["attribute"]), str(row["group"])
    who = "" if attr == "all" else f" of {people(attr, group, describe)}"
    head = op_phrase(row, ctx)
    if c.insufficient:
        body = (f"there is insufficient data (n = {c.n:,} mated pairs{_who(c.n_subjects)}) "
                f"to estimate the false non-match rate{who}")
    elif c.errors == 0:
        body = (f"none of the {c.n:,} mated pairs{who} was falsely rejected (false "
                f"non-match; 95% upper bound {pct(c.upper3)} by the rule of three"
                f"{_who(c.n_subjects)})")
    else:
        ref_people = people(attr, str(ref["group"]), "") if ref else ""
        body = (f"mated pairs{who} were falsely rejected (false non-match) "
                f"{pct(c.rate, 3)} of the time ({_ci(c)}; {c.errors:,} of {c.n:,} pairs"
                f"{_who(c.n_subjects)}{_imprecise(c)}){ratio_clause(row, 'fnmr', ref, ref_people)}"
                f"{test_clause(row, 'fnmr')}")
    return check(f"{head}, {body} {ctx.suffix()}.")


def overall_fmr_sentence(row: Mapping[str, Any], ctx: Context) -> str:
    c = RateCell.from_row(row, "fmr", "n_nonmated")
    if c.errors == 0:
        body = (f"no impostor pair was falsely matched (0 of {c.n:,} pairs; 95% upper bound "
                f"{pct(c.upper3)})")
    else:
        body = (f"{pct(c.rate, 3)} of all impostor pairs were falsely matched ({_ci(c)}; "
                f"{c.errors:,} of {c.n:,} pairs{_who(c.n_subjects)})")
    return check(f"{op_phrase(row, ctx)}, {body} {ctx.suffix()}.")


@dataclass(frozen=True)
class Sentence:
    """A sentence and the cell it describes."""

    attribute: str
    group: str
    rate: str  # fmr | fnmr
    operating_point: str
    text: str
    at: str = ""  # the operating point's label (fmr=0.01), as in the tables
    #: the ratio to the reference group's bootstrap interval, when the sentence has one
    ratio_ci: tuple[float, float] | None = None

    @property
    def separates(self) -> bool | None:
        """True when the ratio's interval excludes 1, False when it includes 1, None when
        the sentence states no ratio (overall rates, the reference group itself)."""
        if self.ratio_ci is None:
            return None
        lo, hi = self.ratio_ci
        return lo > 1 or hi < 1

    @property
    def strength(self) -> float:
        """How large a difference the data supports: |log| of the interval's bound nearest
        1 (0 when it cannot separate the groups); ranks the findings."""
        if not self.separates or self.ratio_ci is None:
            return 0.0
        lo, hi = self.ratio_ci
        return abs(math.log(lo if lo > 1 else hi))


def _ratio_ci(row: Mapping[str, Any], rate: str, ref: Mapping[str, Any] | None
              ) -> tuple[float, float] | None:
    lo, hi = _num(row.get(f"{rate}_ratio_ci_low")), _num(row.get(f"{rate}_ratio_ci_high"))
    if ref is None or row.get("group") == ref.get("group") or math.isnan(lo) \
            or math.isnan(hi) or hi <= 0:
        return None
    return lo, hi


def ranked(sentences: Sequence[Sentence], most: int = 10, least: int = 5
           ) -> tuple[list[Sentence], list[Sentence]]:
    """The findings to read first and those the data cannot tell apart.

    First: sentences whose ratio interval excludes 1, largest supported difference first
    (at most ``most``), topped up to ``least`` with the overall rates; second: sentences
    whose ratio interval includes 1."""
    sep = sorted((s for s in sentences if s.separates), key=lambda s: -s.strength)[:most]
    if len(sep) < least:
        sep += [s for s in sentences if s.attribute == "all"][: least - len(sep)]
    return sep, [s for s in sentences if s.separates is False]


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def noteworthy(records: Sequence[Mapping[str, Any]], ctx: Context,
               describe: Mapping[str, str], attributes: Sequence[str]) -> list[Sentence]:
    """Overall rates, then per attribute and operating point: the worst group's FMR and FNMR
    and every group whose ratio interval excludes 1."""
    out: list[Sentence] = []
    ops = list(dict.fromkeys((r["threshold_kind"], r.get("target_fmr"), r["threshold_native"])
                             for r in records))
    for op in ops:
        at = [r for r in records
              if (r["threshold_kind"], r.get("target_fmr"), r["threshold_native"]) == op]
        label = op_phrase(at[0], ctx)
        key = point_of_row(dict(at[0])).label
        for r in at:
            if r["attribute"] == "all":
                out.append(Sentence("all", "all", "fmr", label, overall_fmr_sentence(r, ctx),
                                    key))
                out.append(Sentence("all", "all", "fnmr", label, fnmr_sentence(r, ctx), key))
        for attr in attributes:
            rows = [r for r in at if r["attribute"] == attr and "unknown" not in str(r["group"])]
            if not rows:
                continue
            refname = rows[0].get("reference_group")
            ref = next((r for r in rows if r["group"] == refname), None)
            for rate, n_col in (("fmr", "n_nonmated"), ("fnmr", "n_mated")):
                ok = [r for r in rows if RateCell.from_row(r, rate, n_col).n >= MIN_N]
                if not ok:
                    continue
                worst = max(ok, key=lambda r, k=rate: _num(r.get(k)))
                if _num(worst.get(rate)) <= 0 and rate == "fnmr":
                    continue  # all zero: the overall sentence already says so
                picks = [worst] + [r for r in ok if r is not worst and (
                    _num(r.get(f"{rate}_ratio_ci_low")) > 1
                    or _num(r.get(f"{rate}_ratio_ci_high")) < 1)]
                if ref is not None and ref not in picks and rate == "fmr":
                    picks.append(ref)
                for r in picks:
                    d = describe.get(attr, "")
                    text = (fmr_sentence(r, ctx, d, ref) if rate == "fmr"
                            else fnmr_sentence(r, ctx, d, ref))
                    out.append(Sentence(attr, str(r["group"]), rate, label, text, key,
                                        _ratio_ci(r, rate, ref)))
    return out


def describe_attributes(rec: Mapping[str, Any]) -> dict[str, str]:
    """'ethnicity, self-reported' per attribute, from the dataset card and label sources."""
    ds = rec["dataset"]
    card = ds.get("card") or {}
    specs = card.get("attributes") or {}
    derived = card.get("derived_attributes") or {}
    out = {}
    for a in ds.get("attributes", []):
        base = derived.get(a, a)
        desc = (specs.get(base) or {}).get("description") or a.replace("_", " ")
        if a in derived:
            desc = a.replace("_", " ")  # the label source says what it was derived from
        src = (ds.get("label_sources") or {}).get(a, "")
        out[a] = ", ".join(x for x in (desc, src) if x)
    return out


def markdown(sentences: Sequence[Sentence], header: str) -> str:
    """citations.md: the sentences grouped by operating point."""
    lines = [f"# Citation sentences\n\n{header}\n"]
    last = None
    for s in sentences:
        if s.operating_point != last:
            lines.append(f"\n## {s.operating_point}\n")
            last = s.operating_point
        lines.append(f"- {s.text}")
    return "\n".join(lines) + "\n"
