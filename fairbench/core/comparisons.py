"""Scored comparisons from a list (a score file, a server), as integer codes.

A comparison is one row: a probe sample against a reference, with a score (NaN where the
comparison failed). Samples are numbered in the order they were first seen; their subject
and stratum codes come with every chunk, so the list engine never sees a string.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ScoredChunk:
    """One chunk of comparisons; every array has one entry per row."""

    probe: np.ndarray  # int64 sample index of the probe side
    reference: np.ndarray  # int64 sample index of the reference side
    probe_subject: np.ndarray  # int64 subject codes
    reference_subject: np.ndarray
    probe_stratum: np.ndarray  # int64 stratum codes
    reference_stratum: np.ndarray
    score: np.ndarray  # float64 internal similarity (higher = more alike); NaN = failed

    def __len__(self) -> int:
        return len(self.score)

    @property
    def mated(self) -> np.ndarray:
        """A comparison is genuine when both sides belong to the same subject."""
        return self.probe_subject == self.reference_subject


@dataclass
class Keys:
    """A column of ids, dictionary-encoded: ``values[codes[k]]`` is row k's id."""

    codes: np.ndarray  # int64 per row
    values: list[str]  # each distinct id once

    def __len__(self) -> int:
        return len(self.codes)

    @classmethod
    def of(cls, ids: list[str]) -> Keys:
        """Encode a plain list (tests, small inputs)."""
        values = list(dict.fromkeys(ids))
        pos = {v: k for k, v in enumerate(values)}
        return cls(np.array([pos[x] for x in ids], dtype=np.int64), values)


@dataclass
class RawChunk:
    """One chunk of a score file as read: ids, the native score (NaN = failed).

    ``probe_subject`` / ``reference_subject`` are None where the format does not name
    subjects (ids are then a manifest's image ids). ``reference_is_subject``: the reference
    is a subject's enrolled model, named by its subject id (bob's 4-column format).
    ``reference_space``: ``model`` where references are enrolled models named apart from
    probe samples (bob), ``sample`` where one id names the same sample on either side.
    ``first_row`` is the file line of the chunk's first row (for messages).
    """

    probe: Keys
    reference: Keys
    probe_subject: Keys | None
    reference_subject: Keys | None
    score: np.ndarray  # float64, native scale
    first_row: int = 0
    reference_is_subject: bool = False
    reference_space: str = "sample"

    def __len__(self) -> int:
        return len(self.score)
