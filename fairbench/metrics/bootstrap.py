"""Subject-level bootstrap without rescoring.

People, not comparisons, are resampled (one person appears in many impostor pairs), within
each group so every replicate keeps the group sizes. A replicate is a vector of subject
weights w (how often each person was drawn); an impostor pair of persons a and b counts
w_a * w_b times, a mated pair of person a counts w_a times. Numerators use only the pairs
at or above the threshold (kept by the counting pass); denominators come from per-subject
image counts, so no score is recomputed. The compiled loops live in ``_compiled`` and load
only when a bootstrap runs.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np


def view_rng(seed: int, name: str) -> np.random.Generator:
    """The generator of one breakdown's replicates: seeded by the run's seed and the
    breakdown's name, so a breakdown's intervals do not depend on which others are computed
    (and a test can redraw the same weights)."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode("utf-8"))])


def subject_weights(
    subject_group: np.ndarray, replicates: int, rng: np.random.Generator,
    dtype: type = np.float32,
) -> np.ndarray:
    """(R, n_subjects) draw counts, resampling subjects within their groups.

    Counts are small integers, exact in float32 (half the memory traffic of float64);
    ``dtype=np.uint8`` takes a quarter of float32's, for the loops that stream weights from
    memory, and silently widens to float32 in the (never yet seen) case of a person drawn
    more than 255 times. The draws are the same in every type. Fastest when
    ``subject_group`` is sorted, so each group's columns are one slice.
    """
    from fairbench.metrics._compiled import count_draws

    n = len(subject_group)
    w = np.zeros((replicates, n), dtype=dtype)
    sorted_groups = bool(np.all(subject_group[1:] >= subject_group[:-1])) if n else True
    for g in np.unique(subject_group):
        idx = np.flatnonzero(subject_group == g)
        m = len(idx)
        draws = rng.integers(0, m, size=(replicates, m))
        cols = slice(idx[0], idx[-1] + 1) if sorted_groups else idx
        counts = w if sorted_groups else np.zeros((replicates, m), dtype=w.dtype)
        off = int(idx[0]) if sorted_groups else 0
        cap = np.iinfo(w.dtype).max if w.dtype.kind == "u" else 2**24
        if not count_draws(draws, off, counts, cap):  # widen, count this group again
            w = w.astype(np.float32)
            w[:, cols] = 0
            counts = w if sorted_groups else np.zeros((replicates, m), dtype=np.float32)
            count_draws(draws, off, counts, 2**24)
        if not sorted_groups:
            w[:, idx] = counts
    return w


def level_weight_sums(
    w: np.ndarray, a: np.ndarray, b: np.ndarray, g: np.ndarray, lev: np.ndarray,
    c: np.ndarray, n_groups: int, n_levels: int,
) -> np.ndarray:
    """(R, G, L): sum of c_k * w[r, a_k] * w[r, b_k] by group and level.

    The level of a pair is how many thresholds it meets, so one pass over the pairs serves
    every threshold. Subjects' weights are laid out along replicates (a transposed copy) so
    the inner loops run over contiguous memory. Pairs are taken in runs of one (group,
    level, subject a): each run's inner sum of c_k * w[b_k] is a float32 vector add, exact
    because weights and counts are small integers, and only the run's product with w[a]
    is added in float64. Where the integers could outgrow float32's exact range (2**24),
    or counts are not integers, every pair is added in float64 instead; both give the
    same sums, which are exact integers.
    """
    from fairbench.metrics import _compiled

    R = w.shape[0]
    c = np.asarray(c, dtype=np.float64)
    if len(a) == 0:
        return np.zeros((R, n_groups, n_levels))
    wt = np.ascontiguousarray(w.T)
    parts = max(1, min(_compiled.threads(), len(a)))
    bucket = np.asarray(g, np.int64) * n_levels + np.asarray(lev, np.int64)
    key = bucket * max(w.shape[1], 1) + a
    if np.any(key[1:] < key[:-1]):
        o = np.argsort(key, kind="stable")
        a, b, c, bucket, key = a[o], b[o], c[o], bucket[o], key[o]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    run_c = np.add.reduceat(c, starts)
    wmax = float(w.max()) if w.size else 0.0
    if np.all(c == np.round(c)) and float(run_c.max()) * wmax < 2.0**24:
        out = _compiled.level_sums_runs(wt, a, b, c.astype(np.float32),
                                        np.r_[starts, len(a)], bucket[starts],
                                        n_groups * n_levels, min(parts, len(starts)))
        return np.ascontiguousarray(out.reshape(n_groups, n_levels, R).transpose(2, 0, 1))
    out = _compiled.level_sums_t(wt, a, b, bucket // n_levels, bucket % n_levels, c,
                                 n_groups, n_levels, parts)
    return np.ascontiguousarray(out.transpose(2, 0, 1))


