"""The streaming top-k search against brute force: ties, tilings, threads, failures, float16."""

from __future__ import annotations

import numpy as np
import pytest

from fairbench.kernels.faiss_search import faiss_available, search_topk_faiss
from fairbench.kernels.search import (
    fold_topk,
    merge_topk,
    search_topk,
    search_topk_bruteforce,
)


def exact(kind: str, n: int, seed: int) -> np.ndarray:
    """Embeddings with exact float32 scores and many ties (as tests/generated.py makes)."""
    rng = np.random.default_rng(seed)
    if kind == "cosine":
        e = np.zeros((n, 16), np.float32)
        for r in range(n):
            e[r, rng.choice(16, 4, replace=False)] = rng.choice([-0.5, 0.5], 4)
        return e
    return rng.integers(-2, 3, (n, 8)).astype(np.float32)


def fail(e: np.ndarray, rows: list[int], zero: list[int] = ()) -> np.ndarray:
    e = e.copy()
    e[rows[0::2]] = np.nan
    for r in rows[1::2]:
        e[r, 0] = np.inf
    e[list(zero)] = 0  # a zero row fails for cosine only
    return e


def same(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> None:
    assert a[0].dtype == np.float32 and a[1].dtype == np.int64
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], b[0])


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
@pytest.mark.parametrize("block,probe_block", [(1, 1), (7, 3), (64, 256), (100, 16), (4096, 5)])
@pytest.mark.parametrize("threads", [1, 2])
def test_topk_equals_brute_force_on_every_tiling(kind, block, probe_block, threads):
    g = fail(exact(kind, 230, 1), [4, 9, 50, 229], zero=[11])
    p = fail(exact(kind, 37, 2), [0, 5], zero=[36])
    want = search_topk_bruteforce(p, g, 15, kind)
    got = search_topk(p, g, 15, kind, block=block, probe_block=probe_block, threads=threads)
    same(got, want)
    ok = np.setdiff1d(np.arange(37), [0, 5, 36] if kind == "cosine" else [0, 5])
    assert (want[1][ok] >= 0).all()
    assert (np.diff(want[0][ok], axis=1) == 0).mean() > 0.5  # ties: most neighbours equal
    assert (want[1][[0, 5]] == -1).all() and (want[0][[0, 5]] == -np.inf).all()
    assert not np.isin(want[1], [4, 9, 50, 229]).any()
    if kind == "cosine":
        assert (want[1][36] == -1).all() and not np.isin(want[1], [11]).any()


def test_ties_go_to_the_lower_gallery_index():
    g = np.tile(np.eye(4, dtype=np.float32), (5, 1))  # rows r and r + 4 identical
    s, i = search_topk(g[:1], g, 6, block=3, threads=2)
    assert i.tolist() == [[0, 4, 8, 12, 16, 1]] and s[0, :5].tolist() == [1.0] * 5
    assert s[0, 5] == 0.0


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_k_beyond_the_valid_gallery_pads_with_minus_one(kind):
    g = fail(exact(kind, 12, 3), [1, 2, 7])
    p = exact(kind, 4, 4)
    s, i = search_topk(p, g, 20, kind, block=5, threads=2)
    same((s, i), search_topk_bruteforce(p, g, 20, kind))
    assert (i[:, :9] >= 0).all() and (i[:, 9:] == -1).all() and (s[:, 9:] == -np.inf).all()
    assert sorted(i[0, :9].tolist()) == [0, 3, 4, 5, 6, 8, 9, 10, 11]


def test_empty_inputs_and_bad_arguments():
    g = exact("cosine", 5, 0)
    s, i = search_topk(g[:0], g, 3)
    assert s.shape == (0, 3) and i.shape == (0, 3)
    s, i = search_topk(g, g[:0], 3)
    assert (i == -1).all() and (s == -np.inf).all() and s.shape == (5, 3)
    for bad in ({"k": 0}, {"kind": "dot"}, {"storage": "int8"}):
        args = {"k": 2, "kind": "cosine", "storage": "float32"} | bad
        with pytest.raises(ValueError):
            search_topk(g, g, args["k"], args["kind"], storage=args["storage"])
    with pytest.raises(ValueError):
        search_topk(g, g[:, :8], 2)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the reference overflows, on purpose
@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_huge_finite_rows_behave_as_in_the_reference(kind):
    g = exact(kind, 40, 10)
    g[[3, 20]] *= np.float32(3e19)  # squared norms overflow float32
    p = exact(kind, 6, 11)
    p[2] *= np.float32(3e19)
    same(search_topk(p, g, 8, kind, block=9, threads=2), search_topk_bruteforce(p, g, 8, kind))


def test_an_error_in_a_worker_is_raised_not_lost(monkeypatch):
    import fairbench.kernels.search as mod

    def boom(*args):
        raise MemoryError("worker")

    monkeypatch.setattr(mod, "fold_topk", boom)
    g = exact("cosine", 50, 0)
    with pytest.raises(MemoryError):
        search_topk(g, g, 3, block=10, threads=2)


