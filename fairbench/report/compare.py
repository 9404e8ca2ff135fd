"""``fairbench compare RUN_A RUN_B``: two models (or versions) on the same dataset.

Both runs must hold the same images, people and labels (the same manifest). Groups are read
at matching operating points: target-FMR thresholds by their target (each model at its own
threshold for that FMR), fixed thresholds by their native value. For every group the change
B - A in FMR and FNMR gets a *paired* subject-bootstrap interval: the same resampled people
score both models, so the interval reflects the change, not the two runs' separate noise.
A change is called a difference only when its interval excludes 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench.counts import VerificationCounts
from fairbench.errors import FairbenchError
from fairbench.metrics.bootstrap import (
    impostor_rates,
    mated_rates,
    percentile_interval,
    subject_weights,
)
from fairbench.metrics.groups import View, make_views
from fairbench.metrics.intervals import clopper_pearson
from fairbench.plan import Plan
from fairbench.report.cells import RateCell, one_in, pct
from fairbench.results import load_counts, read_run


class CompareError(FairbenchError):
    """The two runs cannot be compared (different data, no common operating point)."""


@dataclass
class Side:
    record: dict[str, Any]
    plan: Plan
    counts: VerificationCounts
    image_ids: list[str]


def _load(run_dir: Path) -> Side:
    rec = read_run(run_dir).model_dump()
    plan, counts, _, ids = load_counts(Path(run_dir) / "counts.npz")
    return Side(rec, plan, counts, ids)


def _ops(rec: dict[str, Any]) -> dict[tuple[str, float], float]:
    """(kind, target or native) -> internal threshold, for supported operating points."""
    out = {}
    for t in rec["thresholds"]:
        if t.get("supported") and t.get("similarity") is not None:
            key = float(t["target_fmr"]) if t["kind"] == "target_fmr" else float(t["native"])
            out[(t["kind"], key)] = float(t["similarity"])
    return out


def _check_same_data(a: Side, b: Side) -> None:
    da, db = a.record["dataset"], b.record["dataset"]
    problems = []
    if da["manifest_sha256"] != db["manifest_sha256"]:
        problems.append(f"manifests differ ({da['name']} {da['manifest_sha256'][:12]} vs "
                        f"{db['name']} {db['manifest_sha256'][:12]})")
    if a.image_ids != b.image_ids or not np.array_equal(a.plan.subject, b.plan.subject):
        problems.append("the runs hold different images or people")
    if problems:
        raise CompareError("these runs are not on the same dataset; comparing them would mix "
                           "a change of data with a change of model", problems)


def _view_arrays(view: View, plan: Plan, counts: VerificationCounts) -> dict[str, Any]:
    ig = view.image_group
    nsub, G = len(plan.subjects), len(view.groups)
    first = np.full(nsub, -1)
    first[plan.subject[::-1]] = ig[::-1]
    n_img = np.zeros((nsub, G))
    np.add.at(n_img, (plan.subject, ig), 1.0)
    return {"G": G, "subject_group": first, "n_img": n_img}


def _rates(view: View, plan: Plan, counts: VerificationCounts, thr: float, w: np.ndarray,
           n_img: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per rate: (errors per group, comparisons per group, (R, G) replicate rates)."""
    ig, G = view.image_group, len(view.groups)
    ga, gb = ig[counts.kept_i], ig[counts.kept_j]
    sel = (counts.kept_s >= thr) & (ga == gb)
    fm_err = np.bincount(ga[sel], minlength=G)
    a = (n_img.sum(axis=0) ** 2 - (n_img**2).sum(axis=0)) / 2  # same-group impostor pairs
    reps_fm = impostor_rates(w, n_img, plan.subject[counts.kept_i[sel]],
                             plan.subject[counts.kept_j[sel]], ga[sel], G)
    mg_i, mg_j = ig[counts.mated_i], ig[counts.mated_j]
    same = mg_i == mg_j
    miss = same & (counts.mated_s < thr)
    subj = plan.subject[counts.mated_i]
    nsub = len(plan.subjects)
    pairs, errs = np.zeros((nsub, G)), np.zeros((nsub, G))
    np.add.at(pairs, (subj[same], mg_i[same]), 1.0)
    np.add.at(errs, (subj[miss], mg_i[miss]), 1.0)
    reps_fnm = mated_rates(w, pairs, errs)
    return {"fmr": (fm_err, a.astype(np.int64), reps_fm),
            "fnmr": (errs.sum(axis=0).astype(np.int64), pairs.sum(axis=0).astype(np.int64),
                     reps_fnm)}


