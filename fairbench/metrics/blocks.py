"""The subject bootstrap in blocks of replicates: its unit of drawing and of work.

R replicates are cut into blocks of ``BLOCK``. Block k draws its weights from its own
child generator (``rng.spawn``), so the weights depend only on the seed, never on how many
threads run the blocks or in which order they finish. A block's weights are laid out
subjects x replicates (64 one-byte counts: one cache line a subject) and stay in cache
while every sum that needs them is taken; blocks run on a thread pool, the compiled loops
(``_compiled``) releasing the GIL, and numpy's generators too while they draw.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

BLOCK = 64  # replicates a block: 64 one-byte weights are one cache line a subject
DRAW_CHUNK = 1 << 20  # draws a call at most: a block's draws stay in cache
INT32 = 2**31 - 1  # the integer sums' exact range

T = TypeVar("T")


def block_bounds(replicates: int) -> list[tuple[int, int]]:
    """(first, end) replicate of every block."""
    return [(r0, min(r0 + BLOCK, replicates)) for r0 in range(0, replicates, BLOCK)]


def group_slices(sorted_group: np.ndarray) -> list[tuple[int, int]]:
    """(first column, size) of each group's run in a sorted subject-group array."""
    if len(sorted_group) == 0:
        return []
    starts = np.flatnonzero(np.r_[True, sorted_group[1:] != sorted_group[:-1]])
    sizes = np.diff(np.r_[starts, len(sorted_group)])
    return [(int(s), int(m)) for s, m in zip(starts, sizes)]


