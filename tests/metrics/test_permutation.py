"""Subject-level permutation tests: exact p-values equal a brute force over every
relabelling, written here from the image pairs; p-values are uniform under a planted null
(Kolmogorov-Smirnov); the run's tables carry them with Holm and BH adjustments."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import kstest

from fairbench.metrics.permutation import (
    PairErrors,
    all_relabellings,
    benjamini_hochberg,
    distinct_relabellings,
    holm,
    permutation_test,
    relabellings,
)


def small_world(seed: int, people: int = 7, images: int = 2, shift: float = 0.0):
    """Images with scores: person p has `images` images; every pair of images scored."""
    rng = np.random.default_rng(seed)
    u = rng.normal(0, 0.5, people)  # each person's pull on their impostor scores
    img = np.repeat(np.arange(people), images)
    i, j = np.triu_indices(len(img), 1)
    a, b = img[i], img[j]
    score = u[a] + u[b] + rng.normal(0, 1, len(a)) + shift * ((a < 3) & (b < 3))
    score = np.round(score, 1)  # ties
    return img, a, b, score


def pair_errors(img, a, b, score, t) -> PairErrors:
    people = img.max() + 1
    imp = a != b
    hit = imp & (score >= t)
    mated = ~imp
    return PairErrors(a[hit], b[hit], np.bincount(img, minlength=people),
                      np.bincount(a[mated], minlength=people),
                      np.bincount(a[mated & (score < t + 2.0)], minlength=people))


def brute_rates(labels, img, a, b, score, t, G):
    """Rates straight from the image pairs: same-group impostors, each person's mates."""
    fm, fnm = np.full(G, np.nan), np.full(G, np.nan)
    for g in range(G):
        imp = [(x, y, s) for x, y, s in zip(a, b, score) if x != y and labels[x] == g
               and labels[y] == g]
        mates = [(x, s) for x, y, s in zip(a, b, score) if x == y and labels[x] == g]
        if imp:
            fm[g] = sum(s >= t for *_, s in imp) / len(imp)
        if mates:
            fnm[g] = sum(s < t + 2.0 for _, s in mates) / len(mates)
    return fm, fnm


def brute_p(labels, img, a, b, score, t, G, ref):
    """Exact p-values: every distinct way to deal the labels out to the people."""
    people = np.flatnonzero(labels >= 0)
    seen, stats = set(), []
    for perm in itertools.permutations(people):
        lab = labels.copy()
        lab[people] = labels[list(perm)]
        key = tuple(lab)
        if key in seen:
            continue
        seen.add(key)
        stats.append(brute_rates(lab, img, a, b, score, t, G))
    obs = brute_rates(labels, img, a, b, score, t, G)
    out = []
    for k in range(2):
        o = obs[k]
        p = []
        for g in range(G):
            if g == ref or np.isnan(o[g]) or np.isnan(o[ref]):
                p.append(np.nan)
                continue
            d = abs(o[g] - o[ref])
            p.append(np.mean([abs(s[k][g] - s[k][ref]) >= d - 1e-12
                              if not (np.isnan(s[k][g]) or np.isnan(s[k][ref])) else False
                              for s in stats]))
        ok = ~np.isnan(o)
        span = np.nanmax(o[ok]) - np.nanmin(o[ok])
        pmax = np.mean([(np.nanmax(s[k][~np.isnan(s[k])]) - np.nanmin(s[k][~np.isnan(s[k])]))
                        >= span - 1e-12 for s in stats])
        out.append((np.array(p), pmax))
    return out, len(seen)


@pytest.mark.parametrize("seed,shift", [(0, 0.0), (1, 1.5), (2, 3.0)])
def test_exact_p_values_equal_a_brute_force_over_every_relabelling(seed, shift):
    img, a, b, score = small_world(seed, shift=shift)
    labels = np.array([0, 0, 0, 1, 1, 2, -1])  # one person's label unknown: kept out
    G, ref, t = 3, 1, 0.8
    pe = pair_errors(img, a, b, score, t)
    rel = relabellings(labels, permutations=1000, rng=np.random.default_rng(0))
    assert rel.exact and len(rel.rows) == distinct_relabellings(labels) == 60
    res = permutation_test(labels, pe, G, ref, np.ones(G, bool), np.ones(G, bool), rel)
    (fm_p, fm_max), (fnm_p, fnm_max) = brute_p(labels, img, a, b, score, t, G, ref)[0]
    np.testing.assert_allclose(res.fmr_p, fm_p, equal_nan=True)
    np.testing.assert_allclose(res.fnmr_p, fnm_p, equal_nan=True)
    assert res.fmr_max_p == pytest.approx(fm_max) and res.fnmr_max_p == pytest.approx(fnm_max)
    assert res.method == "exact" and res.relabellings == 60


