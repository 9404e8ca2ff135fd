"""What every 1:N search found, in probe order; saved as ``search.npz``.

A candidate is a gallery *subject* (several gallery images count once, at their best score).
Ranks follow a documented conservative rule: a mate that ties with a non-mate is ranked
after it, so neither rank nor FNIR depends on the order of the gallery.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class SearchOutcomes:
    """Per search: who searched, whether a mate was enrolled, what came back."""

    probe: np.ndarray  # (P,) image index of each probe
    mated: np.ndarray  # (P,) bool: the probe's subject is enrolled
    mate_rank: np.ndarray  # (P,) 1-based rank of the mate among candidates; 0 = not listed
    mate_score: np.ndarray  # (P,) float32, -inf when not listed
    nonmate_score: np.ndarray  # (P,) float32 best non-mated candidate score (-inf if none)
    nonmate_subject: np.ndarray  # (P,) subject code of that candidate (-1 if none)
    probe_failed: np.ndarray  # (P,) bool: no probe template (failure to acquire)
    mate_enrolled: np.ndarray  # (P,) bool: mated and the mate has a gallery template

    def __len__(self) -> int:
        return len(self.probe)

    def subset(self, keep: np.ndarray) -> SearchOutcomes:
        """The searches where ``keep`` is true."""
        return SearchOutcomes(*(getattr(self, f)[keep] for f in FIELDS))


FIELDS = ("probe", "mated", "mate_rank", "mate_score", "nonmate_score", "nonmate_subject",
          "probe_failed", "mate_enrolled")
