"""Which subgroup is worst? A scan over intersections, calibrated for the search.

Every subgroup defined by up to ``depth`` attributes (``eth=black``, ``eth=black|sex=female``)
with at least ``min_subjects`` people is scored by how far its rate exceeds the rate over
all comparisons: the binomial log-likelihood ratio of its own rate against the overall one
(Kulldorff's expectation-based scan statistic, as in aif360's MDSS bias scan; 0 for a
subgroup at or under the overall rate). FMR is read over the subgroup's own impostor pairs
(both people in it), FNMR over its people's mated pairs; the overall rates are fixed by the
comparisons, whoever is labelled what. The worst subgroup is the one with the largest
score, found exactly (every candidate is scored).

Because the worst of many subgroups is always somewhat bad, its p-value comes from the
same search repeated on relabelled data: each person's whole row of labels is dealt out to
another person (the people keep their comparisons, the attributes' joint distribution is
kept), and p is the share of relabellings whose *largest* score is at least the data's —
exact over every distinct relabelling when there are few, else seeded random ones
(:mod:`fairbench.metrics.permutation`).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fairbench.core.codes import Plan
from fairbench.core.counts import VerificationCounts
from fairbench.core.operating import OperatingPoint
from fairbench.core.settings import Settings
from fairbench.metrics import permutation
from fairbench.metrics.bootstrap import view_rng
from fairbench.metrics.permutation import PairErrors, Relabellings, chunk_for


@dataclass(frozen=True)
class Subgroups:
    """Candidate subgroups over the distinct label rows of the people.

    ``codes`` (people,): each person's label row as a code; ``members`` (K, S): which codes
    each subgroup holds; ``names`` (S,): 'eth=black|sex=female'."""

    codes: np.ndarray
    members: np.ndarray
    names: list[str]
    sizes: np.ndarray  # people per subgroup


def subgroups(labels: Sequence[np.ndarray], attrs: Sequence[str],
              values: Sequence[Sequence[str]], depth: int, min_subjects: int) -> Subgroups:
    """Every conjunction of up to ``depth`` attributes' known values held by at least
    ``min_subjects`` people (and not by everyone). ``labels``: per attribute, each
    person's value code (-1: unknown)."""
    table = np.stack(labels, axis=1) if labels else np.zeros((0, 0), np.int64)
    rows, codes = np.unique(table, axis=0, return_inverse=True)
    codes = codes.reshape(-1)
    count = np.bincount(codes, minlength=len(rows))
    members, names = [], []
    for k in range(1, depth + 1):
        for combo in itertools.combinations(range(len(attrs)), k):
            for vals in itertools.product(*(range(len(values[a])) for a in combo)):
                m = np.all([rows[:, a] == v for a, v in zip(combo, vals)], axis=0)
                n = int(count[m].sum())
                if n < min_subjects or n == len(codes):
                    continue
                members.append(m)
                names.append("|".join(f"{attrs[a]}={values[a][v]}"
                                      for a, v in zip(combo, vals)))
    M = np.array(members, dtype=bool).T if members else np.zeros((len(rows), 0), bool)
    return Subgroups(codes, M, names, (count[:, None] * M).sum(axis=0))


def llr(k: np.ndarray, n: np.ndarray, p0: float) -> np.ndarray:
    """Binomial log-likelihood ratio of rate k/n against p0, where k/n > p0; else 0."""
    k, n = np.asarray(k, np.float64), np.asarray(n, np.float64)
    out = np.zeros(np.broadcast(k, n).shape)
    if not 0 < p0 < 1:
        return out
    ok = (n > 0) & (k > n * p0)
    kk, nn = k[ok], n[ok]
    with np.errstate(divide="ignore", invalid="ignore"):
        q = kk / nn
        a = np.where(kk > 0, kk * np.log(q / p0), 0.0)
        b = np.where(nn - kk > 0, (nn - kk) * np.log((1 - q) / (1 - p0)), 0.0)
    out[ok] = a + b
    return out


def _pair_counts(codes: np.ndarray, a: np.ndarray, b: np.ndarray, w: np.ndarray | None,
                 K: int) -> np.ndarray:
    """(P, K, K): comparisons (or their weights) per pair of label codes, per labelling."""
    P = len(codes)
    if P * len(a) >= permutation.COMPILED_FROM:  # compiled: no (P, comparisons) temporaries
        from fairbench.metrics._compiled import label_pair_counts

        return label_pair_counts(codes, np.asarray(a, np.int64), np.asarray(b, np.int64),
                                 np.zeros(0) if w is None else np.asarray(w, np.float64), K)
    ca, cb = codes[:, a], codes[:, b]
    idx = (np.arange(P)[:, None] * K * K + ca * K + cb).ravel()
    wt = None if w is None else np.broadcast_to(w, ca.shape).ravel()
    return np.bincount(idx, weights=wt, minlength=P * K * K).reshape(P, K, K)


