"""Is a difference real? Subject-level permutation tests with multiplicity control.

Under the null hypothesis that a breakdown's labels say nothing about errors, the people
are exchangeable between groups: each relabelling deals the same labels out to the same
people again (group sizes kept; people with an unknown label keep it), and every rate is
recomputed from the same comparisons. Labels are permuted among *people*, never among
pairs, because one person appears in hundreds of impostor pairs: a pair-level permutation
would treat those as independent and find differences that are not there.

Tested per group against the reference group (|rate - reference rate|) and for the largest
difference among the groups (max - min), two-sided, for FMR and FNMR at one threshold. The
p-value counts the relabellings at least as extreme as the data, the data's own labelling
included: ``(1 + k) / (1 + P)`` for P random relabellings, or the exact share when every
distinct relabelling can be enumerated (no more than ``P + 1`` of them). A breakdown whose
labels are not one per person (age bands by a pair's mean age, per-image labels) cannot be
permuted among people and gets no p-value.

Multiplicity: Holm (family-wise) and Benjamini-Hochberg (false discovery rate) adjust the
p-values of one family, all the group-versus-reference tests of one operating point (every
breakdown and intersection, both rates).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

TOL = 1e-12  # rates that differ by rounding only are equally extreme


@dataclass(frozen=True)
class PairErrors:
    """What the rates of every relabelling are counted from, at one threshold.

    ``err_a, err_b``: the two people of each impostor comparison at or above the threshold
    (any groups); ``den_a, den_b, den_n``: impostor comparisons per pair of people (None in
    an all-pairs design, where they follow from ``n_img``); ``mated_pairs, mated_errors``:
    each person's mated comparisons and false non-matches; ``err_w``: the comparisons
    each (a, b) entry stands for (None: one each; ``verification.tail: people``).
    """

    err_a: np.ndarray
    err_b: np.ndarray
    n_img: np.ndarray
    mated_pairs: np.ndarray
    mated_errors: np.ndarray
    den_a: np.ndarray | None = None
    den_b: np.ndarray | None = None
    den_n: np.ndarray | None = None
    err_w: np.ndarray | None = None

    @property
    def n_errors(self) -> int:
        """Impostor comparisons at or above the threshold."""
        return len(self.err_a) if self.err_w is None else int(self.err_w.sum(dtype=np.int64))


def rates(labels: np.ndarray, pe: PairErrors, G: int) -> tuple[np.ndarray, np.ndarray]:
    """Each group's same-group FMR and its FNMR under labellings of the people: ``labels``
    (P, people) gives (P, G) arrays (one labelling (people,) gives (G,)); NaN where a
    group has no comparison. All labellings are counted by one ``bincount`` each."""
    one = labels.ndim == 1
    L = np.atleast_2d(labels)
    P = len(L)
    off = (np.arange(P, dtype=np.int64) * G)[:, None]

    def count(a: np.ndarray, b: np.ndarray | None, w: np.ndarray | None) -> np.ndarray:
        if P * len(a) >= COMPILED_FROM:  # compiled: no (P, items) temporaries
            from fairbench.metrics._compiled import label_counts

            return label_counts(L, np.asarray(a, np.int64),
                                np.asarray(a if b is None else b, np.int64),
                                np.zeros(0) if w is None else np.asarray(w, np.float64),
                                G, b is not None)
        la = L[:, a]
        ok = (la >= 0) if b is None else (la == L[:, b]) & (la >= 0)
        idx = (la + off)[ok]
        wt = None if w is None else np.broadcast_to(w, la.shape)[ok]
        return np.bincount(idx, weights=wt, minlength=P * G).reshape(P, G)

    people = np.arange(L.shape[1])
    fm_err = count(pe.err_a, pe.err_b, pe.err_w)
    if pe.den_a is None:
        n = pe.n_img.astype(np.float64)
        s1, s2 = count(people, None, n), count(people, None, n * n)
        fm_n = (s1 * s1 - s2) / 2
    else:
        fm_n = count(pe.den_a, pe.den_b, pe.den_n.astype(np.float64))
    fnm_err = count(people, None, pe.mated_errors.astype(np.float64))
    fnm_n = count(people, None, pe.mated_pairs.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        fm = np.where(fm_n > 0, fm_err / np.where(fm_n > 0, fm_n, 1), np.nan)
        fnm = np.where(fnm_n > 0, fnm_err / np.where(fnm_n > 0, fnm_n, 1), np.nan)
    return (fm[0], fnm[0]) if one else (fm, fnm)


def statistics(r: np.ndarray, ref: int | None, usable: np.ndarray) -> np.ndarray:
    """|rate_g - rate_ref| per group (NaN for the reference and unusable groups), then the
    largest difference max - min over the usable groups, as the last column; ``r`` is
    (G,) or (P, G)."""
    R = np.atleast_2d(r)
    P, G = R.shape
    out = np.full((P, G + 1), np.nan)
    ok = usable[None, :] & np.isfinite(R)
    if ref is not None:
        d = np.abs(R - R[:, [ref]])
        out[:, :G] = np.where(ok & ok[:, [ref]], d, np.nan)
        out[:, ref] = np.nan
    several = ok.sum(axis=1) >= 2
    hi = np.where(ok, R, -np.inf).max(axis=1)
    lo = np.where(ok, R, np.inf).min(axis=1)
    out[:, G] = np.where(several, hi - lo, np.nan)
    return out[0] if r.ndim == 1 else out


def distinct_relabellings(labels: np.ndarray) -> int:
    """How many different ways the known labels can be dealt out to the same people."""
    known = labels[labels >= 0]
    _, counts = np.unique(known, return_counts=True)
    total = math.factorial(len(known))
    for c in counts:
        total //= math.factorial(int(c))
    return total


def all_relabellings(labels: np.ndarray) -> np.ndarray:
    """Every distinct relabelling of the known people (multiset permutations), (K, people);
    people with an unknown label (-1) keep it."""
    idx = np.flatnonzero(labels >= 0)
    values, counts = np.unique(labels[idx], return_counts=True)
    rows: list[np.ndarray] = []

    def deal(free: tuple[int, ...], k: int, out: np.ndarray) -> None:
        if k == len(values) - 1:
            out[idx[list(free)]] = values[k]
            rows.append(out.copy())
            return
        for chosen in itertools.combinations(free, int(counts[k])):
            taken = set(chosen)
            out[idx[list(chosen)]] = values[k]
            deal(tuple(x for x in free if x not in taken), k + 1, out)

    if len(values):
        deal(tuple(range(len(idx))), 0, labels.copy())
    return np.array(rows, dtype=labels.dtype) if rows else labels[None, :].copy()


COMPILED_FROM = 1 << 16  # labellings x items from which counts run compiled (same sums)
MEMO_ENTRIES = 64_000_000  # labels of random relabellings kept between thresholds (int8: bytes)


@dataclass(frozen=True)
class Relabellings:
    """The labellings one breakdown is tested with, the same at every threshold.

    Exact: every distinct relabelling, held in ``exact_rows``. Random: ``count``
    relabellings drawn again, identically, from ``seed`` whenever they are asked for, so a
    run with many people never holds all of them at once."""

    labels: np.ndarray  # (people,) the data's own labelling
    exact: bool
    count: int
    seed: int = 0
    exact_rows: np.ndarray | None = None

    @property
    def method(self) -> str:
        return "exact" if self.exact else "monte carlo"

    @property
    def counted(self) -> int:
        """Relabellings a p-value is a share of, the data's own included."""
        return self.count + (0 if self.exact else 1)

    def chunks(self, size: int) -> Iterator[np.ndarray]:
        """The relabellings, ``size`` rows (people) at a time, always in the same order."""
        rows = self.exact_rows if self.exact_rows is not None else self._drawn
        if rows is not None:
            for k in range(0, len(rows), size):
                yield rows[k:k + size].astype(self.labels.dtype, copy=False)
            return
        yield from self._draw(size)

    @functools.cached_property
    def _drawn(self) -> np.ndarray | None:
        """Every random relabelling, drawn once for all thresholds and kept in the smallest
        integer type that holds the labels, where that fits in ``MEMO_ENTRIES``; else None
        (they are drawn again, identically, each time)."""
        if self.count * len(self.labels) > MEMO_ENTRIES:
            return None
        top = int(self.labels.max()) if len(self.labels) else 0
        small = np.int8 if top < 2**7 else np.int16 if top < 2**15 else self.labels.dtype
        parts = [c.astype(small) for c in self._draw(256)]
        return np.concatenate(parts) if parts else None

    def _draw(self, size: int) -> Iterator[np.ndarray]:
        rng = np.random.default_rng(self.seed)
        known = np.flatnonzero(self.labels >= 0)
        values = self.labels[known]
        for k in range(0, self.count, size):
            out = np.repeat(self.labels[None, :], min(size, self.count - k), axis=0)
            for row in out:
                v = values.copy()
                rng.shuffle(v)  # the draws of rng.permutation(known), applied to the labels
                row[known] = v
            yield out

    @property
    def rows(self) -> np.ndarray:
        """Every relabelling at once (small data and tests)."""
        return np.concatenate(list(self.chunks(max(self.count, 1))))


