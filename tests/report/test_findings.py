"""findings(): the one reading of what a run found, checked against its stored tables and a
brute force over its stored bootstrap replicates."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fairbench
from fairbench.metrics.frame import RateFrame
from fairbench.metrics.rates import n_column, replicate_key
from fairbench.report.cells import MIN_N
from fairbench.report.findings import (
    MIN_VALID_SHARE,
    AttributeFindings,
    RateFindings,
    findings,
    main_operating_point,
    rate_findings,
)
from fairbench.results.run import Run
from tests.generated import generated

SIM = {"dataset": {"simulate": {"n_subjects": 240, "groups": 4, "dim": 32, "seed": 2,
                                "shift": [0.0, 0.05, 0.3, 0.5],
                                "noise": [0.8, 0.8, 0.6, 0.5]}},
       "matcher": {"name": "simulated"},
       "verification": {"target_fmr": [1e-2, 1e-3], "bootstrap": {"replicates": 60}}}


@pytest.fixture(scope="module")
def sim_run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """A small simulated 1:1 run, read back from its folder (replicates from disk)."""
    res = fairbench.run(SIM, tmp_path_factory.mktemp("sim"), progress=False)
    return Run.load(res.run_dir)


def _table_rows(run: Run, attribute: str, at: str) -> pd.DataFrame:
    name = "verification_by_group" if run.mode == "verification" else "identification_by_group"
    t = run.tables[name]
    return t[(t.attribute == attribute) & (t.operating_point == at)].reset_index(drop=True)


def _opt(x: object) -> float | None:
    return None if x is None or pd.isna(x) else float(x)


def _check_points(run: Run, at: str) -> None:
    for af in findings(run, at):
        rows = _table_rows(run, af.attribute, af.operating_point)
        known = rows[rows.group.astype(str) != "unknown"]
        assert af.reference_group == run.frame("fmr" if run.mode == "verification" else
                                               "fpir", af.attribute, at).reference
        for rf in af.rates:
            assert [p.group for p in rf.points] == known.group.astype(str).tolist()
            for p, (_, r) in zip(rf.points, known.iterrows()):
                n = int(r[n_column(rf.metric)])
                assert (p.n, p.errors) == (n, int(r[f"{rf.metric}_errors"]))
                assert p.rate == (_opt(r[rf.metric]) if n else None)
                assert (p.ci_low, p.ci_high) == (_opt(r[f"{rf.metric}_ci_low"]),
                                                 _opt(r[f"{rf.metric}_ci_high"]))
                assert p.n_subjects == int(r.n_subjects)
                assert p.reference == (p.group == af.reference_group)
                assert p.insufficient == (n < MIN_N)


def test_points_are_the_table_rows(sim_run: Run) -> None:
    assert main_operating_point(sim_run) == "fmr=0.01"
    assert [a.operating_point for a in findings(sim_run)] == ["fmr=0.01"]
    assert [a.attribute for a in findings(sim_run, "FMR=0.001")] == ["group"]
    found = findings(sim_run, "fmr=1e-3")[0]
    assert found.description.startswith("FMR 1 in 1,000 (threshold ")
    assert [(r.metric, r.name, r.over) for r in found.rates] == [
        ("fmr", "FMR", "same-group impostor pairs"), ("fnmr", "FNMR", "mated pairs")]
    for at in ("fmr=0.01", "fmr=1e-3"):
        _check_points(sim_run, at)


def _reps(run: Run, rf: RateFindings, attribute: str, at: str) -> tuple[np.ndarray, list[str]]:
    """The stored replicates of one rate and their columns' groups (table order)."""
    groups = _table_rows(run, attribute, at).group.astype(str).tolist()
    return run.replicates[replicate_key(rf.metric, attribute, at)].astype(float), groups


def _interval(num: np.ndarray, den: np.ndarray) -> tuple[float, float] | None:
    """The percentile interval of num/den, read through den/num (whose denominator, the
    higher rate, is almost never 0), so replicates where den is 0 count as unbounded."""
    ok = num > 0
    if ok.sum() < max(2, MIN_VALID_SHARE * len(num)):
        return None
    r = den[ok] / num[ok]
    lo, hi = float(np.percentile(r, 2.5)), float(np.percentile(r, 97.5))
    return (1 / hi if hi > 0 else np.inf), (1 / lo if lo > 0 else np.inf)


