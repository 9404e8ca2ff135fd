"""1:N: plans, streamed searches and FPIR/FNIR against brute force; the London config."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairbench.api import run
from fairbench.config import load_config_dict
from fairbench.identify import run_identification
from fairbench.kernels.reference import prepare, score_pairs
from fairbench.plan import make_plan
from fairbench.search_plan import GALLERY, MATED, NONMATED, make_search_plan
from tests.generated import generated


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


def brute_outcomes(frame, emb, kind, sp, plan):
    """Rank subjects by their best gallery score (ties: lower gallery position first)."""
    p = prepare(emb, kind)
    gal = sp.indices(GALLERY)
    rows = []
    for q in np.r_[sp.indices(MATED), sp.indices(NONMATED)]:
        s = score_pairs(p, np.full(len(gal), q), gal)
        order = np.lexsort((np.arange(len(gal)), -s.astype(np.float64)))
        ranked, best = [], {}
        for o in order:
            if not np.isfinite(s[o]):
                break
            subj = plan.subject[gal[o]]
            if subj not in best:
                best[subj] = s[o]
                ranked.append(subj)
        mate = plan.subject[q]
        rank = ranked.index(mate) + 1 if mate in ranked[:20] else 0
        nm = [x for x in ranked if x != mate]
        rows.append((q, rank, best.get(mate, -np.inf) if rank else -np.inf,
                     best[nm[0]] if nm else -np.inf))
    return rows


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_fpir_fnir_rank_equal_brute_force(kind):
    frame, emb = generated(kind, n_subjects=90, seed=6)
    cfg = load_config_dict({
        "mode": "identification",
        "dataset": {"simulate": {"n_subjects": 2}, "attributes": ["group"]},
        "matcher": {"name": "simulated"},
        "identification": {"seed": 2, "nonmated_share": 0.3, "rank": 3, "candidates": 20,
                           "target_fpir": [0.2, 0.05], "fixed_thresholds": [0.25 if kind ==
                                                                             "cosine" else 3.0],
                           "gallery": {"per_subject": 2}, "bootstrap": {"replicates": 0},
                           "makeup": None, "gallery_fractions": [1.0]},
    })
    res = run_identification(cfg, frame, ["grp", "sex"], emb, kind, {})
    sp, plan, out = res.search_plan, res.plan, res.outcomes
    want = brute_outcomes(frame, emb, kind, sp, plan)
    assert [w[0] for w in want] == out.probe.tolist()
    assert [w[1] for w in want] == out.mate_rank.tolist()
    np.testing.assert_array_equal([w[2] for w in want], out.mate_score)
    nm = ~out.mated
    np.testing.assert_array_equal(np.array([w[3] for w in want])[nm], out.nonmate_score[nm])
    # per-group rates from the brute-force outcomes
    grp = frame["grp"].to_numpy()
    for t in res.thresholds:
        if not t.supported:
            continue
        bg = res.by_group
        same_target = (bg.target_fpir == t.target_fpir) | (bg.target_fpir.isna()
                                                          & (t.target_fpir is None))
        d = bg[(bg.attribute == "grp") & (bg.threshold_kind == t.kind) & same_target
               & (bg.threshold_similarity == t.similarity)].set_index("group")
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
    for t in res.thresholds:
        if t.kind == "target_fpir" and t.supported:
            assert (out.nonmate_score[nm] >= t.similarity).mean() <= t.target_fpir


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