def _count(slices: list[tuple[int, int]], rows: int, rng: np.random.Generator,
           wt: np.ndarray) -> bool:
    from fairbench.metrics._compiled import count_block

    for off, m in slices:
        # 16-bit draws are faster while rejections are rare (under m / 2**16 of them)
        kind = np.uint16 if m <= 1 << 12 else np.uint32
        step = max(1, DRAW_CHUNK // m)  # a function of m alone: the stream is fixed
        for r0 in range(0, rows, step):
            draws = rng.integers(0, m, size=(min(step, rows - r0), m), dtype=kind)
            if not count_block(draws, off, r0, wt):
                return False
    return True


def draw_block(slices: list[tuple[int, int]], rows: int, rng: np.random.Generator,
               n_subjects: int, dtype: type = np.uint8) -> np.ndarray:
    """(n_subjects, rows) draw counts of one block: each group's m subjects resampled m
    times per replicate. In ``dtype`` unless a count would not fit (a person drawn more
    than 255 times, never yet seen in uint8): the block is then drawn again, the same
    numbers, into float32, exact up to 2**24."""
    state = rng.bit_generator.state
    wide = dtype if np.dtype(dtype).kind == "f" else np.float32
    for kind in dict.fromkeys([dtype, wide]):
        wt = np.zeros((n_subjects, rows), dtype=kind)
        if _count(slices, rows, rng, wt):
            return wt
        rng.bit_generator.state = state
    raise ValueError("a subject drawn more than 2**24 times: groups this large are not "
                     "supported by the bootstrap")


def map_blocks(work: Callable[[int, int, np.random.Generator], T], replicates: int,
               rng: np.random.Generator, threads: int) -> list[T]:
    """``work(first, end, generator)`` for every block, on ``threads`` threads, in block
    order. The generators are spawned from ``rng`` once, in block order, so a block's
    draws never depend on the thread that runs it."""
    bounds = block_bounds(replicates)
    children = rng.spawn(len(bounds)) if bounds else []
    jobs = [(r0, r1, g) for (r0, r1), g in zip(bounds, children)]
    if threads <= 1 or len(jobs) <= 1:
        return [work(*j) for j in jobs]
    return list(_pool(threads).map(lambda j: work(*j), jobs))


def in_background(fn: Callable[..., T], *args: object) -> Future[T]:
    """``fn(*args)`` on a background thread of this process, kept for the next call: the
    tables take a breakdown's replicates there while they build its rows, so the rows'
    single-threaded work and the replicate blocks share the cores."""
    return _pool(1, "fairbench-tables").submit(fn, *args)


_POOLS: dict[tuple[int, int, str], ThreadPoolExecutor] = {}


def _pool(threads: int, name: str = "fairbench-bootstrap") -> ThreadPoolExecutor:
    """One pool per use, thread count and process, kept: starting threads for every
    breakdown cost 2 ms a table. Keyed by the process id, so a forked child starts its
    own."""
    key = (os.getpid(), threads, name)
    if key not in _POOLS:
        _POOLS[key] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
    return _POOLS[key]


@dataclass(frozen=True)
class PairSums:
    """Weighted subject pairs (a, b, bucket, count), sorted by (bucket, a): what a block's
    sums of c * w_a * w_b per bucket are taken from (a bucket is a group, or a group and a
    level)."""

    a: np.ndarray  # int32: 16 bytes a pair with b, bucket and the count, streamed per block
    b: np.ndarray
    bucket: np.ndarray
    c: np.ndarray  # float64
    c_int: np.ndarray | None  # the counts in int32, where they are integers that fit
    n_buckets: int
    largest: float  # the largest count

    @classmethod
    def build(cls, a: np.ndarray, b: np.ndarray, bucket: np.ndarray, c: np.ndarray,
              n_buckets: int) -> PairSums:
        a, b, bucket = np.asarray(a), np.asarray(b), np.asarray(bucket)
        c = np.asarray(c, np.float64)
        # sorted by a within a bucket, so w_a stays in cache (kept pairs come sorted)
        if len(a) > 1 and np.any((bucket[1:] < bucket[:-1]) |
                                 ((bucket[1:] == bucket[:-1]) & (a[1:] < a[:-1]))):
            o = np.lexsort((a, bucket))
            a, b, c, bucket = a[o], b[o], c[o], bucket[o]
        largest = float(np.abs(c).max()) if len(c) else 0.0
        integer = bool(np.all(c == np.round(c)) and np.all(c >= 0)) and largest < INT32
        return cls(a.astype(np.int32), b.astype(np.int32), bucket.astype(np.int32), c,
                   c.astype(np.int32) if integer else None, n_buckets, largest)

    def sums(self, wt: np.ndarray) -> np.ndarray:
        """(n_buckets, rows) sums of c * w_a * w_b over one block's weights ``wt``
        (n_subjects, rows). In int32 where every product fits (partial sums are moved
        to float64 before they could overflow), else every pair in float64; both give the
        same exact integers."""
        from fairbench.metrics import _compiled

        out = np.zeros((self.n_buckets, wt.shape[1]))
        if len(self.a) == 0:
            return out
        wmax = int(wt.max()) if wt.size else 0
        if self.c_int is not None and self.largest * wmax * wmax < INT32:
            _compiled.bucket_sums_int(wt, self.a, self.b, self.bucket, self.c_int, wmax, out)
        else:
            _compiled.pair_sums(wt, self.a, self.b, self.bucket, self.c, out)
        return out


@dataclass(frozen=True)
class SubjectTable:
    """Per-subject tables (n_subjects, columns) as their nonzero entries, by subject: the
    columns of a table weighted by w, then those of one weighted by w**2."""

    ptr: np.ndarray
    col: np.ndarray
    val: np.ndarray
    power: np.ndarray
    n_cols: int

    @classmethod
    def of(cls, linear: np.ndarray, squared: np.ndarray | None = None) -> SubjectTable:
        table = linear if squared is None else np.hstack([linear, squared])
        flat = table.ravel()
        idx = np.flatnonzero(flat)
        s, col = np.divmod(idx, max(table.shape[1], 1))
        ptr = np.searchsorted(s, np.arange(table.shape[0] + 1)).astype(np.int64)
        power = np.where(col >= linear.shape[1], 2, 1).astype(np.int8)
        return cls(ptr, col.astype(np.int32), flat[idx].astype(np.float64), power,
                   table.shape[1])

    def sums(self, wt: np.ndarray) -> np.ndarray:
        """(n_cols, rows): sum over subjects of value * w (or w**2) in one block."""
        from fairbench.metrics._compiled import subject_sums

        out = np.zeros((self.n_cols, wt.shape[1]))
        subject_sums(wt, self.ptr, self.col, self.val, self.power, out)
        return out