def _check_spread(run: Run, at: str) -> set[str]:
    """Brute force over the spread of every rate at ``at``; returns the branches seen."""
    seen = set()
    for af in findings(run, at):
        for rf in af.rates:
            ok = [p for p in rf.points if not p.insufficient]
            rates = [p.rate for p in ok]
            best = ok[rates.index(min(rates))]
            rest = [p for p in ok if p is not best]
            worst = rest[[p.rate for p in rest].index(max(p.rate for p in rest))]
            s = rf.spread
            assert s is not None and (s.worst, s.best) == (worst.group, best.group)
            if best.rate == 0:
                seen.add("zero best")
                assert s.ratio is None and s.ci_low is None and s.ci_high is None
                assert best.group in s.note or "no group" in s.note
                continue
            assert s.ratio == pytest.approx(worst.rate / best.rate, rel=1e-12)
            reps, groups = _reps(run, rf, af.attribute, at)
            want = _interval(reps[:, groups.index(worst.group)],
                             reps[:, groups.index(best.group)])
            if want is None:
                seen.add("too few")
                assert s.ci_low is None and s.note.startswith("no interval")
                continue
            seen.add("interval")
            assert (s.ci_low, s.ci_high) == pytest.approx(want, rel=1e-9)
            assert s.note == ""
    return seen


def _check_indistinct(run: Run, at: str) -> set[bool]:
    """Brute force over every pair of groups with enough data; returns the verdicts seen."""
    kinds = set()
    for af in findings(run, at):
        for rf in af.rates:
            reps, groups = _reps(run, rf, af.attribute, at)
            ok = [p for p in rf.points if not p.insufficient]
            want = []
            for a, b in itertools.combinations(ok, 2):
                high, low = (a, b) if a.rate > b.rate else (b, a)
                if low.rate == 0:  # no ratio: apart only if the CP intervals are
                    apart = high.rate > 0 and low.ci_high < high.ci_low
                else:
                    iv = _interval(reps[:, groups.index(high.group)],
                                   reps[:, groups.index(low.group)])
                    apart = iv is not None and not iv[0] <= 1 <= iv[1]
                kinds.add(apart)
                if not apart:
                    want.append((a.group, b.group))
            assert rf.indistinct == want
    return kinds


def test_spread_is_worst_over_best_with_its_bootstrap_interval(sim_run: Run) -> None:
    seen = _check_spread(sim_run, "fmr=0.01") | _check_spread(sim_run, "fmr=1e-3")
    assert {"zero best", "interval"} <= seen  # the run exercises both branches


def test_indistinct_pairs_against_a_brute_force(sim_run: Run) -> None:
    kinds = _check_indistinct(sim_run, "fmr=0.01") | _check_indistinct(sim_run, "fmr=1e-3")
    assert kinds == {True, False}  # some pairs told apart, some not


def _frame(errors: list[int], n: int, reps: np.ndarray | None) -> RateFrame:
    groups = [f"g{i}" for i in range(len(errors))]
    k = np.array(errors)
    rows = pd.DataFrame({"group": groups, "fmr": k / n, "fmr_ci_low": 0.0, "fmr_ci_high": 1.0,
                         "fmr_errors": k, "n_nonmated": n, "n_subjects": 20,
                         "reference_group": "g0"})
    return RateFrame.from_rows("fmr", "eth", "fmr=1e-3", rows, replicates=reps)


def test_a_best_group_without_errors_has_no_ratio() -> None:
    reps = np.array([[0.0, 0.1, 0.05], [0.0, 0.12, 0.04]] * 20)
    rf = rate_findings(_frame([0, 10, 5], 100, reps), "FMR", "same-group impostor pairs")
    s = rf.spread
    assert s is not None and (s.worst, s.best) == ("g1", "g0")
    assert s.ratio is None and s.ci_low is None and s.ci_high is None
    assert s.note == "g0 had no errors (0 of 100), so no ratio to it can be given"
    # no ratio to g0: a pair with g0 is told apart only by disjoint Clopper-Pearson
    # intervals (here every interval is [0, 1], so neither pair is)
    assert {("g0", "g1"), ("g0", "g2")} <= set(rf.indistinct)
    rows = pd.DataFrame({"group": ["g0", "g1"], "fmr": [0.0, 15 / 66],
                         "fmr_ci_low": [0.0, 0.133], "fmr_ci_high": [0.0536, 0.346],
                         "fmr_errors": [0, 15], "n_nonmated": [67, 66], "n_subjects": 20,
                         "reference_group": "g0"})
    apart = rate_findings(RateFrame.from_rows("fmr", "eth", "fmr=1e-3", rows,
                                              replicates=reps[:, :2]), "FMR", "x")
    assert apart.indistinct == []  # 0 of 67 against 15 of 66: told apart
    none = rate_findings(_frame([0, 0], 100, reps[:, :2] * 0), "FMR", "x").spread
    assert none is not None and none.ratio is None and "no group" in none.note


