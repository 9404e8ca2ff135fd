"""The one builder of rate columns, with one naming scheme for every table.

For a rate ``r`` read over ``n`` items of kind ``d`` (:data:`DENOMINATOR`):
``r, r_ci_low, r_ci_high, r_errors, n_d, r_upper_rule_of_3, r_imprecise``.
1:1, 1:N and capture tables all use it, so a column means the same thing everywhere.
"""

from __future__ import annotations

import numpy as np

from fairbench.core.settings import Settings
from fairbench.metrics.intervals import clopper_pearson, rate, rule_of_three

#: What each rate is counted over (the ``n_<denominator>`` column).
DENOMINATOR = {
    "fmr": "nonmated", "fnmr": "mated", "fta": "images",
    "fmr_iso": "nonmated_completed", "fnmr_iso": "mated_completed",
    "fpir": "nonmated_searches", "fnir": "mated_searches",
    "fpir_iso": "nonmated_searches_completed", "fnir_iso": "mated_searches_completed",
    "fnmr_vs_clean": "mated", "bpcer": "bona_fide", "apcer": "attack_presentations",
    "fte": "enrolment_attempts", "p_reject": "transactions",
}


def n_column(name: str) -> str:
    """``n_nonmated`` for ``fmr``, and so on."""
    return f"n_{DENOMINATOR[name]}"


def rate_columns(name: str, errors: np.ndarray | int, n: np.ndarray | int,
                 s: Settings | None = None,
                 interval: tuple[np.ndarray, np.ndarray, str] | None = None
                 ) -> dict[str, np.ndarray]:
    """Rate, interval, errors, n, rule-of-three bound, imprecision flag.

    The interval is Clopper-Pearson's unless ``interval`` (low, high, method name) gives
    another (FMR and FNMR: :mod:`fairbench.metrics.ustat`); then Clopper-Pearson's is kept
    beside it as ``<name>_cp_low/high`` and ``<name>_ci_method`` names the interval."""
    s = s or Settings()
    k = np.atleast_1d(np.asarray(errors, dtype=np.int64))
    m = np.atleast_1d(np.asarray(n, dtype=np.int64))
    lo, hi = clopper_pearson(k, m, s.confidence)
    out = {name: rate(k, m), f"{name}_ci_low": lo, f"{name}_ci_high": hi}
    if interval is not None:
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = interval[0], interval[1]
        out[f"{name}_ci_method"] = np.full(len(k), interval[2], dtype=object)
        out[f"{name}_cp_low"], out[f"{name}_cp_high"] = lo, hi
    return out | {
        f"{name}_errors": k,
        n_column(name): m,
        f"{name}_upper_rule_of_3": np.where(k == 0, rule_of_three(m), np.nan),
        f"{name}_imprecise": k < s.min_errors,
    }


def scalar_columns(name: str, errors: int, n: int, s: Settings | None = None
                   ) -> dict[str, float | int | bool]:
    """:func:`rate_columns` for one count, as plain Python numbers."""
    return {k: v[0].item() for k, v in rate_columns(name, errors, n, s).items()}


def replicate_key(rate_name: str, attribute: str, label: str) -> str:
    """Key of one breakdown's bootstrap replicates of ``rate_name`` at operating point
    ``label`` (attributes may hold ``|``, so the separator is ``::``)."""
    return f"{rate_name}::{attribute}::{label}"