def test_all_relabellings_are_distinct_and_keep_group_sizes():
    labels = np.array([2, 0, 0, -1, 1, 1, 1])
    rows = all_relabellings(labels)
    assert len(rows) == len({tuple(r) for r in rows}) == 60  # 6! / (2! 3! 1!)
    assert (rows[:, 3] == -1).all()
    assert all(sorted(r[r >= 0]) == sorted(labels[labels >= 0]) for r in rows)


def test_monte_carlo_p_values_are_one_plus_hits_over_one_plus_draws():
    img, a, b, score = small_world(3, people=12)
    labels = np.repeat([0, 1, 2], 4)
    pe = pair_errors(img, a, b, score, 0.8)
    rel = relabellings(labels, permutations=199, rng=np.random.default_rng(5))
    assert not rel.exact and rel.counted == 200
    res = permutation_test(labels, pe, 3, 0, np.ones(3, bool), np.ones(3, bool), rel)
    p = res.fmr_p[1:]
    assert np.allclose(p * 200, np.round(p * 200)) and (p >= 1 / 200).all()
    # the same seed gives the same relabellings (the tables are reproducible)
    again = relabellings(labels, permutations=199, rng=np.random.default_rng(5))
    assert (again.rows == rel.rows).all() and len(rel.rows) == 199
    # drawn again in chunks of any size, the relabellings are the same
    assert (np.concatenate(list(rel.chunks(7))) == rel.rows).all()


def test_p_values_are_uniform_under_a_planted_null():
    """No group effect, strong person effects: the p-values of many datasets are uniform
    (a pair-level permutation would not be: it ignores that pairs share people)."""
    ps = []
    for seed in range(150):
        rng = np.random.default_rng(1000 + seed)
        people = 24
        u = rng.normal(0, 0.8, people)
        img = np.repeat(np.arange(people), 2)
        i, j = np.triu_indices(len(img), 1)
        a, b = img[i], img[j]
        score = u[a] + u[b] + rng.normal(0, 1, len(a))
        labels = rng.permutation(np.repeat([0, 1], people // 2))
        pe = pair_errors(img, a, b, score, 1.2)
        rel = relabellings(labels, permutations=199, rng=rng)
        res = permutation_test(labels, pe, 2, 0, np.ones(2, bool), np.ones(2, bool), rel)
        ps.append(res.fmr_p[1])
    # p-values of a permutation test are discrete (multiples of 1/200): jitter within
    # their step, so a uniform p-value gives exactly uniform numbers
    jitter = np.random.default_rng(7).uniform(0, 1 / 200, len(ps))
    assert kstest(np.array(ps) - jitter, "uniform").pvalue > 0.01


def test_holm_and_bh_against_their_definitions():
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005])
    h = holm(p)
    # sorted: 0.005, 0.01, 0.03, 0.04 -> 4x, 3x, 2x, 1x, then running maximum
    np.testing.assert_allclose(h, [0.03, 0.06, np.nan, 0.06, 0.02], equal_nan=True)
    q = benjamini_hochberg(p)
    # BH: p_(i) m / i, then running minimum from the top: 0.02, 0.02, 0.04, 0.04
    np.testing.assert_allclose(q, [0.02, 0.04, np.nan, 0.04, 0.02], equal_nan=True)


