"""The worst-subgroup scan: its subgroup, score and search-calibrated p-value equal a brute
force over every subgroup and every relabelling of the people's label rows; its p-values
are uniform under a planted null (Kolmogorov-Smirnov); a run writes worst_subgroup."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.stats import kstest

from fairbench.metrics.permutation import PairErrors, relabellings
from fairbench.metrics.scan import llr, scan, subgroups

A, B = ["a0", "a1"], ["b0", "b1", "b2"]


def world(seed: int, people: int = 7, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    la = rng.integers(0, 2, people)
    lb = rng.integers(0, 3, people)
    u = rng.normal(0, 0.4, people) + shift * ((la == 1) & (lb == 0))
    img = np.repeat(np.arange(people), 2)
    i, j = np.triu_indices(len(img), 1)
    a, b = img[i], img[j]
    s = np.round(u[a] + u[b] + rng.normal(0, 1, len(a)), 1)
    return la, lb, img, a, b, s


def pair_errors(img, a, b, s, t):
    imp, people = a != b, img.max() + 1
    hit = imp & (s >= t)
    return PairErrors(a[hit], b[hit], np.bincount(img, minlength=people),
                      np.bincount(a[~imp], minlength=people),
                      np.bincount(a[~imp & (s < t)], minlength=people))


def brute(la, lb, a, b, s, t, depth, min_subjects):
    """Every subgroup scored straight from the pairs; the largest score and its name."""
    people = len(la)
    imp = a != b
    p0 = (s[imp] >= t).mean()
    q0 = (s[~imp] < t).mean()
    conds = [("a", v) for v in range(2)] + [("b", v) for v in range(3)]
    best = {"fmr": (0.0, ""), "fnmr": (0.0, "")}
    for k in range(1, depth + 1):
        for combo in itertools.combinations(conds, k):
            if len({c[0] for c in combo}) < k:
                continue
            inside = [all((la if c == "a" else lb)[p] == v for c, v in combo)
                      for p in range(people)]
            if not min_subjects <= sum(inside) < people:
                continue
            name = "|".join(f"{c}={(A if c == 'a' else B)[v]}" for c, v in combo)
            both = imp & np.array([inside[x] and inside[y] for x, y in zip(a, b)])
            mine = ~imp & np.array([inside[x] for x in a])
            for rate, sel, err, base in (("fmr", both, s >= t, p0),
                                         ("fnmr", mine, s < t, q0)):
                n, e = int(sel.sum()), int((err & sel).sum())
                score = 0.0
                if n and e / n > base and 0 < base < 1:
                    score = (e * math.log(e / n / base) if e else 0.0) + (
                        (n - e) * math.log((1 - e / n) / (1 - base)) if n > e else 0.0)
                if score > best[rate][0] + 1e-12:
                    best[rate] = (score, name)
    return best


@pytest.mark.parametrize("seed,shift", [(0, 0.0), (4, 2.0)])
def test_scan_equals_a_brute_force_over_subgroups_and_relabellings(seed, shift):
    la, lb, img, a, b, s = world(seed, shift=shift)
    t, depth, min_subjects = 0.9, 2, 2
    sg = subgroups([la, lb], ["a", "b"], [A, B], depth, min_subjects)
    pe = pair_errors(img, a, b, s, t)
    overall = {"fmr": (len(pe.err_a), int((a != b).sum())),
               "fnmr": (int(pe.mated_errors.sum()), int(pe.mated_pairs.sum()))}
    rel = relabellings(sg.codes, 10_000, np.random.default_rng(0))
    assert rel.exact
    res = {r.rate: r for r in scan(sg, pe, overall, rel)}
    obs = brute(la, lb, a, b, s, t, depth, min_subjects)
    rows = list(zip(la, lb))
    # every distinct way to deal the people's label rows out to the people
    nulls = {tuple(rows[i] for i in p) for p in itertools.permutations(range(len(la)))}
    null = [brute(np.array([r[0] for r in x]), np.array([r[1] for r in x]), a, b, s, t, depth,
                  min_subjects) for x in nulls]
    assert len(nulls) == res["fmr"].relabellings
    for rate in ("fmr", "fnmr"):
        score, name = obs[rate]
        assert res[rate].score == pytest.approx(score)
        assert res[rate].subgroup == name
        want = np.mean([x[rate][0] >= score - 1e-9 for x in null])
        assert res[rate].p_value == pytest.approx(want)


def test_llr_is_the_binomial_likelihood_ratio():
    k, n, p0 = 7, 20, 0.1
    q = k / n
    want = k * math.log(q / p0) + (n - k) * math.log((1 - q) / (1 - p0))
    assert llr(np.array([k]), np.array([n]), p0)[0] == pytest.approx(want)
    assert llr(np.array([1]), np.array([20]), p0)[0] == 0  # at or under the overall rate


def test_search_calibrated_p_values_are_uniform_under_a_planted_null():
    ps = []
    for seed in range(120):
        la, lb, img, a, b, s = world(100 + seed, people=20)
        sg = subgroups([la, lb], ["a", "b"], [A, B], 2, 3)
        pe = pair_errors(img, a, b, s, 1.0)
        overall = {"fmr": (len(pe.err_a), int((a != b).sum())),
                   "fnmr": (int(pe.mated_errors.sum()), int(pe.mated_pairs.sum()))}
        rel = relabellings(sg.codes, 199, np.random.default_rng(seed))
        ps.append(scan(sg, pe, overall, rel)[0].p_value)
    jitter = np.random.default_rng(3).uniform(0, 1 / 200, len(ps))
    assert kstest(np.array(ps) - jitter, "uniform").pvalue > 0.01


def test_a_run_writes_the_worst_subgroup(tmp_path):
    import fairbench

    cfg = {"dataset": {"simulate": {"n_subjects": 60, "groups": 3, "dim": 16, "seed": 2}},
           "matcher": {"name": "simulated"},
           "verification": {"target_fmr": [1e-2], "bootstrap": {"replicates": 0},
                            "permutations": 99}}
    run = fairbench.run(cfg, tmp_path / "a", progress=False)
    w = run.tables["worst_subgroup"]
    assert list(w.rate) == ["fmr", "fnmr"] and (w.p_relabellings == 100).all()
    assert w.subgroup.iloc[0].startswith("group=") and 0 < w.p_value.iloc[0] <= 1
    cfg["verification"]["scan"] = {"depth": 0}
    assert "worst_subgroup" not in fairbench.run(cfg, tmp_path / "b", progress=False).tables
