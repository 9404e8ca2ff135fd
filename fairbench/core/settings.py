"""How rates are read, as one typed object from config to metrics (run and report alike)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Settings:
    """Interval level, imprecision bar, reference groups, bootstrap, summary weights."""

    confidence: float = 0.95
    min_errors: int = 30
    reference_group: Mapping[str, str] = field(default_factory=dict)
    replicates: int = 1000
    seed: int = 0
    alpha: float = 0.5  # FMR weight in FDR and GARBE
    intersections: bool = True
    permutations: int = 999  # subject-level relabellings per permutation test (0: none)

    @classmethod
    def from_sections(cls, dataset: Mapping[str, Any], reading: Mapping[str, Any]
                      ) -> Settings:
        """From a resolved config's ``dataset`` and ``verification``/``identification``
        sections (plain mappings, as run.json stores them)."""
        boot = reading.get("bootstrap") or {}
        return cls(
            confidence=float(reading.get("confidence", 0.95)),
            min_errors=int(reading.get("min_errors", 30)),
            reference_group=dict(reading.get("reference_group") or {}),
            replicates=int(boot.get("replicates", 1000)),
            seed=int(boot.get("seed", 0)),
            alpha=float(reading.get("alpha", 0.5)),
            intersections=bool(dataset.get("intersections", True)),
            permutations=int(reading.get("permutations", 999)),
        )


#: Fewer comparisons (or searches, images) than this and a cell says "insufficient data":
#: with no errors, the rule-of-three bound 3/n would exceed 30 %, which tells a reader
#: nothing. Such a group is never chosen as the reference.
MIN_N = 10