def test_a_run_carries_exact_p_values_and_their_adjustments(tmp_path):
    """A whole run on 8 people in three groups (few enough relabellings to enumerate): its
    table's p-values equal a brute force from the cosine scores of the templates, the
    reference row has none, and Holm/BH adjust one family per operating point."""
    import pandas as pd

    import fairbench

    rng = np.random.default_rng(11)
    people, per = 8, 3
    grp = ["a", "a", "a", "b", "b", "b", "c", "c"]
    u = rng.normal(size=(people, 16))
    emb = np.concatenate([u[p] + 0.9 * rng.normal(size=(per, 16)) for p in range(people)])
    ids = [f"p{p}_{k}" for p in range(people) for k in range(per)]
    pd.DataFrame({"image_id": ids, "subject_id": [i.split("_")[0] for i in ids],
                  "grp": [grp[int(i[1])] for i in ids], "path": [f"{i}.jpg" for i in ids]}
                 ).to_csv(tmp_path / "m.csv", index=False)
    np.savez(tmp_path / "e.npz", image_ids=np.array(ids), embeddings=emb.astype(np.float32))
    t = 0.25
    run = fairbench.run({"dataset": {"manifest": str(tmp_path / "m.csv"), "attributes": ["grp"]},
                         "matcher": {"name": "precomputed",
                                     "params": {"path": str(tmp_path / "e.npz")}},
                         "verification": {"target_fmr": [], "fixed_thresholds": [t],
                                          "reference_group": {"grp": "a"},
                                          "bootstrap": {"replicates": 0}}},
                        tmp_path / "out", progress=False)
    by = run.tables["verification_by_group"]
    rows = by[by.attribute == "grp"].set_index("group")
    assert (rows.p_method == "exact").all() and (rows.p_relabellings == 560).all()  # 8!/(3!3!2!)
    e = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    s = (e @ e.T).astype(np.float32)
    who = np.repeat(np.arange(people), per)
    i, j = np.triu_indices(len(ids), 1)

    def rates(lab):
        out = {}
        for g in "abc":
            imp = (lab[who[i]] == g) & (lab[who[j]] == g) & (who[i] != who[j])
            mat = (lab[who[i]] == g) & (who[i] == who[j])
            out[g] = ((s[i, j][imp] >= t).mean(), (s[i, j][mat] < t).mean())
        return out

    labels = np.array(grp)
    obs = rates(labels)
    seen = {tuple(p) for p in itertools.permutations(labels)}
    draws = [rates(np.array(p)) for p in seen]
    for g in "bc":
        for k, rate in enumerate(("fmr", "fnmr")):
            d = abs(obs[g][k] - obs["a"][k])
            want = np.mean([abs(x[g][k] - x["a"][k]) >= d - 1e-12 for x in draws])
            assert rows.loc[g, f"{rate}_p"] == pytest.approx(want), (g, rate)
    assert np.isnan(rows.loc["a", "fmr_p"])
    fam = by[by.operating_point == rows.operating_point.iloc[0]]
    p = np.concatenate([fam.fmr_p.to_numpy(float), fam.fnmr_p.to_numpy(float)])
    np.testing.assert_allclose(np.concatenate([fam.fmr_p_holm, fam.fnmr_p_holm]), holm(p),
                               equal_nan=True)
    summ = run.tables["verification_summary"]
    span = summ[(summ.attribute == "grp") & (summ.measure == "fmr_max_difference")]
    assert 0 < float(span.p_value.iloc[0]) <= 1


def test_tests_that_cannot_reject_stay_out_of_the_family():
    """A rate with no error anywhere in a breakdown has p = 1 under every relabelling:
    it is left out of the Holm and BH family (it would only inflate the others)."""
    import pandas as pd

    from fairbench.metrics.differences import adjust_p_values

    by = pd.DataFrame({"operating_point": "fmr=0.01", "attribute": ["eth"] * 3 + ["sex"] * 2,
                       "group": ["a", "b", "c", "f", "m"],
                       "fmr_p": [np.nan, 0.01, 0.04, np.nan, 0.3],
                       "fmr_errors": [5, 9, 7, 3, 4],
                       "fnmr_p": [np.nan, 1.0, 1.0, np.nan, 1.0],
                       "fnmr_errors": [0, 0, 0, 2, 0]})
    adjust_p_values(by)
    # the family: the three FMR tests and sex's FNMR test (sex has an FNMR error)
    assert (by.p_family == 4).all()
    # Holm over [0.01, 0.04, 0.3, 1.0]: 4 x 0.01, 3 x 0.04, 2 x 0.3 (running maximum)
    np.testing.assert_allclose(by.fmr_p_holm, [np.nan, 0.04, 0.12, np.nan, 0.6],
                               equal_nan=True)
    assert by.fnmr_p_holm.tolist()[1:3] == [1.0, 1.0]  # eth's FNMR: out, kept at 1


