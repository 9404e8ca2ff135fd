"""A comparison list for systems that can only compare two images at a time (a server's
``compare`` endpoint): every mated pair, plus a seeded sample of impostor pairs.

N^2 calls are impossible, so impostor pairs are sampled: stratified by stratum pair (each
combination of attribute values against each other), with proportional allocation (the
budget split by each stratum pair's share of all impostor pairs, largest remainders
first), each stratum pair sampled uniformly without replacement. Every impostor pair thus
has (up to rounding) the same chance of being drawn, so the sample is self-weighting: the
FMR of any group, or of any pair of groups, is estimated without weights, and its
intervals are those of the sampled comparisons (n is the sample, not the population; the
tables give both). Seeded per stratum pair, so a rerun draws the same pairs.
"""

from __future__ import annotations

import numpy as np

from fairbench.core.codes import Plan, per_subject_counts, unpack_pairs


def impostor_population(plan: Plan) -> np.ndarray:
    """(P,) impostor pairs of the all-pairs plan in each stratum-pair slot, exactly."""
    S = plan.n_strata
    c = per_subject_counts(plan.subject, plan.stratum, plan.n_subjects, S)
    n = c.sum(axis=0)
    a, b = unpack_pairs(S)
    same_subject = (c[:, a] * c[:, b]).sum(axis=0)
    pop = np.where(a == b, (n[a] * n[a] - same_subject) / 2, n[a] * n[b] - same_subject)
    return np.rint(pop).astype(np.int64)


def allocate(population: np.ndarray, budget: int) -> np.ndarray:
    """Proportional allocation of ``budget`` over the slots (largest remainders)."""
    total = int(population.sum())
    if total <= budget:
        return population.copy()
    share = population * (budget / total)
    k = np.floor(share).astype(np.int64)
    rest = budget - int(k.sum())
    order = np.argsort(-(share - k), kind="stable")
    k[order[:rest]] += 1
    return np.minimum(k, population)


def _draw(plan: Plan, a: int, b: int, k: int, pop: int, rng: np.random.Generator
          ) -> tuple[np.ndarray, np.ndarray]:
    """k distinct impostor pairs (i < j) with one image in stratum a and one in b."""
    ia = np.flatnonzero(plan.stratum == a)
    ib = ia if a == b else np.flatnonzero(plan.stratum == b)
    subj = plan.subject
    if k * 2 >= pop:  # dense: list the slot's pairs, then choose
        ii, jj = np.meshgrid(ia, ib, indexing="ij")
        ii, jj = ii.ravel(), jj.ravel()
        ok = subj[ii] != subj[jj]
        if a == b:
            ok &= ii < jj
        ii, jj = ii[ok], jj[ok]
        pick = np.sort(rng.choice(len(ii), size=k, replace=False))
        i, j = ii[pick], jj[pick]
    else:  # sparse: draw, drop mates and repeats, until there are k
        seen: set[tuple[int, int]] = set()
        while len(seen) < k:
            m = 2 * (k - len(seen)) + 16
            x, y = rng.choice(ia, m), rng.choice(ib, m)
            for p, q in zip(x.tolist(), y.tolist()):
                if subj[p] == subj[q] or p == q:
                    continue
                key = (min(p, q), max(p, q))
                if key not in seen:
                    seen.add(key)
                    if len(seen) == k:
                        break
        pairs = np.array(sorted(seen), dtype=np.int64).reshape(-1, 2)
        i, j = pairs[:, 0], pairs[:, 1]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    return lo.astype(np.int64), hi.astype(np.int64)


def sample_impostors(plan: Plan, budget: int, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, population per slot): the sampled impostor pairs (see the module docstring),
    sorted by (i, j)."""
    pop = impostor_population(plan)
    k = allocate(pop, budget)
    a_of, b_of = unpack_pairs(plan.n_strata)
    out_i, out_j = [], []
    for slot in np.flatnonzero(k > 0):
        rng = np.random.default_rng([int(seed), int(slot)])
        i, j = _draw(plan, int(a_of[slot]), int(b_of[slot]), int(k[slot]), int(pop[slot]),
                     rng)
        out_i.append(i)
        out_j.append(j)
    i = np.concatenate(out_i) if out_i else np.zeros(0, np.int64)
    j = np.concatenate(out_j) if out_j else np.zeros(0, np.int64)
    order = np.lexsort((j, i))
    return i[order], j[order], pop
