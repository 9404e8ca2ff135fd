"""Exact 1:1 score counts over an all-pairs plan: histograms plus the pairs that matter.

One streaming pass (fairbench.kernels.stream) folds every tile into a histogram per
unordered stratum pair (impostor pairs only; genuine scores are read from the same tiles)
and keeps every impostor pair at or above a floor bin. The floor comes from the fixed
thresholds and a small sample's impostor quantiles; after the pass, the full histogram says
exactly which bin holds each target's threshold, and if the sample guessed too high a
second pass keeps more. So counts at every operating point, the exact target-FMR
thresholds and the subject bootstrap all come from the real float32 scores, never from a
bin approximation.

Given a remote executor (a Ray cluster), each pass is cut into row bands of whole tile
rows (:func:`fairbench.kernels.stream.row_bands`), one task per band on one core; the
templates go to the cluster once, and the bands' histograms, genuine scores and kept pairs
are merged in band order. Every band folds the very tiles the local pass folds, so the
counts are the same, bit for bit.

``tail="people"`` (``verification.tail``) bounds the tail's memory by pairs of people
instead of pairs of images (:class:`fairbench.core.counts.PeopleTail`): a first pass only
counts the histograms, which fix every threshold's bin exactly, and a second keeps exact
scores only in those bins and counts the rest per pair of (person, stratum) and level.
``tail="auto"`` keeps pairs unless they would pass ``max_kept``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from fairbench.core.codes import Plan, n_pair_slots, pair_index
from fairbench.core.counts import Binning, PeopleTail, VerificationCounts
from fairbench.core.cpus import cores
from fairbench.errors import FairbenchError
from fairbench.executors.base import Executor
from fairbench.kernels.stream import (
    PeopleKeys,
    StreamInput,
    StreamResult,
    decode_people,
    merge_results,
    prepare_stream,
    row_bands,
    stream,
)

_SUMMED = np.zeros((1, 0), dtype=np.int64)  # a band's histogram once it is in the sum


def binning_for(inp: StreamInput, bins: int) -> Binning:
    """Score range that holds every possible score of these templates."""
    if inp.kind == "cosine":
        return Binning(-1.0, 1.0 + 1e-6, bins)
    ok = ~inp.failed
    m = float(np.sqrt(inp.sq[ok].max())) if ok.any() else 1.0
    return Binning(-2.0 * m - 1e-6, 1e-6, bins)


def count_verification(
    embeddings: np.ndarray,
    kind: str,
    plan: Plan,
    fixed_thresholds: Sequence[float],
    target_fmr: Sequence[float],
    bins: int = 4096,
    block: int = 1024,
    storage: str = "float32",
    threads: int | None = None,
    max_kept: int = 50_000_000,
    max_hist_bytes: int = 2 << 30,
    executor: Executor | None = None,
    device: str = "cpu",
    precision: str = "float32",
    tail: str = "pairs",
) -> tuple[VerificationCounts, np.ndarray]:
    """Stream every pair once (twice if the sampled floor was too high, and always under
    ``tail="people"``); see the module docstring.

    Returns the counts (genuine scores aligned with ``plan.mated_i/j``) and each image's
    failed flag as the kernel saw it (non-finite, or a zero norm for cosine). A remote
    ``executor`` runs each pass as row-band tasks (same counts); otherwise ``threads``
    worker threads run here. ``device="cuda"`` runs each pass on this machine's GPU
    (:func:`fairbench.kernels.device.allpairs.device_stream`, products in ``precision``).
    ``tail``: "pairs", "people" or "auto" (see the module docstring).
    """
    if tail not in ("pairs", "people", "auto"):
        raise ValueError(f"unknown tail mode {tail!r}")
    auto = tail == "auto"
    S = plan.n_strata
    P = n_pair_slots(S)
    remote = executor is not None and executor.remote
    workers = max(1, threads or cores())
    if remote:  # bands, two per CPU; here only the running sum and the band that came in
        assert executor is not None
        workers = 2 * executor.parallelism()
    held = 2 if remote else workers + 1  # one histogram per worker thread, plus the sum
    need = P * bins * 8 * held
    if need > max_hist_bytes:
        raise FairbenchError(
            f"the score histograms would need {need / 2**30:.1f} GiB ({S:,} attribute "
            f"combinations, so {P:,} pairs of them, x {bins:,} bins x {held} histograms at "
            "once); use fewer attributes, fewer histogram_bins, or intersections: false")
    block = max(1, min(block, plan.n_images))  # no tile larger than the data
    inp = prepare_stream(embeddings, kind, plan.subject, plan.stratum, storage)
    binning = binning_for(inp, bins)
    pidx = pair_index(*np.meshgrid(np.arange(S), np.arange(S), indexing="ij"), S)
    imp = _sample_impostors(inp, plan) if target_fmr or tail != "people" else None
    floor_bin = _estimated_floor(binning, fixed_thresholds, target_fmr, imp)
    guess = _estimated_kept(imp, binning, floor_bin, plan.n_images)
    if tail == "auto" and device != "cpu":  # the device kernel keeps pairs only
        tail, auto = "pairs", False
    if tail == "auto":  # pairs, unless the sample says they would not fit
        tail = "people" if guess > max_kept else "pairs"
    elif tail == "pairs" and guess > max_kept:
        raise _too_many(guess, max_kept, "about ")
    if tail == "people" and device != "cpu":
        raise FairbenchError("verification.tail: people runs on the CPU kernel; use "
                             "device: cpu, or tail: pairs on the GPU")
    bands = row_bands(inp.n, block, workers) if remote else []
    shared = None
    if len(bands) > 1:
        assert executor is not None
        shared = executor.put((inp, pidx, P, binning.lo, binning.hi, bins, block))

    def one_pass(floor: int, people: PeopleKeys | None = None) -> StreamResult:
        if device != "cpu":  # the same counts from the device kernel (its own tile size)
            from fairbench.kernels.device.allpairs import device_stream

            return device_stream(inp, pidx, P, binning.lo, binning.hi, bins, floor,
                                 block=8192 if device == "cuda" else block, device=device,
                                 precision=precision)
        if shared is None:
            return stream(inp, pidx, P, binning.lo, binning.hi, bins, floor, block, threads,
                          people=people)
        assert executor is not None
        return _merge_as_done(executor, bands, floor, shared, inp.n_genuine, people)

    people_tail = None
    if tail == "pairs":
        res = one_pass(floor_bin)
        exact = floor_bin_for(res.hist.sum(axis=0), binning, fixed_thresholds, target_fmr)
        if exact < floor_bin:  # the sample guessed too high: keep more pairs in a 2nd pass
            n_keep = int(res.hist[:, exact:].sum())
            if n_keep <= max_kept:
                floor_bin = exact
                res = one_pass(floor_bin)
            elif auto:
                tail = "people"  # the histogram is counted: only the second pass is left
            else:
                raise _too_many(n_keep, max_kept)
    else:
        res = one_pass(bins)  # histograms only: they fix every threshold's bin
    if tail == "people":
        pooled = res.hist.sum(axis=0)
        need = exact_bins_for(pooled, binning, fixed_thresholds, target_fmr)
        floor_bin = min(need)
        people_tail = PeopleTail.for_bins(binning, np.array(need), floor_bin)
        n_exact = int(res.hist[:, people_tail.exact].sum())
        if n_exact > max_kept:
            raise FairbenchError(
                f"the bins holding the thresholds hold {n_exact:,} impostor pairs (limit "
                f"{max_kept:,}); use more histogram_bins")
        n_levels = max(1, len(people_tail.level_score))
        if float(inp.n) ** 2 * n_levels >= 2.0**63:
            raise FairbenchError(f"{inp.n:,} templates are too many for tail: people")
        res = None  # type: ignore[assignment]  # the first pass's arrays: freed first
        res = one_pass(floor_bin, PeopleKeys(people_tail.level, _representatives(inp, plan),
                                             n_levels))
    o = inp.order.astype(np.int32)  # 12 bytes per kept pair: int32, int32, float32
    ki, kj = o[res.kept_i], o[res.kept_j]
    res.kept_i = res.kept_j = None  # type: ignore[assignment]  # free before the swap
    swap = ki > kj
    ki[swap], kj[swap] = kj[swap], ki[swap]
    ks, kw, exact_mask = res.kept_s, None, None
    if people_tail is not None:
        ki, kj, ks, kw = _with_people(ki, kj, ks, res, o, people_tail)
        exact_mask = people_tail.exact
    per_row = inp.mate_end - np.arange(inp.n) - 1
    rows = np.repeat(np.arange(inp.n), per_row)
    cols = rows + 1 + np.arange(len(rows)) - np.repeat(inp.gen_off, per_row)
    gi, gj = o[rows], o[cols.astype(np.int64)]
    gi, gj = np.minimum(gi, gj), np.maximum(gi, gj)
    srt = np.lexsort((gj, gi))
    if not (np.array_equal(gi[srt], plan.mated_i) and np.array_equal(gj[srt], plan.mated_j)):
        raise RuntimeError("kernel's genuine pairs differ from the plan's mated pairs")
    counts = VerificationCounts(S, binning, res.hist, res.hist.sum(axis=1), res.genuine[srt],
                                ki, kj, ks, floor_bin, kept_w=kw, kept_exact=exact_mask)
    return counts, inp.failed_orig.copy()


def _too_many(n: float, limit: int, about: str = "") -> FairbenchError:
    return FairbenchError(
        f"the loosest operating point needs {about}{n:,.0f} impostor pairs kept in memory "
        f"(limit {limit:,}); set verification.tail: people (counts per pair of people), or "
        "drop the loosest fixed threshold or target FMR")


def _representatives(inp: StreamInput, plan: Plan) -> np.ndarray:
    """Per visiting position, the first visiting position of the same person and stratum."""
    key = plan.subject[inp.order].astype(np.int64) * plan.n_strata + inp.stratum
    _, first, inv = np.unique(key, return_index=True, return_inverse=True)
    return first[inv.ravel()].astype(np.int32)


def _with_people(ki: np.ndarray, kj: np.ndarray, ks: np.ndarray, res: StreamResult,
                 o: np.ndarray, tail: PeopleTail, chunk: int = 1 << 20
                 ) -> tuple[np.ndarray, ...]:
    """The exact records (weight 1) followed by one record per merged key
    (:func:`~fairbench.kernels.stream.decode_people`), written into the final arrays from
    the back, a chunk at a time, each chunk's keys cut off as it is done: memory stays
    about the records' (untouched output pages cost nothing until written)."""
    key, cnt = res.agg_key, res.agg_count
    assert key is not None and cnt is not None
    res.agg_key = res.agg_count = None
    key, cnt = np.require(key, requirements="O"), np.require(cnt, requirements="O")
    top = np.int64(np.iinfo(np.uint32).max)
    n_agg = len(key) + (int(((cnt - 1) // top).sum()) if len(cnt) else 0)
    K = len(ki) + n_agg
    out_i, out_j = np.empty(K, np.int32), np.empty(K, np.int32)
    out_s, out_w = np.empty(K, np.float32), np.empty(K, np.uint32)
    out_i[: len(ki)], out_j[: len(ki)], out_s[: len(ki)] = ki, kj, ks
    out_w[: len(ki)] = 1
    L, end, hi = max(1, len(tail.level_score)), K, len(key)
    while hi > 0:
        lo = max(0, hi - chunk)
        nrec = hi - lo + int(((cnt[lo:hi] - 1) // top).sum())
        decode_people(key[lo:hi], cnt[lo:hi], len(o), L, o, tail.level_score, out_i, out_j,
                      out_s, out_w, end - nrec)
        end, hi = end - nrec, lo
        key.resize(lo, refcheck=False)  # the decoded keys: freed (no view of them is left)
        cnt.resize(lo, refcheck=False)
    assert end == len(ki)
    return out_i, out_j, out_s, out_w


def _merge_as_done(executor: Executor, bands: list[tuple[int, int]], floor: int,
                   shared: Any, n_genuine: int, people: PeopleKeys | None = None
                   ) -> StreamResult:
    """One remote pass: every band's histogram is added to the sum as the band finishes (so
    the driver holds two histograms, not one per band), then ``merge_results`` in band
    order places the genuine scores and kept pairs beside that sum. Integer sums: the
    order they come in changes nothing."""
    total: np.ndarray | None = None
    parts: list[Any] = [None] * len(bands)
    for k, part in executor.imap(_band, [(band, floor, people) for band in bands], shared):
        if total is None:
            total = part.hist  # the executor's own copy: summed into in place
        else:
            total += part.hist
        part.hist = _SUMMED  # in the sum now: free it
        parts[k] = part
    assert total is not None
    return merge_results(parts, n_genuine, hist=total)


def _band(shared: tuple[Any, ...], item: tuple[tuple[int, int], int, PeopleKeys | None]
          ) -> StreamResult:
    """One task of a remote pass: one row band's tiles on one core (see the module doc)."""
    inp, pidx, n_slots, lo, hi, bins, block = shared
    band, floor, people = item
    return stream(inp, pidx, n_slots, lo, hi, bins, floor, block, threads=1, rows=band,
                  people=people)


def _sample_impostors(inp: StreamInput, plan: Plan, sample: int = 1000, seed: int = 0
                      ) -> np.ndarray | None:
    """Impostor scores among a random sample of ``sample`` images (None: too few)."""
    if plan.n_images < 2:
        return None
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(plan.n_images, min(sample, plan.n_images), replace=False))
    x = np.asarray(inp.x[idx], dtype=np.float32)
    pos = np.empty(plan.n_images, dtype=np.int64)
    pos[inp.order] = np.arange(plan.n_images)
    # one BLAS thread: a threaded product leaves OpenBLAS's threads spinning for tens
    # of milliseconds, taking cores from the pass that starts next (0.20 -> 0.25 s at
    # N = 20,000, d = 128)
    with threadpool_limits(limits=1, user_api="blas"):
        if inp.kind == "cosine":
            x = x / inp.norm[idx, None]
            s = x @ x.T
        else:
            sq = inp.sq[pos[idx]]
            s = -np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * (x @ x.T), 0))
    ii, jj = np.triu_indices(len(idx), k=1)
    ok = plan.subject[idx][ii] != plan.subject[idx][jj]
    imp = s[ii, jj][ok]
    return imp if len(imp) else None


def _estimated_floor(
    binning: Binning,
    fixed: Sequence[float],
    targets: Sequence[float],
    imp: np.ndarray | None = None,
) -> int:
    """Floor bin from fixed thresholds and a sample's impostor quantiles (with a margin).

    The sample (``imp``, from :func:`_sample_impostors`) only saves a second pass;
    exactness never depends on it, because the full histogram is checked afterwards.
    """
    need = [binning.bins - 1] + [int(binning.index(np.array([t]))[0]) for t in fixed]
    if targets and imp is not None:
        rank = int(min(len(imp) - 1, max(20, np.ceil(2.0 * max(targets) * len(imp)))))
        # the rank-th highest sample score (a partition, not a sort of them all)
        kth = np.partition(imp, len(imp) - 1 - rank)[len(imp) - 1 - rank : len(imp) - rank]
        need.append(max(0, int(binning.index(kth)[0]) - 1))
    return min(need)


def _estimated_kept(imp: np.ndarray | None, binning: Binning, floor: int, n: int) -> float:
    """Impostor pairs at or above ``floor`` in all, as the sample's share suggests; with no
    sample (fewer than two images, or no impostor pair among those sampled), every pair
    when the floor is bin 0 and none otherwise."""
    pairs = n * (n - 1) / 2
    if imp is None:
        return pairs if floor == 0 else 0.0
    return float(np.mean(binning.index(imp) >= floor)) * pairs


def floor_bin_for(
    pooled: np.ndarray,
    binning: Binning,
    fixed: Sequence[float],
    targets: Sequence[float],
) -> int:
    """Lowest bin that must be kept exactly: the bins of fixed thresholds and targets."""
    return min(exact_bins_for(pooled, binning, fixed, targets))


def exact_bins_for(
    pooled: np.ndarray,
    binning: Binning,
    fixed: Sequence[float],
    targets: Sequence[float],
) -> list[int]:
    """The bins whose scores must be kept exactly, given the pooled histogram: each fixed
    threshold's (as given and as float32), and for each target the bins of the impostor
    scores ranked m to m + 2 (m = floor(f n)), which hold the threshold by fairbench's
    rule and by bob.measure's (which may round one rank either way); plus the top bin."""
    need = [binning.bins - 1]
    for t in fixed:
        need.append(int(binning.index(np.array([t]))[0]))
        need.append(int(binning.index(np.array([np.float32(t)]))[0]))
    total = int(pooled.sum())
    above = np.cumsum(pooled[::-1])[::-1]  # above[b] = pairs in bins >= b
    for f in targets:
        m = int(np.floor(f * total))
        if m < 1 or total == 0:
            continue  # not supported by this much data; reported as such
        # the r-th highest score lives in the highest bin b with above[b] >= r
        for r in range(max(1, m), min(m + 2, total) + 1):
            cand = np.flatnonzero(above >= r)
            if len(cand):
                need.append(int(cand.max()))
    return sorted(set(need))
