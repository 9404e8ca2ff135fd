"""Score files: every 1:1 table of a ``scores`` run equals a brute force over the file.

FMR and FNMR per group, the thresholds of both target rules (fairbench's and
bob.measure's), the EER and its threshold; with ties, failed comparisons, a distance
scale, a histogram too coarse for the crossing (the bins around it must be kept) and a
file sorted by score (the first chunk's range is wrong, so pass 1 runs again).
"""

from __future__ import annotations

import numpy as np
import pytest

import fairbench
from tests import scorefixtures as sf


def scores_run(tmp_path, rows, fmt="bob4", direction="similarity", rule="fairbench",
               bins=4096, fixed=(1.0,), chunk_rows=1000, sort=False, **extra):
    subjects = sf.people()
    tmp_path.mkdir(parents=True, exist_ok=True)
    subjects.to_csv(tmp_path / "subjects.csv", index=False)
    if sort:
        rows = sorted(rows, key=lambda r: (np.isnan(r.score), r.score))
    path = (sf.write_bob4 if fmt == "bob4" else sf.write_bob5)(rows, tmp_path / "scores.txt")
    cfg = {"dataset": {"manifest": str(tmp_path / "subjects.csv"), "attributes": ["grp"]},
           "matcher": {"name": "scores", "params": {"format": fmt, "path": str(path),
                                                    "direction": direction,
                                                    "chunk_rows": chunk_rows}},
           "verification": {"target_fmr": [0.1, 0.01], "fixed_thresholds": list(fixed),
                            "threshold_rule": rule, "histogram_bins": bins,
                            "bootstrap": {"replicates": 0}} | extra}
    return fairbench.run(cfg, tmp_path / "out", progress=False), subjects


def check(run, rows, subjects, similarity=True, rule="fairbench", fixed=(1.0,)):
    groups = dict(zip(subjects.subject_id, subjects.grp))
    gen, imp = sf.brute(rows, groups, similarity)
    bg = run.tables["verification_by_group"]
    pts = {p.label: p for p in run.operating_points}
    want_t = {f"fmr={f:g}": sf.threshold(imp["all"], f, rule) for f in (0.1, 0.01)}
    for label, t in want_t.items():
        assert pts[label].similarity == t, label
    for v in fixed:
        want_t[f"fixed={v:g}"] = v if similarity else -v
    for label, t in want_t.items():
        for g in ("all", *sf.GROUPS):
            row = bg[(bg.operating_point == label) & (bg.group == g)].iloc[0]
            assert row.n_nonmated == len(imp[g]) and row.n_mated == len(gen[g])
            assert row.fmr_errors == (imp[g] >= t).sum(), (label, g)
            assert row.fnmr_errors == (gen[g] < t).sum(), (label, g)
            assert row.n_nonmated_completed == np.isfinite(imp[g]).sum()
            assert row.fnmr_iso_errors == ((gen[g] < t) & np.isfinite(gen[g])).sum()
    eer = run.tables["eer_by_group"].set_index("group")
    for g in ("all", *sf.GROUPS):
        e, t = sf.eer(gen[g], imp[g])
        assert eer.loc[g, "eer"] == pytest.approx(e, abs=1e-12), g
        native = t if similarity else -t
        assert eer.loc[g, "eer_threshold_native"] == pytest.approx(native, abs=1e-12), g


@pytest.mark.parametrize("rule", ["fairbench", "bob"])
def test_bob4_tables_equal_brute_force(tmp_path, rule):
    rows = sf.scored_rows(sf.people())
    run, subjects = scores_run(tmp_path, rows, rule=rule)
    check(run, rows, subjects, rule=rule)
    assert run.record["comparisons"]["listed"] == len(rows)
    assert run.record["capture"]["measured"] is False
    assert "fta" not in run.tables["verification_by_group"]


def test_distance_scale_and_bob5(tmp_path):
    rows = sf.scored_rows(sf.people(), seed=1, distance=True)
    run, subjects = scores_run(tmp_path, rows, fmt="bob5", direction="distance",
                               fixed=(-1.0,))
    check(run, rows, subjects, similarity=False, fixed=(-1.0,))
    t = run.tables["verification_by_group"]
    row = t[(t.operating_point == "fmr=0.1") & (t.group == "all")].iloc[0]
    assert row.threshold_native == -row.threshold_similarity != 0  # distances read back


def test_coarse_bins_and_a_sorted_file_stay_exact(tmp_path):
    """64 bins: each group's crossing falls inside a bin whose scores must be kept; the
    file sorted by score gives pass 1 a wrong range, so it runs again."""
    rows = sf.scored_rows(sf.people(), seed=2)
    run, subjects = scores_run(tmp_path, rows, bins=64, sort=True)
    check(run, rows, subjects)
    _, counts = run.arrays
    L = counts.listed
    assert ((L.window_lo <= L.window_hi) & (L.window_lo < counts.kept_floor_bin)).any()
    finite = [r.score for r in rows if not np.isnan(r.score)]
    assert counts.binning.lo <= min(finite) and counts.binning.hi > max(finite)


