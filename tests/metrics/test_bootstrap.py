"""Subject bootstrap without rescoring equals rescoring an explicitly resampled dataset."""

from __future__ import annotations

import numpy as np

from fairbench.counts import count_verification
from fairbench.kernels.reference import prepare, score_pairs
from fairbench.metrics.bootstrap import (
    impostor_rates,
    mated_rates,
    percentile_interval,
    subject_weights,
)
from fairbench.metrics.groups import make_views
from fairbench.plan import make_plan
from tests.generated import generated


def test_weights_keep_group_sizes_and_are_seeded():
    groups = np.array([0, 0, 0, 1, 1, 2])
    w1 = subject_weights(groups, 50, np.random.default_rng(3))
    w2 = subject_weights(groups, 50, np.random.default_rng(3))
    assert np.array_equal(w1, w2)
    for g in range(3):
        assert np.all(w1[:, groups == g].sum(axis=1) == (groups == g).sum())


def test_replicate_rates_equal_an_explicitly_resampled_dataset():
    frame, emb = generated("cosine", n_subjects=40, seed=5)
    plan = make_plan(frame, ["grp"])
    p = prepare(emb, "cosine")
    t = 0.25
    counts = count_verification(emb, "cosine", plan, [t], [], bins=64, block=16)
    view = make_views(plan, ["grp"])[0]
    G = len(view.groups)
    ig, subj = view.image_group, plan.subject
    nsub = len(plan.subjects)
    sgroup = np.array([ig[np.flatnonzero(subj == a)[0]] for a in range(nsub)])
    w = subject_weights(sgroup, 6, np.random.default_rng(0))

    n_img = np.zeros((nsub, G))
    np.add.at(n_img, (subj, ig), 1.0)
    sel = (counts.kept_s >= t) & (ig[counts.kept_i] == ig[counts.kept_j])
    fmr = impostor_rates(w, n_img, subj[counts.kept_i[sel]], subj[counts.kept_j[sel]],
                         ig[counts.kept_i[sel]], G)
    same = ig[counts.mated_i] == ig[counts.mated_j]
    ms = subj[counts.mated_i]
    pairs = np.zeros((nsub, G))
    errs = np.zeros((nsub, G))
    np.add.at(pairs, (ms[same], ig[counts.mated_i][same]), 1.0)
    miss = same & (counts.mated_s < t)
    np.add.at(errs, (ms[miss], ig[counts.mated_i][miss]), 1.0)
    fnmr = mated_rates(w, pairs, errs)

    for r in range(len(w)):
        # expand: each drawn copy of a subject brings all its images
        copies = [(c, a) for a in range(nsub) for c in range(int(w[r, a]))]
        imgs = [(k, a, c) for (c, a) in copies for k in np.flatnonzero(subj == a)]
        idx = np.array([k for k, _, _ in imgs])
        who = np.array([a for _, a, _ in imgs])
        cp = np.array([c for _, _, c in imgs])
        ii, jj = np.triu_indices(len(idx), k=1)
        s = score_pairs(p, idx[ii], idx[jj])
        for g in range(G):
            both = (ig[idx[ii]] == g) & (ig[idx[jj]] == g)
            imp = both & (who[ii] != who[jj])
            gen = both & (who[ii] == who[jj]) & (cp[ii] == cp[jj])
            if imp.sum():
                assert np.isclose(fmr[r, g], (s[imp] >= t).mean())
            else:
                assert np.isnan(fmr[r, g])
            if gen.sum():
                assert np.isclose(fnmr[r, g], (s[gen] < t).mean())


def test_percentile_interval_ignores_undefined_replicates():
    reps = np.array([[0.1, np.nan], [0.2, np.nan], [0.3, np.nan]])
    lo, hi = percentile_interval(reps, 0.5)
    assert np.isclose(lo[0], 0.15) and np.isclose(hi[0], 0.25)
    assert np.isnan(lo[1]) and np.isnan(hi[1])


def test_table_bootstrap_equals_per_threshold_replicates():
    """The one-pass, multi-threshold bootstrap in the tables equals a per-threshold one."""
    from fairbench.metrics.thresholds import operating_points
    from fairbench.metrics.verification import Settings, verification_tables

    frame, emb = generated("cosine", n_subjects=50, seed=9)
    plan = make_plan(frame, ["grp"])
    counts = count_verification(emb, "cosine", plan, [0.0, 0.25, 0.5], [], bins=64, block=16)
    ths = operating_points(counts, [], [0.5, 0.0, 0.25], float, float)
    view = make_views(plan, ["grp"])[0]
    acquired = np.all(np.isfinite(emb), axis=1)
    R = 40
    t = verification_tables(plan, counts, acquired, [view], ths,
                            Settings(replicates=R, seed=11, confidence=0.9))
    ig, subj = view.image_group, plan.subject
    nsub, G = len(plan.subjects), len(view.groups)
    sgroup = np.array([ig[np.flatnonzero(subj == a)[0]] for a in range(nsub)])
    w = subject_weights(sgroup, R, np.random.default_rng(11))
    n_img = np.zeros((nsub, G))
    np.add.at(n_img, (subj, ig), 1.0)
    for th in ths:
        sel = (counts.kept_s >= th.similarity) & (ig[counts.kept_i] == ig[counts.kept_j])
        reps = impostor_rates(w, n_img, subj[counts.kept_i[sel]], subj[counts.kept_j[sel]],
                              ig[counts.kept_i[sel]], G)
        lo, hi = percentile_interval(reps, 0.9)
        df = t.by_group[(t.by_group.attribute == "grp")
                        & (t.by_group.threshold_similarity == th.similarity)]
        np.testing.assert_allclose(df.fmr_boot_low.to_numpy(), lo)
        np.testing.assert_allclose(df.fmr_boot_high.to_numpy(), hi)
