"""Summary measures and intervals against direct formulas."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import binomtest

from fairbench.metrics import summary as sm
from fairbench.metrics.intervals import clopper_pearson, rule_of_three


def test_clopper_pearson_matches_scipy_binomtest():
    for k, n in [(0, 10), (1, 10), (10, 10), (19, 312), (3, 20604)]:
        lo, hi = clopper_pearson(k, n, 0.95)
        ci = binomtest(k, n).proportion_ci(0.95, method="exact")
        assert float(lo) == pytest.approx(ci.low, abs=1e-12)
        assert float(hi) == pytest.approx(ci.high, abs=1e-12)
    lo, hi = clopper_pearson(0, 0)
    assert np.isnan(lo) and np.isnan(hi)
    assert float(rule_of_three(300)) == pytest.approx(0.01)


def brute_gini(x):
    n = len(x)
    tot = sum(abs(a - b) for a, b in itertools.product(x, x))
    return 0.0 if np.mean(x) == 0 else n / (n - 1) * tot / (2 * n * n * np.mean(x))


@pytest.mark.parametrize("fmr,fnmr", [
    ([0.01, 0.02, 0.005], [0.1, 0.1, 0.3]),
    ([0.0, 0.02, 0.001], [0.0, 0.0, 0.0]),
    ([0.3, 0.3], [0.2, 0.2]),
])
def test_summaries_match_definitions(fmr, fnmr):
    f, g = np.array(fmr), np.array(fnmr)
    eps = 1e-5 if (f == 0).any() else 0.0
    geo = np.exp(np.mean(np.log(f + eps)))
    assert sm.max_geomean(f) == pytest.approx((f.max() + eps) / geo)
    a = 0.3
    fdr = 1 - (a * max(abs(x - y) for x, y in itertools.product(f, f))
               + (1 - a) * max(abs(x - y) for x, y in itertools.product(g, g)))
    assert sm.fdr(f, g, a) == pytest.approx(fdr)
    assert sm.garbe(f, g, a) == pytest.approx(a * brute_gini(f) + (1 - a) * brute_gini(g))


def test_summaries_vectorise_over_replicates_and_skip_nan():
    reps = np.array([[0.01, 0.02, np.nan], [0.02, 0.02, 0.04]])
    mg = sm.max_geomean(reps)
    assert mg[0] == pytest.approx(0.02 / np.sqrt(0.01 * 0.02))
    assert mg[1] == pytest.approx(0.04 / (0.02 * 0.02 * 0.04) ** (1 / 3))
    assert np.isnan(sm.max_geomean(np.array([0.1, np.nan])))


def brute_max_geomean(x):
    """README: when any rate is 0, 1e-5 is added to every rate, numerator and denominator."""
    x = [v for v in x if np.isfinite(v)]
    eps = 1e-5 if min(x) <= 0 else 0.0
    y = [v + eps for v in x]
    return max(y) / np.prod(y) ** (1 / len(y))


@pytest.mark.parametrize("rates", [[0.0, 0.0, 0.0], [0.2, 0.2], [0.0, 1e-4, 0.3],
                                   [1e-6, 0.0], [0.5, 0.25, 0.125, 0.0]])
def test_max_geomean_is_at_least_one_and_one_when_equal(rates):
    x = np.array(rates)
    v = float(sm.max_geomean(x))
    assert v == pytest.approx(brute_max_geomean(rates))
    assert v >= 1.0
    if len(set(rates)) == 1:
        assert v == 1.0  # all equal, all zero included


def test_max_geomean_bootstrap_bounds_are_at_least_one():
    rng = np.random.default_rng(0)
    reps = rng.choice([0.0, 0.0, 1e-4, 0.01], size=(500, 4))
    reps[:50] = 0.0  # replicates where every group made no error
    from fairbench.metrics.bootstrap import percentile_interval

    vals = sm.max_geomean(reps)
    assert np.all(vals >= 1.0) and np.all(vals[:50] == 1.0)
    lo, hi = percentile_interval(vals[:, None], 0.95)
    assert lo[0] >= 1.0 and hi[0] >= lo[0]
