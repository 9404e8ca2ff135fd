"""``fairbench bench coverage``: the JSON contract, each interval method against a direct
computation on a hand-sized example, and the coverage findings the bench exists to show
(seeded, so deterministic; no timing is asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from itertools import combinations

import numpy as np
import pytest
from scipy.stats import binomtest

from fairbench.bench.coverage import (
    FLOOR,
    Design,
    Heterogeneity,
    choose_default,
    cluster_df,
    impostor_replicates,
    jackknife_variance,
    run_coverage,
    simulate,
    smoothed_logit,
    ustat_variance,
    weighted_impostor,
    weighted_mated,
    wilson,
)
from fairbench.metrics.bootstrap import impostor_rates, subject_weights

ROW_KEYS = {"scenario", "method", "nominal", "coverage", "mean_width", "replicates",
            "expected_errors"}


def test_quick_run_prints_the_contract():
    r = subprocess.run([sys.executable, "-m", "fairbench.cli", "bench", "coverage",
                        "--quick"], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout.strip().splitlines()[-1])
    assert res["default"] in {row["method"] for row in res["results"]}
    assert "rule" in res and res["results"]
    for row in res["results"]:
        assert set(row) >= ROW_KEYS
        assert row["nominal"] == 0.95 and 0 <= row["coverage"] <= 1
    scen = {row["scenario"] for row in res["results"]}
    assert "fmr@0.0001/n=500/het=strong" in scen and "fnmr@0.1/n=5/het=none" in scen


# --- the methods on hand-sized examples ------------------------------------------------

def test_wilson_is_scipys_wilson():
    for k, n in [(0, 10), (2, 10), (7, 50), (50, 50), (3, 100_000)]:
        lo, hi = wilson(np.array([k]), np.array([n]))
        ci = binomtest(k, n).proportion_ci(method="wilson")
        assert lo[0] == pytest.approx(ci.low, abs=1e-12)
        assert hi[0] == pytest.approx(ci.high, abs=1e-12)
    # the hand formula at k = 2, n = 10
    z, p, n = 1.959963984540054, 0.2, 10
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    lo, hi = wilson(np.array([2.0]), np.array([10.0]))
    assert (lo[0], hi[0]) == pytest.approx((mid - half, mid + half))


def _toy() -> tuple[np.ndarray, list[tuple[int, int]], dict[tuple[int, int], int]]:
    """Five people of one group: images each, and the impostor errors of each pair."""
    m = np.array([2, 3, 2, 4, 3])
    pairs = list(combinations(range(5), 2))
    err = {(0, 1): 2, (0, 3): 1, (1, 3): 3, (1, 4): 1, (2, 4): 0, (3, 4): 2}
    return m, pairs, err


def _per_person(m, pairs, err):
    n_ab = np.array([m[a] * m[b] for a, b in pairs], float)
    k_ab = np.array([err.get(pr, 0) for pr in pairs], float)
    k_sub = np.zeros(len(m))
    n_sub = np.zeros(len(m))
    for (a, b), k, n in zip(pairs, k_ab, n_ab):
        k_sub[[a, b]] += k
        n_sub[[a, b]] += n
    return n_ab, k_ab, k_sub, n_sub


def test_jackknife_is_the_direct_delete_one_computation():
    m, pairs, err = _toy()
    n_ab, k_ab, k_sub, n_sub = _per_person(m, pairs, err)
    loo = []
    for i in range(len(m)):
        keep = [j for j, (a, b) in enumerate(pairs) if i not in (a, b)]
        loo.append(k_ab[keep].sum() / n_ab[keep].sum())
    loo = np.array(loo)
    direct = (len(m) - 1) / len(m) * ((loo - loo.mean()) ** 2).sum()
    got = jackknife_variance(np.array([k_ab.sum()]), np.array([n_ab.sum()]), k_sub, n_sub,
                             np.zeros(len(m), np.int64))
    assert got[0] == pytest.approx(direct, rel=1e-12)


def test_ustat_variance_is_the_sum_over_pairs_sharing_a_person():
    m, pairs, err = _toy()
    n_ab, k_ab, k_sub, n_sub = _per_person(m, pairs, err)
    K, N, s = k_ab.sum(), n_ab.sum(), len(m)
    z = k_ab - K / N * n_ab
    # every ordered couple of pairs that share at least one person, a pair with itself once
    share = sum(z[i] * z[j] for i, p in enumerate(pairs) for j, q in enumerate(pairs)
                if set(p) & set(q))
    pair_sq = (z**2).sum()
    want = (s / (s - 1) * (share + pair_sq) - pair_sq) / N**2  # sum_i R_i^2 = share + sq
    got = ustat_variance(np.array([K]), np.array([N]), k_sub, n_sub,
                         np.zeros(s, np.int64), np.array([pair_sq]))
    assert got[0] == pytest.approx(want, rel=1e-12)


def test_cluster_df_counts_the_people_that_carry_the_errors():
    g = np.zeros(50, np.int64)
    n_sub = np.full(50, 100.0)
    one = np.zeros(50)
    one[0] = 20.0  # one person has every error
    spread = np.full(50, 2.0)  # every person has the same share
    spread[::2] = 0.0
    few = cluster_df(np.array([20.0]), np.array([5000.0]), one, n_sub, g)
    many = cluster_df(np.array([50.0]), np.array([5000.0]), spread, n_sub, g)
    assert few[0] < 1.5 and many[0] > 40
    assert cluster_df(np.array([0.0]), np.array([5000.0]), np.zeros(50), n_sub, g)[0] == 49


def _sim(seed=1, sizes=(6, 9)):
    design = Design.of(sizes)
    rng = np.random.default_rng(seed)
    m, imp, gen = simulate(design, Heterogeneity("strong", 0.2, 0.3), rng, (0.3, 0.1, 0.03),
                           (0.4, 0.2))
    return design, m, imp, gen, rng


def test_bootstrap_weighting_is_fairbenchs():
    design, m, imp, gen, rng = _sim()
    w = subject_weights(design.group, 30, rng)
    n_img = np.zeros((len(m), 2))
    n_img[np.arange(len(m)), design.group] = m
    fast = impostor_replicates(design, m, imp, w)
    for j, k in enumerate(imp.k):
        hit = np.repeat(np.arange(len(k)), k)
        ref = impostor_rates(w, n_img, design.a[hit], design.b[hit],
                             design.pair_group[hit], 2)
        np.testing.assert_allclose(fast[j], ref, rtol=1e-10)
        sel = k > 0
        k_rep, n_rep, _ = weighted_impostor(w, m, design.group, 2, design.a[sel],
                                            design.b[sel], k[sel])
        np.testing.assert_allclose(k_rep / n_rep, ref, rtol=1e-10)


def _expanded_ustat(design, m, k, wr):
    """ustat_variance of the dataset the weights describe, built copy by copy (no pair of
    a person with a copy of itself)."""
    copies = np.repeat(np.arange(len(m)), wr.astype(int))
    err = dict(zip(zip(design.a, design.b), k))
    grp = design.group[copies]
    G = len(design.sizes)
    k_sub, n_sub = np.zeros(len(copies)), np.zeros(len(copies))
    K, N, Z2, zs = np.zeros(G), np.zeros(G), np.zeros(G), []
    for i, j in combinations(range(len(copies)), 2):
        a, b = sorted((copies[i], copies[j]))
        if a == b or grp[i] != grp[j]:
            continue
        kk, nn = err[(a, b)], m[a] * m[b]
        K[grp[i]] += kk
        N[grp[i]] += nn
        k_sub[[i, j]] += kk
        n_sub[[i, j]] += nn
        zs.append((grp[i], kk, nn))
    for g_, kk, nn in zs:
        Z2[g_] += (kk - K[g_] / N[g_] * nn) ** 2
    return K, N, ustat_variance(K, N, k_sub, n_sub, grp, Z2)


def test_weighted_ustat_is_the_ustat_of_the_resampled_people():
    design, m, imp, gen, rng = _sim()
    w = subject_weights(design.group, 4, rng)
    w[0] = 1.0  # the sample itself
    k = imp.k[0]
    sel = k > 0
    k_rep, n_rep, v_rep = weighted_impostor(w, m, design.group, 2, design.a[sel],
                                            design.b[sel], k[sel])
    for r in range(len(w)):
        K, N, v = _expanded_ustat(design, m, k, w[r])
        np.testing.assert_allclose(k_rep[r], K)
        np.testing.assert_allclose(n_rep[r], N)
        np.testing.assert_allclose(v_rep[r], v, rtol=1e-10)
    # mated: a person's copies are separate clusters
    e = gen.k[0]
    k_rep, n_rep, v_rep = weighted_mated(w, gen.n, e, design.group, 2)
    for r in range(len(w)):
        c = np.repeat(np.arange(len(m)), w[r].astype(int))
        K = np.bincount(design.group[c], e[c], 2)
        N = np.bincount(design.group[c], gen.n[c], 2)
        v = ustat_variance(K, N, e[c].astype(float), gen.n[c].astype(float),
                           design.group[c], np.zeros(2))
        np.testing.assert_allclose(v_rep[r], v, rtol=1e-10)


def test_smoothed_logit_exists_without_errors():
    eta, se = smoothed_logit(np.array([0.0]), np.array([1000.0]), np.array([0.0]))
    assert np.isfinite(eta[0]) and se[0] > 0


def test_simulated_rates_are_unbiased_for_the_planted_truth():
    design = Design.of((100,))
    rng = np.random.default_rng(3)
    est = []
    for _ in range(300):
        m, imp, gen = simulate(design, Heterogeneity("strong", 0.2, 0.3), rng, (1e-2,),
                               (1e-1,))
        est.append((imp.k[0].sum() / imp.n.sum(), gen.k[0].sum() / gen.n.sum()))
    fmr, fnmr = np.mean(est, axis=0)
    assert fmr == pytest.approx(1e-2, rel=0.08) and fnmr == pytest.approx(1e-1, rel=0.05)


# --- the findings ----------------------------------------------------------------------

def _coverage(res, method, rate):
    (row,) = [r for r in res["results"] if r["method"] == method and r["rate"] == rate]
    return row["coverage"]


def test_without_heterogeneity_clopper_pearson_holds():
    res = run_coverage(replicates=400, seed=0, boot=0, sizes=(100,),
                       levels=(Heterogeneity("none", 0.0, 0.0),), fmr=(1e-2,), fnmr=(1e-1,),
                       methods=("clopper-pearson", "ustat-wilson-edf"))
    for rate in ("fmr", "fnmr"):  # 445 and 33 expected errors
        assert 0.93 <= _coverage(res, "clopper-pearson", rate) <= 0.99
        assert 0.93 <= _coverage(res, "ustat-wilson-edf", rate) <= 0.99


def test_with_strong_heterogeneity_clopper_pearson_fails_and_people_level_methods_do_not():
    res = run_coverage(replicates=200, seed=0, boot=100, sizes=(100,),
                       levels=(Heterogeneity("strong", 0.2, 0.3),), fmr=(1e-2,), fnmr=(1e-1,),
                       methods=("clopper-pearson", "subject-bootstrap", "ustat-wilson-edf"))
    cp = _coverage(res, "clopper-pearson", "fmr")
    assert cp < 0.6  # one person in many impostor pairs: the binomial n is far too big
    for meth in ("subject-bootstrap", "ustat-wilson-edf"):
        assert _coverage(res, meth, "fmr") > max(0.85, cp + 0.3)


def test_rule_prefers_the_closest_method_above_the_floor_else_the_highest_minimum():
    def rows(cov):
        return [{"method": mt, "counted": True, "coverage": c, "mean_rel_width": 1.0,
                 "median_rel_width": 1.0} for mt, cs in cov.items() for c in cs]

    got = choose_default(rows({"a": [0.99, 0.99], "b": [0.94, 0.96], "c": [0.95, 0.90]}),
                         ("a", "b", "c"))
    assert got["default"] == "b" and got["methods_above_floor"] == ["a", "b"]
    got = choose_default(rows({"a": [0.80, 0.99], "c": [0.95, 0.90]}), ("a", "c"))
    assert got["default"] == "c" and got["methods_above_floor"] == []
    assert "highest minimum" in got["rule"] and FLOOR == 0.93
