"""Which comparisons a 1:1 run makes: every image pair, split by subject into mated/non-mated.

Images are reduced to integer codes (subject, stratum = the full intersection of the
attributes) so kernels and counts never see strings. A stratum pair is unordered
(``a <= b``) because an all-vs-all plan compares each image pair once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class Plan:
    """Integer codes for a set of images and the mated pairs among them."""

    subject: np.ndarray  # (N,) int64 subject code per image
    stratum: np.ndarray  # (N,) int64 stratum code per image
    strata: pd.DataFrame  # one row per stratum code: the attribute values
    subjects: list[str]  # subject id per subject code
    mated_i: np.ndarray  # (M,) int64, i < j
    mated_j: np.ndarray

    @property
    def n_images(self) -> int:
        return len(self.subject)

    @property
    def n_strata(self) -> int:
        return len(self.strata)

    @property
    def n_pairs_total(self) -> int:
        n = self.n_images
        return n * (n - 1) // 2

    @property
    def n_mated(self) -> int:
        return len(self.mated_i)

    @property
    def n_nonmated(self) -> int:
        return self.n_pairs_total - self.n_mated


def pair_index(a: np.ndarray, b: np.ndarray, n_strata: int) -> np.ndarray:
    """Index of the unordered stratum pair {a, b} in the packed upper triangle."""
    lo = np.minimum(a, b).astype(np.int64)
    hi = np.maximum(a, b).astype(np.int64)
    return lo * n_strata - lo * (lo - 1) // 2 + (hi - lo)


def n_pair_slots(n_strata: int) -> int:
    """Number of unordered stratum pairs, diagonal included."""
    return n_strata * (n_strata + 1) // 2


def unpack_pairs(n_strata: int) -> tuple[np.ndarray, np.ndarray]:
    """(a, b) for every packed pair index, a <= b."""
    a, b = np.triu_indices(n_strata)
    return a.astype(np.int64), b.astype(np.int64)


def mated_pairs(subject: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All (i, j), i < j, with the same subject code: O(N log N), never N x N."""
    order = np.argsort(subject, kind="stable")
    s = subject[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    ends = np.r_[starts[1:], len(s)]
    out_i: list[np.ndarray] = []
    out_j: list[np.ndarray] = []
    for st, en in zip(starts, ends):
        if en - st < 2:
            continue
        idx = np.sort(order[st:en])
        ii, jj = np.triu_indices(len(idx), k=1)
        out_i.append(idx[ii])
        out_j.append(idx[jj])
    if not out_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    return np.concatenate(out_i).astype(np.int64), np.concatenate(out_j).astype(np.int64)


def make_plan(frame: pd.DataFrame, attributes: Sequence[str]) -> Plan:
    """Codes for subjects and strata (all attribute combinations present), and mated pairs."""
    subj_codes, subjects = pd.factorize(frame["subject_id"].astype(str), sort=True)
    keys = frame[list(attributes)].astype(str)
    strata = keys.drop_duplicates().sort_values(list(attributes)).reset_index(drop=True)
    lookup = {tuple(r): k for k, r in enumerate(strata.itertuples(index=False, name=None))}
    stratum = np.array(
        [lookup[tuple(r)] for r in keys.itertuples(index=False, name=None)], dtype=np.int64
    )
    subject = np.asarray(subj_codes, dtype=np.int64)
    mi, mj = mated_pairs(subject)
    return Plan(subject, stratum, strata, [str(s) for s in subjects], mi, mj)
