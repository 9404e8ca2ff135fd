"""Every case of the hostile-input catalogue: the promised exit status and message, no
exception escaping (no traceback), no half-written result; docs/robustness.md lists them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.catalogue import CASES, markdown
from tests.hostile.conftest import tree

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("c", CASES, ids=[c.id for c in CASES])
def test_case(c, request, fairbench_cmd):
    fixtures = [request.getfixturevalue(n) for n in c.needs]
    args = c.setup(*fixtures)
    work = fixtures[0]
    got = fairbench_cmd(*args, cwd=work)
    assert got.exception is None, f"{c.id}: {type(got.exception).__name__}: {got.exception}"
    text = got.err + got.out
    assert "Traceback" not in text
    assert got.code == c.code, f"{c.id}: exit {got.code}\n{text[-3000:]}"
    for s in c.says:
        assert s in text, f"{c.id}: {s!r} not in\n{text[-3000:]}"
    if c.code == 2:
        assert got.err.startswith("error: ") or "Usage:" in got.err, got.err
    out = work / "out"
    reason, count = c.recorded
    if reason:
        import pandas as pd

        (run_dir,) = [p for p in out.iterdir() if not p.name.startswith(".")]
        images = pd.read_csv(run_dir / "images.csv", keep_default_na=False)
        if reason == "group unknown":  # the first rows were given missing spellings
            got_n = int((images["grp"].iloc[: int(count)] == "unknown").sum())
        else:
            got_n = int(images["failure_reason"].str.startswith(reason).sum())
        assert got_n == int(count), images[["image_id", "failure_reason"]]
    if c.no_output:  # nothing half-written: no run folder, no staging folder
        assert [p for p in tree(out) if "/" not in p] == [] if out.is_dir() else True
    if out.is_dir():
        assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_docs_list_every_case():
    doc = (REPO / "docs" / "robustness.md").read_text()
    assert doc == markdown(), "regenerate: python -m tests.hostile.catalogue > docs/robustness.md"


def test_the_readme_counts_the_cases():
    assert f"lists the {len(CASES)} hostile cases" in (REPO / "README.md").read_text()
