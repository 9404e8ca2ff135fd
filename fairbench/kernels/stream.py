"""Streaming all-pairs kernel: tiles of float32 matrix products folded into counts at once.

Templates are visited in an order that puts each subject's images next to each other, so
a row's mated columns are one contiguous range: the hot loop splits each row into "before",
"mated" and "after" ranges instead of testing a mask per element, and genuine scores come
from the very same float32 products as the impostor scores. Each worker thread takes one
tile at a time: gathers its rows and columns (converting float16 storage to float32),
calls single-threaded BLAS into a preallocated buffer, and folds each strip of it with
compiled loops (numba, GIL released) in three steps: scores to bins (vectorised, with each
64-column chunk's highest bin), bins added to a thread-local histogram per stratum pair
(with the genuine scores stored), and the impostor pairs at or above a floor bin kept from
the chunks that reach it (``keep_tail``). Nothing of size N x N exists.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from numba import njit

from fairbench.core.cpus import cores
from fairbench.kernels.workers import run_workers

NEG_INF = np.float32(-np.inf)


@dataclass
class StreamInput:
    """Templates and integer codes in visiting order (``order[k]`` = original index)."""

    x: np.ndarray  # (N, d) float32 or float16 storage, original order, failed rows zero
    kind: str  # "cosine" | "euclidean"
    order: np.ndarray  # (N,) int64 visiting order
    stratum: np.ndarray  # (N,) int32, visiting order
    failed: np.ndarray  # (N,) bool, visiting order
    norm: np.ndarray  # (N,) float32, original order (1 where not normalising)
    sq: np.ndarray  # (N,) float32 squared norms, visiting order (euclidean)
    mate_end: np.ndarray  # (N,) int64: mated columns of row k are k+1 .. mate_end[k]-1
    gen_off: np.ndarray  # (N,) int64 offset of row k's genuine pairs in the genuine array
    n_genuine: int
    failed_orig: np.ndarray  # (N,) bool, original order
    any_failed: bool
    run_end: np.ndarray  # (N,) int64: columns k .. run_end[k]-1 share column k's stratum

    @property
    def n(self) -> int:
        return len(self.order)


def prepare_stream(
    embeddings: np.ndarray,
    kind: str,
    subject: np.ndarray,
    stratum: np.ndarray,
    storage: str = "float32",
) -> StreamInput:
    """Codes, norms and visiting order; ``embeddings`` are not copied unless converted.

    Cosine templates are divided by their float32 norm when gathered, exactly as the
    per-pair path (``prep.prepare``) normalises them. Non-finite rows are failed templates
    (score -inf).
    """
    if kind not in ("cosine", "euclidean"):
        raise ValueError(f"unknown similarity {kind!r}")
    dtype = np.float16 if storage == "float16" else np.float32
    x = np.asarray(embeddings)
    failed = ~np.all(np.isfinite(x), axis=1)
    if x.dtype != dtype or failed.any():
        x = np.where(failed[:, None], 0, x).astype(dtype)
    norm = np.ones(len(x), dtype=np.float32)
    sq = np.zeros(len(x), dtype=np.float32)
    for a in range(0, len(x), 4096):  # chunked: never a float32 copy of all templates
        xa = x[a : a + 4096].astype(np.float32)
        if kind == "cosine":
            nrm = np.linalg.norm(xa, axis=1)
            failed[a : a + 4096] |= nrm == 0
            norm[a : a + 4096] = np.where(nrm == 0, 1, nrm)
        else:
            sq[a : a + 4096] = np.einsum("ij,ij->i", xa, xa)
    # subjects contiguous; subjects grouped by the stratum of their first image
    subj = np.asarray(subject, dtype=np.int64)
    first = np.full(subj.max() + 1 if len(subj) else 0, np.iinfo(np.int64).max)
    np.minimum.at(first, subj, np.arange(len(subj)))
    order = np.lexsort((np.arange(len(subj)), subj, np.asarray(stratum)[first[subj]]))
    s_sorted = subj[order]
    starts = np.flatnonzero(np.r_[True, s_sorted[1:] != s_sorted[:-1]])
    ends = np.r_[starts[1:], len(order)]
    mate_end = np.repeat(ends, ends - starts).astype(np.int64)
    per_row = mate_end - np.arange(len(order)) - 1
    gen_off = np.r_[0, np.cumsum(per_row)[:-1]].astype(np.int64) if len(order) else per_row
    st = np.asarray(stratum, dtype=np.int32)[order]
    r_starts = np.flatnonzero(np.r_[True, st[1:] != st[:-1]]) if len(st) else st
    r_ends = np.r_[r_starts[1:], len(st)]
    run_end = np.repeat(r_ends, r_ends - r_starts).astype(np.int64)
    return StreamInput(
        x, kind, order.astype(np.int64), st, failed[order], norm, sq[order], mate_end,
        gen_off, int(per_row.sum()), failed, bool(failed.any()), run_end,
    )


CHUNK = 64  # columns per chunk whose highest bin says whether to look for kept pairs


@njit(nogil=True, cache=True)
def bin_strip(S, r0, c0, sq, euclid, lo, scale, nbins, B, cmax):  # pragma: no cover
    """Every score of a strip to its bin, by the rule of ``Binning.index``, and the highest
    bin of each row's chunks of 64 columns: constant-length inner loops the compiler
    vectorises. NaN products (failed templates) and minus infinity land in bin 0."""
    h, w = S.shape
    two = np.float32(2.0)
    zero = np.float32(0.0)
    ftop = np.float64(nbins - 1)
    n_chunks = (w + CHUNK - 1) // CHUNK
    for a in range(h):
        r = S[a]
        out = B[a]
        sqi = sq[r0 + a]
        for c in range(n_chunks):
            j0 = c * CHUNK
            m = np.int32(0)
            if j0 + CHUNK <= w:  # whole chunk: constant trip count
                if euclid:
                    for t in range(CHUNK):
                        d2 = sqi + sq[c0 + j0 + t] - two * r[j0 + t]
                        d2 = zero if d2 < zero else d2  # NaN stays NaN
                        x = (np.float64(-np.sqrt(d2)) - lo) * scale
                        x = x if x > 0.0 else 0.0  # also NaN
                        bn = np.int32(x if x < ftop else ftop)
                        out[j0 + t] = bn
                        m = bn if bn > m else m
                else:
                    for t in range(CHUNK):
                        x = (np.float64(r[j0 + t]) - lo) * scale
                        x = x if x > 0.0 else 0.0
                        bn = np.int32(x if x < ftop else ftop)
                        out[j0 + t] = bn
                        m = bn if bn > m else m
            else:
                for j in range(j0, w):
                    if euclid:
                        d2 = sqi + sq[c0 + j] - two * r[j]
                        d2 = zero if d2 < zero else d2
                        x = (np.float64(-np.sqrt(d2)) - lo) * scale
                    else:
                        x = (np.float64(r[j]) - lo) * scale
                    x = x if x > 0.0 else 0.0
                    bn = np.int32(x if x < ftop else ftop)
                    out[j] = bn
                    m = bn if bn > m else m
            cmax[a, c] = m


@njit(nogil=True, cache=True)
def fold_tile(
    B, r0, c0, diag, stratum, pidx, nbins, hist, S, mate_end, gen_off, gen, failed, sq,
    euclid, run_end,
):  # pragma: no cover - compiled
    """Add one binned strip of a tile to the histograms and store its genuine scores.

    Columns come in runs of one stratum (``run_end``), so a run adds to one histogram row
    with no lookup per element; unsigned indices spare the negative-index test. Genuine
    scores check ``failed`` and store minus infinity for failed templates.
    """
    h, w = B.shape
    two = np.float32(2.0)
    zero = np.float32(0.0)
    for a in range(h):
        i = r0 + a
        r = S[a]
        bb = B[a]
        row = pidx[stratum[i]]
        sqi = sq[i]
        j0 = i + 1 if diag else c0
        j1 = c0 + w
        m0 = max(j0, i + 1)
        m1 = min(mate_end[i], j1)  # mated columns [m0, m1): genuine, never impostors
        if m1 < m0:
            m1 = m0
        for j in range(m0, m1):
            s = r[j - c0]
            if euclid:
                d2 = sqi + sq[j] - two * s
                s = -np.sqrt(d2 if d2 > zero else zero)
            gen[gen_off[i] + j - i - 1] = NEG_INF if failed[i] or failed[j] else s
        for seg in range(2):
            lo_j = j0 if seg == 0 else m1
            hi_j = m0 if seg == 0 else j1
            j = lo_j
            while j < hi_j:
                e = min(run_end[j], hi_j)
                base = np.uint64(row[stratum[j]] * nbins)
                for jj in range(np.uint64(j - c0), np.uint64(e - c0)):
                    hist[base + np.uint64(bb[jj])] += 1
                j = e


@njit(nogil=True, cache=True)
def keep_tail(B, cmax, S, r0, c0, diag, mate_end, failed, sq, euclid, floor_bin, level,
              rep, n, n_levels, ki, kj, ks, keys):  # pragma: no cover - compiled
    """Record a strip's impostor pairs at or above the floor bin, looking only inside the
    chunks whose highest bin reaches it; mated cells and the diagonal tile's lower half
    are skipped. A pair in a bin whose ``level`` is negative (every bin, by default) is
    kept with its score; under ``verification.tail: people`` any other one becomes the key
    (rep_i * n + rep_j) * n_levels + level of its two images' representatives (``rep``:
    the first image of the same person and stratum) and its bin's level. Returns (pairs
    kept, keys written)."""
    h, w = B.shape
    two = np.float32(2.0)
    zero = np.float32(0.0)
    nk = 0
    na = 0
    for a in range(h):
        i = r0 + a
        ri = np.int64(rep[i]) * n
        for c in range(cmax.shape[1]):
            if cmax[a, c] < floor_bin:
                continue
            for jj in range(c * CHUNK, min(w, c * CHUNK + CHUNK)):
                b = B[a, jj]
                if b < floor_bin:
                    continue
                j = c0 + jj
                if (diag and j <= i) or (j > i and j < mate_end[i]):
                    continue
                lv = level[b]
                if lv >= 0:
                    keys[na] = (ri + rep[j]) * n_levels + lv
                    na += 1
                    continue
                s = S[a, jj]
                if euclid:
                    d2 = sq[i] + sq[j] - two * s
                    s = -np.sqrt(d2 if d2 > zero else zero)
                ki[nk] = i
                kj[nk] = j
                ks[nk] = NEG_INF if failed[i] or failed[j] else s
                nk += 1
    return nk, na


@njit(nogil=True, cache=True)
def _merge_back(k, c, m, kb, cb):  # pragma: no cover - compiled
    """Sorted ``kb`` (repeats allowed) with counts ``cb`` (empty: one pair each) merged
    into the sorted unique keys ``k[:m]`` and counts ``c[:m]`` in place, from the back (the
    arrays hold at least m + len(kb)), then moved to the front. Returns how many unique
    keys there are."""
    unit = len(cb) == 0
    i, j = m - 1, len(kb) - 1
    top = m + len(kb) - 1
    w = top
    while i >= 0 or j >= 0:
        if j < 0 or (i >= 0 and k[i] >= kb[j]):
            x, n = k[i], c[i]
            i -= 1
        else:
            x, n = kb[j], np.int64(1) if unit else cb[j]
            j -= 1
        if w < top and k[w + 1] == x:
            c[w + 1] += n
        else:  # w > i always: nothing unread is overwritten
            k[w], c[w] = x, n
            w -= 1
    size = top - w
    for t in range(size):
        k[t], c[t] = k[w + 1 + t], c[w + 1 + t]
    return size


class KeySum:
    """The sum of a pass's keys under ``verification.tail: people``: sorted unique keys and
    their counts in two arrays that grow in place (``ndarray.resize``, a ``realloc``:
    large blocks are remapped, not copied, and untouched capacity costs no memory), so
    memory stays about 16 bytes a key plus the keys being added."""

    def __init__(self) -> None:
        self.k = np.zeros(0, np.int64)
        self.c = np.zeros(0, np.int64)
        self.m = 0

    def add(self, new: np.ndarray, counts: np.ndarray | None = None) -> None:
        """Add sorted keys, with their counts (None: one pair each)."""
        need = self.m + len(new)
        if need > len(self.k):
            cap = max(need, len(self.k) + len(self.k) // 2)
            self.k.resize(cap, refcheck=False)
            self.c.resize(cap, refcheck=False)
        self.m = _merge_back(self.k, self.c, self.m, new,
                             np.zeros(0, np.int64) if counts is None else counts)

    def take(self) -> tuple[np.ndarray, np.ndarray]:
        """The keys and counts, trimmed to size (the sum is empty afterwards)."""
        k, c, m = self.k, self.c, self.m
        self.__init__()  # type: ignore[misc]
        k.resize(m, refcheck=False)
        c.resize(m, refcheck=False)
        return k, c


@njit(nogil=True, cache=True)
def decode_people(key, cnt, n, n_levels, order, level_score, ki, kj, ks, kw, at
                  ):  # pragma: no cover - compiled
    """Records from merged keys (see :func:`keep_tail`), written from ``at`` on: both
    representatives as original indices (``order``), lower first, the level's score, the
    count (split into records of at most 2**32 - 1 pairs). Returns the end."""
    top = np.int64(4294967295)
    m = at
    for k in range(len(key)):
        x = key[k]
        lv = x % n_levels
        pq = x // n_levels
        a, b = order[pq // n], order[pq % n]
        if a > b:
            a, b = b, a
        c = cnt[k]
        while c > 0:
            w = c if c < top else top
            ki[m], kj[m], ks[m], kw[m] = a, b, level_score[lv], w
            m += 1
            c -= w
    return m


@dataclass
class PeopleKeys:
    """What a pass under ``verification.tail: people`` needs beside the floor."""

    level: np.ndarray  # (bins,) int32: a bin's level, -1 for exact bins (and below the floor)
    rep: np.ndarray  # (N,) int32: per visiting position, its person-and-stratum's first one
    n_levels: int
    pending: int = 1 << 18  # keys a thread holds at least before merging (8 bytes each)


@dataclass
class StreamResult:
    """Counts in visiting order (translate with ``StreamInput.order``)."""

    hist: np.ndarray  # (P, B) int64
    genuine: np.ndarray  # (n_genuine,) float32
    kept_i: np.ndarray  # int32 visiting positions
    kept_j: np.ndarray
    kept_s: np.ndarray
    tiles: int = 0
    gen_start: int = 0  # offset of ``genuine`` in the whole genuine array (a row band's part)
    #: ``verification.tail: people``: sorted unique keys (see :func:`keep_tail`) and the
    #: impostor pairs behind each; None in the default mode
    agg_key: np.ndarray | None = None
    agg_count: np.ndarray | None = None


def tile_list(n: int, block: int, rows: tuple[int, int] | None = None
              ) -> list[tuple[int, int, int, int]]:
    """Upper-triangle tiles (r0, r1, c0, c1), c0 >= r0; each pair i < j in exactly one.

    ``rows=(a, b)`` keeps the tiles whose first row lies in [a, b): a row band, the unit an
    executor hands to one task (bands from :func:`row_bands` partition the tiles)."""
    out = []
    a, b = rows if rows is not None else (0, n)
    for r0 in range(0, n, block):
        if not a <= r0 < b:
            continue
        for c0 in range(r0, n, block):
            out.append((r0, min(n, r0 + block), c0, min(n, c0 + block)))
    return out


def row_bands(n: int, block: int, parts: int) -> list[tuple[int, int]]:
    """Split the rows into at most ``parts`` bands of whole tile rows with about equal pairs.

    Row r0's tiles hold about (n - r0) x block pairs, so bands are cut at equal shares of
    the upper triangle, not at equal rows."""
    starts = list(range(0, n, block))
    if not starts:
        return []
    work = np.array([(n - r0) * min(block, n - r0) for r0 in starts], dtype=np.float64)
    cum = np.cumsum(work) / work.sum()
    cuts = np.searchsorted(cum, np.arange(1, parts) / parts, side="left") + 1
    edges = sorted({0, *[int(c) for c in cuts if 0 < c < len(starts)], len(starts)})
    return [(starts[a], starts[b] if b < len(starts) else n)
            for a, b in zip(edges[:-1], edges[1:])]


def merge_results(parts: list[StreamResult], n_genuine: int,
                  hist: np.ndarray | None = None) -> StreamResult:
    """Exact reduction of row-band results: histograms summed, genuine scores placed at
    their offsets, kept pairs concatenated in band order (the same for every executor).

    ``hist``: the histograms' sum where the caller added them up as the bands came in
    (then the parts' own histograms are not read)."""
    if hist is None:
        hist = parts[0].hist.copy()
        for p in parts[1:]:
            hist += p.hist
    gen = np.full(n_genuine, NEG_INF, dtype=np.float32)
    for p in parts:
        gen[p.gen_start : p.gen_start + len(p.genuine)] = p.genuine
    kept = [np.concatenate([getattr(p, f) for p in parts]) for f in ("kept_i", "kept_j",
                                                                     "kept_s")]
    out = StreamResult(hist, gen, *kept, sum(p.tiles for p in parts))
    if parts and parts[0].agg_key is not None:
        total = KeySum()
        for p in parts:  # each band's part is freed once it is in the sum
            total.add(p.agg_key, p.agg_count)  # type: ignore[arg-type]
            p.agg_key = p.agg_count = None
        out.agg_key, out.agg_count = total.take()
    return out


def _gather(inp: StreamInput, a: int, b: int, out: np.ndarray) -> np.ndarray:
    """Rows a:b of the visiting order as float32 (normalised for cosine) into ``out``."""
    rows = inp.order[a:b]
    buf = out[: b - a]
    if inp.x.dtype == np.float32:
        np.take(inp.x, rows, axis=0, out=buf)
    else:
        buf[:] = inp.x[rows]  # float16 storage: converted per tile, compute stays float32
    if inp.kind == "cosine":
        buf /= inp.norm[rows, None]
    if inp.any_failed:
        buf[inp.failed_orig[rows]] = np.nan  # NaN products: bin 0 with no test per pair
    return buf


def stream(
    inp: StreamInput,
    pidx: np.ndarray,
    n_slots: int,
    lo: float,
    hi: float,
    nbins: int,
    floor_bin: int,
    block: int = 1024,
    threads: int | None = None,
    fold: bool = True,
    strip: int = 256,
    rows: tuple[int, int] | None = None,
    people: PeopleKeys | None = None,
) -> StreamResult:
    """One pass over every pair. ``fold=False`` only multiplies (the GEMM-rate baseline).

    ``rows=(a, b)`` passes over one row band's tiles only (see :func:`row_bands`); its
    genuine scores are the slice of the whole array that starts at ``gen_start``.
    ``people``: keep the tail as counts per pair of people (:func:`keep_tail`)."""
    n, d = inp.x.shape
    threads = threads or cores()
    todo = tile_list(n, block, rows)
    lock = threading.Lock()
    cursor = [0]
    scale = nbins / (hi - lo)
    a, b = rows if rows is not None else (0, n)
    # row k's genuine pairs start at gen_off[k]; past the last row, at the end
    g0, g1 = (int(inp.gen_off[k]) if k < n else inp.n_genuine for k in (a, b))
    gen_all = np.full(g1 - g0, NEG_INF, dtype=np.float32)
    gen_off = inp.gen_off - g0  # rows outside the band never write
    pidx32 = np.ascontiguousarray(pidx, dtype=np.int64)
    # pairs: every bin's level is -1 (kept one by one)
    tail = people or PeopleKeys(np.full(nbins, -1, np.int32), np.zeros(1, np.int32), 1)
    results: list[tuple[np.ndarray, list[tuple[np.ndarray, ...]]]] = []
    euclid = inp.kind == "euclidean"
    # tail: people: one sum of keys for all threads (so a key is held once), merged into
    # under its own lock; each thread sorts its new keys before it takes the lock
    merged = KeySum()
    merge_lock = threading.Lock()

    def flush(pending: list[np.ndarray]) -> None:
        new = np.concatenate(pending)
        new.sort()
        with merge_lock:
            merged.add(new)

    def work() -> None:
        hist = np.zeros(n_slots * nbins, dtype=np.int64)
        abuf = np.empty((block, d), np.float32)
        bbuf = np.empty((block, d), np.float32)
        sbuf = np.empty(strip * block, np.float32)
        bins_buf = np.empty(strip * block, np.int32)
        cmax = np.empty((strip, (block + CHUNK - 1) // CHUNK), np.int32)
        ki = np.empty(strip * block, np.int32)  # visiting positions (N < 2**31)
        kj = np.empty(strip * block, np.int32)
        ks = np.empty(strip * block, np.float32)
        kept: list[tuple[np.ndarray, ...]] = []
        keys = np.empty(strip * block if people else 0, np.int64)
        pending: list[np.ndarray] = []
        n_pending = 0
        last_r = -1
        while True:
            with lock:
                if cursor[0] >= len(todo):
                    break
                r0, r1, c0, c1 = todo[cursor[0]]
                cursor[0] += 1
            if r0 != last_r:
                A = _gather(inp, r0, r1, abuf)
                last_r = r0
            B = A if c0 == r0 else _gather(inp, c0, c1, bbuf)
            w = c1 - c0
            # strips of rows: each product is folded while it is still in cache
            for s0 in range(0, r1 - r0, strip):
                s1 = min(r1 - r0, s0 + strip)
                S = sbuf[: (s1 - s0) * w].reshape(s1 - s0, w)
                np.matmul(A[s0:s1], B.T, out=S)
                if not fold:
                    continue
                Bs = bins_buf[: S.size].reshape(S.shape)
                cm = cmax[: s1 - s0, : (w + CHUNK - 1) // CHUNK]
                bin_strip(S, r0 + s0, c0, inp.sq, euclid, lo, scale, nbins, Bs, cm)
                fold_tile(Bs, r0 + s0, c0, c0 == r0, inp.stratum, pidx32, nbins, hist, S,
                          inp.mate_end, gen_off, gen_all, inp.failed, inp.sq, euclid,
                          inp.run_end)
                nk, na = keep_tail(Bs, cm, S, r0 + s0, c0, c0 == r0, inp.mate_end,
                                   inp.failed, inp.sq, euclid, floor_bin, tail.level,
                                   tail.rep, n, tail.n_levels, ki, kj, ks, keys)
                if people is not None:
                    if na:
                        pending.append(keys[:na].copy())
                        n_pending += na
                    # into the shared sum once the new keys pass a quarter of it (and a
                    # floor): memory stays one entry per key, the merges' work linear
                    if n_pending > max(people.pending, merged.m // 4):
                        flush(pending)
                        pending, n_pending = [], 0
                if nk:
                    kept.append((ki[:nk].copy(), kj[:nk].copy(), ks[:nk].copy()))
        if pending:
            flush(pending)
            pending = []
        with lock:
            results.append((hist, kept))

    run_workers(work, threads)
    hist = np.zeros(n_slots * nbins, dtype=np.int64)
    chunks: list[tuple[np.ndarray, ...]] = []
    for h, k in results:
        hist += h
        chunks += k
    ki_all, kj_all, ks_all = (
        np.concatenate([c[m] for c in chunks]) if chunks else np.zeros(0, dt)
        for m, dt in ((0, np.int32), (1, np.int32), (2, np.float32))
    )
    out = StreamResult(hist.reshape(n_slots, nbins), gen_all, ki_all, kj_all, ks_all,
                       len(todo), g0)
    if people is not None:
        out.agg_key, out.agg_count = merged.take()
    return out


def warm_up() -> None:
    """Compile the fold once (cached on disk by numba) on a tiny input."""
    x = np.eye(3, dtype=np.float32)
    inp = prepare_stream(x, "cosine", np.array([0, 0, 1]), np.array([0, 0, 0]))
    stream(inp, np.zeros((1, 1), np.int64), 1, -1.0, 1.0, 8, 7, block=2, threads=1)
