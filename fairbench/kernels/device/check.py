"""Exactness of the device kernels on a subsample, as ``benchmarks/gpu_check.py`` reports it.

All-pairs, on one tile of ``n`` templates (so the device computes every product once):

1. ``fold_exact``: the device kernel's histograms, genuine scores and kept pairs equal a
   plain host fold of the very float32 scores the device computed (the product matrix,
   recomputed with the same call and downloaded): counts are exact on the device's scores.
2. ``cpu_fold_exact``: the CPU kernel's counts equal the same host fold of the host's
   products (the harness itself is right).
3. per pair, device scores against host scores: how many differ, by how much, and whether
   every pair whose bin differs lies within the rounding bound of a bin edge (float64
   reference scores). With ``device="numpy"`` nothing may differ at all.

1:N: the device's top-k lists against the CPU kernel's: identical on numpy; on CUDA every
rank's score within twice the rounding bound (the k-th best of perturbed scores moves by
at most the perturbation), and how many lists are identical.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from fairbench.kernels.device import array_module, to_host
from fairbench.kernels.device.allpairs import _upload, device_stream
from fairbench.kernels.device.gemm import product, round_inputs
from fairbench.kernels.device.search import device_search_topk
from fairbench.kernels.search import search_topk
from fairbench.kernels.stream import NEG_INF, prepare_stream, stream

U = 2.0**-24  # float32 unit roundoff
U_IN = {"float32": 0.0, "tf32": 2.0**-11, "float16": 2.0**-11}


def sample(n: int, dim: int, seed: int = 0, failed: int = 3) -> dict[str, np.ndarray]:
    """Templates with mates (two images a subject, correlated), 6 strata, failed rows."""
    rng = np.random.default_rng(seed)
    subj = np.arange(n) // 2
    base = rng.standard_normal((n // 2 + 1, dim), dtype=np.float32)
    x = base[subj] + np.float32(0.7) * rng.standard_normal((n, dim), dtype=np.float32)
    x[rng.choice(n, failed, replace=False)] = np.nan
    return {"x": x, "subject": subj, "stratum": (subj * 7919 % 6).astype(np.int64)}


def host_fold(S: np.ndarray, inp: Any, pidx: np.ndarray, n_slots: int, lo: float, hi: float,
              nbins: int, floor_bin: int) -> dict[str, Any]:
    """Counts of a full (visiting-order) product matrix by the documented rules, in numpy."""
    n = inp.n
    i, j = np.triu_indices(n, k=1)
    s = S[i, j]
    if inp.kind == "euclidean":
        d2 = (inp.sq[i] + inp.sq[j]) - np.float32(2.0) * s
        imp_s = -np.sqrt(np.where(d2 < 0, np.float32(0), d2))
        gen_s = -np.sqrt(np.where(d2 > 0, d2, np.float32(0)))
    else:
        imp_s = gen_s = s
    mated = j < inp.mate_end[i]
    fail = inp.failed[i] | inp.failed[j]
    x = (imp_s.astype(np.float64) - lo) * (nbins / (hi - lo))
    b = np.where(x > 0, np.minimum(x, nbins - 1), 0).astype(np.int64)
    slot = np.asarray(pidx)[inp.stratum[i], inp.stratum[j]]
    hist = np.bincount((slot * nbins + b)[~mated], minlength=n_slots * nbins)
    gen = np.full(inp.n_genuine, NEG_INF, np.float32)
    gi, gj = i[mated], j[mated]
    gen[inp.gen_off[gi] + gj - gi - 1] = np.where(fail[mated], NEG_INF, gen_s[mated])
    keep = ~mated & (b >= floor_bin)
    ks = np.where(fail[keep], NEG_INF, gen_s[keep])
    return {"hist": hist.reshape(n_slots, nbins), "genuine": gen, "bins": b, "mated": mated,
            "kept": sorted(zip(i[keep].tolist(), j[keep].tolist(),
                               ks.view(np.uint32).tolist()))}


def _kept(res: Any) -> list[tuple[int, int, int]]:
    return sorted(zip(res.kept_i.tolist(), res.kept_j.tolist(),
                      res.kept_s.view(np.uint32).tolist()))


def _same(a: Any, b: Any) -> bool:
    """Two kernel results equal bit for bit (kept pairs in any order)."""
    return bool(np.array_equal(a.hist, b.hist) and _kept(a) == _kept(b)
                and np.array_equal(a.genuine.view(np.uint32), b.genuine.view(np.uint32)))


def _equal(res: Any, ref: dict[str, Any]) -> bool:
    kept = _kept(res)
    return bool(np.array_equal(res.hist, ref["hist"])
                and np.array_equal(res.genuine.view(np.uint32), ref["genuine"].view(np.uint32))
                and kept == ref["kept"])


def allpairs_exactness(device: str, n: int = 4096, dim: int = 512, kind: str = "cosine",
                       precision: str = "float32", nbins: int = 4096, seed: int = 0
                       ) -> dict[str, Any]:
    """The all-pairs checks of the module docstring on one tile of ``n`` templates."""
    xp = array_module(device)
    d = sample(n, dim, seed)
    inp = prepare_stream(d["x"], kind, d["subject"], d["stratum"])
    S6 = 6
    pidx = np.triu(np.arange(S6 * S6).reshape(S6, S6))
    pidx = np.minimum(pidx, pidx.T)
    _, codes = np.unique(pidx, return_inverse=True)
    pidx = codes.reshape(S6, S6)
    P = int(pidx.max()) + 1
    if kind == "cosine":
        lo, hi = -1.0, 1.0 + 1e-6
    else:
        lo, hi = -2.0 * float(np.sqrt(inp.sq[~inp.failed].max())) - 1e-6, 1e-6
    X, _ = _upload(np, inp)  # the gathered float32 inputs, on the host
    s_host, s_cpu = np.empty((n, n), np.float32), np.empty((n, n), np.float32)
    Xh = round_inputs(np, X, precision)
    sxp = xp.empty((n, n), dtype=xp.float32)  # the device's own products, the kernel's call
    Xd, _ = _upload(xp, inp)
    A = round_inputs(xp, Xd, precision)
    with threadpool_limits(limits=1, user_api="blas"):  # the CPU kernel's BLAS calls
        product(np, Xh, Xh, s_host, precision)  # the host's products in this precision
        product(np, X, X, s_cpu, "float32")  # the CPU kernel's products
        s_dev = to_host(product(xp, A[0:n], A[0:n], sxp, precision))
    probe = host_fold(s_host, inp, pidx, P, lo, hi, nbins, nbins - 1)
    quantile = np.sort(probe["bins"][~probe["mated"]])[::-1]
    floor = int(quantile[min(len(quantile) - 1, int(1e-3 * len(quantile)))])
    dev = device_stream(inp, pidx, P, lo, hi, nbins, floor, block=n, device=device,
                        precision=precision)
    cpu = stream(inp, pidx, P, lo, hi, nbins, floor, block=n, threads=1)
    third = max(1, n // 3 + 7)  # several tiles, diagonal and off-diagonal, ragged edges
    multi = device_stream(inp, pidx, P, lo, hi, nbins, floor, block=third, device=device,
                          precision=precision)
    generic = None if device == "numpy" else device_stream(
        inp, pidx, P, lo, hi, nbins, floor, block=n, device=device, precision=precision,
        fused=False)
    ref_dev = host_fold(s_dev, inp, pidx, P, lo, hi, nbins, floor)
    ref_cpu = host_fold(s_cpu, inp, pidx, P, lo, hi, nbins, floor)
    ref_host = host_fold(s_host, inp, pidx, P, lo, hi, nbins, floor)
    # float64 reference of the same (rounded) inputs, and the rounding bound per pair
    X64 = np.nan_to_num(round_inputs(np, X, precision).astype(np.float64))
    ok = ~inp.failed
    i, j = np.triu_indices(n, k=1)
    both = ok[i] & ok[j] & ~probe["mated"]
    ii, jj = i[both], j[both]
    exact = (X64 @ X64.T)[ii, jj]  # float64: its own error is ~1e-9 of the bound
    bound = (dim * U * 1.01) * (np.abs(X64) @ np.abs(X64).T)[ii, jj] + 1e-30
    edges = lo + np.arange(1, nbins) * ((hi - lo) / nbins)
    if kind == "euclidean":  # compare in squared distances, where the bound is linear
        sq64 = inp.sq.astype(np.float64)  # the kernels' own float32 squared norms
        exact = np.maximum(sq64[ii] + sq64[jj] - 2 * exact, 0)
        bound = 2 * bound + 4 * U * (sq64[ii] + sq64[jj]) + 4 * U * exact
        got_dev = (inp.sq[ii] + inp.sq[jj]).astype(np.float64) - 2 * s_dev[ii, jj]
        got_host = (inp.sq[ii] + inp.sq[jj]).astype(np.float64) - 2 * s_host[ii, jj]
        ee = np.sort(edges**2)  # a score edge -e is the squared-distance edge e^2
    else:
        got_dev, got_host = s_dev[ii, jj].astype(np.float64), s_host[ii, jj].astype(np.float64)
        ee = edges
    diff = ref_dev["bins"][both] != ref_host["bins"][both]
    k = np.clip(np.searchsorted(ee, exact), 1, len(ee) - 1)
    near = np.minimum(np.abs(exact - ee[k - 1]), np.abs(exact - ee[k])) <= 2 * bound
    err = np.abs(got_dev - exact) / bound
    out = {
        "n": n, "dim": dim, "kind": kind, "precision": precision, "bins": nbins,
        "pairs": int(len(i)), "floor_bin": floor, "kept_pairs": int(len(dev.kept_s)),
        "fold_exact": _equal(dev, ref_dev), "cpu_fold_exact": _equal(cpu, ref_cpu),
        "pairs_with_other_score": int((s_dev.view(np.uint32) != s_host.view(np.uint32))[
            i, j].sum()),
        "pairs_with_other_bin": int(diff.sum()),
        "other_bins_all_near_an_edge": bool(near[diff].all()),
        "max_error_over_bound": float(err.max()) if len(err) else 0.0,
        "host_max_error_over_bound": float((np.abs(got_host - exact) / bound).max())
        if len(err) else 0.0,
        "hist_l1_vs_float32_cpu_kernel": int(np.abs(dev.hist - cpu.hist).sum()),
        "pairs_near_an_edge": int(near.sum()),
        "multi_tile_hist_l1": int(np.abs(multi.hist - dev.hist).sum()),
        "generic_fold_exact": True if generic is None else _equal(generic, ref_dev),
    }
    # tiles of another shape may sum products in another order: only pairs near an edge
    # may move, each moving one count out of one cell and into another
    out["multi_tile_within_bound"] = out["multi_tile_hist_l1"] <= 2 * out["pairs_near_an_edge"]
    if device == "numpy" and precision == "float32":  # the CPU kernel, same tiles: same bits
        cpu_multi = stream(inp, pidx, P, lo, hi, nbins, floor, block=third, threads=2)
        out["multi_tile_within_bound"] = _same(multi, cpu_multi)
    out["passed"] = bool(out["fold_exact"] and out["cpu_fold_exact"]
                         and out["other_bins_all_near_an_edge"] and out["generic_fold_exact"]
                         and out["multi_tile_within_bound"]
                         and (precision != "float32" or out["max_error_over_bound"] <= 1)
                         and (device != "numpy" or (out["pairs_with_other_score"] == 0 and (
                             precision != "float32" or out["hist_l1_vs_float32_cpu_kernel"] == 0))))
    return out


def search_exactness(device: str, n_gallery: int = 20000, n_probes: int = 200,
                     dim: int = 512, k: int = 21, seed: int = 1) -> dict[str, Any]:
    """The 1:N check of the module docstring (cosine, float32 inputs: unit vectors, so a
    score's rounding error is at most about ``dim`` float32 units)."""
    kind = "cosine"
    d = sample(n_gallery + n_probes, dim, seed)
    g, p = d["x"][:n_gallery], d["x"][n_gallery:]
    want = search_topk(p, g, k, kind)
    got = device_search_topk(p, g, k, kind, device=device)
    tol = 2 * dim * U * 1.01
    fin = np.isfinite(want[0])
    gap = np.abs(got[0] - want[0])[fin]
    same_lists = int(np.all(got[1] == want[1], axis=1).sum())
    out = {"gallery": n_gallery, "probes": n_probes, "dim": dim, "k": k, "kind": kind,
           "identical_lists": same_lists,
           "max_score_gap": float(gap.max()) if len(gap) else 0.0,
           "empty_slots_agree": bool(np.array_equal(got[1] < 0, want[1] < 0)),
           "tolerance": tol}
    exact = bool(np.array_equal(got[1], want[1]) and np.array_equal(
        got[0].view(np.uint32), want[0].view(np.uint32)))
    out["bit_identical"] = exact
    out["passed"] = bool(exact if device == "numpy" else (
        out["empty_slots_agree"] and out["max_score_gap"] <= tol))
    return out
