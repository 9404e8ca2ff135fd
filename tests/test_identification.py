"""1:N: plans, streamed searches and FPIR/FNIR against brute force; the London config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairbench.api import run
from fairbench.config import IdentificationConfig, load_config_dict
from fairbench.core.settings import Settings
from fairbench.engine.search import run_searches
from fairbench.kernels.prep import prepare, score_pairs
from fairbench.metrics.tables import identification_results
from fairbench.plan import GALLERY, MATED, NONMATED, make_plan, make_search_plan
from fairbench.plan.search import subset_roles
from tests.generated import generated


def one_n(frame, emb, kind, attrs, **section):
    """The 1:N pipeline's own steps, in memory: plan, search, tables."""
    ic = IdentificationConfig(**section)
    plan = make_plan(frame, attrs)
    sp = make_search_plan(plan, frame, ic.nonmated_share, ic.seed, ic.gallery.per_subject,
                          ic.gallery.select)
    gal, probes, mated = subset_roles(sp, plan, sp.enrolled)
    out = run_searches(emb, plan, gal, probes, mated, ic.candidates, kind)
    s = Settings.from_sections({"intersections": True}, ic.model_dump(mode="json"))
    res = identification_results(plan, {"main": out}, {"main": int(sp.enrolled.sum())}, [],
                                 ic.model_dump(mode="json"), s, attrs, {}, kind)
    return plan, sp, out, res


def test_plan_is_seeded_and_non_mated_probes_have_no_mate_in_the_gallery():
    frame, _ = generated("cosine", n_subjects=80, seed=1)
    plan = make_plan(frame, ["grp", "sex"])
    a = make_search_plan(plan, frame, 0.3, seed=4, per_subject=2)
    b = make_search_plan(plan, frame, 0.3, seed=4, per_subject=2)
    c = make_search_plan(plan, frame, 0.3, seed=5, per_subject=2)
    assert np.array_equal(a.role, b.role) and not np.array_equal(a.role, c.role)
    gal_subjects = set(plan.subject[a.indices(GALLERY)])
    assert not gal_subjects & set(plan.subject[a.indices(NONMATED)])
    assert set(plan.subject[a.indices(MATED)]) <= gal_subjects
    assert np.bincount(plan.subject[a.indices(GALLERY)]).max() <= 2
    # every stratum with two or more people has non-mated probes
    first = pd.Series(plan.stratum).groupby(plan.subject).first()
    for s, n in first.value_counts().items():
        if n >= 2:
            held = [x for x in first.index[first == s] if not a.enrolled[x]]
            assert held


def test_gallery_select_prefers_matching_images():
    frame = pd.DataFrame({"image_id": list("abcd"), "path": "", "subject_id": ["1", "1", "2", "2"],
                          "g": "x", "expression": ["smiling", "neutral", "smiling", "neutral"]})
    plan = make_plan(frame, ["g"])
    sp = make_search_plan(plan, frame, 0.5, seed=0, select={"expression": "neutral"})
    gal = frame.iloc[sp.indices(GALLERY)]
    assert (gal.expression == "neutral").all() and len(gal) == 1