def subgroup_counts(codes: np.ndarray, sg: Subgroups, pe: PairErrors
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per labelling (rows of ``codes``, (P, people)) and subgroup: FMR errors and
    impostor pairs within it, FNMR errors and mated pairs of its people, each (P, S)."""
    K = sg.members.shape[0]
    M = sg.members.astype(np.float64)
    P = len(codes)
    off = (np.arange(P)[:, None] * K + codes).ravel()

    def per_code(w: np.ndarray) -> np.ndarray:
        return np.bincount(off, weights=np.broadcast_to(w, codes.shape).ravel(),
                           minlength=P * K).reshape(P, K)

    both = np.einsum("pij,is,js->ps", _pair_counts(codes, pe.err_a, pe.err_b, pe.err_w, K), M, M)
    if pe.den_a is None:
        n = pe.n_img.astype(np.float64)
        s1, s2 = per_code(n) @ M, per_code(n * n) @ M
        den = (s1 * s1 - s2) / 2
    else:
        den = np.einsum("pij,is,js->ps", _pair_counts(codes, pe.den_a, pe.den_b,
                                                      pe.den_n.astype(np.float64), K), M, M)
    mated_err = per_code(pe.mated_errors.astype(np.float64)) @ M
    mated = per_code(pe.mated_pairs.astype(np.float64)) @ M
    return both, den, mated_err, mated


@dataclass(frozen=True)
class ScanResult:
    """The worst subgroup of one rate at one threshold, and how surprising it is."""

    rate: str
    subgroup: str  # '' when no subgroup exceeds the overall rate
    n_subjects: int
    errors: int
    n: int
    overall_errors: int
    overall_n: int
    score: float
    p_value: float
    relabellings: int
    candidates: int
    method: str


def scan(sg: Subgroups, pe: PairErrors, overall: dict[str, tuple[int, int]],
         rel: Relabellings, chunk: int = 64) -> list[ScanResult]:
    """FMR and FNMR scans (see the module docstring); ``overall``: each rate's errors and
    comparisons over everything, ``rel``: relabellings of ``sg.codes``."""
    obs = subgroup_counts(sg.codes[None, :], sg, pe)
    K = sg.members.shape[0]
    chunk = max(1, min(chunk_for(pe, chunk), 4_000_000 // max(K * K, 1)))
    maxima: dict[str, list[np.ndarray]] = {"fmr": [], "fnmr": []}
    for lab in rel.chunks(chunk):
        c = subgroup_counts(lab, sg, pe)
        for name, (ke, ne) in (("fmr", (c[0], c[1])), ("fnmr", (c[2], c[3]))):
            e, n = overall[name]
            s = llr(ke, ne, e / n if n else 0.0)
            maxima[name].append(s.max(axis=1) if s.shape[1] else np.zeros(len(s)))
    out = []
    for name, (ke, ne) in (("fmr", (obs[0][0], obs[1][0])), ("fnmr", (obs[2][0], obs[3][0]))):
        e, n = overall[name]
        s = llr(ke, ne, e / n if n else 0.0)
        best = int(np.argmax(s)) if len(s) else -1
        top = float(s[best]) if best >= 0 else 0.0
        null = np.concatenate(maxima[name]) if maxima[name] else np.zeros(0)
        hits = int((null >= top - 1e-9).sum())
        p = hits / len(null) if rel.exact else (1 + hits) / (1 + len(null))
        found = best >= 0 and top > 0
        out.append(ScanResult(
            name, sg.names[best] if found else "", int(sg.sizes[best]) if found else 0,
            int(round(ke[best])) if found else 0, int(round(ne[best])) if found else 0,
            int(e), int(n), top, p, rel.counted, len(sg.names),
            rel.method))
    return out


def scan_table(plan: Plan, counts: VerificationCounts, points: Sequence[OperatingPoint],
               attributes: Sequence[str], s: Settings, depth: int, min_subjects: int
               ) -> pd.DataFrame:
    """``worst_subgroup``: per operating point and rate, the worst subgroup over every
    intersection of up to ``depth`` of the attributes that have one label per person
    (others, such as a pair's mean age band, cannot be dealt out to people and are left
    out, as the table's ``attributes_searched`` says)."""
    from fairbench.metrics.differences import pair_errors, person_labels
    from fairbench.metrics.groups import make_view
    from fairbench.metrics.intervals import clopper_pearson
    from fairbench.metrics.permutation import relabellings
    from fairbench.metrics.verification import point_columns

    usable = [p for p in points if p.supported and p.similarity is not None]
    views = [make_view(plan, (a,)) for a in attributes]
    labelled = [(v, person_labels(v, plan)) for v in views]
    labelled = [(v, lab) for v, lab in labelled if lab is not None]
    if not usable or not labelled or not s.permutations or depth < 1:
        return pd.DataFrame()
    sg = subgroups([lab for _, lab in labelled], [v.name for v, _ in labelled],
                   [v.groups for v, _ in labelled], depth, min_subjects)
    if not sg.names:
        return pd.DataFrame()
    rel = relabellings(sg.codes, s.permutations, view_rng(s.seed, "scan"))
    rows = []
    for op in usable:
        pe = pair_errors(plan, counts, op.similarity)
        overall = {"fmr": (pe.n_errors, int(counts.n_nonmated.sum())),
                   "fnmr": (int(pe.mated_errors.sum()), int(pe.mated_pairs.sum()))}
        for r in scan(sg, pe, overall, rel):
            lo, hi = clopper_pearson(np.array([r.errors, r.overall_errors]),
                                     np.array([r.n, r.overall_n]), s.confidence)
            rows.append({
                **point_columns(op), "rate": r.rate, "subgroup": r.subgroup,
                "n_subjects": r.n_subjects, "errors": r.errors, "n": r.n,
                "subgroup_rate": r.errors / r.n if r.n else np.nan,
                "ci_low": float(lo[0]) if r.n else np.nan,
                "ci_high": float(hi[0]) if r.n else np.nan,
                "overall_rate": r.overall_errors / r.overall_n if r.overall_n else np.nan,
                "overall_errors": r.overall_errors, "overall_n": r.overall_n,
                "overall_ci_low": float(lo[1]), "overall_ci_high": float(hi[1]),
                "score_llr": r.score, "p_value": r.p_value, "p_relabellings": r.relabellings,
                "p_method": r.method, "candidates": r.candidates, "depth": depth,
                "min_subjects": min_subjects,
                "attributes_searched": "; ".join(v.name for v, _ in labelled)})
    return pd.DataFrame(rows)
