"""RateFrame: one error rate of one breakdown at one operating point, computed once.

Modelled on fairlearn's ``MetricFrame``: ``overall`` and ``by_group`` hold the stored
values, ``difference()`` and ``ratio()`` derive the comparisons to a reference group, each
with a subject-bootstrap interval taken from the stored replicates (the same people were
resampled for every group, so the interval of a difference is that of the difference).

>>> import pandas as pd
>>> rows = pd.DataFrame({"group": ["a", "b"], "fmr": [0.1, 0.2], "fmr_ci_low": [0.05, 0.1],
...     "fmr_ci_high": [0.2, 0.3], "fmr_errors": [10, 20], "n_nonmated": [100, 100],
...     "n_subjects": [10, 10], "reference_group": "a"})
>>> RateFrame.from_rows("fmr", "eth", "fmr=1e-2", rows).ratio()["ratio"].tolist()
[1.0, 2.0]
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from fairbench.core.missing import UNKNOWN
from fairbench.metrics.bootstrap import percentile_interval
from fairbench.metrics.rates import n_column

if TYPE_CHECKING:
    from fairbench.forest import Panel

#: each rate's short name and what it is read over (panel titles, summaries)
RATE_WORDS = {"fmr": ("FMR", "same-group impostor pairs"), "fnmr": ("FNMR", "mated pairs"),
              "fpir": ("FPIR", "non-mated searches"), "fnir": ("FNIR", "mated searches"),
              "fta": ("FTA", "images"), "fmr_iso": ("FMR (ISO)", "same-group impostor pairs"),
              "fnmr_iso": ("FNMR (ISO)", "mated pairs"), "fpir_iso": ("FPIR (ISO)",
                                                                       "non-mated searches"),
              "fnir_iso": ("FNIR (ISO)", "mated searches")}

COLUMNS = ["rate", "ci_low", "ci_high", "errors", "n", "n_subjects", "boot_low", "boot_high"]


def _standard(rows: pd.DataFrame, metric: str) -> pd.DataFrame:
    """The common columns of a rate, whatever table it comes from."""
    src = {"rate": metric, "ci_low": f"{metric}_ci_low", "ci_high": f"{metric}_ci_high",
           "errors": f"{metric}_errors", "n": n_column(metric), "n_subjects": "n_subjects",
           "boot_low": f"{metric}_boot_low", "boot_high": f"{metric}_boot_high"}
    out = pd.DataFrame({k: (rows[c].to_numpy() if c in rows else np.nan)
                        for k, c in src.items()}, index=pd.Index(rows["group"].astype(str),
                                                                 name="group"))
    for c in ("errors", "n"):
        out[c] = out[c].astype("Int64")
    return out


@dataclass
class RateFrame:
    """Per-group values of ``metric`` for ``attribute`` at operating point ``at``."""

    metric: str
    attribute: str
    at: str
    by_group: pd.DataFrame
    overall: pd.DataFrame
    reference: str | None = None
    replicates: np.ndarray | None = None  # (R, G), columns in by_group order
    confidence: float = 0.95

    @classmethod
    def from_rows(cls, metric: str, attribute: str, at: str, rows: pd.DataFrame,
                  overall: pd.DataFrame | None = None, replicates: np.ndarray | None = None,
                  confidence: float = 0.95) -> RateFrame:
        ref = None
        if "reference_group" in rows and len(rows):
            first = rows["reference_group"].iloc[0]  # an empty cell reads back as NaN
            ref = None if pd.isna(first) else (str(first) or None)
        by = _standard(rows, metric)
        ov = _standard(overall, metric) if overall is not None and len(overall) else \
            by.iloc[0:0]
        return cls(metric, attribute, at, by, ov, ref, replicates, confidence)

    def _ref(self, reference: str | None) -> int:
        ref = reference or self.reference
        if ref is None:
            raise ValueError(f"{self.attribute} has no reference group; pass reference=")
        groups = list(self.by_group.index)
        if ref not in groups:
            raise ValueError(f"{ref!r} is not a group of {self.attribute} "
                             f"(groups: {', '.join(groups)})")
        return groups.index(ref)

    def _compare(self, reference: str | None, op: str) -> pd.DataFrame:
        r = self._ref(reference)
        x = self.by_group["rate"].to_numpy(dtype=float)
        with np.errstate(invalid="ignore", divide="ignore"):
            value = x - x[r] if op == "difference" else np.where(x[r] > 0, x / x[r], np.nan)
        lo = hi = np.full(len(x), np.nan)
        if self.replicates is not None:
            reps = self.replicates.astype(np.float64)
            den = reps[:, [r]]
            with np.errstate(invalid="ignore", divide="ignore"):
                d = reps - den if op == "difference" else \
                    np.where(den > 0, reps / np.where(den > 0, den, 1), np.nan)
            lo, hi = percentile_interval(d, self.confidence)
        name = self.by_group.index[r]
        return pd.DataFrame({op: value, "ci_low": lo, "ci_high": hi, "reference": name},
                            index=self.by_group.index)

    def difference(self, reference: str | None = None) -> pd.DataFrame:
        """Each group's rate minus the reference group's, with a bootstrap interval."""
        return self._compare(reference, "difference")

    def ratio(self, reference: str | None = None) -> pd.DataFrame:
        """Each group's rate over the reference group's (NaN when that is 0), with a
        bootstrap interval."""
        return self._compare(reference, "ratio")

    def panel(self) -> Panel:
        """This rate as one panel of the forest plot (the report's and the notebook's)."""
        from fairbench.forest import Panel, Point

        def opt(x: object) -> float | None:
            return None if pd.isna(x) else float(x)  # type: ignore[arg-type]

        points = [Point(str(g), opt(r["rate"]), opt(r["ci_low"]), opt(r["ci_high"]),
                        0 if pd.isna(r["errors"]) else int(r["errors"]),
                        0 if pd.isna(r["n"]) else int(r["n"]), str(g) == self.reference)
                  for g, r in self.by_group.iterrows() if str(g) != UNKNOWN]
        name, over = RATE_WORDS.get(self.metric, (self.metric.upper(), ""))
        return Panel(name, over, points)

    def forest_svg(self) -> str:
        """The forest plot of this rate alone, as inline SVG."""
        from fairbench.forest import forest_svg

        return forest_svg([self.panel()], f"{self.metric.upper()} by {self.attribute} at "
                          f"{self.at}", f"fp-{self.metric}-{self.attribute}")

    def __repr__(self) -> str:
        return (f"RateFrame({self.metric} by {self.attribute} at {self.at}; reference "
                f"{self.reference})\n{self.by_group.to_string()}")

    def _repr_html_(self) -> str:
        head = (f"<p><b>{html.escape(self.metric.upper())}</b> by "
                f"{html.escape(self.attribute)} at {html.escape(self.at)}; reference group "
                f"{html.escape(str(self.reference))}; intervals: the table's (ci; "
                "person-level for FMR and FNMR) and subject bootstrap (boot), 95 %.</p>")
        table = self.by_group.to_html(float_format=lambda v: f"{v:.4g}", na_rep="")
        return head + (self.forest_svg() if len(self.by_group) else "") + table