def brute_outcomes(frame, emb, kind, sp, plan, candidates=20):
    """Each subject scores its best gallery image; the mate's rank is 1 + the number of
    non-mated subjects scoring at or above it (a tie ranks the mate after the non-mate)."""
    p = prepare(emb, kind)
    gal = sp.indices(GALLERY)
    rows = []
    for q in np.r_[sp.indices(MATED), sp.indices(NONMATED)]:
        s = score_pairs(p, np.full(len(gal), q), gal)
        best: dict[int, float] = {}
        for o in range(len(gal)):
            if np.isfinite(s[o]):
                subj = int(plan.subject[gal[o]])
                best[subj] = max(best.get(subj, -np.inf), float(s[o]))
        mate = int(plan.subject[q])
        others = [v for k, v in best.items() if k != mate]
        rank = 0
        if mate in best:
            r = 1 + sum(v >= best[mate] for v in others)
            rank = r if r <= candidates else 0
        rows.append((q, rank, best[mate] if rank else -np.inf, max(others, default=-np.inf)))
    return rows


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_fpir_fnir_rank_equal_brute_force(kind):
    frame, emb = generated(kind, n_subjects=90, seed=6)
    plan, sp, out, res = one_n(
        frame, emb, kind, ["grp", "sex"], seed=2, nonmated_share=0.3, rank=3, candidates=20,
        target_fpir=[0.2, 0.05], fixed_thresholds=[0.25 if kind == "cosine" else 3.0],
        gallery={"per_subject": 2}, bootstrap={"replicates": 0}, makeup=None,
        gallery_fractions=[1.0])
    want = brute_outcomes(frame, emb, kind, sp, plan)
    assert [w[0] for w in want] == out.probe.tolist()
    assert [w[1] for w in want] == out.mate_rank.tolist()
    np.testing.assert_array_equal([w[2] for w in want], out.mate_score)
    nm = ~out.mated
    np.testing.assert_array_equal(np.array([w[3] for w in want])[nm], out.nonmate_score[nm])
    # per-group rates from the brute-force outcomes
    grp = frame["grp"].to_numpy()
    for t in res.points:
        if not t.supported:
            continue
        bg = res.tables.by_group
        d = bg[(bg.attribute == "grp") & (bg.operating_point == t.label)].set_index("group")
        assert d.index.is_unique
        for g in d.index:
            sel = grp[[w[0] for w in want]] == g
            nm_s = np.array([w[3] for w in want])[sel & nm]
            assert d.loc[g, "fpir_errors"] == (nm_s >= t.similarity).sum()
            assert d.loc[g, "n_nonmated_searches"] == len(nm_s)
            m_sel = sel & out.mated
            ranks = np.array([w[1] for w in want])[m_sel]
            scores = np.array([w[2] for w in want])[m_sel]
            hit = (ranks >= 1) & (ranks <= 3) & (scores >= t.similarity)
            assert d.loc[g, "fnir_errors"] == (~hit).sum()
            assert d.loc[g, "rank1"] == pytest.approx((ranks == 1).mean() if len(ranks)
                                                      else np.nan, nan_ok=True)
    # global target thresholds hold: FPIR over all non-mated searches <= target
    for t in res.points:
        if t.kind == "target_fpir" and t.supported:
            assert (out.nonmate_score[nm] >= t.similarity).mean() <= t.target


def test_london16_1n_run_writes_its_own_tables(london16, london16_manifest, tmp_path):
    lab = pd.read_csv(london16 / "labels.csv", dtype=str)
    m = pd.read_csv(london16_manifest, dtype=str)
    m["expression"] = lab["variant"].to_numpy()
    m.to_csv(london16_manifest, index=False)
    cfg = load_config_dict({
        "mode": "identification",
        "dataset": {"manifest": str(london16_manifest), "root": str(london16),
                    "attributes": ["eth", "sex"]},
        "matcher": {"name": "dlib"},
        "identification": {"nonmated_share": 0.25, "target_fpir": [0.25],
                           "reference_group": {"eth": "white"}, "reference_fpir": 0.25,
                           "fixed_thresholds": [0.6],
                           "gallery": {"select": {"expression": "neutral"}},
                           "bootstrap": {"replicates": 50}},
    })
    res = run(cfg, tmp_path, progress=False)
    d = res.run_dir
    assert d.name.endswith("-1n") and (d / "search_plan.csv").is_file()
    plan = pd.read_csv(d / "search_plan.csv")
    assert set(plan.role) == {"gallery", "mated_probe", "nonmated_probe"}
    assert (plan[plan.role == "gallery"].image_id.str.endswith("neutral")).all()
    t = pd.read_csv(d / "tables" / "identification_by_group.csv")
    need = {"attribute", "group", "threshold_kind", "threshold_native", "gallery_size", "fpir",
            "fpir_ci_low", "fpir_ci_high", "n_nonmated_searches", "fnir", "fnir_ci_low",
            "fnir_ci_high", "n_mated_searches", "rank1"}
    assert need <= set(t.columns)
    assert {"target_fpir", "reference_fpir", "fixed"} == set(t.threshold_kind)
    assert not (d / "tables" / "verification_by_group.csv").exists()
    sweeps = pd.read_csv(d / "tables" / "identification_sweeps.csv")
    assert {"gallery_size", "makeup"} == set(sweeps.sweep)
    assert res.record["mode"] == "identification"


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_rank_and_fnir_do_not_depend_on_gallery_order_when_mates_tie(kind):
    """A non-mated subject whose gallery image duplicates the mate's ties with it: the mate
    is ranked after it, whichever comes first in the gallery."""
    rng = np.random.default_rng(1)
    base = rng.standard_normal((6, 8)).astype(np.float32)
    # subjects a..f; gallery: one image each; b's gallery image duplicates a's
    gal_emb = base.copy()
    gal_emb[1] = gal_emb[0]
    probe = base[0] + np.float32(0.01)
    outs = []
    for order in ([0, 1, 2, 3, 4, 5], [1, 0, 2, 3, 4, 5], [5, 4, 3, 2, 1, 0]):
        rows = [{"image_id": f"g{k}", "path": "", "subject_id": "abcdef"[k], "x": "1"}
                for k in order]
        rows.append({"image_id": "p", "path": "", "subject_id": "a", "x": "1"})
        frame = pd.DataFrame(rows)
        emb = np.r_[gal_emb[order], probe[None]]
        plan = make_plan(frame, ["x"])
        gal = np.arange(6)
        out = run_searches(emb, plan, gal, np.array([6]), np.array([True]), 3, kind)
        outs.append((int(out.mate_rank[0]), float(out.mate_score[0]),
                     float(out.nonmate_score[0])))
    assert len(set(outs)) == 1
    assert outs[0][0] == 2  # ranked after the tied non-mate
    assert outs[0][1] == outs[0][2]


