"""The reference group of a breakdown: one per attribute, for every operating point.

Configured when the config names one; otherwise the known group with the most people
(ties: the lower error rate at the loosest operating point, then the name), never a group
with fewer than :data:`~fairbench.core.settings.MIN_N` comparisons of either kind. The rule
that chose it is stated under every table.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fairbench.core.settings import MIN_N
from fairbench.errors import ConfigError
from fairbench.metrics.groups import JOIN, View, joined


@dataclass(frozen=True)
class Reference:
    """The chosen group (code into ``view.groups``; None when none qualifies) and why."""

    code: int | None
    rule: str

    def name(self, view: View) -> str:
        return "" if self.code is None else view.groups[self.code]


def unknown_group(view: View, wanted: str, key: str) -> ConfigError:
    """The error for a configured group the data lacks, with did-you-mean."""
    return _missing(view.name, wanted, view.groups, key)


def _missing(name: str, wanted: str, have: Sequence[str], key: str) -> ConfigError:
    close = difflib.get_close_matches(wanted, list(have), n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    return ConfigError(f"{key}: {name}={wanted!r} is not a group of this data.{hint}",
                       [f"groups of {name}: {', '.join(have)}"])


def check_configured(configured: Mapping[str, str], frame: pd.DataFrame,
                     attributes: Sequence[str], key: str) -> None:
    """Refuse, before any work, a configured reference group the data does not have: an
    unknown breakdown or group, each with did-you-mean."""
    for name, wanted in configured.items():
        parts = name.split(JOIN)
        if any(p not in attributes for p in parts):
            close = difflib.get_close_matches(name, list(attributes), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise ConfigError(f"{key}: {name!r} is not one of the run's attributes "
                              f"({', '.join(attributes)}) or their intersections.{hint}")
        have = sorted(set(joined(frame, parts)))
        if wanted not in have:
            raise _missing(name, wanted, have, f"{key}.{name}")


def choose_reference(view: View, configured: str | None, n_subjects: np.ndarray,
                     counts: Sequence[np.ndarray], loosest_rate: np.ndarray,
                     rate_name: str, key: str = "reference_group") -> Reference:
    """Pick the reference group of ``view`` (see the module docstring).

    ``counts`` are the comparisons (or searches) of each kind per group; ``loosest_rate``
    the error rate that breaks ties.
    """
    if configured is not None:
        if configured not in view.groups:
            raise unknown_group(view, configured, key)
        return Reference(view.groups.index(configured), "configured")
    ok = [g for g in range(view.n_groups) if view.is_known(g)
          and all(int(c[g]) >= MIN_N for c in counts)]
    if not ok:
        return Reference(None, f"none: no known group has at least {MIN_N} comparisons of "
                               "each kind")
    rate = np.nan_to_num(np.asarray(loosest_rate, dtype=float), nan=np.inf)
    best = min(ok, key=lambda g: (-int(n_subjects[g]), rate[g], view.groups[g]))
    return Reference(best, f"chosen as the group with the most people "
                           f"({int(n_subjects[best]):,}), since none was configured; ties go "
                           f"to the lower {rate_name} at the loosest operating point")


def ratio_to(x: np.ndarray, ref: int | None) -> tuple[np.ndarray, str]:
    """Rates over the reference group's rate; undefined (NaN) when that rate is 0."""
    if ref is None:
        return np.full(len(x), np.nan), "no reference group"
    if not x[ref] > 0:
        return np.full(len(x), np.nan), "reference rate is 0: ratio undefined"
    return x / x[ref], ""
