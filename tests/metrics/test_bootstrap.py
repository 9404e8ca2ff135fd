"""Subject bootstrap without rescoring equals rescoring an explicitly resampled dataset:
rates, FNMR, ratios and summary measures (1:1), and FPIR/FNIR (1:N)."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.core.codes import per_subject_counts
from fairbench.core.settings import Settings
from fairbench.engine.allpairs import count_verification
from fairbench.kernels.prep import prepare, score_pairs
from fairbench.metrics import summary as sm
from fairbench.metrics.bootstrap import (
    impostor_rates,
    mated_rates,
    percentile_interval,
    subject_weights,
    view_rng,
)
from fairbench.metrics.groups import make_view
from fairbench.metrics.thresholds import fixed_points
from fairbench.metrics.verification import verification_tables
from fairbench.plan import make_plan
from tests.generated import generated


def test_weights_keep_group_sizes_and_are_seeded():
    groups = np.array([0, 0, 0, 1, 1, 2])
    w1 = subject_weights(groups, 50, np.random.default_rng(3))
    w2 = subject_weights(groups, 50, np.random.default_rng(3))
    assert np.array_equal(w1, w2)
    for g in range(3):
        assert np.all(w1[:, groups == g].sum(axis=1) == (groups == g).sum())


def table_weights(sgroup: np.ndarray, R: int, seed: int, name: str) -> np.ndarray:
    """The weights the 1:1 tables draw for breakdown ``name`` (groups laid out in order)."""
    order = np.argsort(sgroup, kind="stable")
    w = np.empty((R, len(sgroup)), dtype=np.float32)
    w[:, order] = subject_weights(sgroup[order], R, view_rng(seed, name))
    return w


def resampled_rates(p, plan, ig, w_r, t):
    """FMR and FNMR per group of one explicitly resampled dataset (each drawn copy of a
    subject brings all its images; copies of one subject are never each other's mates)."""
    nsub, G = plan.n_subjects, ig.max() + 1
    copies = [(c, a) for a in range(nsub) for c in range(int(w_r[a]))]
    imgs = [(k, a, c) for (c, a) in copies for k in np.flatnonzero(plan.subject == a)]
    idx = np.array([k for k, _, _ in imgs])
    who = np.array([a for _, a, _ in imgs])
    cp = np.array([c for _, _, c in imgs])
    ii, jj = np.triu_indices(len(idx), k=1)
    s = score_pairs(p, idx[ii], idx[jj])
    fmr, fnmr = np.full(G, np.nan), np.full(G, np.nan)
    for g in range(G):
        both = (ig[idx[ii]] == g) & (ig[idx[jj]] == g)
        imp = both & (who[ii] != who[jj])
        gen = both & (who[ii] == who[jj]) & (cp[ii] == cp[jj])
        if imp.sum():
            fmr[g] = (s[imp] >= t).mean()
        if gen.sum():
            fnmr[g] = (s[gen] < t).mean()
    return fmr, fnmr


def test_replicate_rates_equal_an_explicitly_resampled_dataset():
    frame, emb = generated("cosine", n_subjects=40, seed=5)
    plan = make_plan(frame, ["grp"])
    p = prepare(emb, "cosine")
    t = 0.25
    counts, _ = count_verification(emb, "cosine", plan, [t], [], bins=64, block=16)
    view = make_view(plan, ["grp"])
    G, ig, subj, nsub = view.n_groups, view.image_group, plan.subject, plan.n_subjects
    w = subject_weights(view.subject_group(plan), 6, np.random.default_rng(0))
    n_img = per_subject_counts(subj, ig, nsub, G)
    sel = (counts.kept_s >= t) & (ig[counts.kept_i] == ig[counts.kept_j])
    fmr = impostor_rates(w, n_img, subj[counts.kept_i[sel]], subj[counts.kept_j[sel]],
                         ig[counts.kept_i[sel]], G)
    mg = view.mated_group
    ms = subj[plan.mated_i]
    pairs = per_subject_counts(ms[mg >= 0], mg[mg >= 0], nsub, G)
    miss = (mg >= 0) & (counts.mated_s < t)
    fnmr = mated_rates(w, pairs, per_subject_counts(ms[miss], mg[miss], nsub, G))
    for r in range(len(w)):
        bf_fmr, bf_fnmr = resampled_rates(p, plan, ig, w[r], t)
        np.testing.assert_allclose(fmr[r], bf_fmr)
        np.testing.assert_allclose(fnmr[r], bf_fnmr)


def test_table_intervals_equal_explicit_resampling():
    """Every bootstrap interval of the 1:1 tables (FMR, FNMR, ratio to the reference,
    Max/GeoMean, FDR) equals the percentile interval of explicitly resampled datasets."""
    frame, emb = generated("cosine", n_subjects=30, seed=9)
    plan = make_plan(frame, ["grp"])
    p = prepare(emb, "cosine")
    counts, failed = count_verification(emb, "cosine", plan, [0.0, 0.25], [], bins=64,
                                        block=16)
    ths = fixed_points([0.25, 0.0], "cosine")
    R, seed, conf = 25, 11, 0.9
    s = Settings(replicates=R, seed=seed, confidence=conf, reference_group={"grp": "b"})
    t = verification_tables(plan, counts, ~failed, ths, s, ["grp"], failed=failed)
    view = make_view(plan, ["grp"])
    w = table_weights(view.subject_group(plan), R, seed, "grp")
    known = view.known()
    ref = view.groups.index("b")
    for th in ths:
        reps = np.array([resampled_rates(p, plan, view.image_group, w[r], th.similarity)
                         for r in range(R)])  # (R, 2, G)
        fm, fnm = reps[:, 0], reps[:, 1]
        df = t.by_group[(t.by_group.attribute == "grp") &
                        (t.by_group.operating_point == th.label)]
        for name, x in (("fmr", fm), ("fnmr", fnm)):
            lo, hi = percentile_interval(x, conf)
            np.testing.assert_allclose(df[f"{name}_boot_low"], lo)
            np.testing.assert_allclose(df[f"{name}_boot_high"], hi)
            if df[f"{name}_ratio_note"].iloc[0] == "":
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio = np.where(x[:, [ref]] > 0, x / x[:, [ref]], np.nan)
                lo, hi = percentile_interval(ratio, conf)
                np.testing.assert_allclose(df[f"{name}_ratio_ci_low"], lo)
                np.testing.assert_allclose(df[f"{name}_ratio_ci_high"], hi)
        summ = t.summary[(t.summary.attribute == "grp") &
                         (t.summary.operating_point == th.label)].set_index("measure")
        fk, nk = fm[:, known], fnm[:, known]
        for measure, vals in (("fmr_max_geomean", sm.max_geomean(fk)),
                              ("fnmr_max_difference", sm.max_abs_diff(nk)),
                              ("fdr", sm.fdr(fk, nk, 0.5))):
            lo, hi = percentile_interval(vals[:, None], conf)
            assert summ.loc[measure, "ci_low"] == pytest.approx(lo[0])
            assert summ.loc[measure, "ci_high"] == pytest.approx(hi[0])


def test_percentile_interval_ignores_undefined_replicates():
    reps = np.array([[0.1, np.nan], [0.2, np.nan], [0.3, np.nan]])
    lo, hi = percentile_interval(reps, 0.5)
    assert np.isclose(lo[0], 0.15) and np.isclose(hi[0], 0.25)
    assert np.isnan(lo[1]) and np.isnan(hi[1])


def test_a_breakdowns_intervals_do_not_depend_on_the_others():
    frame, emb = generated("cosine", n_subjects=40, seed=2)
    plan = make_plan(frame, ["grp", "sex"])
    counts, failed = count_verification(emb, "cosine", plan, [0.25], [], bins=64, block=16)
    ths = fixed_points([0.25], "cosine")
    both = verification_tables(plan, counts, ~failed, ths, Settings(replicates=30),
                               ["grp", "sex"])
    plan1 = make_plan(frame, ["grp"])
    c1, f1 = count_verification(emb, "cosine", plan1, [0.25], [], bins=64, block=16)
    one = verification_tables(plan1, c1, ~f1, ths, Settings(replicates=30), ["grp"])
    a = both.by_group[both.by_group.attribute == "grp"].reset_index(drop=True)
    b = one.by_group[one.by_group.attribute == "grp"].reset_index(drop=True)
    np.testing.assert_array_equal(a.fmr_boot_low, b.fmr_boot_low)


def test_uint8_weights_are_the_same_draws_and_widen_when_a_count_would_overflow(monkeypatch):
    """The compact weights the 1:1 loops stream are the float32 weights, draw for draw; a
    count past 255 (forced here) widens to float32 with the same values."""
    from fairbench.metrics import _compiled

    groups = np.sort(np.random.default_rng(0).integers(0, 4, 300))
    w32 = subject_weights(groups, 40, np.random.default_rng(5))
    w8 = subject_weights(groups, 40, np.random.default_rng(5), dtype=np.uint8)
    assert w8.dtype == np.uint8 and np.array_equal(w8.astype(np.float32), w32)
    real = _compiled.count_draws
    calls = []

    def overflow_once(draws, off, out, cap):
        calls.append(out.dtype)
        if len(calls) == 2:  # the second group's counts "overflow" uint8
            real(draws, off, out, cap)
            return False
        return real(draws, off, out, cap)

    monkeypatch.setattr(_compiled, "count_draws", overflow_once)
    wide = subject_weights(groups, 40, np.random.default_rng(5), dtype=np.uint8)
    assert wide.dtype == np.float32 and np.array_equal(wide, w32)
    assert calls[:2] == [np.uint8, np.uint8] and calls[2] == np.float32
    assert not real(np.zeros((1, 3), np.int64), 0, np.zeros((1, 1), np.uint8), 2)


@pytest.mark.parametrize("counts", ["integer", "fractional", "huge"])
def test_level_weight_sums_equal_a_brute_force(counts):
    """Runs of one (group, level, subject) in float32 and the per-pair float64 fallback
    (fractional or huge counts) give the brute-force sums, from unsorted pairs with
    repeats."""
    from fairbench.metrics.bootstrap import level_weight_sums

    rng = np.random.default_rng(1)
    nsub, K, G, L, R = 60, 500, 3, 4, 7
    w = subject_weights(np.sort(rng.integers(0, 2, nsub)), R, rng, dtype=np.uint8)
    a, b = rng.integers(0, nsub, K), rng.integers(0, nsub, K)
    g, lev = rng.integers(0, G, K), rng.integers(0, L, K)
    c = rng.integers(1, 5, K).astype(np.float64)
    if counts == "fractional":
        c = c + 0.5
    elif counts == "huge":
        c[0] = 2.0**24
    want = np.zeros((R, G, L))
    wf = w.astype(np.float64)
    for k in range(K):
        want[:, g[k], lev[k]] += c[k] * wf[:, a[k]] * wf[:, b[k]]
    for ww in (w, w.astype(np.float32)):
        got = level_weight_sums(ww, a, b, g, lev, c, G, L)
        assert np.array_equal(got, want)
    assert np.array_equal(level_weight_sums(w, a[:0], b[:0], g[:0], lev[:0], c[:0], G, L),
                          np.zeros((R, G, L)))
