"""Every verification number against a brute-force computation over explicit pairs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairbench.core.settings import MIN_N, Settings
from fairbench.engine.allpairs import count_verification
from fairbench.kernels.prep import prepare, score_pairs
from fairbench.metrics.thresholds import smallest_threshold, verification_points
from fairbench.metrics.verification import verification_tables
from fairbench.plan import make_plan
from tests.generated import generated


def brute_threshold(imp: np.ndarray, f: float) -> float:
    """Smallest float32 t with #{imp >= t} <= floor(f n), by trying every candidate."""
    m = int(np.floor(f * len(imp)))
    cands = np.unique(np.concatenate([imp, np.nextafter(imp, np.float32(np.inf))]))
    ok = [t for t in cands if (imp >= t).sum() <= m]
    return float(min(ok))


def setup(kind: str, block: int, bins: int, fixed: list[float], frame=None, emb=None,
          attrs=("grp", "sex"), banded=None):
    if frame is None:
        frame, emb = generated(kind)
    plan = make_plan(frame, list(attrs), banded)
    p = prepare(emb, kind)
    counts, failed = count_verification(emb, kind, plan, fixed, [1e-1, 1e-2, 1e-3], bins=bins,
                                        block=block)
    i, j = np.triu_indices(plan.n_images, k=1)
    s = score_pairs(p, i, j)
    mated = plan.subject[i] == plan.subject[j]
    return frame, emb, plan, counts, failed, i, j, s, mated


@pytest.mark.parametrize("kind,fixed", [("cosine", [0.25]), ("euclidean", [-3.0])])
@pytest.mark.parametrize("block,bins", [(7, 64), (1000, 4096), (33, 97)])
def test_counts_and_thresholds_match_brute_force(kind, fixed, block, bins):
    _, _, plan, counts, _, i, j, s, mated = setup(kind, block, bins, fixed)
    imp = s[~mated]
    assert counts.n_nonmated.sum() == len(imp)
    got = dict(zip(zip(plan.mated_i.tolist(), plan.mated_j.tolist()), counts.mated_s))
    assert got == dict(zip(zip(i[mated].tolist(), j[mated].tolist()), s[mated]))
    for f in (1e-1, 1e-2, 1e-3):
        t = smallest_threshold(counts.kept_s, counts.n_nonmated_total, f)
        assert t == brute_threshold(imp, f)
        assert (imp >= t).sum() <= f * len(imp)
    # every impostor pair at or above the loosest operating point was kept, exactly
    floor = min(min(fixed), smallest_threshold(counts.kept_s, counts.n_nonmated_total, 0.1))
    assert counts.binning.index(np.array([floor]))[0] >= counts.kept_floor_bin
    assert (counts.kept_s >= floor).sum() == (imp >= floor).sum()


def points(counts, kind, fixed_native):
    return verification_points(counts, [1e-1, 1e-2, 1e-3], fixed_native, kind)


@pytest.mark.parametrize("kind,fixed_native", [("cosine", [0.25]), ("euclidean", [3.0])])
def test_group_tables_match_brute_force(kind, fixed_native):
    fixed = [v if kind == "cosine" else -v for v in fixed_native]
    frame, emb, plan, counts, failed, i, j, s, mated = setup(kind, 17, 128, fixed)
    ths = points(counts, kind, fixed_native)
    acquired = np.all(np.isfinite(emb), axis=1)
    t = verification_tables(plan, counts, acquired, ths, Settings(replicates=0),
                            ["grp", "sex"], failed=failed)
    df = t.by_group
    labels = {
        "grp": frame["grp"].to_numpy(),
        "sex": frame["sex"].to_numpy(),
        "grp|sex": (frame["grp"] + "|" + frame["sex"]).to_numpy(),
    }
    ok = ~failed
    checked = 0
    for th in ths:
        for view, lab in labels.items():
            for g in np.unique(lab):
                row = df[(df.attribute == view) & (df.group == g)
                         & (df.operating_point == th.label)].iloc[0]
                both = (lab[i] == g) & (lab[j] == g)
                imp = both & ~mated
                gen = both & mated
                done = ok[i] & ok[j]
                assert row.n_nonmated == imp.sum()
                assert row.fmr_errors == (s[imp] >= th.similarity).sum()
                assert row.n_mated == gen.sum()
                assert row.fnmr_errors == (s[gen] < th.similarity).sum()
                assert row.n_subjects == frame.subject_id[lab == g].nunique()
                assert row.n_images == (lab == g).sum()
                assert row.fta_errors == (~acquired[lab == g]).sum()
                # ISO/IEC 19795-1: completed comparisons only
                assert row.n_nonmated_completed == (imp & done).sum()
                assert row.fmr_iso_errors == (s[imp & done] >= th.similarity).sum()
                assert row.n_mated_completed == (gen & done).sum()
                assert row.fnmr_iso_errors == (s[gen & done] < th.similarity).sum()
                fta = (~acquired[lab == g]).mean()
                if row.n_nonmated_completed:
                    assert row.gfmr == pytest.approx(row.fmr_iso * (1 - fta) ** 2)
                if row.n_mated_completed:
                    assert row.gfnmr == pytest.approx(
                        1 - (1 - fta) ** 2 + (1 - fta) ** 2 * row.fnmr_iso)
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
                            & (cross.group_b == b) & (cross.operating_point == th.label)].iloc[0]
                assert row.n_nonmated == sel.sum()
                assert row.fmr_errors == (s[sel] >= th.similarity).sum()
    assert checked == len(ths) * sum(len(np.unique(v)) for v in labels.values())
    overall = df[df.attribute == "all"]
    assert len(overall) == len(ths)
    for th, (_, row) in zip(ths, overall.iterrows()):
        assert row.fmr_errors == (s[~mated] >= th.similarity).sum()
        assert row.fnmr_errors == (s[mated] < th.similarity).sum()