def relabellings(labels: np.ndarray, permutations: int, rng: np.random.Generator
                 ) -> Relabellings:
    """All distinct relabellings when there are at most ``permutations + 1``, else
    ``permutations`` random ones (labels shuffled among the people with a known label)."""
    if distinct_relabellings(labels) <= permutations + 1:
        rows = all_relabellings(labels)
        return Relabellings(labels, True, len(rows), exact_rows=rows)
    return Relabellings(labels, False, permutations, int(rng.integers(2**63)))


@dataclass(frozen=True)
class PermutationResult:
    """p-values per group against the reference (NaN where not tested) and for the
    largest difference, for FMR and FNMR, and how they were obtained."""

    fmr_p: np.ndarray
    fnmr_p: np.ndarray
    fmr_max_p: float
    fnmr_max_p: float
    relabellings: int  # counted, the data's own included
    method: str  # 'exact' | 'monte carlo'


def chunk_for(pe: PairErrors, most: int, budget: int = 4_000_000) -> int:
    """Relabellings counted at once: at most ``most``, and few enough that the (chunk,
    comparisons) label arrays stay within ``budget`` entries (about 32 MB each)."""
    width = len(pe.err_a) + (0 if pe.den_a is None else len(pe.den_a)) + len(pe.n_img)
    return max(1, min(most, budget // max(width, 1)))


def _p(obs: np.ndarray, t: np.ndarray, rel: Relabellings) -> np.ndarray:
    """Share of relabellings at least as extreme as the data (an undefined statistic,
    a group left without comparisons, is not extreme)."""
    hits = (np.nan_to_num(t, nan=-np.inf) >= obs[None, :] - TOL).sum(axis=0)
    p = hits / len(t) if rel.exact else (1 + hits) / (1 + len(t))
    return np.where(np.isfinite(obs), p, np.nan)


def permutation_test(labels: np.ndarray, pe: PairErrors, G: int, ref: int | None,
                     usable_fmr: np.ndarray, usable_fnmr: np.ndarray, rel: Relabellings,
                     chunk: int = 256) -> PermutationResult:
    """Both rates' tests for one breakdown at one threshold (see the module docstring)."""
    fm, fnm = rates(labels, pe, G)
    obs = (statistics(fm, ref, usable_fmr), statistics(fnm, ref, usable_fnmr))
    chunk = chunk_for(pe, chunk)
    stats: list[list[np.ndarray]] = [[], []]
    for lab in rel.chunks(chunk):
        r_fm, r_fnm = rates(lab, pe, G)
        stats[0].append(statistics(r_fm, ref, usable_fmr))
        stats[1].append(statistics(r_fnm, ref, usable_fnmr))
    p = [_p(o, np.concatenate(t), rel) for o, t in zip(obs, stats)]
    return PermutationResult(p[0][:G], p[1][:G], float(p[0][G]), float(p[1][G]),
                             rel.counted, rel.method)


def holm(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN entries are not part of the family)."""
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if not len(ok):
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    m = len(order)
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values; NaN entries left out)."""
    from scipy.stats import false_discovery_control

    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.isfinite(p)
    if ok.any():
        out[ok] = false_discovery_control(p[ok], method="bh")
    return out
