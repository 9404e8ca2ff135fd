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

import zlib

import numpy as np

from fairbench.metrics.blocks import block_bounds, map_blocks


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

    The replicates are drawn in blocks (``blocks``), each from its own generator spawned
    from ``rng``: the weights the tables' threaded loops draw, block for block. Counts are
    small integers, exact in float32; ``dtype=np.uint8`` takes a quarter of its memory
    and silently widens to float32 in the (never yet seen) case of a person drawn more
    than 255 times. The draws are the same in every type.
    """
    from fairbench.metrics.blocks import draw_block, group_slices

    n = len(subject_group)
    order = np.argsort(subject_group, kind="stable")
    slices = group_slices(np.asarray(subject_group)[order])
    parts = map_blocks(lambda r0, r1, g: draw_block(slices, r1 - r0, g, n, dtype),
                       replicates, rng, 1)
    kind = np.result_type(dtype, *(p.dtype for p in parts))
    w = np.zeros((replicates, n), dtype=kind)
    for (r0, r1), part in zip(block_bounds(replicates), parts):
        w[r0:r1, order] = part.T
    return w


def level_weight_sums(
    w: np.ndarray, a: np.ndarray, b: np.ndarray, g: np.ndarray, lev: np.ndarray,
    c: np.ndarray, n_groups: int, n_levels: int,
) -> np.ndarray:
    """(R, G, L): sum of c_k * w[r, a_k] * w[r, b_k] by group and level.

    The level of a pair is how many thresholds it meets, so one pass over the pairs serves
    every threshold. The sums are taken block by block of replicates as the tables take
    them (``PairSums``): in int32 where the integers fit, else in float64;
    both give the same exact sums.
    """
    from fairbench.metrics.blocks import PairSums

    R = w.shape[0]
    pairs = PairSums.build(a, b, np.asarray(g, np.int64) * n_levels + np.asarray(lev, np.int64),
                          c, n_groups * n_levels)
    out = np.zeros((R, n_groups, n_levels))
    for r0, r1 in block_bounds(R):
        part = pairs.sums(np.ascontiguousarray(w[r0:r1].T))
        out[r0:r1] = part.T.reshape(r1 - r0, n_groups, n_levels)
    return out


def compress_pairs(
    a: np.ndarray, b: np.ndarray, g: np.ndarray, w: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Merge repeated (subject a, subject b, group) triples into one with a count (the
    sum of their weights ``w``, one each by default)."""
    if len(a) == 0:
        e = np.zeros(0, dtype=np.int64)
        return e, e.copy(), e.copy(), np.zeros(0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    keys, inv = np.unique(np.stack([lo, hi, g]), axis=1, return_inverse=True)
    counts = np.bincount(inv.ravel(), w, keys.shape[1])
    return keys[0], keys[1], keys[2], counts.astype(np.float64)


def impostor_rates(
    w: np.ndarray,
    n_img: np.ndarray,
    err_a: np.ndarray,
    err_b: np.ndarray,
    err_group: np.ndarray,
    n_groups: int,
    den_pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    err_w: np.ndarray | None = None,
) -> np.ndarray:
    """(R, G) same-group FMR per replicate, one threshold at a time.

    The straightforward form, kept as the reference the tables' one-pass, all-thresholds
    computation (``level_weight_sums``) is tested against, and used by ``compare``.

    ``n_img`` (n_subjects, G): images of each subject in each group; ``err_a``, ``err_b``:
    subject codes of the impostor pairs at or above the threshold, ``err_group`` their group;
    ``den_pairs`` as in :func:`verification_replicates` (a comparison list's denominators);
    ``err_w``: the pairs each error entry stands for (None: one).
    """
    from fairbench.metrics._compiled import pair_weight_sums

    if den_pairs is None:
        tot = w @ n_img
        den = (tot**2 - (w**2) @ (n_img**2)) / 2.0
    else:
        da, db, dg, dc = den_pairs
        den = pair_weight_sums(np.ascontiguousarray(w), da, db, dg,
                               np.asarray(dc, np.float64), n_groups)

    a, b, g, c = compress_pairs(err_a, err_b, err_group, err_w)
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
    reps = np.asarray(reps, dtype=np.float64)
    flat = reps.reshape(reps.shape[0], int(np.prod(reps.shape[1:])))
    lo = np.full(flat.shape[1], np.nan)
    hi = lo.copy()
    if len(flat):
        lo, hi = np.percentile(flat, [a, 100 - a], axis=0)  # NaN where a replicate is
    # columns with undefined replicates: over the defined ones (nanpercentile is slow)
    for j in np.flatnonzero(np.isnan(flat).any(axis=0)):
        col = flat[:, j][~np.isnan(flat[:, j])]
        lo[j], hi[j] = np.percentile(col, [a, 100 - a]) if len(col) else (np.nan, np.nan)
    lo, hi = lo.reshape(reps.shape[1:]), hi.reshape(reps.shape[1:])
    return lo, hi


def verification_replicates(
    subject_group: np.ndarray, n_img: np.ndarray, m_subject: np.ndarray, m_group: np.ndarray,
    m_score: np.ndarray, image_subject: np.ndarray, image_group: np.ndarray,
    kept_i: np.ndarray, kept_j: np.ndarray, kept_s: np.ndarray, thresholds: np.ndarray,
    replicates: int, rng: np.random.Generator,
    den_pairs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None,
    threads: int | None = None,
    kept_w: np.ndarray | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(R, G) replicate FMR and FNMR per threshold, for one breakdown.

    ``n_img`` (n_subjects, G): images per subject and group; ``m_*``: the mated pairs in a
    group (subject, group code, genuine score); ``kept_*``: the kept impostor pairs (both
    images and the score), of which those within one group (``image_group``, codes >= 0)
    count. One pass over the pairs serves every threshold (a pair's level is how many
    thresholds it meets). The replicates are computed in blocks on ``threads`` threads
    (default: numba's), each block drawing its weights from its own generator
    (``blocks``), so the result depends only on the seed. ``den_pairs`` (subject a,
    subject b, group, count), for a comparison list: the same-group impostor comparisons
    behind the FMR denominators, which then are sums of ``count * w_a * w_b`` instead of
    following from image counts as in an all-pairs plan. ``kept_w``: the impostor pairs
    each kept record stands for (None: one each).
    """
    from fairbench.metrics._compiled import decode_runs, kept_codes
    from fairbench.metrics._compiled import threads as numba_threads
    from fairbench.metrics.blocks import PairSums, SubjectTable, draw_block, group_slices

    nsub, G = n_img.shape
    T = len(thresholds)
    if not T:
        return []
    ts = np.asarray(thresholds, dtype=np.float64)
    # subjects renumbered so each group's weights are one contiguous slice
    order = np.argsort(subject_group, kind="stable")
    pos = np.empty(nsub, dtype=np.int64)
    pos[order] = np.arange(nsub)
    # repeats merged by one 1-D sort, ordered by (group, level, subject a, subject b)
    bits = max(1, int(nsub - 1).bit_length())
    if 2 * bits + int(G * (T + 1) - 1).bit_length() > 63:
        raise ValueError(f"{nsub} subjects in {G} groups at {T} thresholds: too many for "
                         "the bootstrap's 63-bit pair codes")
    if kept_w is None:
        codes = np.sort(kept_codes(kept_i, kept_j, kept_s, pos[image_subject], image_group,
                                   np.sort(ts), bits))
        num_pairs = PairSums.build(*decode_runs(codes, bits, np.zeros(0)), G * (T + 1))
    else:  # the same codes, with each record's weight carried through the sort
        codes, which = kept_codes(kept_i, kept_j, kept_s, pos[image_subject], image_group,
                                  np.sort(ts), bits, True)
        o = np.argsort(codes, kind="stable")
        num_pairs = PairSums.build(*decode_runs(codes[o], bits, kept_w[which[o]]),
                                   G * (T + 1))
    den_list = None if den_pairs is None else PairSums.build(
        pos[den_pairs[0]], pos[den_pairs[1]], den_pairs[2], den_pairs[3], G)
    n_img_o = n_img[order]
    m_pairs = np.zeros((nsub, G))
    np.add.at(m_pairs, (pos[m_subject], m_group), 1.0)
    m_errs = []
    for t in ts:
        miss = m_score < t
        e = np.zeros((nsub, G))
        np.add.at(e, (pos[m_subject[miss]], m_group[miss]), 1.0)
        m_errs.append(e)
    # one pass over a block's weights gives image totals, mated pairs and misses per group
    per_subject = SubjectTable.of(np.hstack([n_img_o, m_pairs, *m_errs]),
                                  n_img_o * n_img_o if den_pairs is None else None)
    # a pair meets t_k exactly when its level is at least #{thresholds <= t_k}
    meets = (ts[None, :] <= ts[:, None]).sum(axis=1)
    slices = group_slices(subject_group[order])

    def block(r0: int, r1: int, g: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        wt = draw_block(slices, r1 - r0, g, nsub)
        sums = per_subject.sums(wt).T  # (rows, (2 + T) G)
        if den_list is None:
            tot = sums[:, :G]
            den = (tot**2 - sums[:, (2 + T) * G :]) / 2.0
        else:
            den = den_list.sums(wt).T
        by_level = num_pairs.sums(wt).T.reshape(r1 - r0, G, T + 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            fm = np.stack([by_level[:, :, meets[k]:].sum(axis=2) for k in range(T)])
            fm = np.where(den > 0, fm / np.where(den > 0, den, 1), np.nan)
            mden = sums[:, G : 2 * G]
            merr = np.stack([sums[:, (2 + k) * G : (3 + k) * G] for k in range(T)])
            fnm = np.where(mden > 0, merr / np.where(mden > 0, mden, 1), np.nan)
        return fm, fnm

    parts = map_blocks(block, replicates, rng, threads or numba_threads())
    if not parts:
        return [(np.empty((0, G)), np.empty((0, G))) for _ in range(T)]
    fm_all = np.concatenate([p[0] for p in parts], axis=1)  # (T, R, G)
    fnm_all = np.concatenate([p[1] for p in parts], axis=1)
    return [(fm_all[k], fnm_all[k]) for k in range(T)]


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