def compare_runs(run_a: str | Path, run_b: str | Path, replicates: int | None = None,
                 seed: int = 0, confidence: float = 0.95) -> tuple[pd.DataFrame, str]:
    """The side-by-side frame (one row per attribute, group, operating point and rate) and a
    header naming both runs."""
    a, b = _load(Path(run_a)), _load(Path(run_b))
    _check_same_data(a, b)
    ops_a, ops_b = _ops(a.record), _ops(b.record)
    common = [k for k in ops_a if k in ops_b]
    if not common:
        raise CompareError("the runs share no operating point (target FMR or fixed threshold)")
    attrs = [x for x in a.record["config"]["dataset"]["attributes"]
             if x in b.record["config"]["dataset"]["attributes"]]
    R = replicates or int(a.record["config"]["verification"]["bootstrap"]["replicates"])
    rng = np.random.default_rng(seed)
    rows = []
    plan = a.plan
    everyone = View("all", (), ["all"], np.zeros(plan.n_strata, dtype=np.int64),
                    np.zeros(plan.n_images, dtype=np.int64))
    views = [everyone, *make_views(plan, attrs, intersections=False)]
    for view in views:
        va = _view_arrays(view, plan, a.counts)
        w = subject_weights(va["subject_group"], R, rng)
        for kind, key in common:
            ra = _rates(view, plan, a.counts, ops_a[(kind, key)], w, va["n_img"])
            rb = _rates(view, plan, b.counts, ops_b[(kind, key)], w, va["n_img"])
            for rate in ("fmr", "fnmr"):
                (ka, n, reps_a), (kb, _, reps_b) = ra[rate], rb[rate]
                lo, hi = percentile_interval(reps_b - reps_a, confidence)
                for g, name in enumerate(view.groups):
                    rows.append({
                        "attribute": view.name, "group": name, "threshold_kind": kind,
                        "operating_point": key, "rate": rate, "n": int(n[g]),
                        "errors_a": int(ka[g]), "errors_b": int(kb[g]),
                        "rate_a": ka[g] / n[g] if n[g] else math.nan,
                        "rate_b": kb[g] / n[g] if n[g] else math.nan,
                        "change": (kb[g] - ka[g]) / n[g] if n[g] else math.nan,
                        "change_ci_low": lo[g], "change_ci_high": hi[g],
                    })
    df = pd.DataFrame(rows)
    df["reading"] = [_reading(r) for r in df.to_dict(orient="records")]
    return df, _header(a.record, b.record)


def _reading(r: dict[str, Any]) -> str:
    lo, hi = r["change_ci_low"], r["change_ci_high"]
    if r["n"] < 10 or any(isinstance(x, float) and math.isnan(x) for x in (lo, hi)):
        return "insufficient data"
    if lo > 0:
        return "B higher"
    if hi < 0:
        return "B lower"
    return "no clear change (interval includes 0)"


def _header(a: dict[str, Any], b: dict[str, Any]) -> str:
    def one(tag: str, r: dict[str, Any]) -> str:
        m = r["matcher"]
        return (f"{tag}: run {r['run_id']}, matcher {m['name']} ({m.get('version', '')}, "
                f"fingerprint {str(m.get('fingerprint', ''))[:12]})")
    ds = a["dataset"]
    return (f"{one('A', a)}\n{one('B', b)}\nDataset {ds['name']} ({ds['n_subjects']} people, "
            f"{ds['n_images']} images, manifest {ds['manifest_sha256'][:12]}). Change = B - A "
            "with a paired subject-bootstrap 95% interval.")


def markdown(df: pd.DataFrame, header: str) -> str:
    """The comparison as one Markdown table, cells in the report's citeable form."""
    lines = [header, "", "| attribute | group | operating point | rate | A | B | change B - A "
             "[95% CI] | reading |", "|---|---|---|---|---|---|---|---|"]
    for r in df.to_dict(orient="records"):
        op = (f"FMR {one_in(r['operating_point'])}" if r["threshold_kind"] == "target_fmr"
              else f"fixed {r['operating_point']:g}")
        ca, cb = (_cell(r[f"errors_{s}"], r["n"]).text() for s in ("a", "b"))
        ch = "n/a" if r["n"] == 0 else (f"{_signed(r['change'])} [{_signed(r['change_ci_low'])}"
                                        f", {_signed(r['change_ci_high'])}]")
        cells = [r["attribute"], r["group"], op, r["rate"].upper(), ca, cb, ch, r["reading"]]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _cell(k: int, n: int) -> RateCell:
    lo, hi = clopper_pearson(k, n)
    return RateCell(k, n, float(lo), float(hi))


def _signed(x: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return ("+" if x > 0 else "-" if x < 0 else "") + pct(abs(x))


def write_comparison(run_a: str | Path, run_b: str | Path,
                     output: str | Path | None = None) -> str:
    """``fairbench compare``: the Markdown table; with ``output``, also CSV and Markdown files."""
    df, header = compare_runs(run_a, run_b)
    md = markdown(df, header)
    if output is not None:
        from fairbench.report.tables import atomic_text

        out = Path(output)
        out.mkdir(parents=True, exist_ok=True)
        atomic_text(out / "compare.csv", df.to_csv(index=False, lineterminator="\n"))
        atomic_text(out / "compare.md", md)
    return md