def test_random_data_matches_brute_force():
    """On random floats BLAS may round a tile's product and the full matrix's differently
    (it does under a forced OpenBLAS core type), so scores must agree to a few ulps and the
    lists may differ only where two candidates are that close."""
    rng = np.random.default_rng(5)
    g = rng.standard_normal((3000, 64)).astype(np.float32) * 3
    p = rng.standard_normal((40, 64)).astype(np.float32)
    for kind in ("cosine", "euclidean"):
        (sa, ia), (sb, ib) = (search_topk(p, g, 10, kind, block=512, probe_block=16,
                                          threads=2), search_topk_bruteforce(p, g, 10, kind))
        tol = 8 * np.spacing(np.abs(sb).max())
        np.testing.assert_allclose(sa, sb, rtol=0, atol=tol)
        near = np.zeros_like(ia, dtype=bool)
        near[:, 1:] |= np.abs(np.diff(sb, axis=1)) <= 2 * tol
        near[:, :-1] |= np.abs(np.diff(sb, axis=1)) <= 2 * tol
        near[:, -1] = True  # the last slot may swap with the first one left out
        assert np.array_equal(ia[~near], ib[~near])


def test_float16_storage_within_tolerance():
    """float16 rounds each entry by <= 2^-11 relative: cosine scores move by < 1e-3.

    It equals brute force on the float16-rounded gallery (to BLAS rounding), and its top-k
    scores are within 1e-3 of the float32 ones (order statistics move no more than the
    scores do).
    """
    rng = np.random.default_rng(6)
    g = rng.standard_normal((2000, 64)).astype(np.float32)
    p = np.r_[g[:20] + 0.3 * rng.standard_normal((20, 64)).astype(np.float32),
              rng.standard_normal((20, 64)).astype(np.float32)]
    s16, i16 = search_topk(p, g, 10, block=300, threads=2, storage="float16")
    bs16, bi16 = search_topk_bruteforce(p, g.astype(np.float16), 10)
    np.testing.assert_allclose(s16, bs16, rtol=0, atol=1e-6)  # BLAS rounding only
    same((s16, i16), search_topk(p, g.astype(np.float16), 10, block=300, storage="float16"))
    s32, i32 = search_topk_bruteforce(p, g, 10)
    assert np.max(np.abs(s16 - s32)) < 1e-3
    assert (i16[:20, 0] == np.arange(20)).all()  # the mates are still found first


@pytest.mark.parametrize("kind", ["cosine", "euclidean"])
def test_fold_keeps_the_tie_rule_when_blocks_come_in_any_order(kind):
    g = exact(kind, 90, 8)
    p = exact(kind, 9, 9)
    want = search_topk_bruteforce(p, g, 12, kind)
    top_s = np.full((9, 12), -np.inf, np.float32)
    top_i = np.full((9, 12), -1, np.int64)
    no = np.zeros(9, bool)
    psq, gsq = (np.einsum("ij,ij->i", x, x) for x in (p, g))
    x = p if kind == "euclidean" else p / np.linalg.norm(p, axis=1, keepdims=True)
    y = g if kind == "euclidean" else g / np.linalg.norm(g, axis=1, keepdims=True)
    for g0 in range(80, -1, -10):  # last block first
        S = x @ y[g0 : g0 + 10].T
        fold_topk(S, 0, g0, no, psq, gsq[g0 : g0 + 10], kind == "euclidean", top_s, top_i)
    same((top_s, top_i), want)


def test_merge_keeps_the_tie_rule_and_drops_empty_slots():
    s = np.array([[0.5, 0.5, -np.inf, 0.9, np.nan]], np.float32)
    i = np.array([[7, 3, 1, 9, 2]])
    ms, mi = merge_topk(s, i, 4)
    assert mi.tolist() == [[9, 3, 7, -1]] and ms[0, :3].tolist() == [np.float32(0.9), 0.5, 0.5]


@pytest.mark.skipif(not faiss_available(), reason="faiss is optional and not installed")
def test_faiss_backend_finds_the_same_lists():
    rng = np.random.default_rng(7)
    g = fail(rng.standard_normal((2000, 32)).astype(np.float32), [3, 8])
    p = fail(rng.standard_normal((30, 32)).astype(np.float32), [0])
    for kind in ("cosine", "euclidean"):
        fs, fi = search_topk_faiss(p, g, 5, kind, block=700)
        bs, bi = search_topk_bruteforce(p, g, 5, kind)
        np.testing.assert_array_equal(fi, bi)
        np.testing.assert_allclose(fs[1:], bs[1:], rtol=1e-4, atol=1e-4)
        assert (fs[0] == -np.inf).all()


def test_search_bench_reports_every_figure():
    """No timing is asserted: the benchmark measures speed itself, as ratios."""
    from fairbench.bench.search import run_search_bench

    res = run_search_bench(gallery=3000, probes=50, dim=16, k=5, block=700, repeats=1)
    keys = {"gallery", "probes", "dim", "k", "gemm_gflops", "kernel_cmp_per_s",
            "ratio_to_gemm", "faiss_cmp_per_s", "topk_identical", "peak_rss_mb", "simulated"}
    assert keys <= set(res)
    assert res["simulated"] is True and res["topk_max_score_diff"] <= 1e-5
    assert res["segments"] > 1 and res["one_call_equals_segments"] is True
    assert res["ratio_to_gemm"] > 0 and res["gemm_gflops"] > 0 and res["peak_rss_mb"] > 0
    assert (res["faiss_cmp_per_s"] is None) == (not faiss_available())
