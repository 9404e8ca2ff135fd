"""Images reduced to integer codes: subject, stratum (the full intersection of the
attributes), and the mated pairs among them, so kernels and metrics never see strings.

A stratum pair is unordered (``a <= b``) because an all-pairs plan compares each image pair
once; pairs are packed into the upper triangle (:func:`pair_index`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class PairBanding:
    """An attribute whose pair label comes from the mean of the pair's two values.

    NIST bins a pair by the mean of its two ages; ``values`` holds each image's number
    (NaN when unknown) and ``edges`` the band edges.
    """

    values: np.ndarray  # (N,) float per image
    edges: tuple[float, ...]


@dataclass
class Plan:
    """Integer codes for a set of images and the mated pairs among them.

    ``mated_i``, ``mated_j`` (i < j) are sorted by (i, j); every per-pair array of the
    1:1 engine (genuine scores) is aligned with them.
    """

    subject: np.ndarray  # (N,) int64 subject code per image
    stratum: np.ndarray  # (N,) int64 stratum code per image
    strata: pd.DataFrame  # one row per stratum code: the attribute values
    subjects: list[str]  # subject id per subject code
    mated_i: np.ndarray  # (M,) int64
    mated_j: np.ndarray
    banded: dict[str, PairBanding] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return len(self.subject)

    @property
    def n_strata(self) -> int:
        return len(self.strata)

    @property
    def n_subjects(self) -> int:
        return len(self.subjects)

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


def first_per_subject(subject: np.ndarray, values: np.ndarray, n_subjects: int,
                      missing: int = -1) -> np.ndarray:
    """Each subject's value at its first image (``missing`` for subjects with no image).

    The one subject-to-group lookup: a subject belongs to the group of its first listed
    image (bootstrap strata, 1:N probe subjects, search-plan strata, candidate groups).
    """
    out = np.full(n_subjects, missing, dtype=np.asarray(values).dtype
                  if np.asarray(values).dtype.kind in "iu" else np.int64)
    subject = np.asarray(subject, dtype=np.int64)
    out[subject[::-1]] = np.asarray(values)[::-1]
    return out


def per_subject_counts(subject: np.ndarray, group: np.ndarray, n_subjects: int,
                       n_groups: int, weight: np.ndarray | None = None) -> np.ndarray:
    """(n_subjects, n_groups) float64: how many images (or weighted items) of each subject
    fall in each group."""
    out = np.zeros((n_subjects, n_groups))
    np.add.at(out, (np.asarray(subject, np.int64), np.asarray(group, np.int64)),
              1.0 if weight is None else weight)
    return out


@dataclass(frozen=True)
class ImageRecord:
    """One image to embed: its id, file (absent for precomputed embeddings) and subject."""

    image_id: str
    path: Path | None
    subject_id: str


#: Most mated pairs a plan holds (each costs 20 bytes with its genuine score: 400 MB).
MAX_MATED = 20_000_000


class TooManyPairs(ValueError):
    """More mated pairs than fit (the data layer turns this into a clear error)."""


def check_mated(subject: np.ndarray, subjects: list[str], limit: int = MAX_MATED) -> None:
    """Refuse, before anything is allocated, a plan whose mated pairs would not fit: one
    person with 100,000 images alone has 5 x 10^9 of them."""
    k = np.bincount(np.asarray(subject, np.int64)).astype(np.int64) if len(subject) \
        else np.zeros(0, np.int64)
    m = int((k * (k - 1) // 2).sum())
    if m > limit:
        top = int(np.argmax(k))
        raise TooManyPairs(
            f"{m:,} mated pairs (more than {limit:,}): subject {subjects[top]!r} alone has "
            f"{int(k[top]):,} images ({int(k[top] * (k[top] - 1) // 2):,} pairs); set "
            "dataset.max_images_per_subject (a seeded sample of each person's images, "
            "recorded in run.json) to bound them")
