"""Every verification number against a brute-force computation over explicit pairs."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.counts import count_verification
from fairbench.kernels.reference import prepare, score_pairs
from fairbench.metrics.groups import make_views
from fairbench.metrics.thresholds import operating_points, threshold_for_fmr
from fairbench.metrics.verification import Settings, verification_tables
from fairbench.plan import make_plan
from tests.generated import generated


def brute_threshold(imp: np.ndarray, f: float) -> float:
    """Smallest float32 t with #{imp >= t} <= floor(f n), by trying every candidate."""
    m = int(np.floor(f * len(imp)))
    cands = np.unique(np.concatenate([imp, np.nextafter(imp, np.float32(np.inf))]))
    ok = [t for t in cands if (imp >= t).sum() <= m]
    return float(min(ok))


def setup(kind: str, block: int, bins: int, fixed: list[float]):
    frame, emb = generated(kind)
    plan = make_plan(frame, ["grp", "sex"])
    p = prepare(emb, kind)
    counts = count_verification(emb, kind, plan, fixed, [1e-1, 1e-2, 1e-3], bins=bins,
                                block=block)
    i, j = np.triu_indices(plan.n_images, k=1)
    s = score_pairs(p, i, j)
    mated = plan.subject[i] == plan.subject[j]
    return frame, emb, plan, counts, i, j, s, mated


@pytest.mark.parametrize("kind,fixed", [("cosine", [0.25]), ("euclidean", [-3.0])])
@pytest.mark.parametrize("block,bins", [(7, 64), (1000, 4096), (33, 97)])
def test_counts_and_thresholds_match_brute_force(kind, fixed, block, bins):
    _, _, plan, counts, i, j, s, mated = setup(kind, block, bins, fixed)
    imp = s[~mated]
    assert counts.n_nonmated.sum() == len(imp)
    got = dict(zip(zip(counts.mated_i.tolist(), counts.mated_j.tolist()), counts.mated_s))
    assert got == dict(zip(zip(i[mated].tolist(), j[mated].tolist()), s[mated]))
    for f in (1e-1, 1e-2, 1e-3):
        t = threshold_for_fmr(counts, f)
        assert t == brute_threshold(imp, f)
        assert (imp >= t).sum() <= f * len(imp)
    # every impostor pair at or above the loosest operating point was kept, exactly
    floor = min(min(fixed), threshold_for_fmr(counts, 1e-1))
    assert counts.covers(floor)
    assert (counts.kept_s >= floor).sum() == (imp >= floor).sum()


@pytest.mark.parametrize("kind,fixed_native", [("cosine", [0.25]), ("euclidean", [3.0])])
def test_group_tables_match_brute_force(kind, fixed_native):
    fixed = [v if kind == "cosine" else -v for v in fixed_native]
    frame, emb, plan, counts, i, j, s, mated = setup(kind, 17, 128, fixed)
    views = make_views(plan, ["grp", "sex"])
    conv = (lambda x: x) if kind == "cosine" else (lambda x: -x)
    ths = operating_points(counts, [1e-1, 1e-2, 1e-3], fixed_native, conv, conv)
    acquired = np.all(np.isfinite(emb), axis=1)
    t = verification_tables(plan, counts, acquired, views, ths, Settings(replicates=0))
    df = t.by_group
    labels = {
        "grp": frame["grp"].to_numpy(),
        "sex": frame["sex"].to_numpy(),
        "grp|sex": (frame["grp"] + "|" + frame["sex"]).to_numpy(),
    }
    checked = 0
    for th in ths:
        for view, lab in labels.items():
            for g in np.unique(lab):
                row = df[(df.attribute == view) & (df.group == g)
                         & (df.threshold_similarity == th.similarity)].iloc[0]
                both = (lab[i] == g) & (lab[j] == g)
                imp = both & ~mated
                gen = both & mated
                assert row.n_nonmated == imp.sum()
                assert row.fmr_errors == (s[imp] >= th.similarity).sum()
                assert row.n_mated == gen.sum()
                assert row.fnmr_errors == (s[gen] < th.similarity).sum()
                assert row.n_subjects == frame.subject_id[lab == g].nunique()
                assert row.n_images == (lab == g).sum()
                assert row.fta_errors == (~acquired[lab == g]).sum()
                if row.n_nonmated:
                    assert row.fmr == pytest.approx((s[imp] >= th.similarity).mean())
                checked += 1
        # cross-group matrix
        cross = t.cross_group
        lab = labels["grp"]
        for a in np.unique(lab):
            for b in np.unique(lab):
                sel = (((lab[i] == a) & (lab[j] == b)) | ((lab[i] == b) & (lab[j] == a))) & ~mated
                row = cross[(cross.attribute == "grp") & (cross.group_a == a)
                            & (cross.group_b == b)
                            & (cross.threshold_similarity == th.similarity)].iloc[0]
                assert row.n_nonmated == sel.sum()
                assert row.fmr_errors == (s[sel] >= th.similarity).sum()
    assert checked == len(ths) * sum(len(np.unique(v)) for v in labels.values())
    overall = df[df.attribute == "all"]
    for th, (_, row) in zip(ths, overall.iterrows()):
        assert row.fmr_errors == (s[~mated] >= th.similarity).sum()
        assert row.fnmr_errors == (s[mated] < th.similarity).sum()


def test_failed_templates_are_non_matches_at_every_threshold():
    frame, emb, plan, counts, i, j, s, mated = setup("cosine", 50, 64, [-1.0])
    failed = ~np.all(np.isfinite(emb), axis=1)
    touched = failed[i] | failed[j]
    assert np.all(s[touched] == -np.inf)
    # a fixed threshold at the lowest possible cosine still rejects failed templates
    assert (counts.mated_s < -1.0).sum() == (mated & touched).sum()


def test_ratios_use_the_reference_group_and_never_divide_by_zero():
    fixed = [0.25]
    frame, emb, plan, counts, i, j, s, mated = setup("cosine", 17, 128, fixed)
    views = make_views(plan, ["grp"])
    ths = operating_points(counts, [1e-1], [0.25, 2.0], lambda x: x, lambda x: x)
    acquired = np.all(np.isfinite(emb), axis=1)
    for ref_cfg in ({}, {"grp": "b"}):
        t = verification_tables(plan, counts, acquired, views, ths,
                                Settings(replicates=20, reference_group=ref_cfg))
        df = t.by_group[t.by_group.attribute == "grp"]
        for th in ths:
            d = df[df.threshold_similarity == th.similarity].set_index("group")
            known = d.drop(index="unknown")
            ref = d.reference_group.iloc[0]
            assert (d.reference_group == ref).all()
            if ref_cfg:
                assert ref == ref_cfg["grp"]
            else:  # lowest FMR; ties go to the group with more comparisons
                lowest = known[known.fmr == known.fmr.min()]
                assert ref == lowest.n_nonmated.idxmax()
            if d.fmr[ref] > 0:
                np.testing.assert_allclose(d.fmr_ratio, d.fmr / d.fmr[ref])
                assert d.fmr_ratio[ref] == 1.0
            else:  # threshold 2.0: nobody matches, so no ratio may be printed
                assert d.fmr_ratio.isna().all()
                assert (d.fmr_ratio_note == "reference rate is 0: ratio undefined").all()
