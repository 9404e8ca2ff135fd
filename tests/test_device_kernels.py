"""The device kernels' numpy path against the CPU kernels and brute force, bit for bit.

The same code runs on CUDA with CuPy; here ``device="numpy"`` runs it on data with ties
(exact float32 scores), failed templates, zero rows, -0.0 scores, both similarity kinds
and every tiling, and must equal :mod:`fairbench.kernels.stream` and
:mod:`fairbench.kernels.search` exactly.
"""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.core.codes import n_pair_slots, pair_index
from fairbench.kernels.device.allpairs import device_stream
from fairbench.kernels.device.gemm import round_inputs
from fairbench.kernels.device.search import device_search_topk, prepare_rows
from fairbench.kernels.prep import prepare, score_pairs
from fairbench.kernels.search import search_topk, search_topk_bruteforce
from fairbench.kernels.stream import prepare_stream, stream
from fairbench.plan import make_plan
from tests.generated import generated


def setup(kind, emb, frame, bins):
    plan = make_plan(frame, ["grp", "sex"])
    inp = prepare_stream(emb, kind, plan.subject, plan.stratum)
    S = plan.n_strata
    pidx = pair_index(*np.meshgrid(np.arange(S), np.arange(S), indexing="ij"), S)
    if kind == "cosine":
        lo, hi = -1.0, 1.0 + 1e-6
    else:
        lo, hi = -2.0 * float(np.sqrt(inp.sq[~inp.failed].max())) - 1e-6, 1e-6
    return plan, inp, pidx, n_pair_slots(S), lo, hi


def kept(r):
    return sorted(zip(r.kept_i.tolist(), r.kept_j.tolist(),
                      r.kept_s.view(np.uint32).tolist()))  # bits: -0.0 is not +0.0


def same(a, b):
    assert np.array_equal(a.hist, b.hist)
    assert a.genuine.dtype == b.genuine.dtype == np.float32
    assert np.array_equal(a.genuine.view(np.uint32), b.genuine.view(np.uint32))
    assert kept(a) == kept(b)


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
@pytest.mark.parametrize("block", [1, 5, 64, 4096])
def test_allpairs_equals_the_cpu_kernel_and_brute_force_on_ties(kind, block):
    frame, emb = generated(kind, n_subjects=45, seed=7)
    plan, inp, pidx, P, lo, hi = setup(kind, emb, frame, 50)
    args = (inp, pidx, P, lo, hi, 50, 30)
    dev = device_stream(*args, block=block, device="numpy")
    same(dev, stream(*args, block=block, threads=2))
    # brute force: every pair scored on its own, binned by the documented rule
    i, j = np.triu_indices(plan.n_images, k=1)
    s = score_pairs(prepare(emb, kind), i, j)
    mated = plan.subject[i] == plan.subject[j]
    x = (s.astype(np.float64) - lo) * (50 / (hi - lo))
    b = np.where(x > 0, np.minimum(x, 49), 0).astype(np.int64)
    expect = np.zeros((P, 50), np.int64)
    slot = pair_index(plan.stratum[i], plan.stratum[j], plan.n_strata)
    np.add.at(expect, (slot[~mated], b[~mated]), 1)
    assert np.array_equal(dev.hist, expect)
    assert dev.hist.sum() == plan.n_nonmated and len(dev.genuine) == plan.n_mated
    assert np.isneginf(dev.genuine).any()  # failed templates with mates
    o = inp.order
    got = sorted(zip(*np.sort([o[dev.kept_i], o[dev.kept_j]], axis=0).tolist()))
    keep = ~mated & (b >= 30)
    assert got == sorted(zip(i[keep].tolist(), j[keep].tolist()))


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_allpairs_equals_the_cpu_kernel_on_random_floats(kind):
    """Scores that are not exact: the same BLAS calls give the same bits."""
    rng = np.random.default_rng(3)
    import pandas as pd

    subj = np.repeat(np.arange(400), 2)
    emb = (rng.standard_normal((400, 48))[subj] + 0.9 * rng.standard_normal((800, 48)))
    emb = emb.astype(np.float32)
    emb[[10, 500]] = np.nan
    emb[20] = 0  # a zero row: failed for cosine, an ordinary template for euclidean
    emb[[30, 31]] = emb[[31, 30]]  # duplicates: euclidean distance 0 (-0.0 scores)
    frame = pd.DataFrame({"subject_id": subj.astype(str), "grp": (subj % 3).astype(str),
                          "sex": (subj % 2).astype(str)})
    _, inp, pidx, P, lo, hi = setup(kind, emb, frame, 1024)
    for block, floor in ((300, 900), (1024, 0), (97, 1023)):
        args = (inp, pidx, P, lo, hi, 1024, floor)
        same(device_stream(*args, block=block, device="numpy"),
             stream(*args, block=block, threads=2))


