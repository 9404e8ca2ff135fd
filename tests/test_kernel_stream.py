"""The streaming kernel against brute force: diagonal tiles, threads, fallback, float16."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.core.codes import n_pair_slots, pair_index
from fairbench.engine import allpairs as counts_mod
from fairbench.kernels.prep import prepare, score_pairs
from fairbench.metrics.thresholds import smallest_threshold
from fairbench.plan import make_plan
from tests.generated import generated


def count_verification(*a, **k):
    return counts_mod.count_verification(*a, **k)[0]


def threshold_for_fmr(c, f):
    return smallest_threshold(c.kept_s, c.n_nonmated_total, f)


def brute(kind, frame, emb):
    plan = make_plan(frame, ["grp", "sex"])
    p = prepare(emb, kind)
    i, j = np.triu_indices(plan.n_images, k=1)
    s = score_pairs(p, i, j)
    mated = plan.subject[i] == plan.subject[j]
    return plan, i, j, s, mated


def same(a, b):
    assert np.array_equal(a.hist, b.hist)
    assert np.array_equal(a.mated_s, b.mated_s)
    ka = sorted(zip(a.kept_i.tolist(), a.kept_j.tolist(), a.kept_s.tolist()))
    kb = sorted(zip(b.kept_i.tolist(), b.kept_j.tolist(), b.kept_s.tolist()))
    assert ka == kb


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
@pytest.mark.parametrize("block", [1, 5, 64, 4096])
def test_histograms_equal_brute_force_on_every_tiling(kind, block):
    frame, emb = generated(kind, n_subjects=45, seed=7)
    plan, i, j, s, mated = brute(kind, frame, emb)
    c = count_verification(emb, kind, plan, [], [0.05], bins=50, block=block, threads=2)
    slot = pair_index(plan.stratum[i], plan.stratum[j], plan.n_strata)
    expect = np.zeros((n_pair_slots(plan.n_strata), 50), dtype=np.int64)
    np.add.at(expect, (slot[~mated], c.binning.index(s[~mated])), 1)
    assert np.array_equal(c.hist, expect)
    assert np.array_equal(plan.mated_i, i[mated]) and np.array_equal(plan.mated_j, j[mated])
    assert np.array_equal(c.mated_s, s[mated])
    keep = c.binning.index(s) >= c.kept_floor_bin
    want = sorted(zip(i[keep & ~mated].tolist(), j[keep & ~mated].tolist()))
    assert sorted(zip(c.kept_i.tolist(), c.kept_j.tolist())) == want


def test_one_thread_and_two_threads_agree():
    frame, emb = generated("cosine", n_subjects=80, seed=3)
    plan = make_plan(frame, ["grp"])
    a = count_verification(emb, "cosine", plan, [0.25], [0.01], bins=64, block=9, threads=1)
    b = count_verification(emb, "cosine", plan, [0.25], [0.01], bins=64, block=9, threads=2)
    same(a, b)


def test_a_floor_guessed_too_high_triggers_an_exact_second_pass(monkeypatch):
    frame, emb = generated("euclidean", n_subjects=60, seed=4)
    plan = make_plan(frame, ["grp"])
    good = count_verification(emb, "euclidean", plan, [], [0.1, 0.01], bins=64, block=16)
    calls = []
    real_stream = counts_mod.stream

    def spy(*a, **k):
        calls.append(a[6] if len(a) > 6 else k.get("floor_bin"))
        return real_stream(*a, **k)

    monkeypatch.setattr(counts_mod, "_estimated_floor", lambda *a, **k: 63)
    monkeypatch.setattr(counts_mod, "stream", spy)
    redo = count_verification(emb, "euclidean", plan, [], [0.1, 0.01], bins=64, block=16)
    assert len(calls) == 2 and calls[0] == 63 and calls[1] < 63
    assert np.array_equal(redo.hist, good.hist)
    assert np.array_equal(redo.mated_s, good.mated_s)
    for f in (0.1, 0.01):
        assert threshold_for_fmr(redo, f) == threshold_for_fmr(good, f)


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_the_sampled_floor_is_the_sorted_samples_rank_th_score(kind):
    """The floor guess takes the rank-th highest sample impostor score by a partition: the
    same bin as sorting them all, on scores with many ties (templates on a coarse grid),
    for every target."""
    from fairbench.kernels.stream import prepare_stream

    frame, emb = generated(kind, n_subjects=80, seed=6)
    emb = np.round(emb * 2) / 2  # coarse: many equal scores
    plan = make_plan(frame, ["grp"])
    inp = prepare_stream(emb, kind, plan.subject, plan.stratum)
    binning = counts_mod.binning_for(inp, 64)
    x = emb[np.arange(plan.n_images)].astype(np.float32)
    ok_img = np.isfinite(x).all(axis=1)
    for targets in ([0.1], [0.01, 0.001], [0.5]):
        got = counts_mod._estimated_floor(binning, [], targets,
                                          counts_mod._sample_impostors(inp, plan, 10_000))
        ii, jj = np.triu_indices(plan.n_images, k=1)
        keep = (plan.subject[ii] != plan.subject[jj]) & ok_img[ii] & ok_img[jj]
        p = prepare(emb, kind)
        imp = np.sort(score_pairs(p, ii[keep], jj[keep]).astype(np.float32))[::-1]
        rank = int(min(len(imp) - 1, max(20, np.ceil(2.0 * max(targets) * len(imp)))))
        want = min(binning.bins - 1, max(0, int(binning.index(imp[rank:rank + 1])[0]) - 1))
        assert got == want


def test_float16_storage_agrees_within_tolerance():
    rng = np.random.default_rng(0)
    n = 400
    subj = np.repeat(np.arange(n // 2), 2)
    centres = rng.normal(size=(n // 2, 64))
    emb = (centres[subj] + 0.6 * rng.normal(size=(n, 64))).astype(np.float32)
    import pandas as pd

    frame = pd.DataFrame({"subject_id": subj.astype(str), "grp": (subj % 3).astype(str)})
    plan = make_plan(frame, ["grp"])
    a = count_verification(emb, "cosine", plan, [0.3], [0.01], bins=256, block=64)
    b = count_verification(emb, "cosine", plan, [0.3], [0.01], bins=256, block=64,
                           storage="float16")
    # float16 rounding moves scores by ~1e-3 (documented tolerance)
    assert np.max(np.abs(a.mated_s - b.mated_s)) < 2e-3
    na = (a.kept_s >= 0.3).sum()
    nb = (b.kept_s >= 0.3).sum()
    assert abs(int(na) - int(nb)) <= max(3, 0.02 * na)


def test_row_strips_inside_tiles_change_nothing():
    from fairbench.kernels.stream import prepare_stream, stream

    frame, emb = generated("euclidean", n_subjects=70, seed=8)
    plan = make_plan(frame, ["grp", "sex"])
    inp = prepare_stream(emb, "euclidean", plan.subject, plan.stratum)
    S = plan.n_strata
    pidx = pair_index(*np.meshgrid(np.arange(S), np.arange(S), indexing="ij"), S)
    runs = [stream(inp, pidx, n_pair_slots(S), -20.0, 0.0, 32, 20, block=40, strip=st)
            for st in (1, 7, 40)]
    for r in runs[1:]:
        assert np.array_equal(r.hist, runs[0].hist)
        assert np.array_equal(r.genuine, runs[0].genuine)
        assert sorted(zip(r.kept_i.tolist(), r.kept_j.tolist())) == sorted(
            zip(runs[0].kept_i.tolist(), runs[0].kept_j.tolist()))


def test_a_failing_worker_is_reported_not_silently_dropped(monkeypatch):
    import fairbench.kernels.stream as ks

    frame, emb = generated("cosine", n_subjects=40, seed=2)
    plan = make_plan(frame, ["grp"])
    calls = []
    real = ks.fold_tile

    def flaky(*a):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("fold failed")
        return real(*a)

    monkeypatch.setattr(ks, "fold_tile", flaky)
    with pytest.raises(RuntimeError, match="fold failed"):
        count_verification(emb, "cosine", plan, [], [0.05], bins=32, block=8, threads=2)


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_random_float_data_agrees_with_per_pair_scores(kind):
    """On random floats a tile's BLAS product and a per-pair dot product may differ in the
    last bits, so the check allows that much: genuine scores within 1e-5, and histogram and
    kept-pair differences only for pairs that close to a bin edge."""
    rng = np.random.default_rng(11)
    import pandas as pd

    subj = np.repeat(np.arange(150), 2)
    emb = (rng.standard_normal((150, 32))[subj] + 0.8 * rng.standard_normal((300, 32)))
    emb = (emb * (3.0 if kind == "euclidean" else 1.0)).astype(np.float32)
    frame = pd.DataFrame({"subject_id": subj.astype(str), "grp": (subj % 4).astype(str),
                          "sex": (subj % 2).astype(str)})
    plan, i, j, s, mated = brute(kind, frame, emb)
    c = count_verification(emb, kind, plan, [], [0.05, 0.01], bins=512, block=37, threads=2)
    assert np.max(np.abs(c.mated_s - s[mated])) <= 1e-5 * max(1.0, np.abs(s).max())
    tol = 1e-5 * max(1.0, np.abs(s).max())
    edges = c.binning.lo + np.arange(c.binning.bins + 1) * (
        (c.binning.hi - c.binning.lo) / c.binning.bins)
    near = np.min(np.abs(s[~mated, None] - edges[None, :]), axis=1) <= tol
    slot = pair_index(plan.stratum[i], plan.stratum[j], plan.n_strata)
    expect = np.zeros_like(c.hist)
    np.add.at(expect, (slot[~mated], c.binning.index(s[~mated])), 1)
    assert np.abs(c.hist - expect).sum() <= 2 * near.sum()
    assert c.hist.sum() == expect.sum()
    for f in (0.05, 0.01):
        t = threshold_for_fmr(c, f)
        assert (s[~mated] >= t + tol).sum() <= f * (~mated).sum() <= (s[~mated] >= t - tol).sum()


@pytest.mark.parametrize("parts", [1, 2, 3, 7, 40])
def test_row_bands_partition_every_tile_and_merge_exactly(parts):
    """What an executor hands to its tasks (row bands) merges to the single pass exactly:
    histograms, genuine scores (failed templates included) and the kept pairs."""
    from fairbench.kernels.stream import merge_results, prepare_stream, row_bands, stream

    rng = np.random.default_rng(parts)
    n = 1000
    x = rng.standard_normal((n, 16)).astype(np.float32)
    x[[5, 700]] = np.nan
    inp = prepare_stream(x, "cosine", rng.integers(0, 300, n), rng.integers(0, 3, n))
    pidx = np.arange(9).reshape(3, 3)
    args = (inp, pidx, 9, -1.0, 1.000001, 64, 50)
    whole = stream(*args, block=128, threads=2)
    bands = row_bands(n, 128, parts)
    assert bands[0][0] == 0 and bands[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(bands[:-1], bands[1:]))
    merged = merge_results([stream(*args, block=128, threads=1, rows=b) for b in bands],
                           inp.n_genuine)
    assert np.array_equal(merged.hist, whole.hist)
    assert np.array_equal(merged.genuine, whole.genuine)
    assert merged.tiles == whole.tiles
    key = lambda r: sorted(zip(r.kept_i.tolist(), r.kept_j.tolist(), r.kept_s.tolist()))  # noqa: E731
    assert key(merged) == key(whole)
