"""``verification.tail: people`` against the default mode: the same thresholds and the same
tables, bit for bit, from records that stand for many pairs each.

The data has ties everywhere (small integer templates), failed templates, people with up
to eight images, and an attribute that changes from image to image, so one person's images
fall into several strata and records stand for many pairs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fairbench.core.counts import Binning, PeopleTail, lowest_score
from fairbench.core.settings import Settings
from fairbench.engine.allpairs import count_verification, exact_bins_for
from fairbench.metrics.pergroup import per_group_thresholds
from fairbench.metrics.tables import verification_results
from fairbench.metrics.thresholds import verification_points
from fairbench.plan import make_plan

TARGETS = [1e-1, 1e-2, 1e-3]


def many_images(kind: str, n_subjects: int = 48, seed: int = 1):
    """A frame with a per-image attribute (``light``) and tied scores; two failed rows."""
    rng = np.random.default_rng(seed)
    rows, embs = [], []
    for s in range(n_subjects):
        grp = ["a", "b", "c"][s % 3] if s % 13 else "unknown"
        base = rng.integers(-2, 3, 8).astype(np.float32)
        for k in range(int(rng.integers(1, 9))):
            rows.append({"image_id": f"s{s}_{k}", "path": f"s{s}_{k}.jpg",
                         "subject_id": f"s{s:03d}", "grp": grp,
                         "light": ["dim", "bright"][int(rng.integers(0, 2))]})
            # small integers near the person's own: tied scores, and tail events that
            # repeat for the images of one pair of people
            embs.append(base + rng.integers(-1, 2, 8).astype(np.float32))
    e = np.array(embs, dtype=np.float32)
    e[[4, 21]] = np.nan
    return pd.DataFrame(rows), e


def both(kind, fixed, bins, block=13, attrs=("grp", "light"), **kw):
    frame, emb = many_images(kind)
    plan = make_plan(frame, list(attrs))
    out = [count_verification(emb, kind, plan, fixed, TARGETS, bins=bins, block=block,
                              tail=t, **kw) for t in ("pairs", "people")]
    return frame, emb, plan, out


@pytest.mark.parametrize("kind,fixed", [("cosine", [0.25]), ("euclidean", [-3.0])])
@pytest.mark.parametrize("bins", [64, 97])
def test_people_records_stand_for_exactly_the_pairs_they_replace(kind, fixed, bins):
    frame, emb, plan, ((cp, fp), (cq, fq)) = both(kind, fixed, bins)
    assert np.array_equal(fp, fq)
    assert np.array_equal(cp.hist, cq.hist) and np.array_equal(cp.mated_s, cq.mated_s)
    assert cq.kept_exact is not None and cq.kept_w is not None and cp.kept_w is None
    assert cq.tail == "people"
    # fewer records than pairs, standing for every pair at or above the floor
    assert len(cq.kept_s) < len(cp.kept_s)
    # the default mode's kept pairs (checked against brute force in
    # tests/metrics/test_verification_bruteforce.py) are the reference above its floor
    assert cp.kept_floor_bin <= cq.kept_floor_bin
    floor = cq.kept_floor_bin
    imp = cp.kept_s[cp.binning.index(cp.kept_s) >= floor]
    assert cq.count() == int((cq.binning.index(imp) >= floor).sum())
    # exact bins hold the very scores of their pairs; the other records meet exactly the
    # thresholds their pairs meet, for a threshold in any exact bin
    b = cq.binning.index(cq.kept_s)
    ex = cq.kept_exact[b]
    assert np.all(cq.kept_w[ex] == 1)
    assert sorted(cq.kept_s[ex].tolist()) == sorted(
        imp[cq.kept_exact[cq.binning.index(imp)] & (cq.binning.index(imp) >= floor)].tolist())
    for t in np.unique(imp[cq.kept_exact[cq.binning.index(imp)]]):
        for x in (t, np.nextafter(t, np.float32(np.inf))):
            assert int(cq.kept_w[cq.kept_s >= x].sum()) == int((imp >= x).sum())
    # each record is a pair of (person, stratum): pairs of images of the same two people
    # and strata share one record per level
    key = (plan.subject[cq.kept_i] * plan.n_strata + plan.stratum[cq.kept_i]) * 10**6 + (
        plan.subject[cq.kept_j] * plan.n_strata + plan.stratum[cq.kept_j])
    agg = ~ex
    lev = cq.kept_s[agg]
    assert len(np.unique(np.stack([key[agg], lev.view(np.int32)]), axis=1).T) == agg.sum()


@pytest.mark.parametrize("kind,fixed_native", [("cosine", [0.25]), ("euclidean", [3.0])])
@pytest.mark.parametrize("rule", ["fairbench", "bob"])
def test_every_table_is_the_same_in_both_modes(kind, fixed_native, rule):
    fixed = [v if kind == "cosine" else -v for v in fixed_native]
    frame, emb, plan, ((cp, fp), (cq, fq)) = both(kind, fixed, 64)
    reading = {"target_fmr": TARGETS, "fixed_thresholds": fixed_native, "threshold_rule": rule,
               "scan": {"depth": 2, "min_subjects": 2}}
    s = Settings(replicates=40, permutations=49)
    acquired = np.all(np.isfinite(emb), axis=1)
    pts_p, tp = verification_results(plan, cp, acquired, fp, reading, s, ["grp", "light"],
                                     {}, kind)
    pts_q, tq = verification_results(plan, cq, acquired, fq, reading, s, ["grp", "light"],
                                     {}, kind)
    assert pts_p == pts_q
    assert all(cq.exact_at(p.similarity) for p in pts_q if p.supported)
    assert any(p.supported and p.kind == "target_fmr" for p in pts_p)
    named_p, named_q = tp.named(), tq.named()
    assert named_p.keys() == named_q.keys()
    for name in named_p:
        pd.testing.assert_frame_equal(named_p[name], named_q[name], check_exact=True,
                                      obj=name)
    assert tp.replicates.keys() == tq.replicates.keys()
    for k in tp.replicates:
        np.testing.assert_array_equal(tp.replicates[k], tq.replicates[k])


def test_per_group_thresholds_are_exact_in_exact_bins_and_bounded_elsewhere():
    frame, emb, plan, ((cp, fp), (cq, fq)) = both("cosine", [0.25], 64)
    s = Settings(replicates=0)
    pts = verification_points(cp, TARGETS, [0.25], "cosine")
    acquired = np.all(np.isfinite(emb), axis=1)
    gp = per_group_thresholds(plan, cp, acquired, fp, pts, s, ["grp", "light"], "cosine")
    gq = per_group_thresholds(plan, cq, acquired, fq, pts, s, ["grp", "light"], "cosine")
    assert len(gp) == len(gq)
    same = gq["threshold_resolution"] == "exact"
    assert same.any() and (gq["threshold_resolution"] == "bin").any()
    pd.testing.assert_frame_equal(gp[same], gq[same], check_exact=True)
    # read at a bin's edge where the bin was counted only: the exact threshold lies in it
    coarse = gq[gq["threshold_resolution"] == "bin"]
    exact = gp.loc[coarse.index]
    w = coarse["threshold_bin_width"]
    assert (exact["threshold_similarity"] <= coarse["threshold_similarity"]).all()
    assert (exact["threshold_similarity"] >= coarse["threshold_similarity"] - w - 1e-6).all()
    # the global columns read at exact thresholds: equal
    for c in ("global_fmr_errors", "global_fnmr_errors", "global_fmr"):
        assert (gp[c] == gq[c]).all(), c


def test_auto_keeps_pairs_unless_they_would_not_fit():
    frame, emb = many_images("cosine")
    plan = make_plan(frame, ["grp", "light"])
    small, _ = count_verification(emb, "cosine", plan, [0.25], TARGETS, bins=64, tail="auto")
    assert small.tail == "pairs"
    forced, _ = count_verification(emb, "cosine", plan, [0.25], TARGETS, bins=64,
                                   tail="auto", max_kept=2000)
    assert forced.tail == "people"
    people, _ = count_verification(emb, "cosine", plan, [0.25], TARGETS, bins=64,
                                   tail="people")
    assert np.array_equal(forced.kept_exact, people.kept_exact)
    assert forced.count() == people.count()
    with pytest.raises(Exception, match="tail: people"):
        count_verification(emb, "cosine", plan, [-0.5], TARGETS, bins=64, tail="pairs",
                           max_kept=50)


def test_levels_and_exact_bins():
    b = Binning(-1.0, 1.0, 16)
    pooled = np.zeros(16, np.int64)
    pooled[[3, 8, 9, 12, 15]] = [50, 25, 2, 1, 1]  # 79 pairs
    need = exact_bins_for(pooled, b, [0.3], [0.05])
    # fixed 0.3 -> bin 10; m = floor(3.95) = 3 -> ranks 3..5: bins 9, 9, 8; the top bin
    assert need == [8, 9, 10, 15]
    tail = PeopleTail.for_bins(b, np.array(need), 8)
    assert tail.level.tolist() == [-1] * 11 + [0, 0, 0, 0, -1]
    assert tail.level_score.tolist() == [np.float32(lowest_score(b, 11))]
    assert b.index(np.array([tail.level_score[0]]))[0] == 11
    assert b.index(np.array([np.nextafter(tail.level_score[0], np.float32(-2))]))[0] == 10


def test_exact_at_says_where_the_records_count_exactly():
    frame, emb, plan, ((cp, _), (cq, _)) = both("cosine", [0.25], 64)
    lev = np.flatnonzero(~cq.kept_exact[cq.kept_floor_bin:]) + cq.kept_floor_bin
    assert len(lev) >= 2
    first = next(int(b) for b in lev if b == cq.kept_floor_bin or cq.kept_exact[b - 1])
    t = lowest_score(cq.binning, first)
    assert cq.exact_at(t) and cp.exact_at(t)
    assert not cq.exact_at(float(np.nextafter(np.float32(t), np.float32(2))))
    inner = next((int(b) for b in lev if b > first and not cq.kept_exact[b - 1]), None)
    if inner is not None:
        assert not cq.exact_at(lowest_score(cq.binning, inner))
    assert not cq.exact_at(lowest_score(cq.binning, cq.kept_floor_bin) - 0.1)
    assert all(cq.exact_at(lowest_score(cq.binning, int(b)) + 1e-7)
               for b in np.flatnonzero(cq.kept_exact) if b >= cq.kept_floor_bin)


def test_counts_npz_keeps_the_weights_and_the_exact_bins(tmp_path):
    from fairbench.results.arrays import StoredCodes, load_counts, save_counts

    frame, emb, plan, (_, (cq, fq)) = both("euclidean", [-3.0], 97)
    acquired = np.all(np.isfinite(emb), axis=1)
    codes = StoredCodes(plan, acquired, fq, frame["image_id"].tolist())
    save_counts(tmp_path / "counts.npz", codes, cq)
    _, back = load_counts(tmp_path / "counts.npz")
    for name in ("kept_i", "kept_j", "kept_s", "kept_w", "kept_exact", "hist"):
        a, b = getattr(cq, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert back.tail_summary() == cq.tail_summary()


def test_a_run_with_tail_people_gives_the_default_run_s_tables(tmp_path):
    """The whole pipeline: every table file equal, run.json says which tail ran, and the
    stored run reads back (report, compare) under either mode."""
    import fairbench

    cfg = {"dataset": {"simulate": {"n_subjects": 120, "groups": 3, "dim": 16, "seed": 4,
                                    "images_per_subject": 5}},
           "matcher": {"name": "simulated"},
           "verification": {"target_fmr": [1e-2, 1e-3], "histogram_bins": 256,
                            "threshold_policy": "per_group",
                            "bootstrap": {"replicates": 30}, "permutations": 19}}
    a = fairbench.run({**cfg, "verification": {**cfg["verification"], "tail": "pairs"}},
                      tmp_path / "a", progress=False)
    b = fairbench.run({**cfg, "verification": {**cfg["verification"], "tail": "people"}},
                      tmp_path / "b", progress=False)
    tail = [r.record["provenance"]["kernels"]["verification"]["tail"] for r in (a, b)]
    assert tail == ["pairs", "people"]
    assert b.record["comparisons"]["kept_records"] < a.record["comparisons"]["kept_records"]
    assert a.tables.keys() == b.tables.keys()
    for name in a.tables:
        if name == "thresholds_per_group":  # exact only where the thresholds' bins were kept
            continue
        pd.testing.assert_frame_equal(a.tables[name], b.tables[name], check_exact=True,
                                      obj=name)
    assert any("verification.tail: people" in n for n in b.record["notes"])
    assert not any("verification.tail: people" in n for n in a.record["notes"])
    from fairbench.results.arrays import load_counts

    _, stored = load_counts(b.run_dir / "counts.npz")
    assert stored.kept_w is not None and stored.count() == b.record["comparisons"][
        "kept_impostor_pairs"]
    # the report rebuilds every table from counts.npz, weights and all
    from fairbench.report.rebuild import build_report

    tables = b.run_dir / "tables"
    before = {p.name: p.read_text() for p in tables.iterdir()}
    for p in tables.iterdir():
        p.unlink()
    build_report(b.run_dir)
    assert {p.name: p.read_text() for p in tables.iterdir()} == before
    from fairbench.report.compare import compare_runs

    same = compare_runs(fairbench.load(a.run_dir), fairbench.load(b.run_dir))
    assert len(same.frame) and (same.frame["errors_a"] == same.frame["errors_b"]).all()


def test_the_key_sum_merges_in_place_like_np_unique():
    """Keys added in sorted batches with repeats, across growth: the same keys and counts
    as np.unique over all of them."""
    from fairbench.kernels.stream import KeySum

    rng = np.random.default_rng(5)
    ks, seen = KeySum(), []
    for size in (0, 1, 7, 300, 2, 1000, 64, 5000):
        new = np.sort(rng.integers(0, 900, size)).astype(np.int64)
        seen.append(new)
        ks.add(new.copy())
    want_k, want_c = np.unique(np.concatenate(seen), return_counts=True)
    k, c = ks.take()
    assert np.array_equal(k, want_k) and np.array_equal(c, want_c) and ks.m == 0
    # keys that come with counts (the bands' sums, merged on the driver) agree too
    band = KeySum()
    band.add(np.sort(np.concatenate(seen[:4])))
    band.add(k[:10].copy(), c[:10].copy())
    mk, mc = band.take()
    allk = np.concatenate([np.concatenate(seen[:4]), np.repeat(k[:10], c[:10])])
    uk, uc = np.unique(allk, return_counts=True)
    assert np.array_equal(mk, uk) and np.array_equal(mc, uc)


def test_records_decoded_a_chunk_at_a_time_equal_one_go():
    from fairbench.engine.allpairs import _with_people
    from fairbench.kernels.stream import StreamResult

    b = Binning(-1.0, 1.0, 16)
    tail = PeopleTail.for_bins(b, np.array([8, 12, 15]), 8)
    n, L = 50, len(tail.level_score)
    rng = np.random.default_rng(2)
    keys = np.unique(rng.integers(0, n * n * L, 40)).astype(np.int64)
    cnt = rng.integers(1, 9, len(keys)).astype(np.int64)
    cnt[3] = 2**32 + 5  # split into two records
    o = rng.permutation(n).astype(np.int32)
    ki, kj, ks = np.array([1, 2], np.int32), np.array([3, 4], np.int32), np.float32([0.1, 0.2])

    def res():
        r = StreamResult(np.zeros((1, 16), np.int64), np.zeros(0, np.float32), ki, kj, ks)
        r.agg_key, r.agg_count = keys.copy(), cnt.copy()
        return r

    whole = _with_people(ki, kj, ks, res(), o, tail)
    for chunk in (1, 3, 1000):
        got = _with_people(ki, kj, ks, res(), o, tail, chunk=chunk)
        assert all(np.array_equal(x, y) for x, y in zip(whole, got))
    wi, wj, ws, ww = whole
    assert int(ww.sum(dtype=np.int64)) == int(cnt.sum()) + 2 and len(ww) == len(keys) + 3
    assert (wi <= wj).all() and ww.max() == np.iinfo(np.uint32).max