def test_too_few_usable_replicates_or_none_give_no_interval() -> None:
    reps = np.tile([0.1, 0.05], (40, 1))
    reps[:25, 1] = 0.0  # the best group's rate is 0 in most replicates: unbounded ratios
    s = rate_findings(_frame([10, 5], 100, reps), "FMR", "x").spread
    assert s is not None and s.ratio == 2.0 and (s.ci_low, s.ci_high) == (2.0, np.inf)
    reps[:25, 0] = 0.0  # the worst group's too: then there is no interval
    s = rate_findings(_frame([10, 5], 100, reps), "FMR", "x").spread
    assert s is not None and s.ratio == 2.0 and s.ci_low is None
    assert s.note == "no interval: g0's rate is 0 in 25 of 40 bootstrap replicates"
    s = rate_findings(_frame([10, 5], 100, None), "FMR", "x").spread
    assert s is not None and s.ratio == 2.0 and (s.ci_low, s.ci_high) == (None, None)
    assert s.note == "no bootstrap replicates in this run, so no interval"
    assert rate_findings(_frame([10, 5], 100, None), "FMR", "x").indistinct == [("g0", "g1")]
    rows = pd.DataFrame({"group": ["a", "b"], "fmr": [0.1, 0.5], "fmr_errors": [1, 2],
                         "n_nonmated": [10, 4]})
    one = rate_findings(RateFrame.from_rows("fmr", "eth", "fmr=1e-3", rows), "FMR", "x")
    assert one.spread is None and one.indistinct == [] and one.points[1].insufficient


def test_a_run_without_replicates(tmp_path: Path) -> None:
    cfg = {**SIM, "verification": {"target_fmr": [1e-2], "bootstrap": {"replicates": 0}}}
    run = Run.load(fairbench.run(cfg, tmp_path, progress=False).run_dir)
    fmr = findings(run)[0].rates[0]
    assert fmr.spread is not None and fmr.spread.ratio is not None
    assert fmr.spread.ci_low is None and "no bootstrap replicates" in fmr.spread.note
    ok = [p.group for p in fmr.points if not p.insufficient]
    assert fmr.indistinct == list(itertools.combinations(ok, 2))


def test_unknown_groups_and_intersections() -> None:
    frame, emb = generated("cosine", n_subjects=60, seed=3)
    run = fairbench.evaluate(emb, frame[["image_id", "subject_id", "grp", "sex"]],
                             target_fmr=[0.1], bootstrap=30)
    singles = findings(run)
    assert [a.attribute for a in singles] == ["grp", "sex"]
    assert "unknown" in set(_table_rows(run, "grp", "fmr=0.1").group)
    assert [p.group for p in singles[0].rates[0].points] == ["a", "b", "c"]
    both = findings(run, intersections=True)
    assert [a.attribute for a in both] == ["grp", "sex", "grp|sex"]
    assert all("unknown" not in p.group.split("|") for p in both[2].rates[0].points)
    assert both[2].rates[0].points  # the known intersections are there


def test_a_1n_run(tmp_path: Path) -> None:
    cfg = {"mode": "identification", "dataset": SIM["dataset"], "matcher": SIM["matcher"],
           "identification": {"target_fpir": [0.05], "bootstrap": {"replicates": 40}}}
    run = Run.load(fairbench.run(cfg, tmp_path, progress=False).run_dir)
    assert main_operating_point(run) == run.operating_points[0].label
    found = findings(run)
    assert [(r.metric, r.over) for r in found[0].rates] == [
        ("fpir", "non-mated searches"), ("fnir", "mated searches")]
    assert found[0].description.startswith("FPIR 1 in 20")
    at = found[0].operating_point
    _check_points(run, at)
    assert _check_spread(run, at)
    assert _check_indistinct(run, at)


def test_no_error_in_any_group_is_said_once() -> None:
    """A rate without any error has no ratio; the terminal says so once and lists no pair."""
    from fairbench.report.terminal import pair_lines, spread_line

    reps = np.zeros((40, 3))
    rf = rate_findings(_frame([0, 0, 0], 100, reps), "FNMR", "mated pairs")
    assert rf.no_errors and not rate_findings(_frame([0, 1, 0], 100, reps), "F", "x").no_errors
    assert spread_line(rf) == "FNMR: no group with enough data had an error, so there is no ratio"
    af = AttributeFindings("eth", "fmr=1e-3", "FMR 1 in 1,000", "g0", [rf])
    assert pair_lines(af) == []
