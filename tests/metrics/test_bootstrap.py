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


def test_blocks_on_any_number_of_threads_equal_the_straightforward_rates():
    """The tables' blocked, threaded replicates over three blocks (the last one short) and
    two thresholds equal the reference computation on the same weights, on 1, 2 or 3
    threads alike."""
    from fairbench.metrics.blocks import BLOCK
    from fairbench.metrics.bootstrap import verification_replicates

    frame, emb = generated("cosine", n_subjects=40, seed=5)
    plan = make_plan(frame, ["grp"])
    ths = [0.25, 0.1]
    counts, _ = count_verification(emb, "cosine", plan, ths, [], bins=64, block=16)
    view = make_view(plan, ["grp"])
    G, ig, subj, nsub = view.n_groups, view.image_group, plan.subject, plan.n_subjects
    sg = view.subject_group(plan)
    R, seed = 2 * BLOCK + 9, 4
    n_img = per_subject_counts(subj, ig, nsub, G)
    same = ig[counts.kept_i] == ig[counts.kept_j]
    mg, ms = view.mated_group, subj[plan.mated_i]
    m = mg >= 0
    args = (sg, n_img, ms[m], mg[m], counts.mated_s[m], subj, ig, counts.kept_i,
            counts.kept_j, counts.kept_s, np.array(ths), R)
    got = [verification_replicates(*args, view_rng(seed, "grp"), threads=k) for k in (1, 2, 3)]
    w = table_weights(sg, R, seed, "grp")
    pairs = per_subject_counts(ms[m], mg[m], nsub, G)
    for k, t in enumerate(ths):
        sel = same & (counts.kept_s >= t)
        fmr = impostor_rates(w, n_img, subj[counts.kept_i[sel]], subj[counts.kept_j[sel]],
                             ig[counts.kept_i[sel]], G)
        miss = m & (counts.mated_s < t)
        fnmr = mated_rates(w, pairs, per_subject_counts(ms[miss], mg[miss], nsub, G))
        for run in got:
            np.testing.assert_array_equal(run[k][0], got[0][k][0])
            np.testing.assert_array_equal(run[k][1], got[0][k][1])
            np.testing.assert_allclose(run[k][0], fmr, rtol=1e-12)
            np.testing.assert_allclose(run[k][1], fnmr, rtol=1e-12)


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


@pytest.mark.parametrize("shape", [(1000, 12), (57,), (200, 3, 4), (0, 5), (10, 0)])
def test_percentile_interval_equals_nanpercentile_bit_for_bit(shape):
    """Clean columns go through one ``np.percentile``, columns with undefined replicates
    one at a time: the same numbers as ``np.nanpercentile`` over the whole array."""
    import warnings

    rng = np.random.default_rng(len(shape))
    x = rng.random(shape)
    if x.size:
        x.flat[rng.integers(0, x.size, max(1, x.size // 7))] = np.nan
    if x.ndim > 1 and x.shape[1] > 1:
        x[:, 1] = np.nan  # no replicate defined
    for conf in (0.95, 0.9):
        a = (1 - conf) / 2 * 100
        for y in (x, np.nan_to_num(x, nan=0.3)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                want = np.nanpercentile(y, a, axis=0), np.nanpercentile(y, 100 - a, axis=0)
            for got, ref in zip(percentile_interval(y, conf), want):
                assert np.array_equal(got, ref, equal_nan=True)


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
    real = _compiled.count_block
    calls = []

    def overflow_once(draws, off, r0, wt):
        calls.append(wt.dtype)
        ok = real(draws, off, r0, wt)
        return ok and len(calls) != 2  # the second group's counts "overflow" uint8

    monkeypatch.setattr(_compiled, "count_block", overflow_once)
    wide = subject_weights(groups, 40, np.random.default_rng(5), dtype=np.uint8)
    assert wide.dtype == np.float32 and np.array_equal(wide, w32)
    assert calls[:2] == [np.uint8, np.uint8] and calls[2] == np.float32
    # one subject drawn 300 times wraps in uint8, which the count sees; wider types hold it
    same = np.zeros((1, 300), np.uint16)
    assert not real(same, 0, 0, np.zeros((300, 1), np.uint8))
    for kind in (np.uint16, np.float32):
        out = np.zeros((300, 1), kind)
        assert real(same, 0, 0, out) and out[0, 0] == 300


def test_weights_are_drawn_in_blocks_each_from_its_own_generator():
    """Block k of the replicates comes from the k-th generator spawned from the view's, so
    a block's weights do not depend on how many replicates follow it; every block keeps
    the group sizes."""
    from fairbench.metrics.blocks import BLOCK

    groups = np.repeat([0, 1, 2], [5, 300, 1])
    full = subject_weights(groups, 2 * BLOCK + 3, np.random.default_rng(9))
    head = subject_weights(groups, BLOCK, np.random.default_rng(9))
    assert np.array_equal(full[:BLOCK], head)
    assert not np.array_equal(full[:BLOCK], full[BLOCK : 2 * BLOCK])
    for g in range(3):
        assert np.all(full[:, groups == g].sum(axis=1) == (groups == g).sum())


@pytest.mark.parametrize("counts", ["integer", "fractional", "huge", "flushed"])
def test_level_weight_sums_equal_a_brute_force(counts, monkeypatch):
    """The int32 sums (moved to float64 often, where counts are large: "flushed") and the
    per-pair float64 fallback (fractional counts, or a count too large for int32) give
    the brute-force sums, from unsorted pairs with repeats, over two blocks."""
    from fairbench.metrics import _compiled
    from fairbench.metrics.bootstrap import level_weight_sums

    ran = []
    for name in ("bucket_sums_int", "pair_sums"):
        real = getattr(_compiled, name)
        monkeypatch.setattr(_compiled, name,
                            lambda *x, real=real, name=name: ran.append(name) or real(*x))

    rng = np.random.default_rng(1)
    nsub, K, G, L, R = 60, 500, 3, 4, 70  # two blocks of replicates
    w = subject_weights(np.sort(rng.integers(0, 2, nsub)), R, rng, dtype=np.uint8)
    a, b = rng.integers(0, nsub, K), rng.integers(0, nsub, K)
    g, lev = rng.integers(0, G, K), rng.integers(0, L, K)
    c = rng.integers(1, 5, K).astype(np.float64)
    if counts == "fractional":
        c = c + 0.5
    elif counts == "huge":
        c[0] = 2.0**31
    elif counts == "flushed":
        c = c * 2.0**22  # a few pairs fill an int32
    want = np.zeros((R, G, L))
    wf = w.astype(np.float64)
    for k in range(K):
        want[:, g[k], lev[k]] += c[k] * wf[:, a[k]] * wf[:, b[k]]
    for ww in (w, w.astype(np.float32)):
        got = level_weight_sums(ww, a, b, g, lev, c, G, L)
        assert np.array_equal(got, want)
    integer = counts in ("integer", "flushed")
    assert set(ran) == {"bucket_sums_int" if integer else "pair_sums"}
    assert np.array_equal(level_weight_sums(w, a[:0], b[:0], g[:0], lev[:0], c[:0], G, L),
                          np.zeros((R, G, L)))