def test_reduced_precision_is_exact_where_the_inputs_are_representable():
    """Entries of +-0.5 are exact in float16 and TF32, so every count stays the same; on
    random data the inputs are rounded (TF32: to nearest even, 10 mantissa bits)."""
    frame, emb = generated("cosine", n_subjects=60, seed=2)
    _, inp, pidx, P, lo, hi = setup("cosine", emb, frame, 64)
    args = (inp, pidx, P, lo, hi, 64, 40)
    ref = device_stream(*args, block=16, device="numpy")
    for precision in ("float16", "tf32"):
        same(device_stream(*args, block=16, device="numpy", precision=precision), ref)
    x = np.array([1 + 2**-11, 1 + 3 * 2**-11, 1 + 2**-12, -(1 + 2**-10 + 2**-11), np.nan],
                 np.float32)
    r = round_inputs(np, x, "tf32")
    assert r[:4].tolist() == [1.0, 1 + 2**-9, 1.0, -(1 + 2**-9)]  # ties to even
    assert np.isnan(r[4])
    y = np.random.default_rng(0).standard_normal(10_000).astype(np.float32)
    t = round_inputs(np, y, "tf32")
    assert (t.view(np.uint32) & 0x1FFF == 0).all() and np.all(np.abs(t - y) <= 2**-11 * np.abs(y))
    with pytest.raises(ValueError, match="precision"):
        device_stream(*args, device="numpy", precision="bfloat16")


def exact_rows(kind, n, seed):
    rng = np.random.default_rng(seed)
    if kind == "cosine":
        e = np.zeros((n, 16), np.float32)
        for r in range(n):
            e[r, rng.choice(16, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
    else:
        e = rng.integers(-2, 3, (n, 8)).astype(np.float32)
    e[[3, 9]] = np.nan
    e[5, 0] = np.inf
    e[7] = 0  # fails for cosine only
    return e


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
@pytest.mark.parametrize("block,probe_block,k", [(1, 1, 3), (7, 3, 5), (64, 256, 40),
                                                 (4096, 5, 600)])
def test_search_equals_the_cpu_kernel_on_ties(kind, block, probe_block, k):
    g = exact_rows(kind, 500, 1)
    p = exact_rows(kind, 60, 2)
    p[11] = g[40]  # an exact duplicate: euclidean -0.0 ties with +0.0
    want = search_topk(p, g, k, kind, threads=2)
    got = device_search_topk(p, g, k, kind, device="numpy", block=block,
                             probe_block=probe_block)
    assert got[0].dtype == np.float32 and got[1].dtype == np.int64
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0].view(np.uint32), want[0].view(np.uint32))
    bf = search_topk_bruteforce(p, g, k, kind)  # the full score matrix, sorted
    np.testing.assert_array_equal(got[1], bf[1])
    np.testing.assert_array_equal(got[0], bf[0])
    ok = np.ones(len(p), bool)
    ok[[3, 5, 9] + ([7] if kind == "cosine" else [])] = False  # failed: empty lists
    assert (got[1][~ok] == -1).all() and (got[1][ok] == -1).any() == (k > 490)


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
@pytest.mark.parametrize("storage", ["float32", "float16"])
def test_search_equals_the_cpu_kernel_on_random_floats(kind, storage):
    rng = np.random.default_rng(5)
    g = rng.standard_normal((9000, 40)).astype(np.float32)
    p = rng.standard_normal((300, 40)).astype(np.float32)
    g[[4, 8000]] = np.nan
    p[2] = np.nan
    want = search_topk(p, g, 25, kind, threads=2, storage=storage)
    got = device_search_topk(p, g, 25, kind, device="numpy", storage=storage)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])
    assert (got[1][2] == -1).all()


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_device_side_preparation_equals_prep_prepare(kind):
    y = exact_rows(kind, 200, 4) * np.float32(1.7)
    y[50] = 1e30  # huge finite: its squared norm overflows
    x, sq, failed = prepare_rows(np, y, kind)
    with np.errstate(all="ignore"):
        ref = prepare(y, kind)
    np.testing.assert_array_equal(x.view(np.uint32), ref.x.view(np.uint32))
    np.testing.assert_array_equal(sq.view(np.uint32), ref.sqnorm.view(np.uint32))
    np.testing.assert_array_equal(failed, ref.failed | ~np.isfinite(ref.sqnorm))