def test_a_mate_tied_at_the_end_of_the_list_is_not_listed():
    """With candidates=1 and the mate tied with one non-mate, the mate's rank is 2: not in
    the candidate list, so it is a miss at every threshold (FNIR counts it)."""
    e = np.eye(4, dtype=np.float32)
    emb = np.r_[e[0][None], e[0][None], e[2][None], e[0][None] * 2]
    frame = pd.DataFrame({"image_id": list("abcp"), "path": "",
                          "subject_id": ["s1", "s2", "s3", "s1"], "x": "1"})
    plan = make_plan(frame, ["x"])
    for gal in (np.array([0, 1, 2]), np.array([1, 0, 2])):
        out = run_searches(emb, plan, gal, np.array([3]), np.array([True]), 1, "cosine")
        assert out.mate_rank[0] == 0 and out.mate_score[0] == -np.inf


def test_1n_bootstrap_intervals_equal_explicit_resampling():
    """Each replicate resamples people (within their group): every search of a drawn person
    counts once per draw. FPIR and FNIR intervals and ratio intervals of the tables equal
    percentile intervals over explicitly expanded searches."""
    from fairbench.core.codes import first_per_subject
    from fairbench.metrics.bootstrap import percentile_interval, subject_weights, view_rng

    frame, emb = generated("cosine", n_subjects=80, seed=3)
    R, seed = 40, 5
    plan, sp, out, res = one_n(frame, emb, "cosine", ["grp"], nonmated_share=0.4,
                               target_fpir=[0.3], fixed_thresholds=[0.25],
                               bootstrap={"replicates": R, "seed": seed}, makeup=None,
                               gallery_fractions=[1.0], reference_group={"grp": "a"})
    grp = frame["grp"].to_numpy()[out.probe]
    groups = sorted(set(frame["grp"]))
    gcode = np.array([groups.index(g) for g in grp])
    subj = plan.subject[out.probe]
    w = subject_weights(first_per_subject(subj, gcode, plan.n_subjects), R,
                        view_rng(seed, "grp"))
    bg = res.tables.by_group
    for t in [p for p in res.points if p.supported]:
        fp = ~out.mated & (out.nonmate_score >= t.similarity)
        hit = (out.mate_rank >= 1) & (out.mate_rank <= 1) & (out.mate_score >= t.similarity)
        fn = out.mated & ~hit
        d = bg[(bg.attribute == "grp") & (bg.operating_point == t.label)].set_index("group")
        for name, err, base in (("fpir", fp, ~out.mated), ("fnir", fn, out.mated)):
            reps = np.full((R, len(groups)), np.nan)
            for r in range(R):
                copies = w[r, subj].astype(int)  # each search, once per draw of its person
                for g in range(len(groups)):
                    sel = np.repeat(np.flatnonzero(base & (gcode == g)),
                                    copies[base & (gcode == g)])
                    if len(sel):
                        reps[r, g] = err[sel].mean()
            lo, hi = percentile_interval(reps, 0.95)
            np.testing.assert_allclose(d[f"{name}_boot_low"].to_numpy(), lo)
            np.testing.assert_allclose(d[f"{name}_boot_high"].to_numpy(), hi)
            if not d[f"{name}_ratio_note"].iloc[0]:
                ref = groups.index("a")
                with np.errstate(invalid="ignore", divide="ignore"):
                    ratio = np.where(reps[:, [ref]] > 0, reps / reps[:, [ref]], np.nan)
                rlo, rhi = percentile_interval(ratio, 0.95)
                np.testing.assert_allclose(d[f"{name}_ratio_ci_low"].to_numpy(), rlo)


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_failed_probes_and_gallery_templates_in_both_conventions(kind):
    """NIST's FPIR/FNIR keep every search (a failed probe is never a false positive and
    always a miss; a mate with no gallery template cannot be found); ISO/IEC 19795-1's
    count only completed searches. Both checked against brute force with failures planted
    on mated and non-mated probes and on every gallery image of some mated subjects."""
    frame, emb = generated(kind, n_subjects=90, seed=8)
    section = dict(seed=2, nonmated_share=0.3, rank=1, candidates=20, target_fpir=[],
                   fixed_thresholds=[0.3 if kind == "cosine" else 2.5],
                   gallery={"per_subject": 1}, bootstrap={"replicates": 0}, makeup=None,
                   gallery_fractions=[1.0])
    plan, sp, _, _ = one_n(frame, emb, kind, ["grp"], **section)
    emb = emb.copy()
    mated, nonmated, gal = sp.indices(MATED), sp.indices(NONMATED), sp.indices(GALLERY)
    emb[mated[::5]] = np.nan
    emb[nonmated[::4]] = np.nan
    lost = gal[1::7]  # these subjects' only gallery image fails
    emb[lost] = np.nan
    plan2, sp2, out, res = one_n(frame, emb, kind, ["grp"], **section)
    assert np.array_equal(sp2.role, sp.role)
    assert out.probe_failed.sum() >= 5 and (~out.mate_enrolled[out.mated]).sum() >= 2
    want = {w[0]: w for w in brute_outcomes(frame, emb, kind, sp2, plan2)}
    ok = np.isfinite(emb).all(axis=1)
    gallery_ok = {int(plan2.subject[g]) for g in gal if ok[g]}
    (t,) = [p for p in res.points if p.kind == "fixed"]
    bg = res.tables.by_group
    d = bg[(bg.attribute == "grp") & (bg.operating_point == t.label)].set_index("group")
    grp = frame["grp"].to_numpy()
    counts = {g: dict.fromkeys(("fp", "nm", "fp_iso", "nm_iso", "fn", "m", "fn_iso", "m_iso"),
                               0) for g in d.index}
    for q in out.probe:
        c, (_, rank, mate_s, nonmate_s) = counts[grp[q]], want[q]
        if q in set(nonmated):
            fp = nonmate_s >= t.similarity
            c["nm"] += 1
            c["fp"] += fp
            if ok[q]:
                c["nm_iso"] += 1
                c["fp_iso"] += fp
        else:
            fn = not (rank == 1 and mate_s >= t.similarity)
            c["m"] += 1
            c["fn"] += fn
            if ok[q] and int(plan2.subject[q]) in gallery_ok:
                c["m_iso"] += 1
                c["fn_iso"] += fn
    for g, c in counts.items():
        row = d.loc[g]
        assert (row.fpir_errors, row.n_nonmated_searches) == (c["fp"], c["nm"])
        assert (row.fnir_errors, row.n_mated_searches) == (c["fn"], c["m"])
        assert (row.fpir_iso_errors, row.n_nonmated_searches_completed) == (c["fp_iso"],
                                                                            c["nm_iso"])
        assert (row.fnir_iso_errors, row.n_mated_searches_completed) == (c["fn_iso"],
                                                                         c["m_iso"])
    # the planted failures matter: the two conventions differ somewhere
    assert (d.n_mated_searches != d.n_mated_searches_completed).any()
    assert (d.fnir_errors != d.fnir_iso_errors).any()
