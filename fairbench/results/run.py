"""Run: what ``fairbench.run`` and ``fairbench.evaluate`` return and ``fairbench.load``
reads back, for 1:1 and 1:N runs alike.

A Run is a view over stored values: the run.json record, the tables (the same rows as
``tables/<name>.csv``) and the bootstrap replicates. Reading one never imports numba and
never recomputes a score; :meth:`Run.frame` picks one rate of one breakdown at one
operating point as a :class:`~fairbench.metrics.frame.RateFrame`.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairbench.core.operating import OperatingPoint, parse_label
from fairbench.errors import FairbenchError
from fairbench.metrics.frame import RateFrame
from fairbench.metrics.rates import replicate_key
from fairbench.results.arrays import load_replicates
from fairbench.results.schema import validate

#: Which table holds each rate, per mode.
RATE_TABLES = {"verification": {"fmr": "verification_by_group", "fnmr": "verification_by_group",
                                "fta": "verification_by_group",
                                "fmr_iso": "verification_by_group",
                                "fnmr_iso": "verification_by_group"},
               "identification": {"fpir": "identification_by_group",
                                  "fnir": "identification_by_group",
                                  "fpir_iso": "identification_by_group",
                                  "fnir_iso": "identification_by_group"}}


def read_record(run_dir: Path) -> dict[str, Any]:
    """run.json of a run folder, validated and upgraded to the current schema."""
    p = Path(run_dir) / "run.json"
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FairbenchError(f"{p}: not found; is {run_dir} a fairbench run folder?") from None
    except UnicodeDecodeError:
        raise FairbenchError(f"{p}: not UTF-8 text; run.json is always UTF-8") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise FairbenchError(f"{p}: cannot read run.json ({exc})") from None
    if not isinstance(data, dict):
        raise FairbenchError(f"{p}: run.json must hold a JSON object")
    try:
        return validate(data).model_dump()
    except ValueError as exc:
        raise FairbenchError(f"{p}: invalid run.json ({exc})") from None


def read_table(path: Path | io.StringIO) -> pd.DataFrame:
    """A table CSV as written (group labels such as 'NA' stay text; empty cells are NaN;
    a table with no rows and no columns, such as a run's empty sweeps, is empty)."""
    try:
        return pd.read_csv(path, keep_default_na=False, na_values=[""])
    except pd.errors.EmptyDataError:
        return pd.DataFrame()


def as_stored(df: pd.DataFrame) -> pd.DataFrame:
    """A table exactly as a reader of its CSV file sees it (so a run in memory and the same
    run loaded from disk hold equal tables)."""
    if df.empty:
        return df
    return read_table(io.StringIO(df.to_csv(index=False, lineterminator="\n")))


class Run:
    """A finished run: record, tables, operating points, and per-rate frames."""

    def __init__(self, record: Mapping[str, Any], tables: Mapping[str, pd.DataFrame] | None
                 = None, run_dir: Path | None = None,
                 replicates: Mapping[str, np.ndarray] | None = None,
                 arrays: Any = None) -> None:
        self.record = dict(record)
        self.run_dir = None if run_dir is None else Path(run_dir)
        self._tables = {k: as_stored(v) for k, v in tables.items()} \
            if tables is not None else None
        self._replicates = dict(replicates) if replicates is not None else None
        self.arrays = arrays  # in-memory counts or search outcomes (for compare)

    @classmethod
    def load(cls, run_dir: str | Path) -> Run:
        """Read a run folder (any supported schema version)."""
        d = Path(run_dir)
        return cls(read_record(d), run_dir=d)

    # --- stored values --------------------------------------------------------------------
    @property
    def mode(self) -> str:
        return str(self.record["mode"])

    @property
    def run_id(self) -> str:
        return str(self.record["run_id"])

    @property
    def tables(self) -> dict[str, pd.DataFrame]:
        """Table name -> the rows of ``tables/<name>.csv`` (from run.json when the folder
        has no CSV files, as for stored schema-1.0 fixtures)."""
        if self._tables is None:
            found: dict[str, pd.DataFrame] = {}
            folder = self.run_dir / "tables" if self.run_dir else None
            if folder is not None and folder.is_dir():
                found = {p.stem: read_table(p) for p in sorted(folder.glob("*.csv"))}
            for name, rows in (self.record.get("metrics") or {}).items():
                if name not in found and rows:
                    found[name] = pd.DataFrame(rows)
            self._tables = found
        return self._tables

    @property
    def replicates(self) -> dict[str, np.ndarray]:
        if self._replicates is None:
            self._replicates = load_replicates(self.run_dir / "bootstrap.npz") \
                if self.run_dir else {}
        return self._replicates

    @property
    def operating_points(self) -> list[OperatingPoint]:
        """Every operating point of the run, supported or not, in the run's order."""
        return [OperatingPoint.from_dict(d) for d in self.record["operating_points"]]

    @property
    def attributes(self) -> list[str]:
        t = self._by_group_table()
        return list(dict.fromkeys(t["attribute"])) if len(t) else []

    def _by_group_table(self) -> pd.DataFrame:
        name = "verification_by_group" if self.mode == "verification" \
            else "identification_by_group"
        return self.tables.get(name, pd.DataFrame())

    def _point(self, at: str | None) -> OperatingPoint:
        usable = [p for p in self.operating_points if p.supported]
        if not usable:
            raise FairbenchError(f"run {self.run_id} has no supported operating point")
        if at is None:
            return usable[0]
        try:
            kind, value = parse_label(at)
        except ValueError as exc:
            raise FairbenchError(str(exc)) from None
        for p in usable:
            if p.label == at or p.matches(kind, value):
                return p
        have = ", ".join(p.label for p in usable)
        raise FairbenchError(f"run {self.run_id} has no operating point {at!r}; it has: {have}")

    def frame(self, metric: str, attribute: str, at: str | None = None) -> RateFrame:
        """One rate of one breakdown at one operating point (default: the first).

        ``metric``: ``fmr, fnmr, fta`` (and ``fmr_iso, fnmr_iso``) for 1:1 runs, ``fpir,
        fnir`` (and ``_iso``) for 1:N; ``attribute``: ``eth``, ``eth|sex``...; ``at``: an
        operating point label such as ``"fmr=1e-3"`` or ``"fixed=0.6"``.
        """
        tables = RATE_TABLES[self.mode]
        if metric not in tables:
            raise FairbenchError(f"{self.mode} runs have no rate {metric!r}; they have "
                                 f"{', '.join(tables)}")
        t = self.tables.get(tables[metric], pd.DataFrame())
        if attribute not in set(t.get("attribute", [])):
            raise FairbenchError(f"run {self.run_id} has no attribute {attribute!r}; it has "
                                 f"{', '.join(dict.fromkeys(t.get('attribute', [])))}")
        op = self._point(at)
        rows = t[(t["attribute"] == attribute) & (t["operating_point"] == op.label)]
        overall = t[(t["attribute"] == "all") & (t["operating_point"] == op.label)]
        reps = self.replicates.get(replicate_key(metric, attribute, op.label))
        conf = float(self.record["config"].get(self.mode, {}).get("confidence", 0.95))
        return RateFrame.from_rows(metric, attribute, op.label, rows.reset_index(drop=True),
                                   overall, reps, conf)

    # --- display --------------------------------------------------------------------------
    def __repr__(self) -> str:
        where = f" at {self.run_dir}" if self.run_dir else " (in memory)"
        return f"<fairbench Run {self.run_id} ({self.mode}){where}>"

    def _repr_html_(self) -> str:
        rec = self.record
        ds, mt = rec["dataset"], rec["matcher"]
        points = ", ".join(p.label for p in self.operating_points if p.supported)
        head = (f"<p><b>fairbench run {html.escape(self.run_id)}</b> ({self.mode}): matcher "
                f"{html.escape(str(mt.get('name')))} ({html.escape(str(mt.get('version')))}), "
                f"dataset {html.escape(ds['name'])} ({ds['n_subjects']:,} people, "
                f"{ds['n_images']:,} images); operating points: {html.escape(points)}.</p>")
        if rec.get("simulated"):
            head += "<p><b>SIMULATED DATA</b></p>"
        t = self._by_group_table()
        if not len(t):
            return head
        first = self._point(None).label
        metrics = ("fmr", "fnmr") if self.mode == "verification" else ("fpir", "fnir")
        cols = ["attribute", "group", "n_subjects"]
        for m in metrics:
            cols += [m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_errors"]
        view = t[(t["operating_point"] == first) & t["attribute"].isin(
            [a for a in dict.fromkeys(t["attribute"]) if "|" not in a])]
        return head + f"<p>At {html.escape(first)}:</p>" + self._forests(first) + view[
            [c for c in cols if c in view]].to_html(index=False, float_format=lambda v:
                                                    f"{v:.4g}", na_rep="")

    def _forests(self, at: str) -> str:
        """The report's forest plot of each single attribute at one operating point."""
        from fairbench.forest import forest_svg

        metrics = ("fmr", "fnmr") if self.mode == "verification" else ("fpir", "fnir")
        out = []
        for attr in [a for a in self.attributes if "|" not in a and a != "all"]:
            panels = [self.frame(m, attr, at).panel() for m in metrics]
            out.append(forest_svg(panels, f"{' and '.join(p.name for p in panels)} by "
                                  f"{attr} at {at}", f"fp-run-{attr}"))
        return "".join(out)