def test_empty_inputs_and_bad_arguments():
    g = exact_rows("cosine", 20, 0)
    s, i = device_search_topk(g[:0], g, 3, device="numpy")
    assert s.shape == (0, 3)
    s, i = device_search_topk(g[:2], g[:0], 3, device="numpy")
    assert (i == -1).all() and np.isneginf(s).all()
    for bad in (dict(k=0), dict(kind="dot"), dict(storage="int8"), dict(precision="bf16")):
        kw = {"k": 2, "kind": "cosine", **bad}
        with pytest.raises(ValueError):
            device_search_topk(g, g, kw.pop("k"), kw.pop("kind"), device="numpy", **kw)
    with pytest.raises(ValueError, match="unknown device"):
        device_search_topk(g, g, 2, device="tpu")


def test_minus_zero_ties_with_plus_zero_and_goes_by_index():
    """-0.0 and +0.0 scores are equal, as the CPU comparison has them: index order decides."""
    g = np.array([[-0.0, -1], [0, 1], [-0.0, -1], [0, 1], [1, 0]], np.float32)
    p = np.array([[1, 0]], np.float32)
    want = search_topk(p, g, 5, threads=1)
    got = device_search_topk(p, g, 5, device="numpy")
    assert got[1].tolist() == want[1].tolist() == [[4, 0, 1, 2, 3]]
    # BLAS sums from +0.0, so a -0.0 product is rare here; the keys must tie them anyway
    from fairbench.kernels.device.search import _keys

    s = np.array([[0.0, -0.0, -0.0, 0.0, -1.5, 2.0, -np.inf, np.nan]], np.float32)
    key = _keys(np, s, np.arange(8, dtype=np.int64))[0]
    assert np.argsort(key, kind="stable")[::-1].tolist()[:6] == [
        5, 0, 1, 2, 3, 4]
    assert key[6] == key[7] == np.iinfo(np.int64).min


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_float16_storage_equals_the_cpu_kernel(kind):
    frame, emb = generated(kind, n_subjects=80, seed=12)
    emb = emb + np.random.default_rng(0).standard_normal(emb.shape).astype(np.float32) * 0.1
    plan = make_plan(frame, ["grp", "sex"])
    inp = prepare_stream(emb, kind, plan.subject, plan.stratum, "float16")
    assert inp.x.dtype == np.float16
    _, _, pidx, P, lo, hi = setup(kind, emb, frame, 256)
    args = (inp, pidx, P, lo, hi, 256, 200)
    same(device_stream(*args, block=40, device="numpy"), stream(*args, block=40, threads=2))