def test_failed_templates_are_non_matches_at_every_threshold():
    frame, emb, plan, counts, failed, i, j, s, mated = setup("cosine", 50, 64, [-1.0])
    touched = failed[i] | failed[j]
    assert np.all(s[touched] == -np.inf)
    assert np.array_equal(failed, ~np.all(np.isfinite(emb), axis=1))
    # a fixed threshold at the lowest possible cosine still rejects failed templates
    assert (counts.mated_s < -1.0).sum() == (mated & touched).sum()


def test_reference_group_is_most_people_for_every_point_and_never_insufficient():
    """Default rule: one group per attribute for all points, the group with the most
    subjects (ties: lower FMR at the loosest point), never one under MIN_N comparisons."""
    frame, emb, plan, counts, failed, i, j, s, mated = setup("cosine", 17, 128, [0.25])
    ths = verification_points(counts, [1e-1], [0.25, 2.0], "cosine")
    acquired = np.all(np.isfinite(emb), axis=1)
    for ref_cfg in ({}, {"grp": "b"}):
        t = verification_tables(plan, counts, acquired, ths,
                                Settings(replicates=20, reference_group=ref_cfg), ["grp"])
        df = t.by_group[t.by_group.attribute == "grp"]
        refs = set(df.reference_group)
        assert len(refs) == 1  # the same reference at every operating point
        ref = refs.pop()
        if ref_cfg:
            assert ref == "b" and (df.reference_rule == "configured").all()
        else:
            first = df[df.operating_point == ths[0].label].set_index("group")
            ok = first.drop(index="unknown")
            ok = ok[(ok.n_nonmated >= MIN_N) & (ok.n_mated >= MIN_N)]
            most = ok[ok.n_subjects == ok.n_subjects.max()]
            assert ref == most.fmr.idxmin()
            assert "most people" in df.reference_rule.iloc[0]
        for th in ths:
            d = df[df.operating_point == th.label].set_index("group")
            if d.fmr[ref] > 0:
                np.testing.assert_allclose(d.fmr_ratio, d.fmr / d.fmr[ref])
                assert d.fmr_ratio[ref] == 1.0
            else:  # threshold 2.0: nobody matches, so no ratio may be printed
                assert d.fmr_ratio.isna().all()
                assert (d.fmr_ratio_note == "reference rate is 0: ratio undefined").all()


def test_reference_skips_small_and_unknown_groups():
    """A big group with too few mated pairs, and 'unknown', never become the reference."""
    rng = np.random.default_rng(3)
    rows, emb = [], []
    for s_, (grp, k) in enumerate([("big", 1)] * 40 + [("mid", 2)] * 12 + [("unknown", 2)] * 50):
        for n in range(k):
            rows.append({"image_id": f"{s_}_{n}", "path": "", "subject_id": f"s{s_:03d}",
                         "grp": grp})
            emb.append(rng.standard_normal(8))
    frame = pd.DataFrame(rows)
    e = np.array(emb, dtype=np.float32)
    _, _, plan, counts, failed, *_ = setup("cosine", 64, 256, [], frame, e, ("grp",))
    ths = verification_points(counts, [1e-1], [], "cosine")
    t = verification_tables(plan, counts, ~failed, ths, Settings(replicates=0), ["grp"])
    df = t.by_group[t.by_group.attribute == "grp"]
    assert set(df.reference_group) == {"mid"}  # 'big' has 0 mated pairs, unknown is unknown


def test_mated_pairs_take_the_band_of_their_mean_age():
    """NIST bins a pair by its mean age: a mated pair straddling a band edge is counted in
    the band of its mean (not dropped), and a band no single image falls in can appear."""
    frame = pd.DataFrame({
        "image_id": ["a1", "a2", "b1", "b2", "c1", "c2"], "path": "",
        "subject_id": ["a", "a", "b", "b", "c", "c"],
        "age": [4, 14, 30, 31, 13, 15], "sex": ["f", "f", "m", "m", "f", "f"]})
    from fairbench.data.load import derive_attributes

    _, banded = derive_attributes(frame, ["age_band", "sex"], [0, 5, 14, 21], None)
    emb = np.eye(6, dtype=np.float32) + 0.1
    _, _, plan, counts, failed, i, j, s, mated = setup(
        "cosine", 4, 64, [0.5], frame, emb, ("age_band", "sex"), banded)
    ths = verification_points(counts, [], [0.5], "cosine")
    t = verification_tables(plan, counts, ~failed, ths, Settings(replicates=0),
                            ["age_band", "sex"])
    by = t.by_group[t.by_group.attribute == "age_band"].set_index("group")
    # a: ages 4 and 14 -> mean 9 -> 5-13 (no image of a is 5-13); b: 30.5 -> 21+;
    # c: 13 and 15 -> mean 14 -> 14-20
    assert by.loc["5-13", "n_mated"] == 1 and by.loc["21+", "n_mated"] == 1
    assert by.loc["14-20", "n_mated"] == 1 and by["n_mated"].sum() == 3
    inter = t.by_group[t.by_group.attribute == "age_band|sex"].set_index("group")
    assert inter.loc["5-13|f", "n_mated"] == 1 and inter.loc["21+|m", "n_mated"] == 1
    # impostor pairs stay per image: both images in the band
    assert by.loc["5-13", "n_nonmated"] == 0