def test_report_rebuilds_the_same_tables(tmp_path):
    from fairbench.report.rebuild import build_report

    rows = sf.scored_rows(sf.people(), seed=3)
    run, _ = scores_run(tmp_path, rows)
    folder = run.run_dir / "tables"
    before = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    for p in folder.glob("*"):
        p.unlink()
    build_report(run.run_dir)
    after = {p.name: p.read_bytes() for p in folder.glob("*.csv")}
    assert before == after and "eer_by_group.csv" in after
    assert (run.run_dir / "report.html").is_file()


def test_bootstrap_intervals_equal_reweighting_every_listed_comparison(tmp_path):
    """A subject drawn k times brings its comparisons k times: an impostor row of persons
    a and b counts w_a * w_b times, a genuine row w_a times; the intervals in the tables
    equal percentiles of those rates computed row by row."""
    from fairbench.metrics.bootstrap import percentile_interval
    from fairbench.metrics.groups import make_view
    from tests.metrics.test_bootstrap import table_weights

    rows = sf.scored_rows(sf.people(), seed=4)
    R, seed = 40, 3
    run, subjects = scores_run(tmp_path, rows, bootstrap={"replicates": R, "seed": seed})
    codes, _ = run.arrays
    plan = codes.plan
    view = make_view(plan, ["grp"])
    w = table_weights(view.subject_group(plan), R, seed, "grp").astype(float)
    code = {s: k for k, s in enumerate(plan.subjects)}
    groups = dict(zip(subjects.subject_id, subjects.grp))
    a = np.array([code[r.probe_subject] for r in rows])
    b = np.array([code[r.reference_subject] for r in rows])
    s = np.array([-np.inf if np.isnan(r.score) else r.score for r in rows])
    ga = np.array([groups[r.probe_subject] for r in rows])
    gb = np.array([groups[r.reference_subject] for r in rows])
    mated = a == b
    bg = run.tables["verification_by_group"]
    for p in run.operating_points:
        if not p.supported:
            continue
        t = p.similarity
        for g in sf.GROUPS:
            imp = ~mated & (ga == g) & (gb == g)
            gen = mated & (ga == g)
            ww = w[:, a[imp]] * w[:, b[imp]]
            fmr = (ww * (s[imp] >= t)).sum(1) / ww.sum(1)
            wg = w[:, a[gen]]
            fnmr = (wg * (s[gen] < t)).sum(1) / wg.sum(1)
            row = bg[(bg.attribute == "grp") & (bg.group == g) &
                     (bg.operating_point == p.label)].iloc[0]
            for name, x in (("fmr", fmr), ("fnmr", fnmr)):
                lo, hi = percentile_interval(x[:, None])
                assert row[f"{name}_boot_low"] == pytest.approx(lo[0], abs=1e-12)
                assert row[f"{name}_boot_high"] == pytest.approx(hi[0], abs=1e-12)


def test_compare_reads_the_listed_comparisons(tmp_path):
    """compare on score runs divides by the comparisons the files list (not all pairs);
    two vendors' files over the same pairs compare, other pairs are refused."""
    from fairbench.report.compare import CompareError

    rows = sf.scored_rows(sf.people(), seed=5)
    a, _ = scores_run(tmp_path / "a", rows)
    other = [sf.Row(r.probe, r.probe_subject, r.reference, r.reference_subject,
                    r.score + 0.5) for r in rows]
    b, _ = scores_run(tmp_path / "b", other)
    cmp = fairbench.compare(a, b).frame
    bg = a.tables["verification_by_group"]
    row = cmp[(cmp.rate == "fmr") & (cmp.group == "b") & (cmp.threshold_kind == "fixed")]
    want = bg[(bg.group == "b") & (bg.threshold_kind == "fixed")].iloc[0]
    assert int(row.n.iloc[0]) == want.n_nonmated
    assert int(row.errors_a.iloc[0]) == want.fmr_errors
    c, _ = scores_run(tmp_path / "c", rows[: len(rows) // 2])
    with pytest.raises(CompareError, match="different pairs"):
        fairbench.compare(a, c)


def test_eer_ties_are_exact_not_floating_point():
    """|FMR - FNMR| equal at two thresholds (0.1 = 3/10 - 2/10 and 2/10 - 1/10 in other
    words): the higher one wins, as documented, whatever float rounding says."""
    from fairbench.core.counts import Binning, ListedDesign, VerificationCounts
    from fairbench.metrics.eer import group_eer

    imp = np.array([0.1] * 7 + [0.7, 0.8, 0.9])  # FMR(0.7) = 3/10, FMR(0.9) = 1/10
    gen = np.array([0.6, 0.8] + [1.0] * 8)  # FNMR(0.7) = 1/10, FNMR(0.9) = 2/10
    b = Binning(0.0, 1.1, 8)
    hist = np.bincount(b.index(imp), minlength=8)[None, :]
    z = np.zeros(1, np.int64)
    counts = VerificationCounts(1, b, hist, np.array([10]), gen, z[:0], z[:0], np.zeros(0),
                                0, ListedDesign(z[:0], z[:0], z[:0], z[:0], z, z + 8, z))
    counts.kept_i = counts.kept_j = np.zeros(10, np.int64)
    counts.kept_s = imp
    e, t, fm, fnm, note = group_eer(counts, np.array([0]), gen, np.zeros(10, np.int64))
    want_e, want_t = sf.eer(gen, imp)
    assert (e, t) == pytest.approx((want_e, want_t)) and note == ""