@pytest.mark.parametrize("varies", [False, True])
def test_age_bands_are_tested_when_ages_are_one_per_person(tmp_path, varies):
    """Age bands are read by a pair's mean age; where every person has one age that is
    their own band, so the bands can be dealt out to people and tested; where a person's
    images carry different ages they cannot."""
    import pandas as pd

    import fairbench

    rng = np.random.default_rng(3)
    people, per = 12, 2
    ids = [f"p{p}_{k}" for p in range(people) for k in range(per)]
    age = [20 + 30 * (p % 2) + (k if varies and p == 0 else 0) for p in range(people)
           for k in range(per)]
    pd.DataFrame({"image_id": ids, "subject_id": [i.split("_")[0] for i in ids],
                  "age": age, "path": [f"{i}.jpg" for i in ids]}
                 ).to_csv(tmp_path / "m.csv", index=False)
    u = rng.normal(size=(people, 8))
    emb = np.concatenate([u[p] + rng.normal(size=(per, 8)) for p in range(people)])
    np.savez(tmp_path / "e.npz", image_ids=np.array(ids), embeddings=emb.astype(np.float32))
    run = fairbench.run({"dataset": {"manifest": str(tmp_path / "m.csv"),
                                     "attributes": ["age_band"], "age_bands": [0, 40]},
                         "matcher": {"name": "precomputed",
                                     "params": {"path": str(tmp_path / "e.npz")}},
                         "verification": {"target_fmr": [0.2], "bootstrap": {"replicates": 0},
                                          "permutations": 99}},
                        tmp_path / "out", progress=False)
    rows = run.tables["verification_by_group"]
    rows = rows[rows.attribute == "age_band"]
    method = {m if isinstance(m, str) else "" for m in rows.p_method}
    assert method == ({""} if varies else {"monte carlo"})


@pytest.mark.parametrize("dens", [False, True])
def test_compiled_counts_equal_the_numpy_counts(monkeypatch, dens):
    """Large data count in compiled loops: the same rates, bit for bit, as the bincount
    path small data take (unknown labels, repeated pairs, weights, listed denominators);
    and the worst-subgroup scan's pair counts likewise."""
    from fairbench.metrics import permutation as pm
    from fairbench.metrics.permutation import PairErrors, rates
    from fairbench.metrics.scan import _pair_counts

    rng = np.random.default_rng(4)
    people, K, G = 60, 400, 4
    a, b = rng.integers(0, people, K), rng.integers(0, people, K)
    a[:20] = b[:20] = 7  # repeats
    pe = PairErrors(a, b, rng.integers(1, 4, people), rng.integers(1, 3, people),
                    rng.integers(0, 2, people),
                    *((rng.integers(0, people, K), rng.integers(0, people, K),
                       rng.integers(1, 5, K)) if dens else (None, None, None)))
    labels = rng.integers(-1, G, (30, people))
    codes = rng.integers(0, 5, (30, people))
    w = rng.random(K) * 3
    monkeypatch.setattr(pm, "COMPILED_FROM", 1 << 60)
    slow = rates(labels, pe, G), _pair_counts(codes, a, b, None, 5), \
        _pair_counts(codes, a, b, w, 5)
    monkeypatch.setattr(pm, "COMPILED_FROM", 0)
    fast = rates(labels, pe, G), _pair_counts(codes, a, b, None, 5), \
        _pair_counts(codes, a, b, w, 5)
    for x, y in zip((*slow[0], *slow[1:]), (*fast[0], *fast[1:])):
        assert np.array_equal(x, y, equal_nan=True)


@pytest.mark.parametrize("top", [5, 300])
def test_random_relabellings_kept_between_thresholds_are_the_same(monkeypatch, top):
    """Relabellings drawn once and kept (in int8 or int16) equal those drawn afresh."""
    from fairbench.metrics import permutation as pm
    from fairbench.metrics.permutation import Relabellings

    labels = np.random.default_rng(1).integers(-1, top, 500)
    kept = Relabellings(labels, False, 70, 99)
    fresh = np.concatenate(list(kept.chunks(16)))
    assert kept._drawn is not None and kept._drawn.itemsize < labels.itemsize
    monkeypatch.setattr(pm, "MEMO_ENTRIES", 0)
    drawn = Relabellings(labels, False, 70, 99)
    again = np.concatenate(list(drawn.chunks(16)))
    assert drawn._drawn is None
    assert fresh.dtype == again.dtype == labels.dtype and np.array_equal(fresh, again)
    assert np.array_equal(np.concatenate(list(kept.chunks(7))), again)
