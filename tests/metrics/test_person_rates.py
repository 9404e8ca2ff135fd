"""The tables' default FMR and FNMR interval: its per-person decomposition, counted from
the image pairs here, gives the same bounds as the tables (all pairs and a per-image
breakdown), and it falls back to Clopper-Pearson where a group made no error."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.core.settings import Settings
from fairbench.metrics.intervals import clopper_pearson
from fairbench.metrics.ustat import METHOD, cluster_df, logit_t, ustat_variance
from fairbench.metrics.verification import verification_tables
from tests.metrics.test_verification_bruteforce import points, setup


def brute_interval(group_of_image, subject, i, j, s, t, mated, G, rate):
    """Each group's interval from the pairs themselves: units are (person, group)."""
    units = sorted({(int(subject[k]), int(group_of_image[k])) for k in range(len(subject))})
    uid = {u: n for n, u in enumerate(units)}
    ug = np.array([g for _, g in units])
    k_sub, n_sub = np.zeros(len(units)), np.zeros(len(units))
    k_tot, n_tot, pair_k, pair_n = np.zeros(G), np.zeros(G), {}, {}
    gi, gj = group_of_image[i], group_of_image[j]
    for a, b, sc, m, x, y in zip(i, j, s, mated, gi, gj):
        if x != y:
            continue
        if rate == "fmr" and not m:
            err = sc >= t
            for person in (subject[a], subject[b]):
                k_sub[uid[(int(person), int(x))]] += err
                n_sub[uid[(int(person), int(x))]] += 1
            key = (min(subject[a], subject[b]), max(subject[a], subject[b]), x)
            pair_k[key] = pair_k.get(key, 0) + err
            pair_n[key] = pair_n.get(key, 0) + 1
        elif rate == "fnmr" and m:
            err = sc < t
            k_sub[uid[(int(subject[a]), int(x))]] += err
            n_sub[uid[(int(subject[a]), int(x))]] += 1
        else:
            continue
        k_tot[x] += err
        n_tot[x] += 1
    pair_sq = np.zeros(G)
    for key, n in pair_n.items():  # pairs of people with at least one comparison
        g = key[2]
        pair_sq[g] += (pair_k[key] - k_tot[g] / n_tot[g] * n) ** 2
    has = n_sub > 0  # a person with no comparison of the kind in the group is no unit
    k_sub, n_sub, ug = k_sub[has], n_sub[has], ug[has]
    var = ustat_variance(k_tot, n_tot, k_sub, n_sub, ug, pair_sq)
    lo, hi = logit_t(k_tot, n_tot, var, cluster_df(k_tot, n_tot, k_sub, n_sub, ug))
    cl, ch = clopper_pearson(k_tot, n_tot)
    ok = np.isfinite(lo) & np.isfinite(hi) & (n_tot > 0) & (k_tot > 0)
    return np.where(ok, lo, cl), np.where(ok, hi, ch), k_tot


@pytest.mark.parametrize("kind,fixed", [("cosine", [0.25]), ("euclidean", [-3.0])])
def test_table_intervals_equal_the_decomposition_from_pairs(kind, fixed):
    frame, _, plan, counts, failed, i, j, s, mated = setup(kind, 64, 4096, fixed)
    pts = [p for p in points(counts, kind, [-f if kind == "euclidean" else f for f in fixed])
           if p.supported]
    tables = verification_tables(plan, counts, ~failed, pts, Settings(replicates=0,
                                                                    permutations=0),
                                 ["grp", "sex"])
    by = tables.by_group
    checked = 0
    for attr in ("grp", "sex", "grp|sex"):
        from fairbench.metrics.groups import make_view

        view = make_view(plan, tuple(attr.split("|")))
        for op in pts:
            rows = by[(by.attribute == attr) & (by.operating_point == op.label)]
            for rate in ("fmr", "fnmr"):
                lo, hi, k = brute_interval(view.image_group, plan.subject, i, j, s,
                                           op.similarity, mated, view.n_groups, rate)
                np.testing.assert_allclose(rows[f"{rate}_ci_low"], lo, rtol=1e-9, atol=1e-15)
                np.testing.assert_allclose(rows[f"{rate}_ci_high"], hi, rtol=1e-9, atol=1e-15)
                assert (rows[f"{rate}_ci_method"] == METHOD).all()
                cl, ch = clopper_pearson(rows[f"{rate}_errors"].to_numpy(),
                                         rows[f"{rate}_errors"].to_numpy() * 0
                                         + rows["n_nonmated" if rate == "fmr" else "n_mated"])
                np.testing.assert_allclose(rows[f"{rate}_cp_high"], ch)
                zero = k == 0  # no error: Clopper-Pearson's bounds, exactly
                np.testing.assert_allclose(rows[f"{rate}_ci_high"][zero], ch[zero])
                checked += int((k > 0).sum())
    assert checked > 10