def compress_pairs(
    a: np.ndarray, b: np.ndarray, g: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge repeated (subject a, subject b, group) triples into one with a count."""
    if len(a) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), e.copy(), np.zeros(0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys, counts = np.unique(np.stack([lo, hi, g]), axis=1, return_counts=True)
    return keys[0], keys[1], keys[2], counts.astype(np.float64)


def impostor_rates(
    w: np.ndarray,
    n_img: np.ndarray,
    err_a: np.ndarray,
    err_b: np.ndarray,
    err_group: np.ndarray,
    n_groups: int,
    den_pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """(R, G) same-group FMR per replicate, one threshold at a time.

    The straightforward form, kept as the reference the tables' one-pass, all-thresholds
    computation (``level_weight_sums``) is tested against, and used by ``compare``.

    ``n_img`` (n_subjects, G): images of each subject in each group; ``err_a``, ``err_b``:
    subject codes of the impostor pairs at or above the threshold, ``err_group`` their group;
    ``den_pairs`` as in :func:`verification_replicates` (a comparison list's denominators).
    """
    from fairbench.metrics._compiled import pair_weight_sums

    if den_pairs is None:
        tot = w @ n_img
        den = (tot**2 - (w**2) @ (n_img**2)) / 2.0
    else:
        da, db, dg, dc = den_pairs
        den = pair_weight_sums(np.ascontiguousarray(w), da, db, dg,
                               np.asarray(dc, np.float64), n_groups)

    a, b, g, c = compress_pairs(err_a, err_b, err_group)
    num = pair_weight_sums(np.ascontiguousarray(w), a, b, g, c, n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def mated_rates(w: np.ndarray, pairs: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """(R, G) FNMR per replicate from per-subject mated pair and error counts (n_sub, G)."""
    den = w @ pairs
    num = w @ errors
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def percentile_interval(
    reps: np.ndarray, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over replicates (axis 0), ignoring undefined replicates."""
    a = (1 - confidence) / 2 * 100
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns: no interval
        lo = np.nanpercentile(reps, a, axis=0)
        hi = np.nanpercentile(reps, 100 - a, axis=0)
    return lo, hi


def verification_replicates(
    subject_group: np.ndarray, n_img: np.ndarray, m_subject: np.ndarray, m_group: np.ndarray,
    m_score: np.ndarray, k_subject_a: np.ndarray, k_subject_b: np.ndarray,
    k_group: np.ndarray, k_score: np.ndarray, thresholds: np.ndarray, replicates: int,
    rng: np.random.Generator, budget_bytes: int = 40_000_000,
    den_pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(R, G) replicate FMR and FNMR per threshold, for one breakdown.

    ``n_img`` (n_subjects, G): images per subject and group; ``m_*``: the mated pairs in a
    group (subject, group code, genuine score); ``k_*``: the kept same-group impostor pairs
    (both subjects, group, score). One pass over the pairs serves every threshold (a
    pair's level is how many thresholds it meets); subject weights are drawn in chunks that
    keep the weight matrix within ``budget_bytes``, from one generator consumed in order,
    so the result depends only on the seed. ``den_pairs`` (subject a, subject b, group,
    count), for a comparison list: the same-group impostor comparisons behind the FMR
    denominators, which then are sums of ``count * w_a * w_b`` instead of following from
    image counts as in an all-pairs plan.
    """
    nsub, G = n_img.shape
    T = len(thresholds)
    ts = np.asarray(thresholds, dtype=np.float64)
    lowest = ts.min() if T else np.inf
    sel = k_score >= lowest
    ks = k_score[sel]
    level = (ks[:, None] >= ts[None, :]).sum(axis=1) if T else np.zeros(0, np.int64)
    # subjects renumbered so each group's weights are one contiguous slice
    order = np.argsort(subject_group, kind="stable")
    pos = np.empty(nsub, dtype=np.int64)
    pos[order] = np.arange(nsub)
    sa, sb = pos[k_subject_a[sel]], pos[k_subject_b[sel]]
    # merge repeats with one 1-D sort, ordered by (group, level, subject a, subject b): the
    # runs level_weight_sums adds up
    code = ((k_group[sel] * (T + 1) + level) * nsub + np.minimum(sa, sb)) * nsub \
        + np.maximum(sa, sb)
    code, cnt = np.unique(code, return_counts=True)
    kg_, kl_, ka_, kb_ = np.unravel_index(code, (G, T + 1, nsub, nsub))
    keys = np.stack([ka_, kb_, kg_, kl_]).astype(np.int64)
    # small integer counts: float32 products and sums stay exact below 2**24
    n_img_o = n_img[order].astype(np.float32)
    m_pairs = np.zeros((nsub, G), dtype=np.float32)
    np.add.at(m_pairs, (pos[m_subject], m_group), 1.0)
    m_errs = []
    for t in ts:
        miss = m_score < t
        e = np.zeros((nsub, G), dtype=np.float32)
        np.add.at(e, (pos[m_subject[miss]], m_group[miss]), 1.0)
        m_errs.append(e)
    # a pair meets t_k exactly when its level is at least #{thresholds <= t_k}
    meets = (ts[None, :] <= ts[:, None]).sum(axis=1)
    out = [(np.empty((replicates, G)), np.empty((replicates, G))) for _ in range(T)]
    chunk = max(1, min(replicates, budget_bytes // (8 * max(nsub, 1))))
    # one product with the weights gives image totals, mated pairs and misses per group
    per_subject = np.hstack([n_img_o, m_pairs, *m_errs])
    for r0 in range(0, replicates, chunk):
        rc = min(chunk, replicates - r0)
        w8 = subject_weights(subject_group[order], rc, rng, dtype=np.uint8)
        w = w8.astype(np.float32)
        sums = (w @ per_subject).astype(np.float64)
        mden = sums[:, G : 2 * G]
        if den_pairs is None:
            tot = sums[:, :G]
            den = (tot**2 - ((w * w) @ (n_img_o * n_img_o)).astype(np.float64)) / 2.0
        else:
            da, db, dg, dc = den_pairs
            den = level_weight_sums(w8, pos[da], pos[db], dg, np.zeros(len(da), np.int64),
                                    np.asarray(dc, np.float64), G, 1)[:, :, 0]
        by_level = level_weight_sums(w8, keys[0], keys[1], keys[2], keys[3],
                                     cnt.astype(np.float64), G, T + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            for k, (fm, fnm) in enumerate(out):
                num = by_level[:, :, meets[k]:].sum(axis=2)
                fm[r0 : r0 + rc] = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
                merr = sums[:, (2 + k) * G : (3 + k) * G]
                fnm[r0 : r0 + rc] = np.where(mden > 0, merr / np.where(mden > 0, mden, 1),
                                             np.nan)
    return out


def search_replicates(w: np.ndarray, subject: np.ndarray, group: np.ndarray,
                      errors: np.ndarray, eligible: np.ndarray, n_groups: int) -> np.ndarray:
    """(R, G) replicate rates of per-search errors (1:N), searches weighted by their
    subject's draw count: sum w * errors / sum w * eligible, per group."""
    nsub = w.shape[1]
    e = np.zeros((nsub, n_groups))
    n = np.zeros((nsub, n_groups))
    np.add.at(e, (subject[errors & eligible], group[errors & eligible]), 1.0)
    np.add.at(n, (subject[eligible], group[eligible]), 1.0)
    w64 = w.astype(np.float64)
    den = w64 @ n
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (w64 @ e) / np.where(den > 0, den, 1), np.nan)
