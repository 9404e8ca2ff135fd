"""Golden files: the citeable tables and sentences of the stored London dlib run.

The tables are recomputed by the current code from the fixture's counts.npz (a schema-1.0
folder, read through the upgrader), then rendered; the assertions below read that
rendering, never the golden files themselves. Set FAIRBENCH_UPDATE_GOLDEN=1 to rewrite the
golden files after an intended change, and review their diff.
"""

from __future__ import annotations

import functools
import json
import os

import numpy as np
import pandas as pd
import pytest

from fairbench.report import render
from fairbench.report import sentences as sn
from fairbench.report.rebuild import header, recompute_verification
from fairbench.report.views import (
    by_group_sections,
    cross_group_sections,
    fta_sections,
    summary_sections,
)
from fairbench.results.arrays import load_counts
from fairbench.results.run import read_record
from tests.report.conftest import GOLDEN, STORED_RUN

UPDATE = os.environ.get("FAIRBENCH_UPDATE_GOLDEN") == "1"


def stored() -> dict:
    return json.loads((STORED_RUN / "run.json").read_text())


@functools.cache
def recomputed():
    codes, counts = load_counts(STORED_RUN / "counts.npz")
    return recompute_verification(read_record(STORED_RUN), codes, counts)


@functools.cache
def rendered() -> dict[str, str]:
    rec = read_record(STORED_RUN)
    t = recomputed()
    by, summ, cross = t.by_group, t.summary, t.cross_group
    head = header(rec)
    ctx = sn.Context.from_record(rec)
    rows = by.astype(object).where(by.notna(), None).to_dict(orient="records")
    cites = sn.noteworthy(rows, ctx, sn.describe_attributes(rec), rec["dataset"]["attributes"])
    out = {}
    for stem, secs in (("verification_by_group", by_group_sections(by)),
                       ("verification_summary", summary_sections(summ, by)),
                       ("failure_to_acquire", fta_sections(by)),
                       ("fmr_cross_group", cross_group_sections(cross))):
        out[f"{stem}.md"] = render.markdown(secs, head)
        out[f"{stem}.tex"] = render.latex(secs, head)
    out["verification_by_group.html"] = render.html_tables(by_group_sections(by))
    out["citations.md"] = sn.markdown(cites, head)
    return out


@pytest.mark.parametrize("name", sorted(rendered()))
def test_golden(name):
    text = rendered()[name]
    path = GOLDEN / name
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with FAIRBENCH_UPDATE_GOLDEN=1"
    assert text == path.read_text(), f"{name} differs from its golden file"


def test_golden_cells_say_what_they_lack():
    md = rendered()["verification_by_group.md"]
    # the east_asian/white group: one person, no same-group impostor pair
    assert "insufficient data (n = 0)" in md and "insufficient data (n = 1)" in md
    assert "0 of 9,384 (upper 95% bound 0.032%)" in md  # white at FMR 1 in 1,000
    assert "33.3% [15%, 59%] (104/312)" in md  # black at FMR 1 in 100 (person-level)
    # Clopper-Pearson's [28%, 39%] stays in the cross-group table, pair of groups by pair
    assert "33.3% [28%, 39%] (104/312)" in rendered()["fmr_cross_group.md"]
    for line in md.splitlines():
        cells = [c.strip() for c in line.split("|")]
        assert "0" not in cells and "0.0" not in cells and "0%" not in cells, line
    summary = rendered()["verification_summary.md"]
    assert "| 0 [0, 0] |" not in summary and "no errors in any compared group" in summary


def test_report_recomputes_the_stored_numbers():
    """The current code recomputes from the 1.0 counts.npz what that run stored, for every
    quantity whose definition did not change (the reference group did: see the README)."""
    rec = stored()
    by = pd.DataFrame(rec["metrics"]["verification_by_group"])
    again = recomputed().by_group
    assert len(again) == len(by)
    for col in ("fmr_errors", "n_nonmated", "fnmr_errors", "n_mated", "n_subjects",
                "fta_errors", "fmr", "fmr_ci_low", "fmr_ci_high", "threshold_native"):
        # the 1.0 run's interval was Clopper-Pearson's, kept now as _cp_ beside the default
        now = col.replace("_ci_", "_cp_")
        np.testing.assert_allclose(again[now].astype(float), by[col].astype(float),
                                   rtol=1e-12, equal_nan=True, err_msg=col)
